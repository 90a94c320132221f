"""Training and evaluation epochs for a stand-alone network (`tnas train`).

Plain functions over (model, optimizer, batches): the learning rate is a pure function of the
global step (set before every step, so no scheduler state to checkpoint), the drop-path
probability a pure function of the epoch, and the epoch's running sums live in a dict the
checkpoint stores, so a run interrupted mid-epoch continues exactly where it stopped.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.train.config import OptimConfig, RegConfig


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str) -> float:
    """Learning rate of global step `step` (0-based) of `total` steps.

    Linear warm-up from base / warmup to base over the first `warmup` steps, then `cosine`
    (annealed to 0 at `total`) or `linear` (SPOS: base * (1 - t), decayed to 0 per step) over the rest.
    """
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return base * (1.0 - t)
    return base * 0.5 * (1.0 + math.cos(math.pi * t))


def drop_path_at(epoch: int, epochs: int, final: float) -> float:
    """DARTS's schedule: the drop-path probability of epoch `epoch` (0-based) is final * epoch / epochs."""
    return final * epoch / epochs


def set_drop_path(model: nn.Module, prob: float) -> None:
    """Set `model.drop_path_prob` (the family's network reads it in training mode)."""
    if hasattr(model, "drop_path_prob"):
        model.drop_path_prob = prob
    elif prob > 0:
        raise TnasError(f"{type(model).__name__} has no drop path (no `drop_path_prob` attribute); "
                        "set reg.drop_path_prob=0 for this space.")


def loss_of(out: Tensor | tuple[Tensor, Tensor], y: Tensor, reg: RegConfig) -> tuple[Tensor, Tensor]:
    """(loss, main logits) of a forward output: logits, or (logits, aux_logits) with an auxiliary head.

    The auxiliary loss is added with weight `reg.auxiliary_weight` (DARTS: 0.4); both terms use
    label smoothing `reg.label_smoothing`.
    """
    smooth = reg.label_smoothing
    if isinstance(out, (tuple, list)):
        logits, aux = out
        loss = F.cross_entropy(logits, y, label_smoothing=smooth)
        loss = loss + reg.auxiliary_weight * F.cross_entropy(aux, y, label_smoothing=smooth)
        return loss, logits
    return F.cross_entropy(out, y, label_smoothing=smooth), out


def new_sums() -> dict[str, float]:
    """Running sums of an epoch: i (steps done), loss (sum of batch means), correct, seen."""
    return {"i": 0.0, "loss": 0.0, "correct": 0.0, "seen": 0.0}


def train_steps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, Tensor]],
    sums: dict[str, float],
    *,
    optim: OptimConfig,
    reg: RegConfig,
    first_step: int,
    total_steps: int,
    steps: int,
    should_stop: Callable[[], bool],
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> bool:
    """Train on `batches` until the epoch has `steps` steps; False if `should_stop()` cut it short.

    Args:
        model: the network in training mode (possibly DistributedDataParallel-wrapped).
        batches: this rank's (x float [B, C, H, W], y long [B]) from step `sums['i']` of the epoch.
        sums: the epoch's running sums (`new_sums`), updated in place (checkpointed on interrupt).
        first_step: global step of the epoch's step 0 (for the learning rate).
        total_steps: steps of the whole run.
        steps: steps per epoch.
    """
    warmup = optim.warmup_epochs * steps
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    for x, y in batches:
        if sums["i"] >= steps:
            break
        if should_stop():
            return False
        lr = lr_at(first_step + int(sums["i"]), total_steps, warmup, optim.lr, optim.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, logits = _step(model, optimizer, params, x, y, reg, lr, int(sums["i"]))
        value = float(loss.detach())  # one host sync for the sums and the progress bar
        sums["i"] += 1
        sums["loss"] += value
        sums["correct"] += float((logits.detach().argmax(1) == y).sum())
        sums["seen"] += float(len(y))
        if on_step is not None:
            on_step({"loss": value, "lr": lr})
    return sums["i"] >= steps


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, params: list[Tensor], x: Tensor, y: Tensor,
          reg: RegConfig, lr: float, i: int) -> tuple[Tensor, Tensor]:
    """One optimizer step; returns (loss, main logits). A non-finite loss stops the run (exit 2)."""
    loss, logits = loss_of(model(x), y, reg)
    if not torch.isfinite(loss):
        raise TnasError(f"The training loss became {loss.item()} at epoch step {i} (lr {lr:.4g}). "
                        "Lower optim.lr or set reg.grad_clip (e.g. 5); the last checkpoint is kept.")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if reg.grad_clip > 0:
        nn.utils.clip_grad_norm_(params, reg.grad_clip)
    optimizer.step()
    return loss, logits


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int,
             reduce: Callable[[Tensor], Tensor] | None = None) -> dict[str, Any]:
    """Top-1 (and top-5 when num_classes >= 10) accuracy in % and mean loss, over all ranks.

    Args:
        model: the network (set to eval mode here: BN uses running statistics, no drop path).
        batches: this rank's shard of the evaluation set.
        reduce: sums a float tensor over ranks (torch.distributed all_reduce) or None.
    """
    model.eval()
    k = 5 if num_classes >= 10 else 0
    acc = torch.zeros(4, dtype=torch.float64)  # loss sum, top-1 correct, top-k correct, images
    for x, y in batches:
        logits = model(x)
        acc[0] += float(F.cross_entropy(logits, y, reduction="sum"))
        acc[1] += float((logits.argmax(1) == y).sum())
        if k:
            acc[2] += float((logits.topk(k, dim=1).indices == y[:, None]).any(1).sum())
        acc[3] += len(y)
    if reduce is not None:
        acc = reduce(acc)
    n = max(1.0, float(acc[3]))
    out: dict[str, Any] = {"test_loss": float(acc[0]) / n, "test_acc": 100.0 * float(acc[1]) / n,
                           "test_images": int(acc[3])}
    if k:
        out["test_top5"] = 100.0 * float(acc[2]) / n
    return out
