"""TNAS-OS and SPOS: one-shot supernet training with a learned sampler, then evolutionary search.

Paper sections 4.1-4.2. Training (eq. 9, 11): each step samples an architecture from
Gamma = (1 - eps) * U + eps * p(a|z) (SPOS: eps stays 0), trains its weights on a training batch,
and scores it on a held-out validation batch (Metric_{t-1}); the scores go to `sampler.observe`
and `sampler.step()` at each epoch boundary retrains the VAE and raises eps. The search stage
(eq. 10) is the SPOS genetic algorithm with fitness = supernet validation accuracy after BN
recalibration (`tnas.evaluate.SupernetEvaluator`), its initial population drawn from p(a|z)
(TNAS-OS) or U (SPOS).

The functions here are the loop bodies; `tnas.run.search` builds the parts, checkpoints and
resumes them.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.sampler.base import Sampler
from tnas.sampler.roles import training_draw

_log = logging.getLogger(__name__)


class NaNLossError(TnasError):
    """The training loss became NaN/inf; the run stops and keeps its last good checkpoint."""


@dataclass
class TrainState:
    """Counters of the training loop (the rest of the state lives in the stateful parts)."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps completed
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch
    baseline: dict[str, float] = field(default_factory=dict)  # 'ema' of held-out scores (see train_epoch)


@dataclass
class Feedback:
    """How sampled architectures are scored for the sampler during training.

    Attributes:
        valid_batch: returns a held-out batch (x, y) for scoring the sampled architecture.
        every: score every `every`-th step (0: never).
        metric: 'accuracy' (%) or 'loss' (scored as -cross-entropy).
        baseline: when given, the sampler observes score - EMA(recent scores) instead of the raw
            score: the supernet improves during training, so raw scores of architectures sampled
            late would beat those sampled early for no other reason; the EMA (in baseline['ema'],
            decay `decay` per scored step) is updated in place and checkpointed.
    """

    valid_batch: Callable[[], tuple[Tensor, Tensor]]
    every: int
    metric: str
    baseline: dict[str, float] | None = None
    decay: float = 0.98
    # when given, scores the trained path instead of `metric` on a held-out batch: arch long [D] ->
    # a 0-dim tensor already in the score's units (sampler.feedback_score = angle, a zero-cost proxy, ...)
    score_fn: Callable[[Tensor], Tensor] | None = None


@dataclass(frozen=True)
class Shard:
    """This process's part of a data-parallel step.

    The global batch is split into world * micro_batches pieces; rank r processes pieces
    [r * m, (r + 1) * m) (gradient accumulation over m). `sync(model, loss)` sums gradients and
    the loss shares over ranks and returns the global loss (None: one process).
    """

    micro_batches: int = 1
    rank: int = 0
    world: int = 1
    sync: Callable[[nn.Module, Tensor], Tensor] | None = None


def train_epoch(
    supernet: nn.Module,
    sampler: Sampler,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    train_batches: Iterator[tuple[Tensor, Tensor]],
    arch_gen: torch.Generator,
    progress: dict[str, float],
    *,
    steps: int,
    grad_clip: float,
    feedback: Feedback,
    shard: Shard = Shard(),
    constraint: Callable[[Tensor], Tensor] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_step: Callable[[Tensor, float, float, bool], None] | None = None,
    sync_every: int = 1,
    role: str = "steer",
) -> bool:
    """Single-path supernet training driven by `sampler`, from step `progress['i']` to `steps`.

    Args:
        train_batches: yields (x float [B, C, H, W], y long [B]) on the supernet's device,
            positioned at step `progress['i']` of the epoch.
        arch_gen: generator for architecture sampling (identical on every DDP rank).
        progress: running sums, updated in place: 'i' (steps done), 'loss', 'acc' (training
            batch accuracy, %), 'score' and 'n_score' (held-out metric), 'n_vae' (VAE samples).
        feedback: how the sampled architecture is scored for `sampler.observe`.
        shard: this process's part of the global batch (data parallel, accumulation).
        constraint: ok(archs long [n, D]) -> bool [n]; when given, only architectures within the
            hard limits are trained (SPOS's constrained uniform sampling: rejection from the sampler).
        should_stop: checked after every step (Ctrl-C); the epoch then stops early.
        on_step: called with (arch long [D], loss, score or nan, from_vae), in step order, when
            the step's values reach the host.
        sync_every: the steps' losses and scores stay on the device and are read back together
            (one host sync) every `sync_every` steps, at the epoch's end and before a stop; the
            sampler observes them then, in step order, so the result does not depend on it. A
            sampler whose draws depend on feedback since its last `step()`
            (`feedback_affects_sample`) gets it before every draw instead.
        role: the sampler's role in training (`tnas.sampler.roles`): which paths are drawn, and
            the weight of each step's loss (steer-unbiased: U(a) / Gamma(a)).
    Returns:
        True when the epoch completed, False when it stopped early.
    """
    supernet.train()
    for key in ("i", "loss", "acc", "score", "n_score", "n_vae"):
        progress.setdefault(key, 0.0)
    pending = PendingSteps(progress, sampler, feedback, on_step)
    eager = sampler.feedback_affects_sample
    i = int(progress["i"])
    while i < steps:
        if eager:
            pending.flush()
        x, y = next(train_batches)
        d = training_draw(role, sampler, arch_gen, constraint)
        arch, from_vae = d.archs[0], bool(d.learned[0])
        optimizer.zero_grad(set_to_none=True)
        loss, correct, seen = _forward_backward(supernet, arch, x, y, shard, float(d.weight[0]))
        if shard.sync is not None:  # sum gradients and loss shares over ranks (same on every rank after)
            loss = shard.sync(supernet, loss)
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(supernet.parameters(), grad_clip)
        optimizer.step()
        scheduler.step()
        score = None
        if feedback.every > 0 and i % feedback.every == 0:
            if feedback.score_fn is not None:
                score = torch.as_tensor(feedback.score_fn(arch), dtype=torch.float64)
            else:
                score = score_on_device(supernet, arch, *feedback.valid_batch(), feedback.metric)
        pending.add(_Step(i, arch, bool(from_vae), loss.detach(), correct, seen, score))
        i += 1
        if len(pending.steps) >= sync_every:
            pending.flush()
        if should_stop():
            pending.flush()
            return progress["i"] >= steps
    pending.flush()
    return True


@dataclass
class _Step:
    """A trained step whose loss, correct count (of `seen` images) and score are on the device."""

    index: int
    arch: Tensor
    from_vae: bool
    loss: Tensor
    correct: Tensor
    seen: int
    score: Tensor | None


class PendingSteps:
    """Trained steps waiting for their values; `flush` reads them all with one host sync and does
    each step's bookkeeping in order, exactly as if it had been done right after the step: the
    NaN check, the sampler's feedback (score - EMA), the running sums and `on_step`."""

    def __init__(self, progress: dict[str, float], sampler: Sampler, feedback: Feedback,
                 on_step: Callable[[Tensor, float, float, bool], None] | None) -> None:
        self.progress, self.sampler, self.feedback, self.on_step = progress, sampler, feedback, on_step
        self.steps: list[_Step] = []

    def add(self, step: _Step) -> None:
        self.steps.append(step)

    def flush(self) -> None:
        steps, self.steps = self.steps, []
        if not steps:
            return
        n = len(steps)
        scored = [s.score for s in steps if s.score is not None]
        values = [torch.stack([s.loss for s in steps]), torch.stack([s.correct for s in steps])]
        values += [torch.stack(scored)] if scored else []
        flat = torch.cat([v.double() for v in values]).tolist()  # the one host sync (float64: exact)
        k = 2 * n
        for j, s in enumerate(steps):
            score = math.nan
            if s.score is not None:
                score, k = flat[k] * SCORE_SCALE.get(self.feedback.metric, 1.0), k + 1
            self._record(s, flat[j], int(flat[n + j]), score)

    def _record(self, s: _Step, loss: float, correct: int, score: float) -> None:
        if not math.isfinite(loss):
            raise NaNLossError(
                f"The training loss became {loss} at step {s.index} of this epoch (arch "
                f"{s.arch.tolist()}). The run stopped; its last good checkpoint is kept. Lower train.lr or "
                "tighten train.grad_clip (e.g. train.grad_clip=2), then resume or restart."
            )
        p, fb = self.progress, self.feedback
        if s.score is not None:
            # float64: a zero-cost score such as synflow reaches 1e40 and more, past float32's range
            self.sampler.observe(s.arch[None], torch.tensor([relative_score(score, fb.baseline, fb.decay)],
                                                            dtype=torch.float64))
            p["score"] += score
            p["n_score"] += 1
        p["loss"] += loss
        p["acc"] += 100.0 * correct / max(s.seen, 1)
        p["n_vae"] += int(s.from_vae)
        p["i"] += 1
        if self.on_step is not None:
            self.on_step(s.arch, loss, score, s.from_vae)


def _forward_backward(supernet: nn.Module, arch: Tensor, x: Tensor, y: Tensor,
                      shard: Shard, weight: float = 1.0) -> tuple[Tensor, Tensor, int]:
    """Loss of this rank's share of the global batch, backpropagated piece by piece.

    Each piece's loss is weighted by its share of the *global* batch, so summing gradients over
    ranks gives exactly the gradient of the global mean loss (1 process with world * micro pieces
    computes the same thing). `weight` scales the loss that is backpropagated (an importance
    weight); the returned loss is unweighted. Returns (this rank's share of the global mean loss,
    correct predictions on its batch, its images), the tensors on the device (no host sync).
    """
    m, n = shard.micro_batches, shard.world * shard.micro_batches
    pieces = list(zip(x.chunk(n), y.chunk(n)))[shard.rank * m : (shard.rank + 1) * m]
    seen = 0
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), dtype=torch.long, device=x.device)
    for xi, yi in pieces:
        logits = supernet(xi, arch)
        loss = F.cross_entropy(logits, yi, reduction="sum") / y.numel()
        (loss * weight if weight != 1.0 else loss).backward()
        loss_sum += loss.detach()
        correct += (logits.argmax(1) == yi).sum()
        seen += yi.numel()
    return loss_sum, correct, seen


def relative_score(score: float, baseline: dict[str, float] | None, decay: float) -> float:
    """score minus the EMA of earlier scores (the EMA then absorbs `score`); raw when disabled."""
    if baseline is None:
        return score
    ema = baseline.get("ema", score)
    baseline["ema"] = decay * ema + (1 - decay) * score
    return score - ema


def epoch_summary(progress: dict[str, float]) -> dict[str, float]:
    """Means of an epoch's running sums: loss, acc (%), score, vae_share."""
    n = max(progress.get("i", 0), 1)
    n_score = progress.get("n_score", 0)
    return {
        "loss": progress.get("loss", 0) / n,
        "acc": progress.get("acc", 0) / n,
        "score": progress.get("score", 0) / n_score if n_score else math.nan,
        "vae_share": progress.get("n_vae", 0) / n,
    }


# score_on_device's value times this = the score the sampler sees (accuracy in %, -cross-entropy)
SCORE_SCALE = {"accuracy": 100.0, "loss": 1.0}


@torch.no_grad()
def score_on_device(supernet: nn.Module, arch: Tensor, x: Tensor, y: Tensor, metric: str) -> Tensor:
    """Held-out metric of one sub-network on one batch, higher = better, as a 0-dim float32
    tensor on the device (no host sync): the accuracy as a fraction, or -cross-entropy; times
    `SCORE_SCALE[metric]` it is `score_batch`.

    Uses batch statistics (train-mode BN, as during training) so no recalibration is needed
    for this cheap per-step signal.
    """
    logits = supernet(x, arch)
    if metric == "loss":
        return -F.cross_entropy(logits, y)
    return (logits.argmax(1) == y).float().mean()


def score_batch(supernet: nn.Module, arch: Tensor, x: Tensor, y: Tensor, metric: str) -> float:
    """Held-out metric of one sub-network on one batch, higher = better: 'accuracy' in %, 'loss'
    as -cross-entropy (see `score_on_device`)."""
    return score_on_device(supernet, arch, x, y, metric).item() * SCORE_SCALE[metric]
