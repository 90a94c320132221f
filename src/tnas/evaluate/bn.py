"""BatchNorm recalibration: re-estimate running statistics for one sub-network of a supernet.

Running statistics collected while training a supernet mix every sampled path, so they are
wrong for any single architecture. Before scoring an architecture, we reset the statistics of
the BN layers that the architecture actually uses and re-estimate them as a cumulative average
(momentum=None) over a few training batches in train mode, without gradients (SPOS, Guo et al.
2020; NB201 supernets use track_running_stats=True for this reason).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from tnas.errors import TnasError

logger = logging.getLogger(__name__)


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module, arch: Tensor | None, batches: Iterable[Any], num_batches: int,
    device: torch.device | str | None = None,
) -> None:
    """Reset and re-estimate the BN running stats of `model` for `arch`; leaves `model` in eval mode.

    Only BN layers that run for `arch` are touched (reset on their first call, through a forward
    pre-hook), so the statistics of other paths stay as they were. The result depends only on the
    weights, `arch` and the batches, not on the statistics before the call.

    Args:
        model: a supernet called as `model(x, arch)`, or a stand-alone network (`arch=None`,
            called as `model(x)`).
        arch: long [D], the sub-network; None for a stand-alone network.
        batches: images [B, C, H, W], or (images, labels) pairs, e.g. a training loader.
        num_batches: how many batches to average over (the first `num_batches` of `batches`).
        device: where to move each batch (default: the model's device).
    """
    if num_batches < 1:
        raise TnasError(f"recalibrate_bn needs num_batches >= 1, got {num_batches}.")
    if device is None:
        device = next(model.parameters()).device
    seen: dict[_BatchNorm, float | None] = {}

    def reset_on_first_use(bn: _BatchNorm, _inputs: tuple[Tensor, ...]) -> None:
        if bn not in seen:
            seen[bn] = bn.momentum
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average over the recalibration batches

    bns = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    hooks = [bn.register_forward_pre_hook(reset_on_first_use) for bn in bns]
    model.train()
    try:
        used = _run_batches(model, arch, batches, num_batches, device)
    finally:
        for h in hooks:
            h.remove()
        for bn, momentum in seen.items():
            bn.momentum = momentum
        model.eval()
    if used == 0:
        raise TnasError("recalibrate_bn got no batches; pass a non-empty iterable of images (e.g. the train loader).")
    if used < num_batches:
        logger.warning("recalibrate_bn: asked for %d batches, got only %d", num_batches, used)


def _run_batches(
    model: nn.Module, arch: Tensor | None, batches: Iterable[Any], num_batches: int, device: torch.device | str
) -> int:
    """Forward the first `num_batches` batches; returns how many there were."""
    used = 0
    for batch in batches:
        if used >= num_batches:
            break
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        model(x.to(device, non_blocking=True)) if arch is None else model(x.to(device, non_blocking=True), arch)
        used += 1
    return used
