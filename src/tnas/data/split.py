"""Seeded, class-stratified index splits and subsets (pure numpy on label arrays).

They work on labels only, so a loader can choose its images before decoding any of them.
Both functions are deterministic given the labels and the numpy Generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _ranks(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random permutation `perm` and, for each perm position, its rank within its class."""
    n = len(labels)
    perm = rng.permutation(n)
    lab = labels[perm]
    order = np.argsort(lab, kind="stable")
    sorted_lab = lab[order]
    first = np.searchsorted(sorted_lab, sorted_lab, side="left")  # start of each element's class run
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first
    return perm, rank


def stratified_split(
    labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Split indices into parts with the given fractions within every class.

    Args:
        labels: int [N] class ids.
        fractions: part sizes as fractions summing to 1, e.g. (0.5, 0.5).
        rng: numpy Generator (seeded by the caller's split seed).

    Returns:
        One sorted int64 index array per fraction; together they partition range(N). For a class
        of n images, part j gets about n * fractions[j] of them (floor at the boundaries).
    """
    labels = np.asarray(labels)
    assert abs(sum(fractions) - 1.0) < 1e-9, fractions
    perm, rank = _ranks(labels, rng)
    counts = np.bincount(labels[perm])
    frac = rank / counts[labels[perm]]
    bounds = np.cumsum(fractions)[:-1]
    part = np.searchsorted(bounds, frac, side="right")
    return [np.sort(perm[part == j]) for j in range(len(fractions))]


def stratified_limit(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """At most `limit` indices, balanced over classes (round robin over a random order).

    Returns:
        Sorted int64 indices into `labels`; all of them when limit >= N.
    """
    labels = np.asarray(labels)
    if limit >= len(labels):
        return np.arange(len(labels), dtype=np.int64)
    perm, rank = _ranks(labels, rng)
    # Sort by (rank within class, random position): class 0..K take turns, so any prefix is balanced.
    take = np.lexsort((np.arange(len(perm)), rank))[:limit]
    return np.sort(perm[take])


def plan_splits(
    pools: dict[str, np.ndarray], protocol: str, valid_fraction: float, split_seed: int, limit: int | None
) -> dict[str, tuple[str, np.ndarray]]:
    """Which rows of which source pool make train / valid / test.

    Protocols (NB201 naming):
        'holdout-train': train and valid are a stratified (1 - f, f) split of pool 'train'
            (`cifar10-valid`: 25k/25k at f = 0.5); test is all of pool 'test'.
        'halves-test': train is all of pool 'train'; valid and test are a stratified (f, 1 - f)
            split of pool 'test' (CIFAR-100 / ImageNet16-120 x-valid / x-test halves).
        'single': one pool 'all': train 50 %; the other 50 % splits (f, 1 - f) into valid/test.

    Args:
        pools: pool name -> labels int [N] of that source.
        protocol: one of the above.
        valid_fraction: f in (0, 1).
        split_seed: seeds the split; `limit` subsets use a separate stream, so a limited split
            is a subset of the full one.
        limit: at most this many images per split, class-balanced; None keeps all.

    Returns:
        split name -> (pool name, sorted int64 row indices).
    """
    rng = np.random.default_rng(split_seed)
    f = valid_fraction
    if protocol == "holdout-train":
        tr, va = stratified_split(pools["train"], (1 - f, f), rng)
        plan = {
            "train": ("train", tr),
            "valid": ("train", va),
            "test": ("test", np.arange(len(pools["test"]))),
        }
    elif protocol == "halves-test":
        va, te = stratified_split(pools["test"], (f, 1 - f), rng)
        plan = {
            "train": ("train", np.arange(len(pools["train"]))),
            "valid": ("test", va),
            "test": ("test", te),
        }
    else:
        assert protocol == "single", protocol
        tr, va, te = stratified_split(pools["all"], (0.5, 0.5 * f, 0.5 * (1 - f)), rng)
        plan = {"train": ("all", tr), "valid": ("all", va), "test": ("all", te)}
    if limit is not None:
        for i, (split, (pool, idx)) in enumerate(plan.items()):
            sub = stratified_limit(pools[pool][idx], limit, np.random.default_rng([split_seed, 1, i]))
            plan[split] = (pool, idx[sub])
    return plan
