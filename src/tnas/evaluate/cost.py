"""Parameter and FLOP counts of NB201 networks, as the NAS-Bench-201 table reports them.

Conventions (they reproduce the table's CIFAR-10 columns `c10_params_M` / `c10_flops_M` exactly,
see tests/unit/test_supernet.py): parameters are all trainable tensors of the stand-alone network
with affine BN (BN weights and biases included); FLOPs are multiply-accumulates of convolutions and
the linear layer (plus its bias adds), nothing for BN, ReLU, pooling or additions. Every chosen op
counts, also one whose signal is dead (e.g. a conv reading a node whose inputs are all 'none'):
NB201 instantiates and runs it, so its cost is in the table.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.space import SearchSpace
from tnas.supernet.nb201 import NB201Network


def _network(arch: Tensor, C: int, N: int, num_classes: int, in_channels: int, space: SearchSpace | None) -> NB201Network:
    # 'meta': shapes only, no memory and no initialisation cost (~1 ms per network).
    return NB201Network(arch.cpu(), C, N, num_classes, in_channels, space=space, device="meta")


def count_params(
    model_or_arch: nn.Module | Tensor, *, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
    space: SearchSpace | None = None,
) -> int:
    """Number of parameters of a model, or of the stand-alone NB201 network of a cell.

    Args:
        model_or_arch: an nn.Module (all its parameters count), or an arch long [D] whose
            `NB201Network(arch, C, N, num_classes, in_channels)` is counted (affine BN, as NB201).
        C, N, num_classes, in_channels, space: the network, when an arch is given.
    """
    model = model_or_arch
    if isinstance(model_or_arch, Tensor):
        model = _network(model_or_arch, C, N, num_classes, in_channels, space)
    if not isinstance(model, nn.Module):
        raise TnasError(f"count_params takes an nn.Module or an architecture tensor, got {type(model_or_arch).__name__}.")
    return sum(p.numel() for p in model.parameters())


def count_flops(
    arch: Tensor, *, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
    input_size: int | tuple[int, int] = 32, space: SearchSpace | None = None,
) -> int:
    """Multiply-accumulates of one forward pass of one image through the NB201 network of `arch`.

    Args:
        arch: long [D], the cell.
        C, N, num_classes, in_channels: the network.
        input_size: H (= W) or (H, W) of the input image, divisible by 4.
    Returns:
        MACs (NB201's "FLOPs"; divide by 1e6 for the table's `c10_flops_M`).
    """
    H, W = (input_size, input_size) if isinstance(input_size, int) else input_size
    if H % 4 or W % 4 or H < 4 or W < 4:
        raise TnasError(
            f"input_size {input_size} is not supported: NB201 networks halve the resolution twice, so H and W "
            "must be positive multiples of 4 (e.g. 8 for digits, 32 for CIFAR, 16 for ImageNet16)."
        )
    net = _network(arch, C, N, num_classes, in_channels, space)
    total = _conv_macs(net.stem, H, W)
    for block, is_cell in zip(net.cells, net._is_cell):
        if not is_cell:
            H, W = H // 2, W // 2
        # Every conv of a cell or a reduction block outputs at the block's output resolution
        # (cells: stride 1, 'same' padding; reductions: the stride-2 conv_a, conv_b after it, and
        # the 1x1 shortcut conv after a 2x2 pool).
        total += _conv_macs(block, H, W)
    fc = net.classifier
    return total + fc.in_features * fc.out_features + (fc.out_features if fc.bias is not None else 0)


def _conv_macs(module: nn.Module, H: int, W: int) -> int:
    """MACs of every Conv2d below `module`, each producing an H x W output."""
    macs = 0
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            macs += H * W * m.out_channels * (m.in_channels // m.groups) * kh * kw
            macs += H * W * m.out_channels if m.bias is not None else 0
    return macs
