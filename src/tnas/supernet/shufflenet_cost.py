"""Parameters and FLOPs of ShuffleNet-like networks, without building them.

Conventions: `tnas.supernet.cost`, on the stand-alone network with affine BN, at `image_size` x
`image_size` inputs (224 for ImageNet).

Validation against published figures (tests/unit/test_shufflenet_space.py, docs/results/
shufflenet_space.md): ShuffleNetV2 0.5x/1.0x/1.5x/2.0x built from these blocks have exactly
torchvision's parameter counts (1,366,792 / 2,278,604 / 3,503,624 / 7,393,996) and FLOPs within
2% of the ShuffleNetV2 paper's 41M / 146M / 299M / 591M.

`shufflenet_cost` sums a per-layer table cached per (space, size): a lookup of 20 entries per
architecture. Every entry, and the skeleton (stem, last conv, classifier), is measured once with
`module_cost` on the 'meta' device; `count_by_hooks` measures a whole built network the same way.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops.shufflenet import block_kernel, build_shuffle_block
from tnas.space import SearchSpace
from tnas.supernet.cost import module_cost
from tnas.supernet.registry import NetSize
from tnas.supernet.shufflenet_net import ShuffleLayout, last_layers, spos_layout, stem_layers

Cost = tuple[int, int]  # (params, MACs)


def _out(h: int, k: int, s: int) -> int:
    return (h + 2 * (k // 2) - k) // s + 1


@functools.lru_cache(maxsize=4096)
def block_cost(name: str, c_in: int, c_out: int, stride: int, proj: int, mid: int, h: int) -> tuple[int, int, int]:
    """(params, MACs, output side) of one block with affine BN on an h x h input (see ops.shufflenet)."""
    with torch.device("meta"):
        block = build_shuffle_block(name, c_in, c_out, stride, True, mid, proj or None)
    return (*module_cost(block, (c_in, h, h)), _out(h, block_kernel(name), stride))


def network_cost(layout: ShuffleLayout, blocks: Sequence[str], num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224, mids: Sequence[int] | None = None) -> Cost:
    """(params, MACs) of `ShuffleNetNetwork(blocks, layout, ...)` at image_size x image_size."""
    specs = layout.blocks()
    if len(blocks) != len(specs):
        raise TnasError(f"The layout has {len(specs)} blocks; got {len(blocks)} block names.")
    params, macs, h = _skeleton(layout, num_classes, in_channels, image_size)
    for i, (name, (c_in, c_out, stride, proj)) in enumerate(zip(blocks, specs)):
        mid = c_out // 2 if mids is None else mids[i]
        p, m, h = block_cost(name, c_in, c_out, stride, proj, mid, h)
        params, macs = params + p, macs + m
    return params, macs + _last_macs(layout, h)


def _skeleton(layout: ShuffleLayout, num_classes: int, in_channels: int, image_size: int) -> tuple[int, int, int]:
    """(params, MACs) of stem, last conv and classifier without the last conv's MACs (they depend
    on the last block's resolution), and the side length entering the first block."""
    with torch.device("meta"):
        stem = stem_layers(in_channels, layout.stem, True, layout.maxpool)
        last = last_layers(layout.widths[-1], layout.last, True)
        fc = nn.Linear(layout.last, num_classes, bias=layout.fc_bias)
    p_stem, m_stem = module_cost(stem, (in_channels, image_size, image_size))
    p_fc, m_fc = module_cost(fc, (layout.last,))
    h = _out(image_size, 3, 2)
    if layout.maxpool:
        h = _out(h, 3, 2)
    return p_stem + sum(p.numel() for p in last.parameters()) + p_fc, m_stem + m_fc, h


@functools.lru_cache(maxsize=256)
def _last_macs(layout: ShuffleLayout, h: int) -> int:
    with torch.device("meta"):
        last = last_layers(layout.widths[-1], layout.last, True)
    return module_cost(last, (layout.widths[-1], h, h))[1]


@functools.lru_cache(maxsize=64)
def _spos_table(space: SearchSpace, C: int, num_classes: int, in_channels: int, image_size: int
                ) -> tuple[Cost, Tensor]:
    """Fixed part (params, MACs) and the per-(layer, choice) table long [D, K, 2] of the SPOS net."""
    layout = spos_layout(C)
    specs = layout.blocks()
    if space.num_decisions != len(specs):
        raise TnasError(f"Space '{space.name}' has {space.num_decisions} decisions; the ShuffleNet cost counter "
                        f"needs {len(specs)}, e.g. get_space('shufflenet').")
    params, macs, h = _skeleton(layout, num_classes, in_channels, image_size)
    table = torch.zeros(space.num_decisions, space.max_choices, 2, dtype=torch.long)
    for d, (dec, (c_in, c_out, stride, proj)) in enumerate(zip(space.decisions, specs)):
        for k, name in enumerate(dec.choices):
            p, m, h_next = block_cost(name, c_in, c_out, stride, proj, c_out // 2, h)
            table[d, k, 0], table[d, k, 1] = p, m
        h = h_next  # every block of a layer has the same output size
    return (params, macs + _last_macs(layout, h)), table


@functools.lru_cache(maxsize=64)
def _spos_lists(space: SearchSpace, C: int, num_classes: int, in_channels: int, image_size: int
                ) -> tuple[Cost, list[list[list[int]]]]:
    """`_spos_table` as nested Python lists: indexing them is faster than tensors for one arch."""
    fixed, table = _spos_table(space, C, num_classes, in_channels, image_size)
    return fixed, table.tolist()


def shufflenet_cost(space: SearchSpace, arch: Tensor, size: NetSize) -> Cost:
    """(parameters, FLOPs as MACs) of the stand-alone SPOS network of `arch` long [20] at `size`
    (C = first-stage width, image_size = input side; N ignored). A few microseconds per call."""
    if arch.dim() != 1:
        raise TnasError(f"shufflenet_cost takes one architecture, long [{space.num_decisions}]; got "
                        f"{tuple(arch.shape)} (use shufflenet_costs for a batch).")
    space.validate(arch)
    (params, macs), table = _spos_lists(space, size.C, size.num_classes, size.in_channels, size.image_size)
    for row, k in zip(table, arch.tolist()):
        params, macs = params + row[k][0], macs + row[k][1]
    return params, macs


def shufflenet_costs(space: SearchSpace, archs: Tensor, size: NetSize) -> tuple[Tensor, Tensor]:
    """Vectorised `shufflenet_cost`: archs long [N, 20] -> (params long [N], MACs long [N])."""
    space.validate(archs)
    (params, macs), table = _spos_table(space, size.C, size.num_classes, size.in_channels, size.image_size)
    a = archs.reshape(-1, space.num_decisions).cpu()
    picked = table[torch.arange(space.num_decisions), a]  # [N, D, 2]
    tot = picked.sum(1)
    return tot[:, 0] + params, tot[:, 1] + macs


def shufflenet_min_flops(space: SearchSpace, size: NetSize) -> int:
    """The fewest MACs of any architecture in the space (the cost is a sum over layers)."""
    (_, macs), table = _spos_table(space, size.C, size.num_classes, size.in_channels, size.image_size)
    big = torch.iinfo(torch.long).max // (2 * space.num_decisions)
    flops = table[..., 1].masked_fill(~space.choice_mask(), big)
    return int(flops.min(-1).values.sum()) + macs


def count_by_hooks(model: nn.Module, in_channels: int = 3, image_size: int = 224) -> Cost:
    """(params, MACs) of a built `model` on one [in_channels, image_size, image_size] input,
    measured by `module_cost` (move it to 'meta' first, `model.to('meta')`, to skip the memory)."""
    return module_cost(model, (in_channels, image_size, image_size))
