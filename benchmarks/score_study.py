"""Issue 22, item 3: which score ranks good cells? One SPOS supernet per seed, scored every way.

Per seed, the CPU-proxy SPOS supernet of the one-shot study (`oneshot_study.py`'s protocol:
`nb201-cifar10-cpu-proxy`, 40 epochs, strategy=spos) is trained once by `tnas search`; then every
score of `SCORES` ranks the same trained supernet, in this process, with the product's code: the
search stage's own BN-calibration and validation batches (stream 'search'), a `Scorer`
(`tnas.evaluate.score`) and the SPOS GA (`spos_ga`, same generator state and budget as the run's
search stage; the `accuracy` arm must reproduce the run's own found cell, checked). For each score:
Kendall tau over the stratified 250-cell set and its 50 top-decile cells, the GA's found cell's
NB201 ground truth, and the CPU seconds per scored cell. Zero-cost scores ignore the supernet (they
score the untrained stand-alone network), so their rows are search without training. The shipped
full-size supernet estimates give a reference row. Records: `<out>/runs/s<seed>.json` (one per seed,
written when the seed is done; a stopped seed resumes its training run from the scratch folder).

    python benchmarks/score_study.py --seeds 10 --seed-offset 100 --workers 2   # ~1.2 h on 2 cores
    python benchmarks/score_study.py --report                                   # tables from the records
    python benchmarks/score_study.py --smoke --out /tmp/score-smoke              # tiny, seconds
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import time
from pathlib import Path

from _common import machine_line, run_pool, train_or_resume
from _study import fmt_ms, mean_sd, paired, _p

ROOT = Path(__file__).resolve().parents[1]
PRESET = "nb201-cifar10-cpu-proxy"
STUDY_SETS = ["train.epochs=40", "eval.tau_set=stratified", "eval.tau_cells=250", "eval.tau_top_cells=50"]
SMOKE_SETS = [f"data.root={ROOT / 'tests' / 'data' / 'cifar10'}", "train.epochs=1", "train.steps_per_epoch=3",
              "train.batch_size=32", "search.budget=10", "search.population=4", "search.parents=2",
              "search.mutations=2", "search.crossovers=2", "search.bn_batches=1", "search.eval_batches=1",
              "search.eval_batch_size=50", "search.rank_reference=8", "zero_cost.batch_size=8",
              "eval.tau_set=stratified", "eval.tau_cells=20", "eval.tau_top_cells=5"]
# name -> (search.score, extra overrides of the scoring); 'accuracy' is the run's own search stage
SCORES = {
    "accuracy": ("accuracy", {}),
    "accuracy-x4": ("accuracy", {"eval_batches": 4}),  # 4x the validation batches of the preset
    "loss": ("loss", {}),
    "angle": ("angle", {}),
    "naswot": ("naswot", {}), "synflow": ("synflow", {}), "snip": ("snip", {}), "grad_norm": ("grad_norm", {}),
    "jacov": ("jacov", {}),
    "rank:naswot+synflow": ("rank:naswot+synflow", {}),
    "rank:angle+naswot+synflow": ("rank:angle+naswot+synflow", {}),
    "rank:accuracy+naswot+synflow": ("rank:accuracy+naswot+synflow", {}),
    "rank:accuracy+angle": ("rank:accuracy+angle", {}),
}
TIMING_CELLS = 8


def _train(seed: int, sets: list[str], scratch: Path) -> tuple[dict, Path]:
    """The seed's SPOS run (resumed from the scratch folder when an earlier attempt stopped)."""
    return train_or_resume(scratch / f"spos__s{seed}", PRESET, [*sets, "strategy=spos", f"seed={seed}"])


def _arms(run: Path, names: list[str]) -> dict[str, dict]:
    """Every score of `names` on the trained supernet of `run`: tau, the GA's found cell, cost."""
    import torch

    from tnas.bench import load_nb201
    from tnas.evaluate import eval_batches, fixed_batches, kendall_taus, stratified_cells
    from tnas.evaluate.ranking import cell_kind
    from tnas.evaluate.score import MemoScore, Scorer, parse_score
    from tnas.export import load_trained_supernet
    from tnas.run.checkpoint import load_checkpoint
    from tnas.run.scoring import score_inputs
    from tnas.seeds import stream
    from tnas.strategy.evolution import spos_ga

    ts = load_trained_supernet(run)
    cfg, space, s = ts.cfg, ts.space, ts.cfg.search
    init = load_checkpoint(run / "ckpt" / "last.pt")["init_params"]
    g = stream(cfg.seed, "search")  # exactly the search stage's: the batches first, then the GA's draws
    calib, valid = eval_batches(ts.data.train, ts.data.valid, s.eval_batch_size, s.bn_batches, s.eval_batches, g)
    ga_state = g.get_state()
    table = load_nb201()
    cells = stratified_cells(table, space, "cifar10", n=cfg.eval.tau_cells, n_top=cfg.eval.tau_top_cells)
    cell_archs = space.from_keys(cells.keys)
    cache: dict = {}  # zero-cost values, shared by every arm (they do not depend on the supernet)
    base = score_inputs(cfg, space, ts.data.train, torch.device("cpu"), supernet=ts.supernet, init_params=init,
                        calib=calib, valid=valid)
    Scorer(parse_score("rank:naswot+synflow+snip+grad_norm+jacov"), base, cache=cache).values(cell_archs)  # one pass
    out = {}
    for name in names:
        text, extra = SCORES[name]
        inputs = base
        if "eval_batches" in extra:
            inputs = score_inputs(cfg, space, ts.data.train, torch.device("cpu"), supernet=ts.supernet,
                                  init_params=init, calib=calib,
                                  valid=fixed_batches(ts.data.valid, s.eval_batch_size, s.eval_batches * extra["eval_batches"]))
        scorer = Scorer(parse_score(text), inputs, cache=cache)
        timing = Scorer(parse_score(text), inputs)  # no shared cache: the cost of this score alone
        if timing.spec.ensemble:
            timing.reference()  # scored once per run, not per cell
        t0 = time.process_time()
        timing(space.sample_uniform(TIMING_CELLS, torch.Generator().manual_seed(7)))
        per_cell = (time.process_time() - t0) / TIMING_CELLS
        values = scorer(cell_archs).numpy()
        taus = kendall_taus(values, cells)
        g.set_state(ga_state)
        history = spos_ga(space, MemoScore(space, scorer), s.budget, g, population=s.population, parents=s.parents,
                          mutations=s.mutations, crossovers=s.crossovers, mutate_prob=s.mutate_prob)
        best = history.archs[history.best_index()]
        genotype = space.to_genotype(best)
        out[name] = {"score": text, "tau": taus["tau"], "tau_top10": taus["tau_top10"], "genotype": genotype,
                     "gt_test": float(table.lookup(best[None], "cifar10", "test")[0]), "cell_kind": cell_kind(genotype),
                     "cpu_s_per_cell": per_cell, "values": [round(float(v), 6) for v in values]}
    if "accuracy" in out and out["accuracy"]["genotype"] != ts.result["genotype"]:
        raise AssertionError(f"the accuracy arm found {out['accuracy']['genotype']}, the run {ts.result['genotype']}")
    return out


def _job(job: tuple[int, list[str], str, str, list[str]]) -> dict:
    seed, sets, scratch, record, names = job
    import torch

    # every module this worker will use, imported now: the repository may change while a long study runs
    import tnas.bench  # noqa: F401
    import tnas.evaluate.score  # noqa: F401
    import tnas.export  # noqa: F401
    import tnas.run.search  # noqa: F401
    import tnas.strategy.evolution  # noqa: F401

    torch.set_num_threads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    result, run = _train(seed, sets, Path(scratch))
    train_cpu = time.process_time() - c0
    arms = _arms(Path(run), names)
    rec = {"seed": seed, "run": str(run), "sets": sets, "spos_genotype": result["genotype"],
           "train_cpu_s": train_cpu, "job_wall_s": time.perf_counter() - t0, "arms": arms}
    tmp = Path(record).with_suffix(".tmp")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, record)
    found = ", ".join(f"{k} {v['gt_test']:.2f}" for k, v in arms.items())
    print(f"seed {seed} done: {found}", flush=True)
    return rec


def _reference_row() -> dict:
    """The shipped full-size supernet estimates (few-shot NAS release) on the same tau set."""
    import torch

    import tnas
    from tnas.bench import load_nb201
    from tnas.evaluate import kendall_taus, stratified_cells

    space, table = tnas.get_space("nb201"), load_nb201()
    cells = stratified_cells(table, space, "cifar10", n=250, n_top=50)
    est = table.supernet_estimate(space.from_keys(cells.keys)).numpy()
    every = space.from_keys(torch.arange(space.size))
    best = every[int(table.supernet_estimate(every).argmax())]
    return {**kendall_taus(est, cells), "best_cell_gt_test": float(table.lookup(best[None], "cifar10", "test")[0])}


def report(out: Path) -> None:
    recs = sorted((json.loads(p.read_text()) for p in (out / "runs").glob("s*.json")), key=lambda r: r["seed"])
    if not recs:
        print("no records yet")
        return
    seeds = [r["seed"] for r in recs]
    names = [n for n in SCORES if all(n in r["arms"] for r in recs)]
    col = {n: {m: {r["seed"]: r["arms"][n][m] for r in recs} for m in ("gt_test", "tau", "tau_top10")} for n in names}
    lines = [f"# Score study: which score ranks good cells (issue 22), seeds {seeds[0]}–{seeds[-1]} (n = {len(recs)})",
             "", f"Command: `python benchmarks/score_study.py --seeds {len(recs)} --seed-offset {seeds[0]} --workers 2`"
             f" then `--report`.  ", f"{machine_line()}; {datetime.date.today().isoformat()}.  ",
             f"One SPOS supernet per seed (`{PRESET}` {' '.join(STUDY_SETS)}, strategy=spos), every score on the "
             "same trained supernet; GA budget 100 (the preset's); tau over the stratified 250-cell set (50 of them "
             "from the GT top 10 %); ground truth NB201 v1.1 CIFAR-10 test (200 epochs). Zero-cost scores use the "
             "NB201 stand-alone network C=16, N=5 at initialisation on one batch of 64 training images (16x16, the "
             "proxy's resolution) and ignore the supernet.", "",
             "| score | found cell GT test | vs accuracy (pp, 95 % CI, p, W/L) | τ all | τ top 10 % | vs accuracy τ top 10 % (CI, p) | CPU s / cell |",
             "|---|---|---|---|---|---|---|"]
    summary = {}
    for n in names:
        d = paired(col[n]["gt_test"], col["accuracy"]["gt_test"]) if n != "accuracy" else None
        dt = paired(col[n]["tau_top10"], col["accuracy"]["tau_top10"]) if n != "accuracy" else None
        cost = mean_sd([r["arms"][n]["cpu_s_per_cell"] for r in recs])[0]
        if d is not None:
            wins = sum(x > 0 for x in d["diffs"])
            losses = sum(x < 0 for x in d["diffs"])
            vs = f"{d['mean']:+.2f} ({d['ci95'][0]:+.2f} … {d['ci95'][1]:+.2f}), p {_p(d['p_t'])}, {wins}/{losses}"
            vt = f"{dt['mean']:+.3f} ({dt['ci95'][0]:+.3f} … {dt['ci95'][1]:+.3f}), p {_p(dt['p_t'])}"
        else:
            vs = vt = "—"
        lines.append(f"| {n} | {fmt_ms(list(col[n]['gt_test'].values()))} | {vs} | "
                     f"{fmt_ms(list(col[n]['tau'].values()), 3)} | {fmt_ms(list(col[n]['tau_top10'].values()), 3)} | "
                     f"{vt} | {cost:.3f} |")
        summary[n] = {"gt_test": mean_sd(list(col[n]["gt_test"].values()))[:2],
                      "tau": mean_sd(list(col[n]["tau"].values()))[:2],
                      "tau_top10": mean_sd(list(col[n]["tau_top10"].values()))[:2], "cpu_s_per_cell": cost,
                      "vs_accuracy": d}
    ref = _reference_row()
    lines += ["", f"Reference: the shipped full-size one-shot supernet estimates (`supernet_estimates`, GPU-trained, "
              f"few-shot NAS release) on the same 250 cells: τ {ref['tau']:.3f}, top 10 % τ {ref['tau_top10']:.3f}; "
              f"its best-scored cell of all 15,625: {ref['best_cell_gt_test']:.2f} %."]
    best = max((n for n in names), key=lambda n: summary[n]["gt_test"][0])
    lines += ["", f"Highest mean found-cell GT test: **{best}** ({summary[best]['gt_test'][0]:.2f} %)."]
    trained = [r["train_cpu_s"] for r in recs if r["train_cpu_s"] > 60]  # seeds resumed after training count ~0
    train_cpu = mean_sd(trained)[0]
    lines += [f"Supernet training: {train_cpu:.0f} CPU s per seed (mean of the {len(trained)} seeds trained in the "
              "study's own process); the GA evaluates 100 cells, so a score's search-stage cost is about 100 x its "
              "CPU s / cell (zero-cost scores need no supernet at all). The CPU s / cell of a rank ensemble measured "
              "before the study's reference fix include scoring its 64-cell reference once, spread over 8 timed "
              "cells (about 8x the members' own cost): its own per-cell cost is the sum of its members'."]
    (out / "score_study.md").write_text("\n".join(lines) + "\n")
    (out / "score_study.json").write_text(json.dumps({"seeds": seeds, "scores": summary, "reference": ref,
                                                      "best": best}, indent=1, default=str))
    print("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--seed-offset", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=str(ROOT / "docs" / "results" / "score_study"))
    p.add_argument("--scratch", default=str(Path.home() / "tnas-scratch" / "score_study"),
                   help="training run directories (kept: later studies reuse the supernets)")
    p.add_argument("--scores", default=",".join(SCORES))
    p.add_argument("--report", action="store_true")
    p.add_argument("--smoke", action="store_true")
    args = p.parse_args()
    out = Path(args.out)
    if args.report:
        report(out)
        return
    sets = SMOKE_SETS if args.smoke else STUDY_SETS
    names = args.scores.split(",")
    jobs = [(seed, sets, args.scratch, str(out / "runs" / f"s{seed}.json"), names)
            for seed in range(args.seed_offset, args.seed_offset + args.seeds)
            if not (out / "runs" / f"s{seed}.json").exists()]
    run_pool(_job, jobs, args.workers)
    report(out)


if __name__ == "__main__":
    main()
