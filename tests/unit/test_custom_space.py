"""A user-defined space (examples/custom_space.py) runs through the library's pipeline unchanged."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import tnas
from tnas.errors import TnasError
from tnas.run import resolve_config, run_search
from tnas.run.constraints import check_constraint, constraint
from tnas.run.search import build

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_space.py"
TINY = {"space": "conv-chain", "supernet.C": "8", "train.epochs": "2", "train.batch_size": "64",
        "search.budget": "8", "search.population": "4", "search.parents": "2", "search.mutations": "2",
        "search.crossovers": "2", "sampler.min_observations": "4", "sampler.train_steps": "5"}


@pytest.fixture(scope="module")
def example():
    if "custom_space_example" not in sys.modules:  # registers 'conv-chain' once per process
        spec = importlib.util.spec_from_file_location("custom_space_example", EXAMPLE)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
    return sys.modules["custom_space_example"]


@pytest.mark.parametrize("strategy", ["tnas-os", "gdas"])
def test_custom_space_tiny_search(example, strategy, tmp_path) -> None:
    cfg = resolve_config(None, {**TINY, "strategy": strategy, "out": str(tmp_path)})
    result, path = run_search(cfg, progress_bar=False)
    space = tnas.get_space("conv-chain")
    arch = space.from_genotype(result["genotype"])
    assert arch.shape == (4,) and result["ground_truth"] is None  # no NB201 lookup for other spaces
    assert 0.0 <= result["supernet_valid_acc"] <= 100.0
    assert json.loads((path / "result.json").read_text())["genotype"] == result["genotype"]


def test_custom_space_constraints(example, tmp_path) -> None:
    space = tnas.get_space("conv-chain")
    skip, conv5 = space.encode(["skip"] * 4), space.encode(["conv_5x5"] * 4)
    size = tnas.NetSize(C=16, N=1, num_classes=10, in_channels=1, image_size=8)
    p_skip, f_skip = example.chain_cost(space, skip, size)
    p5, f5 = example.chain_cost(space, conv5, size)
    assert p5 - p_skip == 4 * 16 * 16 * 25 and f5 > f_skip  # four 5x5 convs, 16 -> 16 channels
    cfg = resolve_config(None, {**TINY, "out": str(tmp_path), "search.max_params_M": str((p_skip + 1) / 1e6)})
    parts = build(cfg)
    check_constraint(parts)  # the all-skip net fits
    ok = constraint(parts)
    assert ok(torch.stack([skip, conv5])).tolist() == [True, False]
    impossible = build(resolve_config(None, {**TINY, "search.max_params_M": str(p_skip / 2e6)}))
    with pytest.raises(TnasError, match="No architecture meets"):
        check_constraint(impossible)


def test_unknown_family_is_a_clear_error() -> None:
    tnas.register_space("no-family-space")(lambda: tnas.SearchSpace("no-family-space", (tnas.Decision("a", ("x", "y")),)))
    with pytest.raises(TnasError, match="register_family"):
        build(resolve_config(None, {"space": "no-family-space"}))
    with pytest.raises(TnasError, match="Family"):
        tnas.register_family("x", object())  # type: ignore[arg-type]


def test_constrained_search_trains_and_finds_only_allowed_archs(example, tmp_path) -> None:
    space = tnas.get_space("conv-chain")
    size = tnas.NetSize(C=16, N=1, num_classes=10, in_channels=1, image_size=8)
    limit = example.chain_cost(space, space.encode(["conv_3x3", "skip", "skip", "skip"]), size)[0]  # ~1 conv allowed
    cfg = resolve_config(None, {**TINY, "out": str(tmp_path), "search.max_params_M": str(limit / 1e6)})
    result, path = run_search(cfg, progress_bar=False)
    rows = [json.loads(line) for line in (path / "archs.jsonl").read_text().splitlines()]
    assert {r["phase"] for r in rows} == {"train", "search"}
    for r in rows + [result]:
        assert example.chain_cost(space, space.from_genotype(r["genotype"]), size)[0] <= limit
