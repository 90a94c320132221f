"""Registry of query-based (discrete) searches by name.

Every entry has the signature `search(space, evaluate, budget, generator, **options) -> History`
(evaluate: long [N, D] -> float [N], higher = better; budget: distinct evaluations) and is
anytime (see `tnas.strategy.history`). The TNAS searches are imported on first use, so this
module (and the baselines) load without the VAE code.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tnas.registry import Registry
from tnas.sampler.base import Evaluator
from tnas.space.base import SearchSpace
from tnas.strategy import evolution
from tnas.strategy.history import History

Search = Callable[..., History]


def tnas_loop(space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator,
              **options: Any) -> History:
    """TNAS mode (a), the VAE generation loop: `tnas.strategy.tnas_search.tnas_loop`."""
    from tnas.strategy.tnas_search import tnas_loop as run

    return run(space, evaluate, budget, generator, **options)


def tnas_ga(space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator,
            **options: Any) -> History:
    """TNAS mode (b), VAE-seeded evolution: `tnas.strategy.tnas_search.tnas_seeded_ga`."""
    from tnas.strategy.tnas_search import tnas_seeded_ga as run

    return run(space, evaluate, budget, generator, **options)


SEARCHES: Registry[Search] = Registry("search", "Pick one of the listed query-based searches.")
SEARCHES.add("random", evolution.random_search)
SEARCHES.add("rea", evolution.rea)
SEARCHES.add("spos-ga", evolution.spos_ga)
SEARCHES.add("tnas", tnas_loop)
SEARCHES.add("tnas-ga", tnas_ga)


def get_search(name: str) -> Search:
    """The search registered as `name`; an unknown name raises TnasError with the known ones."""
    return SEARCHES.get(name)


def list_searches() -> list[str]:
    return list(SEARCHES)
