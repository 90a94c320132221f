"""Search without training (issue 22, item 4): `tnas search strategy=zero-cost` on NB201 CIFAR-10.

For each seed, exactly what `tnas search strategy=zero-cost data.name=cifar10 search.score=SCORE
seed=S search.method=M search.budget=N` computes (the score's network initialisation and batch
from seed S, the search's draws from stream 'search' of S), for every method M of `METHODS` at
its largest budget; the searches are anytime (the first n evaluations of a budget-N search are
the budget-n search), so N = 100 / 300 / 1000 come from one search each. One zero-cost cache per
seed is shared by the methods (a cell is scored once per seed). Reported: NB201 CIFAR-10 test
accuracy (200 epochs) of the best-scored cell among the first N, and CPU seconds, mean ± sd over
seeds, next to NASWOT's published N = 1,000 random-sampling result and TE-NAS's 93.9.

    python benchmarks/zero_cost_search.py --seeds 10 --workers 2 --out docs/results/zero_cost_search
    python benchmarks/zero_cost_search.py --seeds 10 --workers 2 --big --out docs/results/zero_cost_search  # N = 1,000
    python benchmarks/zero_cost_search.py --report --out docs/results/zero_cost_search
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

from _common import machine_line, run_pool
from _study import fmt_ms, mean_sd, paired, _p

METHODS = {"random": 300, "rea": 300, "tnas": 300}  # method -> largest budget
BIG = {"random": 1000}  # --big: the N = 1,000 row of NASWOT's published comparison (records in runs/big/)
BUDGETS = (100, 300, 1000)
# NASWOT (Mellor et al., ICML 2021, Table 2): NB201 CIFAR-10 test accuracy of the best-scored of N = 1000
# random cells, 92.96 ± 0.81 (N = 100: 92.81 ± 0.99); TE-NAS (Chen et al., ICLR 2021, Table 3): 93.9 ± 0.47.
PUBLISHED = "NASWOT N=100: 92.81 ± 0.99, N=1000: 92.96 ± 0.81 (Mellor et al. 2021, Table 2); TE-NAS 93.9 ± 0.47 (Chen et al. 2021)"


def _job(job: tuple[int, str, str, dict[str, int], dict[str, str]]) -> dict:
    seed, score, record, methods, extra = job
    import torch

    import tnas.strategy.tnas_search  # noqa: F401  (imported now: the repository may change during the study)

    torch.set_num_threads(1)
    from tnas.bench import load_nb201
    from tnas.evaluate.score import MemoScore, Scorer, parse_score
    from tnas.run.config import resolve_config
    from tnas.run.parts import load_data
    from tnas.run.dist import DistInfo
    from tnas.run.scoring import score_inputs
    from tnas.run.zero_cost_search import _options
    from tnas.seeds import stream
    from tnas.space import get_space
    from tnas.strategy.discrete import get_search

    table = load_nb201()
    out = {"seed": seed, "score": score, "methods": {}}
    cache: dict = {}
    data = None
    for method, budget in methods.items():
        cfg = resolve_config("nb201-cifar10-zero-cost", {"seed": str(seed), "search.score": score, **extra,
                                                          "search.method": method, "search.budget": str(budget)})
        space = get_space(cfg.space)
        data = data or load_data(cfg, torch.device("cpu"), DistInfo())  # the same data for every method
        inputs = score_inputs(cfg, space, data.train, torch.device("cpu"))
        scorer = Scorer(parse_score(score), inputs, cache=cache)
        seen = [0.0]  # CPU seconds spent scoring cells new to this seed

        def timed(archs, scorer=scorer):
            t0 = time.process_time()
            values = scorer(archs)
            seen[0] += time.process_time() - t0
            return values

        c0 = time.process_time()
        h = get_search(method)(space, MemoScore(space, timed), budget, stream(seed, "search"), **_options(cfg))
        total = time.process_time() - c0
        gt = table.lookup(h.archs, "cifar10", "test")
        rows = {}
        for n in BUDGETS:
            if n > budget:
                continue
            best = int(torch.argmax(h.scores[:n]))
            rows[str(n)] = {"gt_test": float(gt[best]), "genotype": space.to_genotype(h.archs[best])}
        out["methods"][method] = {"budget": budget, "by_n": rows, "search_cpu_s": total,
                                  "score_cpu_s_new_cells": seen[0]}
    tmp = Path(record).with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(out, indent=1))
    os.replace(tmp, record)
    print(f"seed {seed}: " + ", ".join(f"{m} {v['by_n'][str(min(v['budget'], 1000))]['gt_test']:.2f}"
                                      for m, v in out["methods"].items()), flush=True)
    return out


def report(out: Path, score: str) -> None:
    recs = sorted((json.loads(p.read_text()) for p in (out / "runs").glob("s*.json")), key=lambda r: r["seed"])
    big = {r["seed"]: r for r in (json.loads(p.read_text()) for p in (out / "runs" / "big").glob("s*.json"))}
    if not recs:
        print("no records yet")
        return
    seeds = [r["seed"] for r in recs]
    lines = [f"# Search without training: strategy=zero-cost, search.score={score}, NB201 CIFAR-10 (n = {len(recs)} seeds)",
             "", f"Command: `python benchmarks/zero_cost_search.py --seeds {len(recs)} --workers 2 --score {score} --out {out}` "
             f"(the N = 1,000 row: the same with `--big`) then `--report --score {score}`.  ", f"{machine_line()}, one thread per worker; {datetime.date.today().isoformat()}.  ",
             "Each seed is `tnas search nb201-cifar10-zero-cost seed=S search.method=M search.budget=N`: NB201 "
             "stand-alone C=16, N=5 at initialisation, 32x32, one real CIFAR-10 training batch of 64. Ground truth: "
             "NB201 v1.1, CIFAR-10 test, 200 epochs, of the best-scored cell among the first N evaluated.", "",
             f"Published: {PUBLISHED}.", "",
             "| method | N | GT test of the found cell | CPU s (score of the new cells) |", "|---|---|---|---|"]
    col: dict = {}
    for method, budget in METHODS.items():
        for n in BUDGETS:
            if n > budget:
                continue
            vals = {r["seed"]: r["methods"][method]["by_n"][str(n)]["gt_test"] for r in recs}
            col[(method, n)] = vals
            cost = mean_sd([r["methods"][method]["score_cpu_s_new_cells"] for r in recs])[0] if n == budget else None
            lines.append(f"| {method} | {n} | {fmt_ms(list(vals.values()))} | "
                         f"{'' if cost is None else f'{cost:.0f} (at N={budget}, cells shared across methods)'} |")
    for method, budget in BIG.items():
        vals = {s: r["methods"][method]["by_n"][str(budget)]["gt_test"] for s, r in big.items()}
        if vals:
            col[(method, budget)] = vals
            cost = mean_sd([r["methods"][method]["score_cpu_s_new_cells"] for r in big.values()])[0]
            lines.append(f"| {method} | {budget} | {fmt_ms(list(vals.values()))} (n = {len(vals)}) | {cost:.0f} (`--big`) |")
    lines += ["", "Paired by seed (a − b, pp, 95 % CI, p, wins/losses):", ""]
    for a, b in (("tnas", "random"), ("tnas", "rea"), ("rea", "random")):
        for n in (100, 300):
            if (a, n) in col and (b, n) in col:
                d = paired(col[(a, n)], col[(b, n)])
                w, l = sum(x > 0 for x in d["diffs"]), sum(x < 0 for x in d["diffs"])
                lines.append(f"- {a} − {b}, N={n}: {d['mean']:+.2f} ({d['ci95'][0]:+.2f} … {d['ci95'][1]:+.2f}), "
                             f"p {_p(d['p_t'])}, {w}/{l}")
    (out / "zero_cost_search.md").write_text("\n".join(lines) + "\n")
    (out / "zero_cost_search.json").write_text(json.dumps(
        {"seeds": seeds, "score": score, "results": {f"{m}@{n}": mean_sd(list(v.values()))[:2]
                                                     for (m, n), v in col.items()}}, indent=1))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--score", default="naswot")
    p.add_argument("--out", default="docs/results/zero_cost_search")
    p.add_argument("--report", action="store_true")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every search, e.g. zero_cost.batch_size=128 (use another --out)")
    p.add_argument("--big", action="store_true", help=f"run {BIG} (records in OUT/runs/big/)")
    args = p.parse_args()
    out = Path(args.out)
    if not args.report:
        folder, methods = (out / "runs" / "big", BIG) if args.big else (out / "runs", METHODS)
        extra = dict(kv.split("=", 1) for kv in args.set)
        jobs = [(s, args.score, str(folder / f"s{s}.json"), methods, extra)
                for s in range(args.seed_offset, args.seed_offset + args.seeds) if not (folder / f"s{s}.json").exists()]
        run_pool(_job, jobs, args.workers)
    report(out, args.score)


if __name__ == "__main__":
    main()
