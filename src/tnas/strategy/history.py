"""The record of a discrete search: every evaluated architecture, in order.

All query-based searches (random, REA, SPOS-GA, TNAS loop, TNAS-seeded GA) return a History and
are *anytime*: the first n entries of a run with budget B > n equal a run with budget n and the
same generator, so one run at the largest budget yields every smaller budget.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class History:
    """archs long [N, D] in evaluation order; scores float [N] (the search metric, higher=better);
    sources: where each arch came from ('uniform', 'vae', 'mutation', 'crossover', ...)."""

    archs: Tensor
    scores: Tensor
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.archs.shape[0])

    def best_index(self, n: int | None = None) -> int:
        """Index of the highest-scoring arch among the first n (ties: the earliest)."""
        n = len(self) if n is None else min(n, len(self))
        return int(torch.argmax(self.scores[:n]).item())

    def prefix(self, n: int) -> "History":
        return History(self.archs[:n], self.scores[:n], self.sources[:n])
