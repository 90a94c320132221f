"""The uniform architecture distribution U(a) (SPOS / RSPS), behind the Sampler protocol."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.sampler.base import SAMPLERS, SamplerBase, check_feedback, check_state
from tnas.space.base import SearchSpace

_VERSION = 1


class UniformSampler(SamplerBase):
    """Every decision drawn independently and uniformly; feedback is ignored.

    Args:
        space: the search space (D decisions).
    """

    # `sample` ignores feedback, so a loop may hand it over late (tnas.strategy.oneshot.train_epoch)
    feedback_affects_sample = False

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        """n architectures, long [n, D]."""
        if n < 0:
            raise TnasError(f"Cannot sample n={n} architectures; n must be >= 0.")
        return self.space.sample_uniform(n, generator)

    def observe(self, archs: Tensor, scores: Tensor) -> None:
        """Checks the feedback like every sampler (finite scores, valid archs), then ignores it:
        the uniform distribution does not learn."""
        check_feedback(self.space, archs, scores)

    def step(self) -> dict[str, float]:
        """No-op; returns no metrics."""
        return {}

    def probability(self, archs: Tensor) -> Tensor:
        """U(a) = 1 / |space| for every row (float64 [n])."""
        n = archs.reshape(-1, self.space.num_decisions).shape[0]
        return torch.full((n,), 1.0 / self.space.size, dtype=torch.float64)

    def state_dict(self) -> dict[str, Any]:
        return {"version": _VERSION, "kind": "uniform", "space": self.space.name}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(state, "uniform", _VERSION, "a UniformSampler")


SAMPLERS.add("uniform", lambda space, *, seed=0, config=None: UniformSampler(space))
