"""Scoring architectures with a trained supernet: the search stage's fitness.

An architecture's score is the supernet's accuracy (%) on fixed validation batches after its BN
statistics are recalibrated (`tnas.evaluate.bn`) on fixed training batches: the supernet shares
BN across paths, so its running stats fit no single path until recalibrated (as SPOS does).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from tnas.evaluate.bn import recalibrate_bn
from tnas.evaluate.score import MemoScore
from tnas.space.base import SearchSpace


class SupernetEvaluator(MemoScore):
    """Fitness for the search stage: supernet accuracy (%) of each arch on fixed validation
    batches after BN recalibration on fixed training batches.

    Deterministic for given weights, and memoised (`memo`: key -> score, `MemoScore`) so a resumed
    search replays the generations already evaluated instantly and reaches the same result.
    """

    def __init__(self, supernet: nn.Module, space: SearchSpace, calib: list[Tensor],
                 valid: list[tuple[Tensor, Tensor]], memo: dict[int, float] | None = None,
                 on_eval: Callable[[Tensor, float], None] | None = None) -> None:
        super().__init__(space, self._accuracies, memo=memo, on_eval=on_eval)
        self.supernet, self.calib, self.valid = supernet, calib, valid

    def _accuracies(self, archs: Tensor) -> Tensor:
        """long [N, D] -> accuracy float64 [N] (%)."""
        return torch.tensor([self.accuracy(a) for a in archs], dtype=torch.float64)

    @torch.no_grad()
    def accuracy(self, arch: Tensor, batches: Iterable[tuple[Tensor, Tensor]] | None = None) -> float:
        recalibrate_bn(self.supernet, arch, self.calib, len(self.calib))
        self.supernet.eval()
        correct, total = 0, 0
        for x, y in batches if batches is not None else self.valid:
            correct = correct + (self.supernet(x, arch).argmax(1) == y).sum()  # stays on the device
            total += y.numel()
        return 100.0 * int(correct) / max(total, 1)  # one host sync per architecture
