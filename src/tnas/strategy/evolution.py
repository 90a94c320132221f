"""Population functions and anytime query-based baselines: random search, REA and the SPOS GA.

Shapes: D = space.num_decisions; archs are long [N, D]; scores float [N], higher = better.

Every search here takes an `evaluate` callable (long [N, D] -> float [N]), a budget B of
*distinct* evaluations and a `torch.Generator`, and returns a `History` with exactly
min(B, |space|) rows, each arch evaluated once. The searches are *anytime*: the random draws
never depend on B (a batch is always drawn at full size, then cut to the budget left), so the
first n rows of a budget-B run equal a budget-n run with the same generator state.

The small helpers (`select_top_k`, `mutate_population`, `crossover_population`) are shared with
the one-shot search, whose evolution stage calls `spos_ga` with a supernet evaluator. Every
"draw until allowed and new" loop is `tnas.sampler.rejection.rejection_sample`.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.sampler.base import Evaluator
from tnas.sampler.rejection import Constraint, allowed, dedup, rejection_sample
from tnas.space.base import SearchSpace
from tnas.strategy.history import History

logger = logging.getLogger(__name__)

# Rounds of re-drawing before a generator of unseen / allowed archs gives up. Each round draws a
# full batch, so the chance of a false "impossible" is negligible unless the feasible set is tiny.
MAX_TRIES = 50
# Spaces up to this size are enumerated when rejection sampling stalls (NB201 has 15,625 cells).
ENUMERATE_LIMIT = 1 << 20


# ---- pure helpers ------------------------------------------------------------------------------
def select_top_k(archs: Tensor, scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k highest-scoring architectures (ties: the earlier row first).

    Args:
        archs: long [N, D].
        scores: float [N], higher = better.
        k: how many to keep (capped at N).
    Returns:
        (archs long [min(k, N), D], scores [min(k, N)]), best first.
    """
    order = torch.sort(scores, descending=True, stable=True).indices[:k]
    return archs[order], scores[order]


def mutate_population(
    space: SearchSpace, parents: Tensor, n: int, generator: torch.Generator, prob: float | None = None
) -> Tensor:
    """n children, each a mutation of a parent drawn uniformly (with replacement) from `parents`.

    Args:
        parents: long [P, D].
        prob: per-decision resampling probability (see `SearchSpace.mutate`; at least one
            decision always changes, so a child never equals its parent).
    Returns:
        long [n, D] (may repeat each other or earlier archs: pass through `dedup`).
    """
    pick = torch.randint(0, parents.shape[0], (n,), generator=generator)
    return space.mutate(parents[pick], generator, prob)


def crossover_population(space: SearchSpace, parents: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n children by uniform crossover of two parents drawn uniformly from `parents` long [P, D].

    Returns:
        long [n, D] (may equal a parent: pass through `dedup`).
    """
    a = torch.randint(0, parents.shape[0], (n,), generator=generator)
    b = torch.randint(0, parents.shape[0], (n,), generator=generator)
    return space.crossover(parents[a], parents[b], generator)


def fresh_uniform(
    space: SearchSpace, n: int, seen: set[int], generator: torch.Generator,
    constraint: Constraint | None = None, chunk: int = 64,
) -> Tensor:
    """Up to n uniform architectures, distinct, not in `seen`, satisfying `constraint`.

    Draws chunks of fixed size `chunk` (the stream does not depend on n beyond how many chunks are
    needed). When MAX_TRIES chunks in a row bring nothing new (a nearly exhausted space), small
    spaces are enumerated instead, so the result is short of n only when the space has fewer
    unseen allowed archs. Raises TnasError when no draw at all satisfies the constraint.
    Returns:
        long [min(n, available), D].
    """
    found, _, passed = rejection_sample(lambda k: space.sample_uniform(k, generator), n, batch=chunk,
                                        constraint=constraint, space=space, seen=seen, max_idle=MAX_TRIES)
    any_allowed = passed > 0
    if found.shape[0] < n and space.size <= ENUMERATE_LIMIT:
        taken = seen | set(space.keys(found).tolist())
        rest = [k for k in range(space.size) if k not in taken]
        perm = torch.randperm(len(rest), generator=generator)
        cand = allowed(space.from_keys(torch.tensor(rest, dtype=torch.long)[perm]), constraint)
        any_allowed |= cand.shape[0] > 0
        found = torch.cat([found, cand])
    if not any_allowed and n > 0 and len(seen) < space.size:
        raise TnasError(
            f"No architecture satisfying the constraint was found in {MAX_TRIES * chunk} uniform draws from "
            f"space '{space.name}'. The constraint is (nearly) unsatisfiable: loosen it (e.g. a larger "
            "params/FLOPs limit)."
        )
    return found[:n]


# ---- the search record ---------------------------------------------------------------------------
class _Recorder:
    """Evaluates batches under a budget and keeps the history and the set of seen keys."""

    def __init__(self, space: SearchSpace, evaluate: Evaluator, budget: int) -> None:
        check_budget(space, budget)
        self.space, self.evaluate, self.budget = space, evaluate, budget
        self.archs: list[Tensor] = []
        self.scores: list[Tensor] = []
        self.sources: list[str] = []
        self.seen: set[int] = set()

    @property
    def left(self) -> int:
        return self.budget - len(self.sources)

    def add(self, archs: Tensor, source: str) -> Tensor:
        """Evaluate the first `left` rows of archs (distinct, unseen); returns their scores."""
        archs = archs[: self.left]
        if archs.shape[0] == 0:
            return torch.empty(0)
        keys = self.space.keys(archs).tolist()
        assert len(set(keys)) == len(keys) and not self.seen & set(keys), "re-evaluating an arch"
        # bookkeeping stays on the CPU whatever device the evaluator (e.g. a supernet) runs on
        scores = torch.as_tensor(self.evaluate(archs)).detach().to("cpu", torch.float64).reshape(-1)
        if scores.shape[0] != archs.shape[0]:
            raise TnasError(
                f"The evaluator returned {scores.shape[0]} scores for {archs.shape[0]} architectures; it must map "
                "long [N, D] to float [N] (one score per architecture, higher = better)."
            )
        self.archs.append(archs)
        self.scores.append(scores)
        self.sources += [source] * archs.shape[0]
        self.seen.update(keys)
        return scores

    def all(self) -> tuple[Tensor, Tensor]:
        d = self.space.num_decisions
        archs = torch.cat(self.archs) if self.archs else torch.empty(0, d, dtype=torch.long)
        scores = torch.cat(self.scores) if self.scores else torch.empty(0, dtype=torch.float64)
        return archs, scores

    def history(self) -> History:
        archs, scores = self.all()
        return History(archs, scores, list(self.sources))


def check_budget(space: SearchSpace, budget: int) -> None:
    """Raise TnasError unless 1 <= budget <= |space|."""
    if not isinstance(budget, int) or budget < 1 or budget > space.size:
        raise TnasError(
            f"Search budget {budget!r} is not a number of distinct architectures in 1..{space.size} "
            f"(the size of space '{space.name}'). Pass a positive integer no larger than the space."
        )


# ---- searches ------------------------------------------------------------------------------------
def random_search(
    space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator, *, batch: int = 64
) -> History:
    """Random search: evaluate `budget` distinct uniformly drawn architectures.

    Args:
        evaluate: long [N, D] -> float [N], higher = better.
        budget: number of distinct evaluations.
        batch: architectures drawn (and evaluated) per call; does not change the result order.
    """
    rec = _Recorder(space, evaluate, budget)
    while rec.left > 0:
        # draw a full batch whatever the budget left, so runs are prefixes of each other
        rec.add(fresh_uniform(space, batch, rec.seen, generator, chunk=batch), "uniform")
    return rec.history()


def _rea_child(space: SearchSpace, pop: Tensor, pop_scores: Tensor, sample_size: int,
               seen: set[int], generator: torch.Generator) -> tuple[Tensor, str]:
    """One REA child: tournament of `sample_size` members, mutate the winner (one decision)."""

    def tournament_child(k: int) -> Tensor:
        idx = torch.randperm(pop.shape[0], generator=generator)[:sample_size]
        parent = pop[idx[torch.argmax(pop_scores[idx])]]
        return space.mutate(parent[None], generator, prob=0.0)  # k = 1; exactly one decision changes

    child = rejection_sample(tournament_child, 1, batch=1, space=space, seen=seen, max_idle=MAX_TRIES).archs
    if child.shape[0]:
        return child, "mutation"
    # every nearby child was already evaluated: explore instead of re-evaluating
    return fresh_uniform(space, 1, seen, generator), "uniform"


def rea(
    space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator, *,
    population: int = 10, sample_size: int = 3,
) -> History:
    """Regularized evolution (Real et al., AAAI 2019), as in the NAS-Bench-201 baseline.

    `population` uniform archs are evaluated first; then each cycle draws `sample_size` members
    of the population, mutates the best of them on exactly one decision (NB201's
    `mutate_arch`), evaluates the child, appends it and removes the *oldest* member (ageing).
    Defaults P=10, S=3 are the NB201 paper's settings. Unlike the NB201 code, a child that was
    already evaluated is re-drawn (the budget counts distinct evaluations). With ground-truth
    validation accuracy driving it, the test accuracy of the best-valid arch at N=100 is
    94.05 / 72.60 / 46.14 (CIFAR-10 / -100 / ImageNet16-120, mean of 20 seeds,
    docs/results/sampler_quality.md), the published level (94.05 / 72.56 / 45.98).

    Args:
        evaluate: long [N, D] -> float [N], higher = better.
        budget: number of distinct evaluations.
        population: P, the population size (also the number of initial uniform archs).
        sample_size: S, the tournament size (1 <= S <= P).
    """
    if not 1 <= sample_size <= population:
        raise TnasError(
            f"REA sample_size={sample_size} and population={population}: the tournament draws sample_size "
            "members of the population, so 1 <= sample_size <= population is required."
        )
    rec = _Recorder(space, evaluate, budget)
    rec.add(fresh_uniform(space, population, rec.seen, generator), "uniform")
    pop, pop_scores = rec.all()
    while rec.left > 0:
        child, source = _rea_child(space, pop, pop_scores, sample_size, rec.seen, generator)
        score = rec.add(child, source)
        pop, pop_scores = torch.cat([pop, child])[-population:], torch.cat([pop_scores, score])[-population:]
    return rec.history()


def _ga_children(
    space: SearchSpace, parents: Tensor, seen: set[int], generator: torch.Generator,
    mutations: int, crossovers: int, mutate_prob: float, constraint: Constraint | None,
) -> list[tuple[Tensor, str]]:
    """One SPOS generation: `mutations` mutants then `crossovers` crossover children, each distinct,
    unseen and allowed; bad draws are re-drawn (bounded), a short set is topped up uniformly."""
    out, taken = [], set(seen)
    for n, source in ((mutations, "mutation"), (crossovers, "crossover")):
        def children(k: int, source: str = source) -> Tensor:
            if source == "mutation":
                return mutate_population(space, parents, k, generator, mutate_prob)
            return crossover_population(space, parents, k, generator)

        got = rejection_sample(children, n, batch=n, constraint=constraint, space=space, seen=taken,
                               max_idle=MAX_TRIES).archs
        taken.update(space.keys(got).tolist())
        out.append((got, source))
        if got.shape[0] < n:  # parents too alike to give enough new children: explore instead
            extra = fresh_uniform(space, n - got.shape[0], taken, generator, constraint)
            taken.update(space.keys(extra).tolist())
            out.append((extra, "uniform"))
    return out


def spos_ga(
    space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator, *,
    population: int = 50, parents: int = 10, mutations: int = 25, crossovers: int = 25,
    mutate_prob: float = 0.1, init: Tensor | None = None, constraint: Constraint | None = None,
    known: tuple[Tensor, Tensor] | None = None, on_generation: Callable[[int, Tensor, Tensor], None] | None = None,
) -> History:
    """The SPOS evolutionary search (Guo et al., ECCV 2020, section 3.3).

    Generation 0 is `init` (deduplicated, constraint-filtered, topped up uniformly to
    `population`), or `population` uniform archs. Each later generation takes the top `parents`
    archs over *all* evaluations so far, makes `mutations` children (each decision resampled with
    probability `mutate_prob`, at least one changes) and `crossovers` uniform-crossover children;
    children already evaluated, repeated or violating `constraint` are re-drawn, never evaluated.

    Args:
        evaluate: long [N, D] -> float [N], higher = better (ground truth, or a supernet).
        budget: number of distinct evaluations.
        init: optional long [M, D] initial population (e.g. drawn from the TNAS VAE).
        constraint: optional long [N, D] -> bool [N] hard limit (e.g. params <= 3.5M); raises
            TnasError when no allowed arch can be found.
        known: optional (archs long [M, D], scores [M]) evaluated before this call (e.g. the TNAS
            warm-up): never evaluated again, not counted in the budget, and eligible as parents.
        on_generation: called after each generation g = 0, 1, ... with (g, the scores of its new
            evaluations float64 [n], the scores of every evaluation so far float64 [M]); e.g. to log
            the population's best and mean.
    Returns:
        History of the `budget` new evaluations (fewer only if the allowed space runs out).
    """
    if parents < 1 or population < 1 or mutations < 0 or crossovers < 0 or mutations + crossovers < 1:
        raise TnasError(
            f"SPOS GA sizes population={population}, parents={parents}, mutations={mutations}, "
            f"crossovers={crossovers}: expected population >= 1, parents >= 1, and mutations + crossovers >= 1."
        )
    rec = _Recorder(space, evaluate, budget)
    prior = _known(space, known)
    rec.seen.update(space.keys(prior[0]).tolist())
    _first_generation(rec, init, population, generator, constraint)
    _report(rec, 0, 0, on_generation)
    generation = 0
    while rec.left > 0:
        archs, scores = rec.all()
        top, _ = select_top_k(torch.cat([prior[0], archs]), torch.cat([prior[1], scores]), parents)
        before = rec.left
        for kids, source in _ga_children(space, top, rec.seen, generator, mutations, crossovers,
                                         mutate_prob, constraint):
            rec.add(kids, source)
        if rec.left == before:  # the whole allowed space is evaluated
            break
        generation += 1
        _report(rec, generation, rec.budget - before, on_generation)
    return rec.history()


def _report(rec: _Recorder, generation: int, start: int,
            on_generation: Callable[[int, Tensor, Tensor], None] | None) -> None:
    """on_generation(g, scores of the evaluations from index `start` on, every score so far)."""
    if on_generation is not None:
        _, scores = rec.all()
        on_generation(generation, scores[start:], scores)


def _first_generation(rec: _Recorder, init: Tensor | None, population: int, generator: torch.Generator,
                      constraint: Constraint | None) -> None:
    """Evaluate `init` (deduplicated, unseen, allowed; at most `population`), topped up uniformly."""
    space, n = rec.space, 0
    if init is not None:
        space.validate(init)
        first = allowed(dedup(space, init.reshape(-1, space.num_decisions), rec.seen), constraint)[:population]
        rec.add(first, "init")
        n = first.shape[0]
    rec.add(fresh_uniform(space, population - n, rec.seen, generator, constraint), "uniform")


def _known(space: SearchSpace, known: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
    """Validated (archs long [M, D], scores float64 [M]) evaluated before a search (empty if None)."""
    if known is None:
        return torch.empty(0, space.num_decisions, dtype=torch.long), torch.empty(0, dtype=torch.float64)
    archs, scores = known
    archs = archs.reshape(-1, space.num_decisions)
    space.validate(archs)
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    if scores.shape[0] != archs.shape[0]:
        raise TnasError(
            f"known has {archs.shape[0]} architectures but {scores.shape[0]} scores; pass (archs long [M, D], "
            "scores [M]) with one score per architecture."
        )
    return archs, scores
