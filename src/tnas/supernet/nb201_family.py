"""Registers the NB201 family (`tnas.supernet.registry`): supernet, stand-alone network, cost.

NB201's stand-alone network (and its table's costs) is C=16, N=5 on 32x32 images.
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.space import SearchSpace
from tnas.supernet.registry import Family, NetSize, register_family


def _supernet(space: SearchSpace, size: NetSize) -> nn.Module:
    from tnas.supernet.nb201 import NB201Supernet

    return NB201Supernet(space, C=size.C, N=size.N, num_classes=size.num_classes, in_channels=size.in_channels)


def _network(space: SearchSpace, arch: Tensor, size: NetSize, options: dict[str, Any]) -> nn.Module:
    from tnas.supernet.nb201 import NB201Network

    extra = sorted(k for k, v in options.items() if v)  # NB201 networks have no aux head / drop path
    if extra:
        raise TnasError(f"NB201 networks do not support the training option(s) {', '.join(extra)}; "
                        "set them to false/0 for space=nb201.")
    return NB201Network(arch, size.C, size.N, size.num_classes, size.in_channels, space=space)


def _cost(space: SearchSpace, arch: Tensor, size: NetSize) -> tuple[int, int]:
    from tnas.supernet.nb201_cost import count_flops, count_params

    kw = dict(C=size.C, N=size.N, num_classes=size.num_classes, in_channels=size.in_channels, space=space)
    return count_params(arch, **kw), count_flops(arch, input_size=size.image_size, **kw)


NB201_FAMILY = register_family("nb201", Family(_supernet, _network, _cost, {"C": 16, "N": 5, "image_size": 32}))
