"""The 'shufflenet' family (`tnas.supernet.registry`): SPOS supernet, stand-alone net, cost.

NetSize.C is the first-stage width (64 = SPOS; all widths scale by C / 64); NetSize.N is ignored
(the space fixes the 20 choice layers). The standard stand-alone network is SPOS's: C = 64 on
224 x 224 images, where the paper's <= 400M FLOPs limit is counted.
Training options of the stand-alone network: `dropout` (before the classifier, default 0.1).
"""
from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.space import SearchSpace
from tnas.supernet.registry import Family, NetSize, register_family

_OPTIONS = ("dropout",)


def _supernet(space: SearchSpace, size: NetSize) -> nn.Module:
    from tnas.supernet.shufflenet import ShuffleNetSupernet

    return ShuffleNetSupernet(space, C=size.C, num_classes=size.num_classes, in_channels=size.in_channels)


def _network(space: SearchSpace, arch: Tensor, size: NetSize, options: dict[str, Any]) -> nn.Module:
    from tnas.supernet.shufflenet_net import spos_network

    # ShuffleNet networks have no auxiliary head and no drop-path: those options must be off
    extra = sorted(k for k, v in options.items() if k not in _OPTIONS and v)
    if extra:
        raise TnasError(f"ShuffleNet networks do not support the training option(s) {', '.join(extra)}; set them "
                        f"to false/0 for space=shufflenet (supported: {', '.join(_OPTIONS)}).")
    dropout = float(options.get("dropout", 0.1))
    return spos_network(space, arch, size.C, size.num_classes, size.in_channels, dropout)


def _cost(space: SearchSpace, arch: Tensor, size: NetSize) -> tuple[int, int]:
    from tnas.supernet.shufflenet_cost import shufflenet_cost

    return shufflenet_cost(space, arch, size)


FAMILY = register_family("shufflenet", Family(_supernet, _network, _cost, {"C": 64, "N": 1, "image_size": 224}))
