"""Parameters and FLOPs of ShuffleNet-like networks, counted analytically (and by hooks, to check).

Conventions (the same as `tnas.evaluate.cost` for NB201): parameters are all trainable tensors of
the stand-alone network with affine BN (BN weights and biases included, running stats not);
FLOPs are multiply-accumulates of convolutions and the linear layer (plus its bias adds when it
has a bias), nothing for BN, ReLU, pooling, channel shuffle or concatenation. The counts are at
`image_size` x `image_size` inputs (224 for ImageNet).

Validation against published figures (tests/unit/test_shufflenet_space.py, docs/results/
shufflenet_space.md): ShuffleNetV2 0.5x/1.0x/1.5x/2.0x built from these blocks have exactly
torchvision's parameter counts (1,366,792 / 2,278,604 / 3,503,624 / 7,393,996) and FLOPs within
2% of the ShuffleNetV2 paper's 41M / 146M / 299M / 591M.

The analytic counter (`shufflenet_cost`) sums a per-layer table cached per (space, size): a
lookup of 20 entries per architecture. `count_by_hooks` runs a network on the meta device and
counts what its Conv2d / Linear modules actually compute, as an independent check.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops.shufflenet import block_kernel
from tnas.space import SearchSpace
from tnas.supernet.registry import NetSize
from tnas.supernet.shufflenet_net import ShuffleLayout, spos_layout

Cost = tuple[int, int]  # (params, MACs)


def _out(h: int, k: int, s: int) -> int:
    return (h + 2 * (k // 2) - k) // s + 1


def _conv(c_in: int, c_out: int, k: int, s: int, h: int, *, dw: bool = False) -> tuple[int, int, int]:
    """(params, MACs, output side) of a bias-free conv with 'same' padding on an h x h input."""
    params = c_out * (1 if dw else c_in) * k * k
    ho = _out(h, k, s)
    return params, params * ho * ho, ho


@functools.lru_cache(maxsize=4096)
def block_cost(name: str, c_in: int, c_out: int, stride: int, proj: int, mid: int, h: int) -> tuple[int, int, int]:
    """(params, MACs, output side) of one block with affine BN on an h x h input (see ops.shufflenet)."""
    k = block_kernel(name)
    params = macs = 0
    if stride == 1:
        main_in, main_out = c_in // 2, c_out // 2
    else:  # projection branch: dw k x k stride 2 + BN, pw + BN
        p1, m1, ho = _conv(c_in, c_in, k, stride, h, dw=True)
        p2, m2, _ = _conv(c_in, proj, 1, 1, ho)
        params, macs = p1 + p2 + 2 * (c_in + proj), m1 + m2
        main_in, main_out = c_in, c_out - proj
    if name == "xception_3x3":  # (dw + BN, pw + BN) x 3, the first dw strided
        convs = [(main_in, main_in, 3, stride, True), (main_in, mid, 1, 1, False), (mid, mid, 3, 1, True),
                 (mid, mid, 1, 1, False), (mid, mid, 3, 1, True), (mid, main_out, 1, 1, False)]
    else:  # pw + BN, dw k x k + BN, pw + BN
        convs = [(main_in, mid, 1, 1, False), (mid, mid, k, stride, True), (mid, main_out, 1, 1, False)]
    for ci, co, kk, s, dw in convs:
        p, m, h = _conv(ci, co, kk, s, h, dw=dw)
        params, macs = params + p + 2 * co, macs + m
    return params, macs, h


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
    p, m, h = _conv(in_channels, layout.stem, 3, 2, image_size)
    params, macs = p + 2 * layout.stem, m
    if layout.maxpool:
        h = _out(h, 3, 2)
    params += layout.widths[-1] * layout.last + 2 * layout.last
    fc = layout.last * num_classes + (num_classes if layout.fc_bias else 0)
    return params + fc, macs + fc, h


def _last_macs(layout: ShuffleLayout, h: int) -> int:
    return layout.widths[-1] * layout.last * h * h


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
    """(params, MACs) of `model` measured by forward hooks on its Conv2d and Linear modules.

    The model runs once on a meta tensor [1, in_channels, image_size, image_size] (shapes only,
    no arithmetic); move it to 'meta' first (`model.to('meta')`) or build it under
    `torch.device('meta')` to skip the memory. Same conventions as the analytic counter.
    """
    total = [0]

    def hook(mod: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        if isinstance(mod, nn.Conv2d):
            # per output: C_in/groups * k * k MACs, plus the bias add (as cost._conv_macs counts it)
            total[0] += out[0].numel() * (mod.weight[0].numel() + (mod.bias is not None))
        else:
            assert isinstance(mod, nn.Linear)
            total[0] += mod.in_features * mod.out_features + (mod.out_features if mod.bias is not None else 0)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, in_channels, image_size, image_size, device=device))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return sum(p.numel() for p in model.parameters()), total[0]
