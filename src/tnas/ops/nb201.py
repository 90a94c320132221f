"""NAS-Bench-201 candidate operations and the residual reduction block (Dong & Yang, ICLR 2020).

Each op carries a class attribute `kind` ('zero', 'identity', 'conv', 'pool', 'reduce') so a
supernet can plan a forward pass without isinstance chains: it skips 'zero' ops entirely and
shares one ReLU between the 'conv' ops reading the same node (`ReLUConvBN.forward_relu`).
Convolutions have no bias: every conv here is followed by a BatchNorm, which cancels a bias
(xautodl adds one when affine=False; it changes nothing but the parameter count).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.ops.registry import BNConfig, register_op


def _bn(C: int, bn: BNConfig) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(C, affine=bn.affine, track_running_stats=bn.track_running_stats)


class Zero(nn.Module):
    """The 'none' op: zeros of the output shape [B, C_out, H/stride, W/stride]."""

    kind = "zero"

    def __init__(self, C_in: int, C_out: int, stride: int = 1) -> None:
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        s = self.stride
        return x.new_zeros(b, self.C_out, (h + s - 1) // s, (w + s - 1) // s)


class Identity(nn.Module):
    """'skip_connect' when stride 1 and C_in == C_out (always the case inside NB201 cells)."""

    kind = "identity"

    def forward(self, x: Tensor) -> Tensor:
        return x


class ReLUConvBN(nn.Module):
    """ReLU -> Conv(k, stride, k//2 padding, no bias) -> BN: NB201's 'nor_conv_kxk'."""

    kind = "conv"

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, bn: BNConfig) -> None:
        super().__init__()
        self.conv = nn.Conv2d(C_in, C_out, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = _bn(C_out, bn)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(F.relu(x)))

    def forward_relu(self, x_relu: Tensor) -> Tensor:
        """Same as `forward` for an input that is already ReLU'd (shared between edges)."""
        return self.bn(self.conv(x_relu))


class AvgPool3x3(nn.Module):
    """'avg_pool_3x3': 3x3 average, padding 1, padded zeros not counted (a 1x1 ReLUConvBN first
    when the channels change, as in NB201)."""

    kind = "pool"

    def __init__(self, C_in: int, C_out: int, stride: int, bn: BNConfig) -> None:
        super().__init__()
        self.stride = stride
        self.preprocess = ReLUConvBN(C_in, C_out, 1, 1, bn) if C_in != C_out else None

    def forward(self, x: Tensor) -> Tensor:
        if self.preprocess is not None:
            x = self.preprocess(x)
        return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)


class FactorizedReduce(nn.Module):
    """'skip_connect' with stride 2 or a channel change: ReLU, two offset 1x1 convs, concat, BN."""

    kind = "reduce"

    def __init__(self, C_in: int, C_out: int, stride: int, bn: BNConfig) -> None:
        super().__init__()
        self.stride = stride
        if stride == 2:
            half = C_out // 2
            self.convs = nn.ModuleList(
                [nn.Conv2d(C_in, half, 1, 2, bias=False), nn.Conv2d(C_in, C_out - half, 1, 2, bias=False)]
            )
        else:
            self.convs = nn.ModuleList([nn.Conv2d(C_in, C_out, 1, 1, bias=False)])
        self.bn = _bn(C_out, bn)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(x)
        if self.stride == 2:
            # The second conv sees the input shifted by one pixel, so together they cover it.
            shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
            x = torch.cat([self.convs[0](x), self.convs[1](shifted)], dim=1)
        else:
            x = self.convs[0](x)
        return self.bn(x)


class ResNetBasicBlock(nn.Module):
    """NB201's reduction block between stages: two 3x3 ReLUConvBN (the first with `stride`) plus
    a shortcut (2x2 avg-pool + 1x1 conv when stride 2; 1x1 ReLUConvBN on a channel change)."""

    kind = "reduce"

    def __init__(self, C_in: int, C_out: int, stride: int = 2, bn: BNConfig | None = None) -> None:
        super().__init__()
        bn = bn or BNConfig()
        assert stride in (1, 2), f"stride {stride}"
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, bn)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, bn)
        self.downsample: nn.Module | None
        if stride == 2:
            self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, bn)
        else:
            self.downsample = None
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


# ---- registration (NB201 op names) ----------------------------------------------------------
@register_op("none")
def _none(C_in: int, C_out: int, stride: int, bn: BNConfig) -> nn.Module:
    return Zero(C_in, C_out, stride)


@register_op("skip_connect")
def _skip(C_in: int, C_out: int, stride: int, bn: BNConfig) -> nn.Module:
    return Identity() if stride == 1 and C_in == C_out else FactorizedReduce(C_in, C_out, stride, bn)


@register_op("nor_conv_1x1")
def _conv1(C_in: int, C_out: int, stride: int, bn: BNConfig) -> nn.Module:
    return ReLUConvBN(C_in, C_out, 1, stride, bn)


@register_op("nor_conv_3x3")
def _conv3(C_in: int, C_out: int, stride: int, bn: BNConfig) -> nn.Module:
    return ReLUConvBN(C_in, C_out, 3, stride, bn)


@register_op("avg_pool_3x3")
def _pool(C_in: int, C_out: int, stride: int, bn: BNConfig) -> nn.Module:
    return AvgPool3x3(C_in, C_out, stride, bn)
