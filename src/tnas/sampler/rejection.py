"""The one rejection sampler of tnas, and the one dedup: draw, keep what is allowed and new.

Every loop that wants architectures satisfying something draws from a source and rejects: SPOS's
constrained uniform sampling during supernet training (Guo et al. 2020, section 3.3), the GA's
children under a FLOPs limit, REA's unseen mutants, fresh uniform draws for the searches,
`sample_within_budget` for any sampler. `rejection_sample` is that loop; a row is accepted when
it satisfies the constraint and, when a space is given, is *novel*: neither in `seen` nor equal
to a row accepted before it. `novel` / `dedup` are the dedup the loop (and the TNAS sampler's
`skip_seen`) uses. `CountedConstraint` wraps a constraint so that a run can report its acceptance
rate and the time per accepted architecture (run metrics `rejection_*`).

Shapes: D = space.num_decisions; archs are long [N, D]; a constraint maps long [N, D] -> bool [N].
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.space.base import SearchSpace

# A hard limit on architectures: long [N, D] -> bool [N] (True = allowed), e.g. params <= 3.5M.
Constraint = Callable[[Tensor], Tensor]


def novel(space: SearchSpace, archs: Tensor, seen: set[int]) -> Tensor:
    """bool [N]: rows whose key is not in `seen` nor an earlier row's; their keys join `seen`."""
    keep = torch.zeros(archs.shape[0], dtype=torch.bool)
    for i, key in enumerate(space.keys(archs).tolist()):
        if key not in seen:
            seen.add(key)
            keep[i] = True
    return keep


def dedup(space: SearchSpace, archs: Tensor, seen: set[int] | None = None) -> Tensor:
    """Drop repeated rows (keeping the first occurrence) and rows whose key is in `seen`.

    Args:
        archs: long [N, D].
        seen: keys (`space.keys`) to exclude; not modified.
    Returns:
        long [M, D], M <= N, in the original order.
    """
    return archs[novel(space, archs, set() if seen is None else set(seen))]


def allowed(archs: Tensor, constraint: Constraint | None) -> Tensor:
    """Rows of archs long [N, D] that satisfy `constraint` (all rows when it is None)."""
    if constraint is None or archs.shape[0] == 0:
        return archs
    ok = torch.as_tensor(constraint(archs), dtype=torch.bool).cpu()  # a constraint may answer on the GPU
    if ok.shape != (archs.shape[0],):
        raise TnasError(
            f"The constraint returned shape {tuple(ok.shape)} for {archs.shape[0]} architectures; expected a "
            "bool tensor [N] (True = allowed). Make it map long [N, D] -> bool [N]."
        )
    return archs[ok]


class CountedConstraint:
    """A constraint that counts the rejection sampling done against it: rows it checked and rows
    that passed, plus the rows accepted and the wall time of the `rejection_sample` calls that used
    it (drawing from the source + checking + dedup). Callable like the constraint it wraps."""

    def __init__(self, ok: Constraint) -> None:
        self.ok = ok
        self.drawn = self.passed = self.accepted = 0
        self.seconds = 0.0

    def __call__(self, archs: Tensor) -> Tensor:
        res = torch.as_tensor(self.ok(archs), dtype=torch.bool)
        self.drawn += res.numel()
        self.passed += int(res.sum())
        return res

    def record(self, accepted: int, seconds: float) -> None:
        """Called by `rejection_sample`: `accepted` rows returned after `seconds` of sampling."""
        self.accepted += accepted
        self.seconds += seconds

    def take(self) -> dict[str, Any]:
        """The counts since the last take (then reset): drawn, passed, accepted, seconds, accept_rate
        (passed / drawn: the share of draws within the limits) and ms_per_accepted (wall ms of
        sampling per accepted architecture; NaN when none was)."""
        out = {"drawn": self.drawn, "passed": self.passed, "accepted": self.accepted, "seconds": self.seconds,
               "accept_rate": self.passed / self.drawn if self.drawn else float("nan"),
               "ms_per_accepted": 1e3 * self.seconds / self.accepted if self.accepted else float("nan")}
        self.drawn = self.passed = self.accepted = 0
        self.seconds = 0.0
        return out


class Drawn(NamedTuple):
    """What `rejection_sample` returns."""

    archs: Tensor  # long [<= n, D], accepted, in the order drawn
    drawn: int  # rows drawn from the source
    passed: int  # drawn rows that satisfied the constraint (novel or not)


def rejection_sample(
    draw: Callable[[int], Tensor], n: int, *, batch: int, constraint: Constraint | None = None,
    space: SearchSpace | None = None, seen: set[int] | None = None, max_idle: int | None = 50,
    max_draws: int | None = None,
) -> Drawn:
    """Draw rounds of `batch` rows until `n` are accepted; fewer when the source runs dry.

    Args:
        draw: k -> long [k, D], the source (a sampler, mutation of parents, uniform draws).
        n: rows wanted.
        batch: rows drawn per round (the source's random stream does not depend on n).
        constraint: rows must satisfy it (None: all pass).
        space, seen: when `space` is given, accepted rows are also distinct and not in `seen`
            (keys; not modified).
        max_idle: give up after this many rounds in a row accepted nothing (None: never).
        max_draws: give up after this many rows drawn (the last round draws fewer; None: never).
    Returns:
        Drawn(archs long [min(n, accepted), D], drawn, passed); the caller decides whether a
        short result is an error (its message knows what was asked for).
    """
    t0 = time.perf_counter()
    taken = set() if seen is None else set(seen)
    found: list[Tensor] = []
    got = drawn = passed = idle = 0
    while got < n and (max_idle is None or idle < max_idle) and (max_draws is None or drawn < max_draws):
        cand = draw(batch if max_draws is None else min(batch, max_draws - drawn))
        drawn += cand.shape[0]
        cand = allowed(cand, constraint)
        passed += cand.shape[0]
        if space is not None:
            cand = cand[novel(space, cand, taken)]
        found.append(cand)
        got += cand.shape[0]
        idle = 0 if cand.shape[0] else idle + 1
    width = found[0].shape[1] if found else (space.num_decisions if space is not None else 0)
    archs = torch.cat(found)[:n] if found else torch.empty(0, width, dtype=torch.long)
    if isinstance(constraint, CountedConstraint):  # the run's metrics: acceptance rate, time per arch
        constraint.record(archs.shape[0], time.perf_counter() - t0)
    return Drawn(archs, drawn, passed)
