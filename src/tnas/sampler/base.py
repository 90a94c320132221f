"""The sampler protocol: a distribution over architectures that learns from feedback.

Shapes: D = space.num_decisions. Architectures are long [N, D]; scores are float [N], higher is
better (pass -loss for a loss).
"""
from __future__ import annotations

from collections.abc import Callable
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
