"""How to build the networks of a search space: one `Family` per space name.

A family bundles what the pipeline needs beyond the space's decisions: the weight-sharing
supernet (for `tnas search`), the stand-alone network of one architecture (for `tnas train`) and
its cost (for hard constraints). A user's own space registers one with `register_family` next to
`register_space` and then runs through the same `tnas search` pipeline (README, examples/).

The supernet contract (see docs/spaces.md): attribute `space`; `forward(x, arch long [D])` is the
single path; `forward(x, weights float [D, K])` the mixed (DARTS) forward, optional;
`forward_hard(x, weights one-hot [D, K])` the sampled path with straight-through weights
(GDAS / TNAS-G), optional.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.registry import Registry
from tnas.space import SearchSpace


@dataclass(frozen=True)
class NetSize:
    """The size of a network built for a space (meaning of C and N per family, docs/spaces.md).

    Attributes:
        C: channels of the first searchable stage.
        N: repeats per stage (NB201: cells per stage; DARTS: normal cells per stage).
        num_classes: classifier outputs.
        in_channels: image channels.
        image_size: input side in pixels (FLOPs are counted at this size).
    """

    C: int
    N: int
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32


SupernetBuilder = Callable[[SearchSpace, NetSize], nn.Module]
NetworkBuilder = Callable[[SearchSpace, Tensor, NetSize, dict[str, Any]], nn.Module]
CostFn = Callable[[SearchSpace, Tensor, NetSize], tuple[int, int]]


@dataclass(frozen=True)
class Family:
    """Builders for one space. `final` is the standard stand-alone network's C, N and image_size
    (constraints are counted on it unless the run overrides them)."""

    supernet: SupernetBuilder
    network: NetworkBuilder | None = None
    cost: CostFn | None = None
    final: dict[str, int] = field(default_factory=dict)


FAMILIES: Registry[Family] = Registry(
    "network family (supernet builder) for space",
    "Register one with tnas.register_family(name, tnas.Family(supernet=...)).", replace=True)


def register_family(space_name: str, family: Family) -> Family:
    """Register the builders for the space registered as `space_name` (re-registering replaces)."""
    if not isinstance(family, Family):
        raise TnasError(f"register_family('{space_name}', ...) takes a tnas.Family, got {type(family).__name__}.")
    return FAMILIES.add(space_name, family)


def get_family(space_name: str) -> Family:
    """The family of `space_name`; an unknown name lists the known ones."""
    return FAMILIES.get(space_name)


def list_families() -> list[str]:
    return FAMILIES.names()


def build_supernet(space: SearchSpace, size: NetSize) -> nn.Module:
    """The weight-sharing supernet of `space` at `size`."""
    return get_family(space.name).supernet(space, size)


def final_size(space: SearchSpace, num_classes: int, in_channels: int, **overrides: int | None) -> NetSize:
    """The family's standard stand-alone network size, with non-None `overrides` (C, N, image_size)."""
    base = {"C": 16, "N": 5, "image_size": 32, **get_family(space.name).final}
    base.update({k: v for k, v in overrides.items() if v is not None})
    return NetSize(C=base["C"], N=base["N"], num_classes=num_classes, in_channels=in_channels,
                   image_size=base["image_size"])


def arch_cost(space: SearchSpace, arch: Tensor, size: NetSize) -> tuple[int, int]:
    """(parameters, FLOPs as multiply-accumulates) of the stand-alone network of `arch` long [D]."""
    fam = get_family(space.name)
    if fam.cost is None:
        raise TnasError(
            f"Space '{space.name}' has no cost counter, so parameter/FLOPs limits cannot be checked. Drop "
            "search.max_params_M / search.max_flops_M, or register the family with cost=..."
        )
    return fam.cost(space, arch, size)
