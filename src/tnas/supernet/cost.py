"""The one way tnas counts a network's cost: parameters and multiply-accumulates (MACs).

Conventions, as the NAS papers and NAS-Bench-201 report them: parameters are all trainable
tensors (affine BN weights and biases included, running stats not); MACs are those of every
Conv2d (C_in / groups * k * k per output value, plus one per output for a bias) and Linear
(in * out, plus out for a bias), nothing for BN, ReLU, pooling, additions, shuffles or
concatenation. FLOPs in tnas (`search.max_flops_M`, the NB201 table) are these MACs.

`module_cost` measures a module by running it once on the 'meta' device with forward hooks on
its Conv2d / Linear layers: shapes only, no arithmetic, no memory. Each family's counter
(`nb201_cost`, `darts_cost`, `shufflenet_cost`) measures the skeleton and every (op, channels,
stride, resolution) once this way and caches it, so one architecture costs a few lookups.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def module_cost(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, int]:
    """(params, MACs) of `module` for one input of `shape` ([C, H, W], or [F] for a Linear).

    The input lives on the module's device: build the module under `torch.device('meta')` (or
    move it there) to count without memory. Runs in eval mode and restores the mode.
    """
    macs = 0

    def hook(m: nn.Module, inputs: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            macs += out[0].numel() * ((m.in_channels // m.groups) * kh * kw + (m.bias is not None))
        else:
            macs += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)

    param = next(module.parameters(), None)
    device = param.device if param is not None else torch.device("meta")
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            module(torch.zeros(1, *shape, device=device))
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return sum(p.numel() for p in module.parameters()), macs
