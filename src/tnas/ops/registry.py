"""Registry of candidate operations, keyed by the op names a search space uses.

An op factory builds one candidate op: `factory(C_in, C_out, stride, bn) -> nn.Module`. An op
class may declare `kind` (see `tnas.ops.nb201`): supernets skip 'zero' ops and call
`forward_relu(relu(x))` on 'conv' ops so several of them share one ReLU. Spaces
look ops up by the same names their decisions use (NB201: 'none', 'skip_connect', ...), so a
new space adds its ops with `@register_op("sep_conv_3x3")` and the supernet builder needs no edit.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from tnas.registry import Registry


@dataclass(frozen=True)
class BNConfig:
    """BatchNorm settings of the candidate ops.

    NB201 supernets search with `affine=False, track_running_stats=True`; stand-alone networks
    trained from scratch use `affine=True`. Running stats are recalibrated before evaluation
    (`tnas.evaluate.bn.recalibrate_bn`), so tracking them during search only needs to be cheap.
    """

    affine: bool = True
    track_running_stats: bool = True


OpFactory = Callable[[int, int, int, BNConfig], nn.Module]
OPS: Registry[OpFactory] = Registry("operation", "Register new operations with @tnas.ops.register_op.")


def register_op(name: str) -> Callable[[OpFactory], OpFactory]:
    """Decorator: register `factory(C_in, C_out, stride, bn) -> nn.Module` under `name`."""
    return OPS.register(name)


def build_op(name: str, C_in: int, C_out: int, stride: int = 1, bn: BNConfig | None = None) -> nn.Module:
    """Build the registered op `name`; an unknown name raises with the known ones."""
    return OPS.get(name)(C_in, C_out, stride, bn or BNConfig())


def list_ops() -> list[str]:
    return OPS.names()
