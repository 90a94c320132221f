"""Sampling under hard cost limits (FLOPs / parameters) by rejection, for any space or sampler.

SPOS (Guo et al. 2020, section 3.3) trains its supernet and runs its evolution only on
architectures within the FLOPs budget, drawing uniform samples and rejecting those over it.
`sample_within_budget` does this (with `tnas.sampler.rejection.rejection_sample`) for any source
of architectures: a `SearchSpace` (uniform) or any object with `sample(n, generator=...)` (the
`Sampler` protocol, e.g. the TNAS sampler), and any cost function `cost(arch long [D]) -> (params,
FLOPs)` (e.g. a family's cost at its final size, `functools.partial(shufflenet_cost, space,
size=size)` wrapped to take the arch).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.sampler.base import Sampler
from tnas.sampler.rejection import rejection_sample
from tnas.space.base import SearchSpace

logger = logging.getLogger(__name__)

CostFn = Callable[[Tensor], tuple[int, int]]  # arch long [D] -> (params, FLOPs)


@dataclass(frozen=True)
class BudgetStats:
    """What one `sample_within_budget` call cost.

    Attributes:
        drawn: architectures drawn (and costed) from the source.
        accepted: architectures returned (= n on success).
        rejection_rate: share of drawn architectures over a limit (0..1).
        seconds: wall time of the call (drawing + costing).
        seconds_per_valid: seconds / accepted.
        min_flops_seen, min_params_seen: the cheapest costs among the drawn architectures.
    """

    drawn: int
    accepted: int
    rejection_rate: float
    seconds: float
    seconds_per_valid: float
    min_flops_seen: int
    min_params_seen: int


def within(cost: tuple[float, float], max_params: float | None, max_flops: float | None) -> bool:
    """True when (params, FLOPs) `cost` meets both limits, in the same units (None = no limit)."""
    params, flops = cost
    return (max_params is None or params <= max_params) and (max_flops is None or flops <= max_flops)


def sample_within_budget(
    source: SearchSpace | Sampler, n: int, *, cost: CostFn, generator: torch.Generator,
    max_flops: float | None = None, max_params: float | None = None, batch: int | None = None,
    max_draws: int = 100_000, min_cost: tuple[int, int] | None = None,
) -> tuple[Tensor, BudgetStats]:
    """Draw architectures from `source` until `n` of them meet the limits.

    Args:
        source: a SearchSpace (uniform samples) or an object with `sample(n, generator=...)`.
        n: architectures wanted.
        cost: arch long [D] -> (parameters, FLOPs), the units of the limits.
        generator: drives every draw (same seed -> same result).
        max_flops, max_params: the limits (None = no limit), inclusive.
        batch: architectures drawn per round (default max(n, 64)).
        max_draws: give up after this many draws.
        min_cost: (min params, min FLOPs) of the space when known (e.g. `shufflenet_min_flops`):
            a limit below it raises at once, and the error names it.
    Returns:
        archs long [n, D] in the order they were accepted, and the BudgetStats.
    Raises:
        TnasError: a limit no architecture meets (below `min_cost`, or nothing accepted in
            `max_draws` draws); the message names the cheapest cost known.
    """
    if n < 1 or max_draws < 1:
        raise TnasError(f"sample_within_budget needs n >= 1 and max_draws >= 1; got n={n}, max_draws={max_draws}.")
    if min_cost is not None and not within(min_cost, max_params, max_flops):
        raise TnasError(_impossible(max_params, max_flops, min_cost, "in the whole space"))
    sample = source.sample_uniform if isinstance(source, SearchSpace) else source.sample
    start, lowest = time.perf_counter(), [None, None]  # the cheapest params, FLOPs seen

    def ok(archs: Tensor) -> Tensor:
        costs = [cost(arch) for arch in archs]
        for p, f in costs:
            lowest[:] = [p if lowest[0] is None else min(lowest[0], p), f if lowest[1] is None else min(lowest[1], f)]
        return torch.tensor([within(c, max_params, max_flops) for c in costs], dtype=torch.bool)

    got = rejection_sample(lambda k: sample(k, generator=generator), n, batch=batch or max(n, 64), constraint=ok,
                           max_idle=None, max_draws=max_draws)
    seconds, (min_p, min_f), kept = time.perf_counter() - start, lowest, got.archs.shape[0]
    if not kept:
        raise TnasError(_impossible(max_params, max_flops, (min_p or 0, min_f or 0), f"among {got.drawn} draws"))
    if kept < n:
        logger.warning("only %d of %d architectures within the limits after %d draws", kept, n, got.drawn)
    stats = BudgetStats(got.drawn, kept, 1.0 - got.passed / got.drawn, seconds, seconds / kept,
                        int(min_f or 0), int(min_p or 0))
    return got.archs, stats


def _impossible(max_params: float | None, max_flops: float | None, cheapest: tuple[int, int], where: str) -> str:
    limits = " and ".join(s for s in (f"{max_params / 1e6:.3f}M parameters" if max_params is not None else "",
                                      f"{max_flops / 1e6:.1f}M FLOPs" if max_flops is not None else "") if s)
    return (f"No architecture meets the limit of {limits}: the cheapest {where} has {cheapest[0] / 1e6:.3f}M "
            f"parameters and {cheapest[1] / 1e6:.1f}M FLOPs. Raise the limit above that (or shrink the network, "
            "e.g. a smaller C).")
