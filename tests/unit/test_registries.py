"""Contract tests parametrised over every registry's listing: registering a space, family,
sampler, op or dataset is enough to have it tested (the timm pattern)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tnas.data import list_datasets, load_dataset
from tnas.errors import TnasError
from tnas.ops import build_op, list_ops
from tnas.registry import Registry
from tnas.sampler import SAMPLERS, build_sampler
from tnas.space import get_space, list_spaces
from tnas.strategy.discrete import SEARCHES
from tnas.supernet.registry import NetSize, arch_cost, build_supernet, final_size, get_family, list_families

# the smallest network each built-in family supports (ShuffleNet halves the side 5 times)
TINY = {"nb201": NetSize(C=4, N=1, image_size=8), "darts": NetSize(C=4, N=1, image_size=8),
        "shufflenet": NetSize(C=8, N=1, image_size=32)}


def test_registry_errors_name_the_closest_entry() -> None:
    reg: Registry[int] = Registry("widget", "Register one with WIDGETS.add.")
    reg.add("conv", 1)
    assert reg.get("conv") == 1 and "conv" in reg and reg.names() == ["conv"]
    with pytest.raises(TnasError, match=r"Unknown widget 'cnv'.*Did you mean 'conv'\?.*WIDGETS.add"):
        reg.get("cnv")


@pytest.mark.parametrize("registry", [SAMPLERS, SEARCHES], ids=["samplers", "searches"])
def test_unknown_names_list_the_known_ones(registry: Registry) -> None:
    with pytest.raises(TnasError, match="Expected one of"):
        registry.get("no-such-entry")


# ---- spaces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_spaces())
def test_space_round_trips_and_samples_deterministically(name: str) -> None:
    space = get_space(name)
    archs = space.sample_uniform(16, torch.Generator().manual_seed(0))
    assert archs.dtype == torch.long and archs.shape == (16, space.num_decisions)
    space.validate(archs)
    assert torch.equal(archs, space.sample_uniform(16, torch.Generator().manual_seed(0)))
    for arch in archs:
        assert torch.equal(space.encode(space.decode(arch)), arch)
        assert torch.equal(space.from_genotype(space.to_genotype(arch)), arch)
    assert torch.equal(space.from_keys(space.keys(archs)), archs)


# ---- families ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_spaces())  # the spaces registered at import (tests add their own)
def test_every_space_has_a_family(name: str) -> None:
    assert name in list_families()


@pytest.mark.parametrize("name", list_families())
def test_family_supernet_forward_and_cost(name: str) -> None:
    space, size = get_space(name), TINY.get(name, NetSize(C=4, N=1, image_size=8))
    torch.manual_seed(0)
    net = build_supernet(space, size)
    arch = space.sample_uniform(1, torch.Generator().manual_seed(1))[0]
    out = net(torch.randn(2, size.in_channels, size.image_size, size.image_size), arch)
    assert out.shape == (2, size.num_classes) and torch.isfinite(out).all()
    if get_family(name).cost is not None:
        params, flops = arch_cost(space, arch, final_size(space, 10, 3))
        assert isinstance(params, int) and isinstance(flops, int) and params > 0 and flops > 0


# ---- samplers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLERS.names())
def test_sampler_protocol_and_state_round_trip(name: str) -> None:
    space = get_space("nb201")
    sampler = build_sampler(name, space, seed=0)
    g = torch.Generator().manual_seed(0)
    archs = sampler.sample(8, generator=g)
    space.validate(archs)
    assert archs.shape == (8, space.num_decisions)
    sampler.observe(archs, torch.arange(8, dtype=torch.float64))
    assert isinstance(sampler.step(), dict)
    twin = build_sampler(name, space, seed=1)
    twin.load_state_dict(sampler.state_dict())
    state = g.get_state()
    first = sampler.sample(8, generator=g)
    g.set_state(state)
    assert torch.equal(twin.sample(8, generator=g), first)


# ---- ops ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list_ops())
def test_op_keeps_the_shape(name: str) -> None:
    out = build_op(name, 4, 4, 1)(torch.randn(2, 4, 8, 8))
    assert out.shape == (2, 4, 8, 8) and torch.isfinite(out).all()


# ---- datasets ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [n for n in list_datasets() if n != "digits"])  # digits is built in
def test_dataset_missing_root_names_the_path(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(TnasError, match="nowhere"):
        load_dataset(name, root=missing, limit=10)
