"""Parameters and FLOPs (multiply-accumulates) of stand-alone DARTS networks, without building them.

Conventions: `tnas.supernet.cost`, as the DARTS-family papers report them, on `DARTSNetwork`
*without the auxiliary head* (DARTS's `count_parameters_in_MB` skips it too): the head is a
training aid only and is never counted.

The skeleton (stem, cell preprocessing, classifier) does not depend on the cells; it and each
(op, channels, stride, resolution) are measured once with `module_cost` and cached, so one
architecture costs a few dictionary lookups (well under 1 ms).
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from tnas.ops.darts import DARTS_OPS, make_darts_op
from tnas.space import SearchSpace
from tnas.space.darts import NUM_NODES, DARTSSpace
from tnas.supernet.cost import module_cost
from tnas.supernet.darts import STEM_MULTIPLIER, macro_layout, preprocess
from tnas.supernet.registry import NetSize


@functools.lru_cache(maxsize=4096)
def _op_cost(name: str, C: int, stride: int, H: int, W: int) -> tuple[int, int]:
    with torch.device("meta"):
        op = make_darts_op(name, C, stride, affine=True)
    return module_cost(op, (C, H, W))


@functools.lru_cache(maxsize=256)
def _skeleton(C: int, N: int, num_classes: int, in_channels: int, H: int, W: int) -> tuple[tuple[int, int], tuple]:
    """((params, MACs) of stem + preprocessing + classifier, per cell (reduction, C, H, W) at its input)."""
    with torch.device("meta"):
        stem = nn.Sequential(nn.Conv2d(in_channels, STEM_MULTIPLIER * C, 3, padding=1, bias=False),
                             nn.BatchNorm2d(STEM_MULTIPLIER * C))
        params, macs = module_cost(stem, (in_channels, H, W))
        cells = []
        h_pp, w_pp, h, w = H, W, H, W  # resolution of the cell's two inputs
        specs = macro_layout(C, N)
        for s in specs:
            for m, (c, hh, ww) in zip(preprocess(s, affine=True), ((s.C_pp, h_pp, w_pp), (s.C_p, h, w))):
                p, f = module_cost(m, (c, hh, ww))
                params, macs = params + p, macs + f
            cells.append((s.reduction, s.C, h, w))
            h_pp, w_pp = h, w
            if s.reduction:
                h, w = (h + 1) // 2, (w + 1) // 2
        p, f = module_cost(nn.Linear(NUM_NODES * specs[-1].C, num_classes), (NUM_NODES * specs[-1].C,))
    return (params + p, macs + f), tuple(cells)


def darts_cost(space: SearchSpace, arch: Tensor, size: NetSize) -> tuple[int, int]:
    """(parameters, MACs) of `DARTSNetwork(arch, size.C, size.N, ...)` at size.image_size, without
    the auxiliary head (module docstring).

    Args:
        space: the DARTS space.
        arch: long [D].
        size: C, N (normal cells per stage), num_classes, in_channels, image_size (px).
    """
    assert isinstance(space, DARTSSpace), space
    normal, reduce = space.cells(arch.cpu())
    (params, macs), cells = _skeleton(size.C, size.N, size.num_classes, size.in_channels,
                                      size.image_size, size.image_size)
    for reduction, C, H, W in cells:
        for node in reduce if reduction else normal:
            for o, j in node:
                if reduction and j >= 2:  # an intermediate node of a reduction cell: already halved
                    p, f = _op_cost(DARTS_OPS[o], C, 1, (H + 1) // 2, (W + 1) // 2)
                else:
                    p, f = _op_cost(DARTS_OPS[o], C, 2 if reduction else 1, H, W)
                params, macs = params + p, macs + f
    return params, macs
