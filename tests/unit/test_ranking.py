"""The stratified Kendall-tau cell set, tau itself and the NB201 cell kind (tnas.evaluate.ranking)."""
from __future__ import annotations

import math

import pytest
import torch

from tnas.bench import load_nb201
from tnas.errors import TnasError
from tnas.evaluate.ranking import TAU_SEED, cell_kind, kendall_tau, kendall_taus, random_cells, stratified_cells
from tnas.space import get_space


@pytest.fixture(scope="module")
def nb201():
    return load_nb201(), get_space("nb201")


def test_stratified_set_size_top_decile_no_duplicates(nb201) -> None:
    table, space = nb201
    s = stratified_cells(table, space, "cifar10", n=250, n_top=50)
    assert len(s) == 250 and s.keys.unique().numel() == 250
    assert int(s.top.sum()) == 50  # the top-10 % tau is measured on 50 cells
    all_gt = table.lookup(space.from_keys(torch.arange(space.size)), "cifar10", "test")
    assert s.threshold == pytest.approx(float(all_gt.quantile(0.9)))
    assert bool((s.gt[s.top] >= s.threshold).all()) and bool((s.gt[~s.top] < s.threshold).all())
    assert torch.equal(s.gt, table.lookup(space.from_keys(s.keys), "cifar10", "test").double())
    # the other 200 cells cover every lower decile (22 or 23 each)
    edges = torch.quantile(all_gt.double(), torch.linspace(0.1, 0.9, 9, dtype=torch.float64))
    counts = torch.bincount(torch.bucketize(s.gt[~s.top], edges, right=True), minlength=9)
    assert counts.tolist()[:9] == [22] * 7 + [23] * 2


def test_stratified_set_is_fixed_by_its_seed(nb201) -> None:
    table, space = nb201
    a, b = stratified_cells(table, space), stratified_cells(table, space)
    assert torch.equal(a.keys, b.keys) and len(a) == 250 and int(a.top.sum()) == 50
    assert not torch.equal(a.keys, stratified_cells(table, space, seed=TAU_SEED + 1).keys)


def test_stratified_set_rejects_bad_sizes(nb201) -> None:
    table, space = nb201
    with pytest.raises(TnasError, match="n_top"):
        stratified_cells(table, space, n=10, n_top=20)


def test_random_set_is_the_former_tau_sample(nb201) -> None:
    table, space = nb201
    s = random_cells(table, space, n=100)
    assert torch.equal(s.keys, torch.randperm(space.size, generator=torch.Generator().manual_seed(12345))[:100])
    assert int(s.top.sum()) == 10


def test_kendall_tau_overall_and_top(nb201) -> None:
    table, space = nb201
    s = stratified_cells(table, space, n=60, n_top=20)
    perfect = kendall_taus(s.gt.numpy(), s)
    assert perfect == {"tau": 1.0, "tau_top10": 1.0, "cells": 60, "top_cells": 20}
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1, 2], [1, 2]))
    with pytest.raises(TnasError, match="one estimate per cell"):
        kendall_taus([0.0] * 5, s)


@pytest.mark.parametrize("genotype, kind", [
    ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "conv"),  # ResNet
    ("|none~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|", "disconnected"),
    ("|skip_connect~0|+|nor_conv_3x3~0|skip_connect~1|+|avg_pool_3x3~0|skip_connect~1|none~2|", "parameter-free"),
    ("|none~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|none~2|", "parameter-free"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "disconnected"),
    ("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|", "conv"),
])
def test_cell_kind(genotype: str, kind: str) -> None:
    assert cell_kind(genotype) == kind


def test_cell_kind_agrees_with_the_table_on_disconnected_cells(nb201) -> None:
    table, space = nb201
    keys = torch.randperm(space.size, generator=torch.Generator().manual_seed(0))[:2000]
    archs = space.from_keys(keys)
    gt = table.lookup(archs, "cifar10", "test")
    kinds = [cell_kind(space.to_genotype(a)) for a in archs]
    assert all(g == pytest.approx(10.0, abs=0.5) for g, k in zip(gt.tolist(), kinds) if k == "disconnected")
    assert all(g > 15 for g, k in zip(gt.tolist(), kinds) if k == "conv")
