"""Where did supernet training go? Path concentration and what the sampler learned, per one-shot run.

Reads each run directory's `archs.jsonl` (every scored training step: the sampled path, its
held-out score, its source) and `metrics.jsonl`, and prints, per run:
  distinct   distinct paths among the scored training steps
  top10 %    share of scored steps spent on the 10 most-trained paths
  GT top10   mean NB201 GT test (CIFAR-10, %) of those 10 most-trained paths
  n top50    mean number of times the sampler's top-50 paths were scored, ranked two ways:
             'best' (max of a path's scores, what TNAS-OS used) and 'mean' (mean of its scores)
  GT top50   mean GT test of those top-50 paths
  H last     mean over edges of the entropy (nats; uniform over 5 ops = 1.609) of the op
             frequencies in the last 10 % of scored steps: how concentrated training ended
  H dist     gradient strategies: mean over edges of the entropy (nats) of the learned
             distribution itself at the last epoch (softmax(alpha) for DARTS/GDAS, the decoder's
             marginals for TNAS-G), as logged in metrics.jsonl; DARTS and GDAS runs have no
             archs.jsonl, so only this column is filled for them
The question it answers: with 'best', is the top-K the VAE learns from made of the paths that
were sampled most (max of many noisy draws) rather than the best ones? Relative scores
(score - EMA) are not logged, so the ranking uses raw held-out accuracy; the trend of the
supernet over training affects both rankings alike.

    python benchmarks/oneshot_diagnose.py /tmp/tnas-study-scratch/*__s10[0-2]__*/*/
    python benchmarks/oneshot_diagnose.py /tmp/tnas-study-scratch/{gdas,darts,tnas-g}__s[0-4]__*/*/
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _study import run_name  # noqa: E402

from tnas.bench import load_nb201
from tnas.sampler.softmax import categorical_entropy
from tnas.space import get_space


def dist_entropy(run: Path) -> float:
    """`entropy_mean` of the last training row of `run`/metrics.jsonl (nats), NaN when not logged."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()] \
        if (run / "metrics.jsonl").exists() else []
    last = [r for r in rows if r.get("phase") == "train" and "entropy_mean" in r]
    return float(last[-1]["entropy_mean"]) if last else math.nan


def diagnose(run: Path, table, space) -> dict:
    """Statistics of one run directory (see the module docstring); only 'run' and 'entropy_dist'
    when it has no archs.jsonl (DARTS, GDAS)."""
    if not (run / "archs.jsonl").exists():
        return {"run": run_name(run), "entropy_dist": dist_entropy(run)}
    scores: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []  # scored genotypes in step order
    vae = 0
    for line in (run / "archs.jsonl").read_text().splitlines():
        row = json.loads(line)
        s = row.get("score")
        if row.get("phase") != "train" or s is None or not math.isfinite(s):
            continue
        scores[row["genotype"]].append(float(s))
        order.append(row["genotype"])
        vae += row.get("source") == "vae"
    total = sum(len(v) for v in scores.values())
    if not total:
        raise SystemExit(f"{run}: no scored training steps in archs.jsonl")

    def gt(genos: list[str]) -> float:
        archs = torch.stack([space.from_genotype(g) for g in genos])
        return float(table.lookup(archs, "cifar10", "test").mean())

    most = sorted(scores, key=lambda g: -len(scores[g]))[:10]
    name = run_name(run)  # study runs: '<label>__s<seed>'
    out = {"run": name, "entropy_dist": dist_entropy(run), "scored": total, "vae_share": vae / total,
           "distinct": len(scores), "top10_share": sum(len(scores[g]) for g in most) / total, "gt_top10": gt(most)}
    out["entropy_last"] = _op_entropy(torch.stack([space.from_genotype(g) for g in order[-max(1, total // 10):]]),
                                      space.max_choices)
    for how, agg in (("best", max), ("mean", statistics.fmean)):
        top = sorted(scores, key=lambda g: -agg(scores[g]))[:50]
        out[f"n_top50_{how}"] = statistics.fmean(len(scores[g]) for g in top)
        out[f"gt_top50_{how}"] = gt(top)
    return out


def _op_entropy(archs: torch.Tensor, n_ops: int) -> float:
    """Mean over edges of the entropy (nats) of the op frequencies in `archs` (long [N, D])."""
    freq = torch.stack([torch.bincount(col, minlength=n_ops) for col in archs.T]).double()
    return float(categorical_entropy(freq / freq.sum(1, keepdim=True)).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="run directories (with archs.jsonl and/or metrics.jsonl)")
    args = ap.parse_args(argv)
    table, space = load_nb201(), get_space("nb201")
    print("| run | scored | VAE share | distinct | top10 % | GT top10 | n top50 best | GT top50 best "
          "| n top50 mean | GT top50 mean | H last | H dist |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        if not (run / "archs.jsonl").exists() and not (run / "metrics.jsonl").exists():
            print(f"skipped {run}: neither archs.jsonl nor metrics.jsonl", file=sys.stderr)
            continue
        d = diagnose(run, table, space)
        h = "–" if math.isnan(d["entropy_dist"]) else f"{d['entropy_dist']:.3f}"
        if "scored" not in d:
            print(f"| {d['run']} |" + " – |" * 10 + f" {h} |")
            continue
        print(f"| {d['run']} | {d['scored']} | {d['vae_share']:.2f} | {d['distinct']} | {100 * d['top10_share']:.1f} "
              f"| {d['gt_top10']:.2f} | {d['n_top50_best']:.1f} | {d['gt_top50_best']:.2f} "
              f"| {d['n_top50_mean']:.1f} | {d['gt_top50_mean']:.2f} | {d['entropy_last']:.3f} | {h} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
