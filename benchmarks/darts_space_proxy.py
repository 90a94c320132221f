"""CPU proxy of the DARTS-space CIFAR-10 experiment: SPOS (uniform) vs TNAS-OS, search + training from scratch.

Both methods use the same search preset (reduced C=8, N=1 DARTS search network on a CIFAR-10
subset from the shared JPEG copy at 16x16), the same training epochs and the same GA budget; only
the sampler differs. Each found cell is then trained from scratch with one short fixed schedule
(train-darts-cifar10-cpu-proxy: C=16, N=1 network, 16x16, 7 epochs), with the same training seed
for every method's cell of search seed s, in the same run. Per method we report the supernet's
validation accuracy of the found cell, its from-scratch test accuracy, the parameters of the
standard DARTS CIFAR-10 network built from it (C=36, 20 cells, 32x32) and wall times. Each
(method, seed) pair runs search then training in one worker process with one torch thread; its
randomness depends only on its seed.

    nice python benchmarks/darts_space_proxy.py          # 3 seeds x 2 methods, docs/results/darts_space_proxy.md
    python benchmarks/darts_space_proxy.py --seeds 1 --set train.epochs=2 --train-set train.epochs=1 \\
        --out /tmp/smoke                                 # smoke run
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import multiprocessing as mp
import platform
import statistics
import tempfile
import time
from pathlib import Path

from _common import cpu_model, search_job

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("spos", "tnas-os")


def _standard_params(genotype: str) -> tuple[int, int]:
    """(params, FLOPs) of the standard DARTS CIFAR-10 network (C=36, 20 cells, 32x32) of a cell."""
    from tnas.space import get_space
    from tnas.supernet.registry import arch_cost, final_size

    space = get_space("darts")
    return arch_cost(space, space.from_genotype(genotype), final_size(space, 10, 3))


def _one(job: tuple[str, int, str, list[str], str, list[str], str]) -> dict:
    method, seed, preset, sets, train_preset, train_sets, out = job
    from tnas.run.overrides import parse_override_args
    from tnas.train.config import resolve_train_config
    from tnas.train.run import run_train

    found = search_job((method, seed, preset, sets, out))  # also sets one torch thread
    search_wall = found["wall"]
    # the same training seed for every method's cell of search seed `seed`
    cfg = resolve_train_config(train_preset, parse_override_args([*train_sets, f"seed={seed}", f"out={out}"]))
    cfg = dataclasses.replace(cfg, genotype=found["genotype"], space="darts")
    t0 = time.perf_counter()
    trained, _ = run_train(cfg, progress_bar=False)
    params, flops = _standard_params(found["genotype"])
    return {"method": method, "seed": seed, "genotype": found["genotype"],
            "supernet_valid_acc": found["supernet_valid_acc"], "supernet_test_acc": found["supernet_test_acc"],
            "scratch_test_acc": trained["test_acc"],
            "scratch_params": trained["params"], "std_params": params, "std_flops": flops,
            "search_wall": search_wall, "train_wall": time.perf_counter() - t0,
            "search": {k: v for k, v in found.items() if k not in ("split", "method", "seed", "wall", "run")}, "train": trained}


def _stats(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def _fmt(xs: list[float], digits: int = 2) -> str:
    if not xs:
        return "n/a"
    m, sd = _stats(xs)
    return f"{m:.{digits}f} ± {sd:.{digits}f}"


def table(rows: list[dict]) -> list[str]:
    lines = [("| method | seeds | supernet valid acc of found cell (%) | from-scratch test acc (%) | "
              "params, C=36 20 cells (M) | FLOPs, C=36 20 cells (M) | search wall (s) | train wall (s) |"),
             "|---|---|---|---|---|---|---|---|"]
    for m in METHODS:
        rs = [r for r in rows if r["method"] == m]
        if rs:
            lines.append(f"| {m} | {len(rs)} | {_fmt([r['supernet_valid_acc'] for r in rs])} | "
                         f"{_fmt([r['scratch_test_acc'] for r in rs])} | {_fmt([r['std_params'] / 1e6 for r in rs])} | "
                         f"{_fmt([r['std_flops'] / 1e6 for r in rs], 0)} | {_fmt([r['search_wall'] for r in rs], 0)} | "
                         f"{_fmt([r['train_wall'] for r in rs], 0)} |")
    return lines


def _paired(rows: list[dict], key: str) -> list[float]:
    """Per seed: TNAS-OS minus SPOS on `key` (seeds where both ran)."""
    by = {(r["method"], r["seed"]): r[key] for r in rows}
    return [by[("tnas-os", s)] - by[("spos", s)] for s in sorted({r["seed"] for r in rows})
            if ("tnas-os", s) in by and ("spos", s) in by]


def reading(rows: list[dict]) -> str:
    """A plain reading of the numbers: is the TNAS-OS - SPOS paired difference larger than its spread?
    With a handful of seeds the paired t-test (df = seeds - 1) is the honest yardstick."""
    from scipy.stats import t as student_t

    parts = []
    for key, what in (("supernet_valid_acc", "supernet-estimated valid accuracy"),
                      ("scratch_test_acc", "from-scratch test accuracy")):
        d = _paired(rows, key)
        if len(d) < 2:
            return "Fewer than two paired seeds: no reading."
        m, sd = _stats(d)
        se = sd / len(d) ** 0.5
        p = float(2 * student_t.sf(abs(m) / se, len(d) - 1)) if se > 0 else float("nan")
        crit = float(student_t.ppf(0.975, len(d) - 1))
        verdict = (f"larger than {crit:.2f} standard errors (paired t-test p = {p:.2f})" if abs(m) > crit * se
                   else f"within {crit:.2f} standard errors, so not distinguishable from seed noise at 5% "
                        f"(paired t-test p = {p:.2f})")
        parts.append(f"On {what}, TNAS-OS minus SPOS is {m:+.2f} points (per-seed differences "
                     f"{', '.join(f'{x:+.2f}' for x in d)}; std {sd:.2f}, standard error {se:.2f}; TNAS-OS higher "
                     f"in {sum(x > 0 for x in d)}/{len(d)} seeds): {verdict}.")
    return " ".join(parts)


def caveats(rows: list[dict]) -> str:
    """What the proxy can and cannot say (numbers from the rows)."""
    sv = statistics.mean(r["supernet_valid_acc"] for r in rows)
    st = statistics.mean(r["scratch_test_acc"] for r in rows)
    n_test = statistics.mean(r["train"]["test_images"] for r in rows)
    binom = 100 * (st / 100 * (1 - st / 100) / n_test) ** 0.5  # one standard error of a test accuracy
    seeds = len({r["seed"] for r in rows})
    return (f"Caveats. {seeds} seeds are few: only a difference several times the per-seed spread would count. The "
            f"proxy supernet is far from converged (the found cells score {sv:.1f}% on average through it, against "
            f"{st:.1f}% for the same cells trained from scratch for a few epochs), so its ranking of cells is weak. "
            "Supernet accuracies of the two methods come from different supernets trained on different "
            "architecture distributions (TNAS-OS concentrates training on the region its VAE prefers, where the GA "
            "then starts), so a higher supernet score for TNAS-OS is not by itself evidence of a better cell; the "
            f"from-scratch column is the one that measures cells, and a short 16x16 schedule tested on {n_test:,.0f} "
            f"images has about ±{binom:.1f} points of binomial error per run on top of training noise. Wall times "
            "include other jobs sharing the cores.")


def render(rows: list[dict], meta: dict) -> list[str]:
    """The Markdown report of `rows`; `meta` holds command, machine, cores, torch, python, date, total, workers."""
    wall = f"Total wall time: {meta['total_wall_seconds']:.0f} s ({meta.get('workers', 2)} workers, 1 thread each)"
    if meta.get("note"):
        wall += f"  \n{meta['note']}"
    legend = ("Mean ± std over seeds. Supernet valid acc: the GA's fitness of the found cell (BN recalibrated, 1,000 "
              "validation images of the search split). From-scratch test acc: the found cell in the train preset's "
              "network trained from scratch, last-epoch top-1 on the CIFAR-10 test images it holds out. Params / "
              "FLOPs (multiply-accumulates): the standard DARTS CIFAR-10 evaluation network of the cell (C=36, 20 "
              "cells, 32x32, no auxiliary head); DARTS-V2's published cell has 3.3M.")
    lines = ["# DARTS space, CIFAR-10 CPU proxy: SPOS vs TNAS-OS, searched and trained from scratch", "",
             f"Command: `{meta['command']}`  ",
             f"Machine: {meta['machine']}, {meta['cores']} cores, torch {meta['torch']}, Python {meta.get('python', '?')}  ",
             f"Date: {meta['date']}  ", wall, "", *table(rows), "", legend, "",
             "## Reading", "", reading(rows), "", caveats(rows), "", "## Per run", "",
             "| method | seed | found cell | supernet valid | from-scratch test | params (M) | search (s) | train (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['seed']} | `{r['genotype']}` | {r['supernet_valid_acc']:.2f} | "
                     f"{r['scratch_test_acc']:.2f} | {r['std_params'] / 1e6:.2f} | {r['search_wall']:.0f} | "
                     f"{r['train_wall']:.0f} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="darts-cifar10-cpu-proxy")
    ap.add_argument("--train-preset", default="train-darts-cifar10-cpu-proxy")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="search override, both methods")
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE", help="training override")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--render", metavar="JSON", help="only rewrite the report from a saved darts_space_proxy.json")
    args = ap.parse_args()
    if args.render:  # e.g. after changing the report's wording; the measurements are not redone
        saved = json.loads(Path(args.render).read_text())
        saved.setdefault("note", "Report text re-rendered from the saved JSON with --render; measurements unchanged.")
        _write(Path(args.out), saved.pop("runs"), saved)
        return
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        jobs = [(m, s, args.preset, args.set, args.train_preset, args.train_set, runs)
                for s in range(args.seeds) for m in METHODS]
        rows = []
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for r in pool.imap_unordered(_one, jobs):
                rows.append(r)
                print(f"{r['method']:8s} seed {r['seed']}: supernet valid {r['supernet_valid_acc']:.2f}  scratch test "
                      f"{r['scratch_test_acc']:.2f}  {r['std_params'] / 1e6:.2f}M  search {r['search_wall']:.0f}s  "
                      f"train {r['train_wall']:.0f}s", flush=True)
    rows.sort(key=lambda r: (METHODS.index(r["method"]), r["seed"]))
    cpu = cpu_model()
    import torch

    cmd = "python benchmarks/darts_space_proxy.py " + " ".join(
        [f"--preset {args.preset}", f"--train-preset {args.train_preset}", f"--seeds {args.seeds}",
         f"--workers {args.workers}", *[f"--set {s}" for s in args.set], *[f"--train-set {s}" for s in args.train_set]])
    meta = {"command": cmd, "machine": cpu, "cores": mp.cpu_count(), "torch": torch.__version__,
            "python": platform.python_version(), "date": f"{datetime.datetime.now():%Y-%m-%d %H:%M}",
            "total_wall_seconds": time.perf_counter() - t0, "workers": args.workers}
    _write(Path(args.out), rows, meta)


def _write(out: Path, rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "darts_space_proxy.md").write_text("\n".join(render(rows, meta)) + "\n")
    (out / "darts_space_proxy.json").write_text(json.dumps({**meta, "runs": rows}, indent=1, default=str))
    print("\n".join(table(rows)))
    print(reading(rows))


if __name__ == "__main__":
    main()
