"""The search-stage plots of report.md (issue 25): the GA's fitness per generation with the
sampler's eps and entropy per epoch (search.png), and on NB201 the supernet's score against the
ground truth of the Kendall-tau cells (ranking.png).

Both read only what a finished run directory holds (metrics.jsonl, archs.jsonl, config.yaml,
result.json's `kendall`), so a report can be redrawn from the folder alone.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
import yaml

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from tnas.errors import TnasError  # noqa: E402
from tnas.run.rundir import read_jsonl  # noqa: E402

_log = logging.getLogger(__name__)


def _config(run: Path) -> dict[str, Any]:
    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


Curve = list[float | None]  # one value per epoch, None where unknown


def path_entropy(run: Path, history: list[dict[str, Any]]) -> tuple[Curve, Curve]:
    """(entropy, the same for uniform paths) per epoch of `history`: the entropy of the paths
    trained that epoch (archs.jsonl, phase 'train'), the mean over decisions of the entropy of each decision's choice frequencies, divided
    by log(choices): 1 = every choice equally often (uniform sampling, given enough paths), 0 = one
    path; and its mean over as many uniform paths. A metric `sampler_entropy` in the epoch's record
    is used instead when the sampler logs one."""
    if history and all(isinstance(h.get("sampler_entropy"), (int, float)) for h in history):
        return [float(h["sampler_entropy"]) for h in history], [None] * len(history)
    from tnas.space import get_space

    try:
        space = get_space(str(_config(run).get("space")))
    except TnasError:  # a user's space that is not registered in this process
        return [None] * len(history), [None] * len(history)
    ends = [h["step"] for h in history]
    per_epoch: list[list[torch.Tensor]] = [[] for _ in history]
    for row in read_jsonl(run / "archs.jsonl")[0]:
        if row.get("phase") != "train" or not isinstance(row.get("step"), (int, float)):
            continue
        e = next((i for i, end in enumerate(ends) if row["step"] <= end), None)
        if e is not None:
            try:
                per_epoch[e].append(space.from_genotype(row["genotype"]))
            except (TnasError, KeyError, TypeError):
                continue
    return [_normalised_entropy(space, archs) if len(archs) > 1 else None for archs in per_epoch], \
        [_uniform_entropy(space, len(archs)) if len(archs) > 1 else None for archs in per_epoch]


def _uniform_entropy(space: Any, n: int, draws: int = 64) -> float:
    """The mean `_normalised_entropy` of n uniform paths (below 1 for few paths: the reference
    an epoch's entropy is read against); a fixed generator, so reports are reproducible."""
    g = torch.Generator().manual_seed(n)
    return float(np.mean([_normalised_entropy(space, list(space.sample_uniform(n, g))) for _ in range(draws)]))


def _normalised_entropy(space: Any, archs: list[torch.Tensor]) -> float:
    a = torch.stack(archs)  # long [N, D]
    ent = []
    for d, dec in enumerate(space.decisions):
        if dec.num_choices < 2:
            continue
        p = torch.bincount(a[:, d], minlength=dec.num_choices).double() / len(a)
        p = p[p > 0]
        ent.append(float(-(p * p.log()).sum()) / math.log(dec.num_choices))
    return float(np.mean(ent)) if ent else 0.0


def plot_search(run: Path, history: list[dict[str, Any]]) -> str | None:
    """GA fitness by generation (best / mean of each generation, mean of its parents, every
    candidate) and the sampler's eps and path entropy per epoch -> search.png."""
    rows = read_jsonl(run / "metrics.jsonl")[0]
    gens = [r for r in rows if r.get("phase") == "search" and "generation" in r]
    if not gens:
        return None
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.4))
    evals = [r for r in rows if r.get("phase") == "search" and "generation" not in r and "fitness" in r]
    bounds = [g["step"] for g in gens]  # evaluations done at the end of each generation
    pts = [(next((k for k, b in enumerate(bounds) if r["step"] <= b), len(bounds) - 1), r["fitness"]) for r in evals]
    if pts:
        ax[0].scatter(*zip(*pts), s=8, alpha=0.35, color="tab:gray", label="candidates")
    g = [r["generation"] for r in gens]
    for key, style, label in (("population_best", "o-", "best"), ("population_mean", "s-", "mean"),
                              ("parents_mean", "x--", "parents' mean")):
        if all(key in r for r in gens):
            ax[0].plot(g, [r[key] for r in gens], style, label=label)
    ax[0].set(title="GA fitness (supernet score) by generation", xlabel="generation", ylabel="score")
    ax[0].xaxis.set_major_locator(MaxNLocator(integer=True))
    ax[0].legend(fontsize=8)
    if history:
        ep = [h["epoch"] for h in history]
        ax[1].plot(ep, [h.get("eps", float("nan")) for h in history], "o-", label="eps (VAE share of Gamma)")
        ent, ref = path_entropy(run, history)
        for values, style, label in ((ent, "s-", "entropy of the trained paths"),
                                     (ref, "k:", "... of as many uniform paths")):
            if any(e is not None for e in values):
                ax[1].plot(ep, [float("nan") if e is None else e for e in values], style, label=label)
        ax[1].legend(fontsize=8)
    ax[1].set(title="sampler during supernet training", xlabel="epoch", ylim=(-0.05, 1.05))
    fig.tight_layout()
    fig.savefig(run / "search.png", dpi=110)
    plt.close(fig)
    return "search.png"


def ranking_points(run: Path, result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """(supernet score, ground-truth test accuracy) of the Kendall-tau cells, in the set's order;
    None without them (eval.tau_cells=0, another space or dataset, an older result)."""
    kd, gt = result.get("kendall") or {}, result.get("ground_truth") or {}
    scores = kd.get("score", kd.get("supernet_acc"))  # 'score': the generalised name
    keys = kd.get("keys")
    if not (isinstance(scores, list) and isinstance(keys, list) and len(scores) == len(keys) >= 2 and gt):
        return None
    from tnas.bench import load_nb201

    try:
        table = load_nb201((_config(run).get("eval") or {}).get("bench_path"))
        archs = table.space.from_keys(torch.tensor(keys, dtype=torch.long))
        truth = table.lookup(archs, gt["dataset"], "test").numpy()
    except (TnasError, KeyError, ValueError) as e:
        _log.warning("no ranking plot: %s", e)
        return None
    return np.asarray(scores, dtype=float), truth


def plot_ranking(run: Path, result: dict[str, Any]) -> str | None:
    """Supernet score against NB201 ground truth of the tau cells, with Kendall tau -> ranking.png."""
    pts = ranking_points(run, result)
    if pts is None:
        return None
    score, truth = pts
    kd, gt = result["kendall"], result["ground_truth"]
    top = truth >= np.quantile(truth, 0.9)
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.scatter(truth[~top], score[~top], s=12, alpha=0.6, color="tab:blue", label="cells")
    ax.scatter(truth[top], score[top], s=16, color="tab:red", label="top 10% by ground truth")
    tau, tau_top = kd.get("tau"), kd.get("tau_top10")
    title = f"Kendall tau {tau:.3f}" if isinstance(tau, float) and math.isfinite(tau) else "Kendall tau n/a"
    if isinstance(tau_top, float) and math.isfinite(tau_top):
        title += f" (top 10%: {tau_top:.3f})"
    ax.set(title=f"{title}, {len(score)} cells", xlabel=f"ground truth test accuracy, {gt['dataset']} (%)",
           ylabel="supernet score")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(run / "ranking.png", dpi=110)
    plt.close(fig)
    return "ranking.png"
