"""Is the found cell limited by evaluation noise or by the supernet? Re-score the GA's top cells.

For each finished one-shot NB201 run directory: take the K cells the GA scored highest (fitness:
supernet accuracy on the search stage's `eval_batches` validation batches, e.g. 4 x 250 images
in the CPU proxy), re-score them with the same trained supernet and the same BN-calibration
batches on M further validation batches of the same split that the search never saw, and report
the NB201 ground-truth (CIFAR-10 test) accuracy of
  picked      the cell the run returned (the GA's best fitness)
  reselected  the best of the K by the re-scoring on the unseen batches
  oracle      the best GT among the K (what a perfect re-ranking of them could reach)
  mean        the mean GT of the K
plus Kendall tau between score and GT within the K, for the search's fitness and the re-score.
Runs are grouped by label (study scratch folders are `<label>__s<seed>__<hash>/<run>/`) and
compared per seed: reselected - picked within a method, and method vs `spos` after re-selection.

If re-scoring on ~10x more images lifts the found cell, the ceiling of the study is the
evaluation's noise (a cheap fix for every method); if not, it is the supernet's top-decile bias.

    python benchmarks/oneshot_reselect.py /tmp/tnas-study-scratch/*__s[0-9]__*/*/ --top 10 --batches 40
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _study import fmt_ms, paired, run_name  # noqa: E402

from tnas.bench import load_nb201  # noqa: E402
from tnas.evaluate import SupernetEvaluator  # noqa: E402
from tnas.evaluate.batches import pass_batches  # noqa: E402
from tnas.export import load_trained_supernet  # noqa: E402


def ga_scores(run: Path) -> dict[str, float]:
    """genotype -> fitness of every cell the GA evaluated (archs.jsonl, phase 'search'), first score kept."""
    out: dict[str, float] = {}
    for line in (run / "archs.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("phase") == "search" and row.get("score") is not None:
            out.setdefault(row["genotype"], float(row["score"]))
    return out


def reselect(run: Path, table, top: int, batches: int) -> dict:
    """Per-run numbers (module docstring)."""
    ts = load_trained_supernet(run)
    scores = ga_scores(run)
    if not scores:
        raise SystemExit(f"{run}: archs.jsonl has no GA evaluations (phase 'search'); is it a one-shot run?")
    # stable: ties keep the GA's evaluation order, as the run's own pick does
    cells = sorted(scores, key=lambda g: -scores[g])[:top]
    archs = torch.stack([ts.space.from_genotype(g) for g in cells])
    gt = table.lookup(archs, "cifar10", "test").tolist()
    s = ts.cfg.search
    # the validation split in the search's fixed order; its first eval_batches batches were the fitness
    unseen = list(itertools.islice(pass_batches(ts.data.valid, s.eval_batch_size), s.eval_batches,
                                   s.eval_batches + batches))
    evaluator = SupernetEvaluator(ts.supernet, ts.space, ts.calib, ts.valid)
    rescored = [evaluator.accuracy(a, unseen) for a in archs]
    best = max(range(len(cells)), key=lambda i: (rescored[i], -i))
    name = run_name(run)
    label, _, seed = name.rpartition("__s")
    return {"run": name, "label": label or name, "seed": int(seed) if seed.isdigit() else -1,
            "picked": gt[0], "reselected": gt[best], "oracle": max(gt), "mean": sum(gt) / len(gt),
            "picked_is_result": cells[0] == ts.result["genotype"],
            "tau_fitness": stats.kendalltau([scores[g] for g in cells], gt).statistic,
            "tau_rescored": stats.kendalltau(rescored, gt).statistic,
            "unseen_images": sum(int(y.numel()) for _, y in unseen)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="finished one-shot run directories (NB201)")
    ap.add_argument("--top", type=int, default=10, help="how many of the GA's best cells to re-score")
    ap.add_argument("--batches", type=int, default=40, help="unseen validation batches to re-score on")
    ap.add_argument("--out", type=Path, help="also write the per-run rows as JSON here")
    args = ap.parse_args(argv)
    table = load_nb201()
    rows = []
    print(f"| run | GT picked | GT reselected | GT oracle (top {args.top}) | GT mean (top {args.top}) "
          "| τ fitness | τ re-scored |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        if not (run / "result.json").is_file():
            print(f"skipped {run}: no result.json (unfinished?)", file=sys.stderr)
            continue
        r = reselect(run, table, args.top, args.batches)
        rows.append(r)
        if not r["picked_is_result"]:  # a tie at the top of the fitness: the run may have returned another cell
            print(f"note: {r['run']}: the best fitness is shared; 'picked' is the first evaluated", file=sys.stderr)
        print(f"| {r['run']} | {r['picked']:.2f} | {r['reselected']:.2f} | {r['oracle']:.2f} | {r['mean']:.2f} "
              f"| {r['tau_fitness']:.2f} | {r['tau_rescored']:.2f} |", flush=True)
    if not rows:
        return 1
    print(f"\nRe-scored on {rows[0]['unseen_images']} unseen validation images per cell.\n")
    groups: dict[str, dict[int, dict]] = defaultdict(dict)
    for r in rows:
        groups[r["label"]][r["seed"]] = r
    print("| method | n | GT picked | GT reselected | GT oracle | reselected − picked (95 % CI, p t / Wilcoxon) |")
    print("|---|---|---|---|---|---|")
    for label, g in sorted(groups.items()):
        p = paired({s: r["reselected"] for s, r in g.items()}, {s: r["picked"] for s, r in g.items()})
        print(f"| {label} | {len(g)} | {fmt_ms([r['picked'] for r in g.values()])} "
              f"| {fmt_ms([r['reselected'] for r in g.values()])} | {fmt_ms([r['oracle'] for r in g.values()])} "
              f"| {_diff(p)} |")
    if "spos" in groups:
        print("\n| method − spos (same seeds) | n | picked | reselected |")
        print("|---|---|---|---|")
        for label, g in sorted(groups.items()):
            if label == "spos":
                continue
            base = groups["spos"]
            d = [paired({s: r[k] for s, r in g.items()}, {s: r[k] for s, r in base.items()})
                 for k in ("picked", "reselected")]
            print(f"| {label} | {d[0]['n']} | {_diff(d[0])} | {_diff(d[1])} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


def _diff(p: dict) -> str:
    if not p["n"] or not math.isfinite(p["mean"]):
        return "n/a"
    lo, hi = p["ci95"]
    return f"{p['mean']:+.2f} ({lo:+.2f} … {hi:+.2f}; p {p['p_t']:.3f} / {p['p_wilcoxon']:.3f})"


if __name__ == "__main__":
    sys.exit(main())
