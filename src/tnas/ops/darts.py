"""The 8 candidate operations of the DARTS cell space (Liu et al., ICLR 2019, `cnn/operations.py`).

DARTS names collide with NB201's (`none`, `skip_connect`, `avg_pool_3x3` exist in both with other
definitions: NB201's pool has no BN after it, its skip is always an identity inside a cell), so
these ops live in their own table, `DARTS_OP_FACTORIES`, built by `make_darts_op`, and not in the
NB201 op registry (`tnas.ops.registry`).

Every op maps [B, C, H, W] to [B, C, ceil(H / stride), ceil(W / stride)]. As in DARTS, convs have
no bias (a BN follows each), and BN is affine for stand-alone training and affine=False during
search. `make_darts_op(..., search=True)` adds DARTS's MixedOp detail: a BN (affine=False) after
each pooling op, so pooled outputs are on the scale of the BN'd conv outputs.

Each op class carries a `kind` ('zero', 'identity', 'pool', 'conv', 'reduce'), as NB201's ops do,
so networks can skip 'zero' ops and leave drop-path off identities without isinstance chains.
"""
from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import unknown
from tnas.ops.nb201 import FactorizedReduce, Identity, Zero  # shared with NB201
from tnas.ops.registry import BNConfig

# DARTS's PRIMITIVES order; the choice index of an op in the space is its position here.
DARTS_OPS: tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)


def _bn(C: int, affine: bool) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=True)


class DilConv(nn.Module):
    """'dil_conv_kxk': ReLU -> depthwise conv (dilation) -> pointwise conv -> BN."""

    kind = "conv"

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, dilation: int,
                 affine: bool) -> None:
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            _bn(C_out, affine),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """'sep_conv_kxk': two stacked ReLU -> depthwise conv -> pointwise conv -> BN; only the
    first depthwise conv has the stride (DARTS)."""

    kind = "conv"

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__()
        self.op = nn.Sequential(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Pool(nn.Module):
    """'max_pool_3x3' / 'avg_pool_3x3' (padding 1; the average does not count padded zeros)."""

    kind = "pool"

    def __init__(self, mode: str, stride: int) -> None:
        super().__init__()
        self.mode, self.stride = mode, stride

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "max":
            return F.max_pool2d(x, 3, self.stride, 1)
        return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)


class PoolBN(nn.Sequential):
    """A pooling op followed by BN(affine=False): DARTS's search-time MixedOp pooling."""

    kind = "pool"


OpFactory = Callable[[int, int, bool], nn.Module]

# name -> factory(C, stride, affine), as DARTS's OPS dict.
DARTS_OP_FACTORIES: dict[str, OpFactory] = {
    "none": lambda C, stride, affine: Zero(C, C, stride),
    "max_pool_3x3": lambda C, stride, affine: Pool("max", stride),
    "avg_pool_3x3": lambda C, stride, affine: Pool("avg", stride),
    "skip_connect": lambda C, stride, affine: Identity() if stride == 1 else FactorizedReduce(C, C, 2, BNConfig(affine)),
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
}
assert tuple(DARTS_OP_FACTORIES) == DARTS_OPS


def make_darts_op(name: str, C: int, stride: int, affine: bool, search: bool = False) -> nn.Module:
    """Build the DARTS op `name` on C channels.

    Args:
        name: one of `DARTS_OPS`.
        C: input and output channels.
        stride: 1, or 2 on the input edges of a reduction cell.
        affine: BN with learnable scale/shift (stand-alone training) or not (search).
        search: append BN(affine=False) to pooling ops, as DARTS's search-time MixedOp does.
    Returns:
        A module mapping [B, C, H, W] -> [B, C, ceil(H/stride), ceil(W/stride)].
    """
    if name not in DARTS_OP_FACTORIES:
        raise unknown("DARTS operation", name, DARTS_OPS)
    op = DARTS_OP_FACTORIES[name](C, stride, affine)
    if search and isinstance(op, Pool):
        op = PoolBN(op, _bn(C, False))
    return op

