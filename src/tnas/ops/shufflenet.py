"""ShuffleNetV2 and Xception-like blocks of the SPOS search space.

References: ShuffleNetV2 (Ma et al., ECCV 2018) and Single Path One-Shot NAS (Guo et al., ECCV
2020, block search space, table 1). Every block has two branches whose outputs are concatenated:

- stride 1: the input (C channels) is shuffled and split in two halves (`shuffle_split`); one half
  passes through unchanged, the other goes through the main branch (C/2 -> C/2).
- stride 2: the whole input goes through both branches: a projection branch (dw kxk stride 2 +
  pw) and the main branch; their channels add up to C_out.

Main branches: `ShuffleV2Block` (kernel 3/5/7) is pw + dw kxk + pw; `XceptionBlock` is three
(dw 3x3 + pw) pairs. Every conv is followed by BN, and every pw conv by BN + ReLU (as in SPOS).
BN is `affine=False` in the supernet's candidate blocks and `affine=True` in stand-alone networks.

The shuffle: SPOS fuses the channel shuffle of ShuffleNetV2 into the split at the *start* of the
next stride-1 block (even channels pass, odd channels are processed), where ShuffleNetV2 shuffles
at the end of every block. Both give the same parameters and FLOPs and the same family of
networks up to a fixed channel permutation; we use SPOS's form (one strided view, no copy).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from tnas.errors import TnasError, unknown

# The four SPOS candidate blocks, in SPOS's choice-index order (0..3).
SHUFFLE_BLOCKS: tuple[str, ...] = ("shufflenet_3x3", "shufflenet_5x5", "shufflenet_7x7", "xception_3x3")
_KERNEL = {"shufflenet_3x3": 3, "shufflenet_5x5": 5, "shufflenet_7x7": 7, "xception_3x3": 3}


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """The ShuffleNet channel shuffle: [B, g*n, H, W] viewed as [g, n] channels, transposed.

    Args:
        x: [B, C, H, W] with C divisible by `groups`.
    Returns:
        [B, C, H, W], channel g*n_i + g_i of the output is channel g_i*n + n_i of the input.
    """
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def shuffle_split(x: Tensor) -> tuple[Tensor, Tensor]:
    """SPOS's fused shuffle + split: (even channels, odd channels) of x [B, C, H, W], C even.

    Equals splitting `channel_shuffle(x, C // 2)` into halves: each half gets one channel of every
    pair, so both halves mix the two branches of the previous block.
    """
    return x[:, 0::2], x[:, 1::2]


def _conv_bn(c_in: int, c_out: int, k: int, stride: int, affine: bool, *, depthwise: bool, relu: bool) -> list[nn.Module]:
    groups = c_in if depthwise else 1
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, affine=affine),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class _TwoBranch(nn.Module):
    """Shared skeleton: stride 1 = shuffle-split + main branch; stride 2 = proj || main."""

    def __init__(self, C_in: int, C_out: int, stride: int, kernel: int, affine: bool, proj_out: int | None) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise TnasError(f"ShuffleNet blocks take stride 1 or 2, got {stride}.")
        if stride == 1 and (C_in != C_out or C_in % 2):
            raise TnasError(f"A stride-1 ShuffleNet block needs C_in == C_out and even (channel split); "
                            f"got C_in={C_in}, C_out={C_out}.")
        self.stride = stride
        self.proj: nn.Module | None = None
        if stride == 1:
            self.main_in, self.main_out = C_in // 2, C_out // 2
        else:
            proj_out = C_in if proj_out is None else proj_out  # SPOS: C_in; ShuffleNetV2: C_out // 2
            if not 0 < proj_out < C_out:
                raise TnasError(f"A stride-2 ShuffleNet block needs 0 < proj_out < C_out; got proj_out={proj_out}, "
                                f"C_out={C_out} (C_in={C_in}): widen the stage.")
            self.proj = nn.Sequential(*_conv_bn(C_in, C_in, kernel, stride, affine, depthwise=True, relu=False),
                                      *_conv_bn(C_in, proj_out, 1, 1, affine, depthwise=False, relu=True))
            self.main_in, self.main_out = C_in, C_out - proj_out
        self.main: nn.Module = nn.Identity()  # set by the subclass

    def forward(self, x: Tensor) -> Tensor:
        if self.proj is None:
            keep, x = shuffle_split(x)
            return torch.cat((keep, self.main(x)), 1)
        return torch.cat((self.proj(x), self.main(x)), 1)


class ShuffleV2Block(_TwoBranch):
    """ShuffleNetV2 unit with a kxk depthwise conv (SPOS 'shufflenet_kxk').

    Args:
        C_in, C_out: channels of the block input / output (equal for stride 1).
        kernel: 3, 5 or 7.
        stride: 1 or 2 (output H/stride x W/stride).
        affine: BN affine (False in the supernet, True stand-alone).
        mid: main-branch width (default C_out // 2, SPOS block search and ShuffleNetV2).
        proj_out: stride-2 projection-branch output channels (default C_in as in SPOS;
            ShuffleNetV2 uses C_out // 2).
    """

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, affine: bool = True,
                 mid: int | None = None, proj_out: int | None = None) -> None:
        super().__init__(C_in, C_out, stride, kernel, affine, proj_out)
        mid = C_out // 2 if mid is None else mid
        self.main = nn.Sequential(
            *_conv_bn(self.main_in, mid, 1, 1, affine, depthwise=False, relu=True),
            *_conv_bn(mid, mid, kernel, stride, affine, depthwise=True, relu=False),
            *_conv_bn(mid, self.main_out, 1, 1, affine, depthwise=False, relu=True),
        )


class XceptionBlock(_TwoBranch):
    """SPOS's Xception-like block ('xception_3x3'): main branch = 3 x (dw 3x3 + BN, pw + BN + ReLU),
    the first dw carrying the stride. Arguments as `ShuffleV2Block` (kernel fixed to 3)."""

    def __init__(self, C_in: int, C_out: int, stride: int, affine: bool = True,
                 mid: int | None = None, proj_out: int | None = None) -> None:
        super().__init__(C_in, C_out, stride, 3, affine, proj_out)
        mid = C_out // 2 if mid is None else mid
        self.main = nn.Sequential(
            *_conv_bn(self.main_in, self.main_in, 3, stride, affine, depthwise=True, relu=False),
            *_conv_bn(self.main_in, mid, 1, 1, affine, depthwise=False, relu=True),
            *_conv_bn(mid, mid, 3, 1, affine, depthwise=True, relu=False),
            *_conv_bn(mid, mid, 1, 1, affine, depthwise=False, relu=True),
            *_conv_bn(mid, mid, 3, 1, affine, depthwise=True, relu=False),
            *_conv_bn(mid, self.main_out, 1, 1, affine, depthwise=False, relu=True),
        )


def build_shuffle_block(name: str, C_in: int, C_out: int, stride: int, affine: bool = True,
                        mid: int | None = None, proj_out: int | None = None) -> nn.Module:
    """The SPOS candidate block `name` (one of SHUFFLE_BLOCKS); see `ShuffleV2Block` for the args."""
    if name not in _KERNEL:
        raise unknown("ShuffleNet block", name, SHUFFLE_BLOCKS)
    if name == "xception_3x3":
        return XceptionBlock(C_in, C_out, stride, affine, mid, proj_out)
    return ShuffleV2Block(C_in, C_out, _KERNEL[name], stride, affine, mid, proj_out)


def block_kernel(name: str) -> int:
    """Depthwise kernel size of block `name`."""
    if name not in _KERNEL:
        raise unknown("ShuffleNet block", name, SHUFFLE_BLOCKS)
    return _KERNEL[name]
