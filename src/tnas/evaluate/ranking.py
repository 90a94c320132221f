"""How well a supernet ranks cells: a fixed stratified NB201 cell set and Kendall tau on it.

A uniform random sample of 100 cells holds ~10 of the ground-truth top 10 %, so the top-10 % tau
that matters for a search (does the supernet order the *good* cells?) was measured on ~10 points
and was noise. `stratified_cells` fixes a seeded set that over-samples the top decile (default
250 cells, 50 of them in the GT top 10 %) and spreads the rest evenly over the other nine
deciles; it depends only on the table, the dataset and the seed, so every run and method scores
the same cells. `kendall_taus` reports tau on the whole set and on its top-10 % members.

Also here: `cell_kind`, whether an NB201 cell is 'conv' (a conv on some input->output path),
'parameter-free' (connected, but no conv on any input->output path) or 'disconnected'.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tnas.errors import TnasError

TAU_SEED = 12345  # the seed of every run's tau set (the same cells for every run and method)
_PARAMETRIC = ("nor_conv_1x1", "nor_conv_3x3")


@dataclass(frozen=True)
class TauSet:
    """A fixed set of NB201 cells for Kendall tau.

    Attributes:
        keys: long [M] table keys (space.from_keys gives the cells), sorted ascending.
        gt: float64 [M] ground-truth accuracy (%) of each cell on `dataset` / `split`.
        top: bool [M], True for members of the table's top 10 % by `gt`.
        threshold: the table's 90th percentile of `gt` (the top-decile cut).
    """

    keys: Tensor
    gt: Tensor
    top: Tensor
    threshold: float
    dataset: str
    split: str

    def __len__(self) -> int:
        return int(self.keys.numel())


def _decile_edges(values: Tensor) -> Tensor:
    """The 10 %, 20 %, ..., 90 % quantiles of values (float64 [9])."""
    return torch.quantile(values, torch.linspace(0.1, 0.9, 9, dtype=torch.float64))


def stratified_cells(table, space, dataset: str = "cifar10", n: int = 250, n_top: int = 50,
                     seed: int = TAU_SEED, split: str = "test") -> TauSet:
    """A seeded set of `n` distinct cells stratified by ground truth: `n_top` from the table's
    top 10 % and `n - n_top` spread evenly over the nine lower deciles (the remainder goes to the
    highest of them).

    Args:
        table: an NB201Table (`tnas.bench.load_nb201()`); every cell of `space` must be in it.
        space: the NB201 SearchSpace (its keys index the table).
        dataset, split: the ground-truth column the strata and tau use.
    """
    if not 0 < n_top <= n:
        raise TnasError(f"Tau set of n={n} cells with n_top={n_top} from the top decile; expected 0 < n_top <= n.")
    all_keys = torch.arange(space.size)
    gt_all = table.lookup(space.from_keys(all_keys), dataset, split).double()
    edges = _decile_edges(gt_all)
    decile = torch.bucketize(gt_all, edges, right=True)  # 0 (worst) .. 9 (top 10 %); ties go up
    g = torch.Generator().manual_seed(int(seed))
    base, extra = divmod(n - n_top, 9)
    per = [base + (1 if d >= 9 - extra else 0) for d in range(9)] + [n_top]
    picked = []
    for d, count in enumerate(per):
        members = all_keys[decile == d]
        if count > members.numel():
            raise TnasError(f"Tau set: decile {d} has {members.numel()} cells, fewer than the {count} requested; "
                            f"lower n (= {n}) or n_top (= {n_top}).")
        picked.append(members[torch.randperm(members.numel(), generator=g)[:count]])
    keys = torch.sort(torch.cat(picked)).values
    gt = gt_all[keys]
    return TauSet(keys, gt, decile[keys] == 9, float(edges[-1]), dataset, split)


def random_cells(table, space, dataset: str = "cifar10", n: int = 100, seed: int = TAU_SEED,
                 split: str = "test") -> TauSet:
    """The former tau set: `n` cells uniformly without replacement (`randperm`, seeded); its
    top members are those at or above the *set's* 90th percentile (eval.tau_set=random)."""
    keys = torch.randperm(space.size, generator=torch.Generator().manual_seed(int(seed)))[:n]
    gt = table.lookup(space.from_keys(keys), dataset, split).double()
    cut = float(gt.quantile(0.9)) if n else math.nan
    return TauSet(keys, gt, gt >= cut, cut, dataset, split)


def kendall_tau(est, gt) -> float:
    """Kendall tau-b between two score vectors of equal length N (nan with fewer than 3 points, no
    variation in either, or a nan score), as scipy.stats.kendalltau computes it.

    tau-b = S / sqrt(Tx * Ty) over the pairs i != j: S = sum sign(est_i - est_j) * sign(gt_i - gt_j),
    Tx / Ty = the pairs not tied in est / gt. Exact integer counts, in row blocks of O(N) memory each.
    """
    est, gt = np.asarray(est, dtype=float).ravel(), np.asarray(gt, dtype=float).ravel()
    if est.shape != gt.shape:
        raise TnasError(f"kendall_tau got {est.size} estimates and {gt.size} ground-truth values; pass one of each "
                        "per cell, in the same order.")
    if est.size < 3 or np.isnan(est).any() or np.isnan(gt).any():
        return math.nan
    s = tx = ty = 0
    for start in range(0, est.size, 256):  # 256 x N signs at a time
        dx = np.sign(est[start:start + 256, None] - est[None, :]).astype(np.int8)
        dy = np.sign(gt[start:start + 256, None] - gt[None, :]).astype(np.int8)
        s += int(np.sum(dx * dy, dtype=np.int64))
        tx, ty = tx + int(np.count_nonzero(dx)), ty + int(np.count_nonzero(dy))
    return s / math.sqrt(tx * ty) if tx and ty else math.nan


def kendall_taus(est, tau_set: TauSet) -> dict[str, float]:
    """Tau between estimates (one per cell of `tau_set`, in its order) and ground truth: over the
    whole set ('tau') and over its top-10 % members ('tau_top10'), with the counts."""
    est = np.asarray(est, dtype=float)
    if est.shape != (len(tau_set),):
        raise TnasError(f"kendall_taus got {est.shape[0] if est.ndim else 0} estimates for a set of "
                        f"{len(tau_set)} cells; pass one estimate per cell, in the set's order.")
    gt, top = tau_set.gt.numpy(), tau_set.top.numpy()
    return {"tau": kendall_tau(est, gt), "tau_top10": kendall_tau(est[top], gt[top]),
            "cells": len(tau_set), "top_cells": int(top.sum())}


def cell_kind(genotype: str) -> str:
    """'conv', 'parameter-free' or 'disconnected' for an NB201 genotype string.

    An edge j->i counts when its op is not 'none', node j is reachable from the input (node 0)
    and the output (node 3) is reachable from node i. 'disconnected': no input->output path;
    'parameter-free': paths exist but no counting edge is a conv (only skip/pool reach the output).
    """
    groups = genotype.strip().split("+")
    edges = []  # (source j, target i, op)
    for i, group in enumerate(groups, start=1):
        for j, edge in enumerate(group.strip("|").split("|")):
            edges.append((j, i, edge.split("~")[0]))
    out = len(groups)
    live = [(j, i, op) for j, i, op in edges if op != "none"]
    fwd = {0}
    for j, i, _ in sorted(live, key=lambda e: e[1]):  # targets in order: sources settled first
        if j in fwd:
            fwd.add(i)
    back = {out}
    for j, i, _ in sorted(live, key=lambda e: -e[1]):
        if i in back:
            back.add(j)
    if out not in fwd:
        return "disconnected"
    used = [op for j, i, op in live if j in fwd and i in back]
    return "conv" if any(op in _PARAMETRIC for op in used) else "parameter-free"


def supernet_taus(evaluator: Any, table: Any, dataset: str, *, tau_set: str = "random", n: int = 100,
                  n_top: int = 50) -> dict[str, Any]:
    """Kendall tau between a supernet evaluator's accuracy and ground-truth test accuracy over a
    fixed seeded cell set (`tau_set`: 'random' = `n` uniform cells, or 'stratified'): overall and
    among the set's top-10% members; with the per-cell estimates (in the set's key order) so a
    study can recompute any statistic. `evaluator` is a `SupernetEvaluator`; a fresh one on its
    data (no memo, no callbacks) scores the set."""
    from tnas.evaluate.supernet import SupernetEvaluator

    space = evaluator.space
    if tau_set == "stratified":
        cells = stratified_cells(table, space, dataset, n=n, n_top=n_top)
    else:
        cells = random_cells(table, space, dataset, n=n)
    ev = SupernetEvaluator(evaluator.supernet, space, evaluator.calib, evaluator.valid)
    est = ev(space.from_keys(cells.keys)).numpy()
    return {**kendall_taus(est, cells), "set": tau_set,
            "keys": cells.keys.tolist(), "supernet_acc": [round(float(x), 4) for x in est]}
