"""Registers the DARTS family (`tnas.supernet.registry`): search network, stand-alone network, cost.

Sizes (`NetSize`): C = initial channels, N = normal cells per stage (3N+2 cells in all). The
standard stand-alone network is DARTS's CIFAR-10 evaluation network, C=36, N=6 (20 cells), on
32x32 images: constraints (max params / FLOPs) are counted on it unless a run overrides them.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from tnas.space import SearchSpace
from tnas.supernet.registry import Family, NetSize, register_family


def _supernet(space: SearchSpace, size: NetSize) -> nn.Module:
    from tnas.supernet.darts import DARTSSupernet

    return DARTSSupernet(space, C=size.C, N=size.N, num_classes=size.num_classes, in_channels=size.in_channels)


def _network(space: SearchSpace, arch: Tensor, size: NetSize, options: dict[str, Any]) -> nn.Module:
    from tnas.supernet.darts_network import build_network

    return build_network(space, arch, size.C, size.N, size.num_classes, size.in_channels, options)


def _cost(space: SearchSpace, arch: Tensor, size: NetSize) -> tuple[int, int]:
    from tnas.supernet.darts_cost import darts_cost

    return darts_cost(space, arch, size)


DARTS_FAMILY = register_family("darts", Family(_supernet, _network, _cost, {"C": 36, "N": 6, "image_size": 32}))
