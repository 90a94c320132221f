"""The sampler protocol: a distribution over architectures that learns from feedback.

Shapes: D = space.num_decisions. Architectures are long [N, D]; scores are float [N], higher is
better (pass -loss for a loss).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.registry import Registry
from tnas.space.base import SearchSpace

# An evaluator scores a batch of architectures: long [N, D] -> float [N] (higher = better).
Evaluator = Callable[[Tensor], Tensor]


@runtime_checkable
class Sampler(Protocol):
    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        """n architectures, long [n, D]."""
        ...

    def observe(self, archs: Tensor, scores: Tensor) -> None:
        """Feedback: archs long [N, D], scores float [N] (higher = better)."""
        ...

    def step(self) -> dict[str, float]:
        """Update the distribution (e.g. retrain the VAE, advance eps); returns metrics."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Draw:
    """Architectures drawn for supernet training: archs long [n, D]; learned bool [n], True where
    a row came from the learned distribution (not the uniform share); weight float [n], the
    factor on that step's loss (1, or U(a) / Gamma(a) for the steer-unbiased role)."""

    archs: Tensor
    learned: Tensor
    weight: Tensor


class SamplerBase:
    """Defaults for the methods the one-shot run talks to besides `Sampler`'s (a sampler that
    learns nothing has nothing to add). Built-in samplers subclass it; so does a registered
    sampler meant for `tnas search sampler.name=...`, overriding what it supports:

    - `draw(n, generator)` -> Draw: training draws; default `sample` with no learned rows.
    - `propose(n, generator)` -> long [n, D] or None: the learned initial population of the search
      stage (None: the search draws its own, uniformly).
    - `sampling_eps`: the share of learned draws (0 for a sampler that does not mix).
    - `rejects(archs)` -> bool [n]: which uniform draws the learned distribution rejects (role reject).
    - `probability(archs)` -> float64 [n] or None: Gamma(a) of each architecture (role steer-unbiased).
    - `feedback_affects_sample`: whether draws depend on feedback since the last `step()` (if not,
      a loop may hand feedback over late, in batches).
    """

    feedback_affects_sample: bool = True
    sampling_eps: float = 0.0
    space: SearchSpace

    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def draw(self, n: int, generator: torch.Generator) -> Draw:
        archs = self.sample(n, generator=generator)
        return Draw(archs, torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.float64))

    def propose(self, n: int, generator: torch.Generator) -> Tensor | None:
        return None

    def rejects(self, archs: Tensor) -> Tensor:
        return torch.zeros(archs.reshape(-1, self.space.num_decisions).shape[0], dtype=torch.bool)

    def probability(self, archs: Tensor) -> Tensor | None:
        return None


def check_feedback(space: SearchSpace, archs: Tensor, scores: Tensor | float) -> tuple[Tensor, Tensor]:
    """The arguments of `observe` checked and shaped: (archs long [N, D], scores float64 [N]) on the CPU.

    Raises:
        TnasError: a count mismatch, a NaN or infinite score, or an invalid architecture.
    """
    archs = archs.reshape(-1, space.num_decisions).cpu()
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1).cpu()
    if archs.shape[0] != scores.shape[0]:
        raise TnasError(
            f"observe() got {archs.shape[0]} architectures but {scores.shape[0]} scores; pass one "
            "score per architecture (archs long [N, D], scores float [N])."
        )
    if not bool(torch.isfinite(scores).all()):
        raise TnasError("observe() got a NaN or infinite score; scores must be finite (higher = better).")
    space.validate(archs)
    return archs, scores


def check_state(state: dict[str, Any], kind: str, version: int, what: str) -> None:
    """Raise TnasError unless `state` is a state_dict of `kind` at `version` (for `what`, e.g.
    'a TNASSampler'): loading another class's or another tnas version's state fails clearly."""
    if state.get("version") != version or state.get("kind") != kind:
        raise TnasError(
            f"Cannot load {what} from a state with kind={state.get('kind')!r}, version={state.get('version')!r}; "
            f"expected kind={kind!r}, version={version}. Load the state into the class (and tnas version) that saved it."
        )


# A sampler factory: (space, seed=..., config=...) -> Sampler. `config` is the sampler's own
# config dataclass (None = its defaults); samplers without options ignore it.
SamplerFactory = Callable[..., Sampler]
SAMPLERS: Registry[SamplerFactory] = Registry("sampler", "Register new samplers with tnas.sampler.SAMPLERS.register.")


def build_sampler(name: str, space: SearchSpace, *, seed: int = 0, config: Any = None, **options: Any) -> Sampler:
    """The registered sampler `name` over `space`, seeded with `seed`; `options` (e.g. device=)
    go to factories that take them."""
    return SAMPLERS.get(name)(space, seed=seed, config=config, **options)
