"""Data parallelism of the gradient search steps (DARTS, GDAS, TNAS-G): this process's pieces of a
global batch, and gradients summed over processes.

Every rank holds the same supernet weights and the same distribution and draws the same noise (the
same generators), so only the data is split: a global batch of B rows is cut into
world x micro_batches pieces and rank r takes pieces [r m, (r + 1) m). Each piece backpropagates
its summed cross-entropy / B, so gradients summed over the pieces and then over the ranks are those
of the global mean loss, and 2 ranks x 1 piece compute what 1 rank x 2 pieces computes (the test
in tests/integration/test_ddp.py). Each tensor sum over ranks is one collective (`Parallel.reduce`,
given by the run layer: `tnas.run.dist.allreduce_`).

The distribution's gradient goes through the op weights w [D, K]: every piece backpropagates into
a leaf copy of w, that [D, K] gradient is summed over ranks, and only then flows into alpha or the
VAE decoder (`weights_backward`). So one all-reduce of D x K numbers serves any distribution, and
the Gumbel noise of GDAS / TNAS-G is drawn once per step, not once per piece.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.strategy.oneshot import NaNLossError

Batch = tuple[Tensor, Tensor]  # (x float [B, C, H, W], y long [B])
Reduce = Callable[[list[Tensor]], None]  # sums every tensor of the list in place over all ranks


@dataclass(frozen=True)
class Parallel:
    """This process's part of a data-parallel step.

    Attributes:
        micro_batches: pieces per rank (gradient accumulation).
        rank, world: this process and the number of processes.
        reduce: sums tensors in place over the ranks (None: one process).
    """

    micro_batches: int = 1
    rank: int = 0
    world: int = 1
    reduce: Reduce | None = None

    @property
    def whole(self) -> bool:
        """One piece in one process: the batch is used as it is (mean loss, no collective)."""
        return self.world * self.micro_batches == 1

    def pieces(self, batch: Batch) -> list[Batch]:
        """This rank's pieces of the global batch (B must divide by world x micro_batches)."""
        if self.whole:
            return [batch]
        x, y = batch
        n, m = self.world * self.micro_batches, self.micro_batches
        return list(zip(x.chunk(n), y.chunk(n)))[self.rank * m : (self.rank + 1) * m]

    def sum(self, tensors: list[Tensor]) -> None:
        """Sum `tensors` in place over the ranks (nothing to do in one process)."""
        if self.reduce is not None and self.world > 1 and tensors:
            self.reduce(tensors)


def piece_loss(logits: Tensor, y: Tensor, rows: int, par: Parallel) -> Tensor:
    """A piece's share of the global batch's mean cross-entropy: summed over the piece, / `rows` (B);
    the plain mean when the batch is one piece."""
    return F.cross_entropy(logits, y) if par.whole else F.cross_entropy(logits, y, reduction="sum") / rows


def backward_pieces(forward: Callable[[Tensor], Tensor], batch: Batch, par: Parallel,
                    collect: Callable[[], list[Tensor]], what: str) -> tuple[float, float]:
    """Forward and backpropagate this rank's pieces of `batch` (gradients accumulate in `.grad`),
    then sum the tensors `collect()` returns (the gradients that matter) over the ranks.

    Args:
        forward: x float [b, C, H, W] -> logits float [b, classes].
        collect: called after the last backward; every rank must return tensors of the same shapes
            (they do: every rank runs the same path).
        what: 'training' or 'validation', for the NaN error.
    Returns:
        (mean loss over the global batch, accuracy % over the global batch).
    Raises:
        NaNLossError: the global loss is NaN/inf (on every rank at once: it is checked after the sum).
    """
    rows = batch[1].numel()
    stats = None  # [loss share, correct, rows] of this rank
    for x, y in par.pieces(batch):
        logits = forward(x)
        loss = piece_loss(logits, y, rows, par)
        if loss.requires_grad:  # no sampled op reaches the output: nothing to learn from this piece
            loss.backward()
        piece = torch.stack([loss.detach(), (logits.detach().argmax(1) == y).sum().to(loss.dtype),
                             torch.tensor(y.numel(), dtype=loss.dtype, device=loss.device)])
        stats = piece if stats is None else stats + piece
    assert stats is not None, "a rank without pieces: batch_size must divide by world x micro_batches"
    par.sum([*collect(), stats])
    loss_v, correct, seen = stats.tolist()
    if not math.isfinite(loss_v):
        raise NaNLossError(
            f"The {what} loss became {loss_v}. The run stopped; its last good checkpoint is kept. "
            "Lower the learning rates or tighten grad_clip, then resume or restart."
        )
    return loss_v, 100.0 * correct / max(seen, 1.0)


def present_grads(params: list[Tensor] | nn.Module) -> list[Tensor]:
    """The `.grad` tensors that exist (the parameters the path used), in parameter order."""
    ps = params.parameters() if isinstance(params, nn.Module) else params
    return [p.grad for p in ps if p.grad is not None]


def weights_backward(w: Tensor, forward: Callable[[Tensor, Tensor], Tensor], batch: Batch, par: Parallel,
                     what: str = "validation", also: Callable[[], list[Tensor]] = list) -> tuple[float, float]:
    """Backpropagate the loss of `forward(x, w)` over the global batch into whatever `w` was
    computed from (alpha, the VAE decoder), through a leaf copy of w whose gradient is summed over
    the ranks first (see the module docstring). Nothing reaches w when no sampled op is connected
    to the output; the distribution's optimizer then skips it (no `.grad`).

    Args:
        w: op weights float [D, K] with a graph back to the distribution's parameters.
        forward: (x, weights [D, K]) -> logits.
        also: further gradients to sum over the ranks (DARTS-V2: the weights' at the unrolled point).
    Returns:
        (mean loss, accuracy %) over the global batch.
    """
    leaf = w.detach().requires_grad_(True)
    out = backward_pieces(lambda x: forward(x, leaf), batch, par,
                          lambda: ([] if leaf.grad is None else [leaf.grad]) + also(), what)
    if leaf.grad is not None:
        w.backward(leaf.grad)
    return out
