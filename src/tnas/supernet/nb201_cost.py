"""Parameter and FLOP counts of NB201 networks, as the NAS-Bench-201 table reports them.

Conventions: `tnas.supernet.cost` (they reproduce the table's CIFAR-10 columns `c10_params_M` /
`c10_flops_M` exactly, see tests/unit/test_supernet.py), on the stand-alone network with affine
BN. Every chosen op counts, also one whose signal is dead (e.g. a conv reading a node whose inputs are all 'none'):
NB201 instantiates and runs it, so its cost is in the table.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops import BNConfig, build_op
from tnas.space import SearchSpace, get_space
from tnas.supernet.cost import module_cost
from tnas.supernet.nb201 import NB201Network


def _network(
    arch: Tensor, C: int, N: int, num_classes: int, in_channels: int, space: SearchSpace | None
) -> NB201Network:
    # 'meta': shapes only, no memory and no initialisation cost.
    return NB201Network(arch.cpu(), C, N, num_classes, in_channels, space=space, device="meta")


@functools.lru_cache(maxsize=256)
def _skeleton(
    C: int, N: int, num_classes: int, in_channels: int, H: int, W: int, space: SearchSpace
) -> tuple[int, int]:
    """(params, MACs) of everything but the cell ops: stem, reductions, head."""
    net = _network(torch.zeros(space.num_decisions, dtype=torch.long), C, N, num_classes, in_channels, space)
    params = sum(p.numel() for p in net.parameters())
    macs, c = module_cost(net.stem, (in_channels, H, W))[1], C
    for block, is_cell in zip(net.cells, net.is_cell_block):
        if is_cell:
            params -= sum(p.numel() for p in block.parameters())
        else:  # a residual reduction block: C -> 2C channels, H -> H / 2
            macs += module_cost(block, (c, H, W))[1]
            c, H, W = 2 * c, H // 2, W // 2
    return params, macs + module_cost(net.classifier, (net.classifier.in_features,))[1]


@functools.lru_cache(maxsize=1024)
def _op_cost(name: str, c: int, H: int, W: int) -> tuple[int, int]:
    """(params, MACs) of one cell op with c channels at H x W (stride 1, 'same' padding)."""
    with torch.device("meta"):
        op = build_op(name, c, c, 1, BNConfig())
    return module_cost(op, (c, H, W))


def _costs(arch: Tensor, C: int, N: int, num_classes: int, in_channels: int, H: int, W: int,
           space: SearchSpace | None) -> tuple[int, int]:
    space = space if space is not None else get_space("nb201")
    space.validate(arch)
    if arch.dim() != 1:
        raise TnasError(
            f"Cost counts take one architecture, long [{space.num_decisions}]; got shape {tuple(arch.shape)}."
        )
    params, macs = _skeleton(C, N, num_classes, in_channels, H, W, space)
    for stage in range(3):
        c, h, w = C * 2**stage, H // 2**stage, W // 2**stage
        for name in space.decode(arch):
            p, m = _op_cost(name, c, h, w)
            params, macs = params + N * p, macs + N * m
    return params, macs


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
    if isinstance(model_or_arch, Tensor):
        return _costs(model_or_arch, C, N, num_classes, in_channels, 32, 32, space)[0]
    if not isinstance(model_or_arch, nn.Module):
        raise TnasError(
            f"count_params takes an nn.Module or an architecture tensor (long [D]), got {type(model_or_arch).__name__}."
        )
    return sum(p.numel() for p in model_or_arch.parameters())


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
    return _costs(arch, C, N, num_classes, in_channels, H, W, space)[1]
