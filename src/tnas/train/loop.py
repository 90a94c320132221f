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
    sync_every: int = 1,
) -> bool:
    """Train on `batches` until the epoch has `steps` steps; False if `should_stop()` cut it short.

    Args:
        model: the network in training mode (possibly DistributedDataParallel-wrapped).
        batches: this rank's (x float [B, C, H, W], y long [B]) from step `sums['i']` of the epoch.
        sums: the epoch's running sums (`new_sums`), updated in place (checkpointed on interrupt).
        first_step: global step of the epoch's step 0 (for the learning rate).
        total_steps: steps of the whole run.
        steps: steps per epoch.
        on_step: called with {'loss', 'lr'} per step, in order, when its loss reaches the host.
        sync_every: losses and correct counts stay on the device and are read back (one host
            sync) every this many steps, at the epoch's end and before a stop; the sums are
            added in step order, so they do not depend on it.
    """
    warmup = optim.warmup_epochs * steps
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    pending: list[tuple[Tensor, Tensor, int, float]] = []  # (loss, correct, images, lr) per unread step
    i = int(sums["i"])
    for x, y in batches:
        if i >= steps:
            break
        if should_stop():
            _flush(pending, sums, on_step)
            return False
        lr = lr_at(first_step + i, total_steps, warmup, optim.lr, optim.schedule)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, logits = _step(model, optimizer, params, x, y, reg)
        pending.append((loss.detach(), (logits.detach().argmax(1) == y).sum(), len(y), lr))
        i += 1
        if len(pending) >= sync_every:
            _flush(pending, sums, on_step)
    _flush(pending, sums, on_step)
    return sums["i"] >= steps


def _flush(pending: list[tuple[Tensor, Tensor, int, float]], sums: dict[str, float],
           on_step: Callable[[dict[str, float]], None] | None) -> None:
    """Read the pending steps' losses and correct counts (one host sync) and add them to `sums`
    in step order; a non-finite loss stops the run (exit 2)."""
    if not pending:
        return
    values = torch.stack([torch.stack([loss.double(), correct.double()]) for loss, correct, _, _ in pending]).tolist()
    for (value, correct), (_, _, images, lr) in zip(values, pending):
        if not math.isfinite(value):
            raise TnasError(f"The training loss became {value} at epoch step {int(sums['i'])} (lr {lr:.4g}). "
                            "Lower train.lr or set reg.grad_clip (e.g. 5); the last checkpoint is kept.")
        sums["i"] += 1
        sums["loss"] += value
        sums["correct"] += correct
        sums["seen"] += float(images)
        if on_step is not None:
            on_step({"loss": value, "lr": lr})
    pending.clear()


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, params: list[Tensor], x: Tensor, y: Tensor,
          reg: RegConfig) -> tuple[Tensor, Tensor]:
    """One optimizer step; returns (loss, main logits), on the device (no host sync)."""
    loss, logits = loss_of(model(x), y, reg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if reg.grad_clip > 0:
        nn.utils.clip_grad_norm_(params, reg.grad_clip)
    optimizer.step()
    return loss, logits


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]], num_classes: int,
             reduce: Callable[[Tensor], Tensor] | None = None, prefix: str = "test") -> dict[str, Any]:
    """Top-1 (and top-5 when num_classes >= 10) accuracy in % and mean loss, over all ranks, as
    '{prefix}_acc', '{prefix}_top5', '{prefix}_loss', '{prefix}_images' (prefix 'test' or 'valid').

    Args:
        model: the network (set to eval mode here: BN uses running statistics, no drop path).
        batches: this rank's shard of the evaluation set.
        reduce: sums a float tensor over ranks (torch.distributed all_reduce) or None.
    """
    model.eval()
    k = 5 if num_classes >= 10 else 0
    acc: Tensor | None = None  # loss sum, top-1 correct, top-k correct, images; float64 on the device
    for x, y in batches:
        logits = model(x)
        zero = torch.zeros((), dtype=torch.float64, device=logits.device)
        top_k = (logits.topk(k, dim=1).indices == y[:, None]).any(1).sum() if k else zero
        row = torch.stack([F.cross_entropy(logits, y, reduction="sum").double(),
                           (logits.argmax(1) == y).sum().double(), top_k.double(), zero + len(y)])
        acc = row if acc is None else acc + row
    acc = torch.zeros(4, dtype=torch.float64) if acc is None else acc.cpu()  # the one host sync
    if reduce is not None:
        acc = reduce(acc)
    n = max(1.0, float(acc[3]))
    out: dict[str, Any] = {f"{prefix}_loss": float(acc[0]) / n, f"{prefix}_acc": 100.0 * float(acc[1]) / n,
                           f"{prefix}_images": int(acc[3])}
    if k:
        out[f"{prefix}_top5"] = 100.0 * float(acc[2]) / n
    return out
