"""`tnas bench score NAME`: how well a training-free score ranks NB201 cells.

Scores `cells` uniformly drawn NB201 cells (seeded) with `NAME` (a zero-cost proxy or a rank
ensemble of them, `tnas.evaluate.score`) on the NB201 stand-alone network at initialisation
(C=16, N=5 unless given) and one batch of real training images, and compares with the bundled
table's ground truth: Kendall tau, Spearman rho, the best-scored cell's accuracy and the CPU
seconds per cell. Scores that need a trained supernet are measured by a search run instead
(`tnas search --resume RUN search.score=NAME` re-scores a finished run, its report gives tau).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tnas.errors import TnasError
from tnas.evaluate.ranking import kendall_tau
from tnas.evaluate.score import Scorer, ScoreInputs, parse_score
from tnas.seeds import stream
from tnas.space import get_space
from tnas.supernet.registry import NetSize, get_family

TABLE_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


@dataclass(frozen=True)
class ScoreBench:
    """What `tnas bench score` measures (defaults: the literature's protocol, batch 64, C=16, N=5)."""

    score: str = "naswot"
    cells: int = 200
    dataset: str = "cifar10"
    batch_size: int = 64
    C: int = 16
    N: int = 5
    seed: int = 0
    root: str | None = None


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), for Spearman's rho."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for v in np.unique(x):
        tie = x == v
        ranks[tie] = ranks[tie].mean()
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def measure(bench: ScoreBench, table: Any) -> dict[str, Any]:
    """Score `bench.cells` uniform NB201 cells and compare with the table (see the module docstring)."""
    from tnas.data import load_dataset

    spec = parse_score(bench.score, "score")
    if "supernet" in spec.needs:
        raise TnasError(f"tnas bench score measures training-free scores; {bench.score!r} needs a trained supernet. "
                        "Re-score a finished search run instead: tnas search --resume RUN search.score="
                        f"{bench.score} eval.tau_cells=250 (its report.md gives the score's Kendall tau).")
    if bench.dataset not in TABLE_DATASETS:
        raise TnasError(f"--dataset {bench.dataset!r}: expected one of {', '.join(TABLE_DATASETS)} (the NB201 table's).")
    space = get_space("nb201")
    data = load_dataset(bench.dataset, bench.root, image_size=None)
    train = data.train
    x, y = train.random_batch(bench.batch_size, stream(bench.seed, "zero-cost-data"), augment=False)
    size = NetSize(C=bench.C, N=bench.N, num_classes=train.num_classes, in_channels=int(train.shape[0]),
                   image_size=int(train.shape[-1]))
    family = get_family("nb201")
    inputs = ScoreInputs(space, batches=[(x, y)], network=lambda a: family.network(space, a, size, {}),
                         seed=bench.seed)
    scorer = Scorer(spec, inputs)
    keys = torch.randperm(space.size, generator=torch.Generator().manual_seed(bench.seed))[: bench.cells]
    archs = space.from_keys(keys)
    if spec.ensemble:
        scorer.reference()  # the ensemble's reference sample is scored once, outside the per-cell cost
    t0 = time.process_time()
    values = scorer(archs).numpy()
    cpu = (time.process_time() - t0) / max(len(keys), 1)
    gt = table.lookup(archs, TABLE_DATASETS[bench.dataset], "test").numpy()
    finite = np.where(np.isfinite(values), values, -np.inf)
    order = np.where(np.isfinite(finite), finite, np.nanmin(np.where(np.isfinite(finite), finite, np.nan)) - 1)
    best = int(np.argmax(order))
    return {"score": spec.text, "cells": int(len(keys)), "dataset": bench.dataset, "kendall_tau": kendall_tau(order, gt),
            "spearman_rho": spearman(order, gt), "best_genotype": space.to_genotype(archs[best]),
            "best_gt_test": float(gt[best]), "table_best_gt_test": float(gt.max()), "cpu_s_per_cell": cpu,
            "network": {"C": bench.C, "N": bench.N, "image_size": size.image_size}, "batch_size": bench.batch_size}
