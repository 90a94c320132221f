"""TNAS search: (a) the VAE generation loop and (b) VAE-seeded evolution (paper section 4.2).

Both are query-based and *anytime* (see `tnas.strategy.history`): the first n entries of a run
with budget B > n equal a run with budget n and the same generator, and no architecture is
evaluated twice. An evaluator maps long [N, D] -> float [N] (higher = better).
"""
from __future__ import annotations

import logging

import torch
from torch import Tensor

from tnas.errors import TnasError
from tnas.sampler.base import Evaluator
from tnas.sampler.tnas import TNASConfig, TNASSampler
from tnas.space.base import SearchSpace
from tnas.strategy.evolution import check_budget, spos_ga
from tnas.strategy.history import History

logger = logging.getLogger(__name__)


def _check_budget(budget: int, space: SearchSpace, **positive: int) -> None:
    check_budget(space, budget)
    for name, v in positive.items():
        if v < 1:
            raise TnasError(f"{name} = {v}; expected an integer >= 1.")


def _scores(evaluate: Evaluator, archs: Tensor) -> Tensor:
    s = torch.as_tensor(evaluate(archs)).reshape(-1).to(torch.float64).cpu()
    if s.shape[0] != archs.shape[0]:
        raise TnasError(
            f"The evaluator returned {s.shape[0]} scores for {archs.shape[0]} architectures; it must map "
            "long [N, D] to float [N] (one score per architecture, higher = better)."
        )
    return s


def run_vae_loop(sampler: TNASSampler, evaluate: Evaluator, budget: int, generator: torch.Generator,
                 batch: int, history: History | None = None) -> History:
    """Continue the generation loop of `sampler` until `history` holds `budget` entries.

    Each round samples a full batch from Gamma (the same draws whatever the budget, which keeps
    the anytime prefix property), evaluates only the rows the budget allows, observes them and,
    if budget remains, calls `sampler.step()`.
    Returns:
        The extended History (sources 'vae' or 'uniform').
    """
    h = history or History(torch.zeros(0, sampler.space.num_decisions, dtype=torch.long),
                           torch.zeros(0, dtype=torch.float64), [])
    archs, scores, sources = [h.archs], [h.scores], list(h.sources)
    n = len(h)
    while n < budget:
        x, src = sampler.sample(batch, generator=generator, return_sources=True)
        x, src = x[: budget - n], src[: budget - n]
        s = _scores(evaluate, x)
        sampler.observe(x, s)
        archs.append(x)
        scores.append(s)
        sources += ["vae" if b else "uniform" for b in src.tolist()]
        n += x.shape[0]
        if n < budget:
            metrics = sampler.step()
            logger.debug("tnas loop n=%d best=%.4f %s", n, float(torch.cat(scores).max()), metrics)
    return History(torch.cat(archs), torch.cat(scores), sources)


def tnas_loop(space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator,
              config: TNASConfig | None = None, batch: int = 10, device: str | torch.device = "cpu") -> History:
    """TNAS mode (a): sample a batch from Gamma, evaluate, observe, retrain on the top-K, repeat.

    Args:
        space: the search space.
        evaluate: long [N, D] -> float [N], higher = better.
        budget: number of distinct architectures to evaluate.
        generator: drives every draw; the sampler's internal seed is drawn from it first.
        config: TNASConfig (defaults tuned on NB201; see docs/sampler.md).
        batch: architectures per round (one VAE update per round).
        device: where the VAE trains.
    Returns:
        History of `budget` distinct architectures in evaluation order.
    """
    _check_budget(budget, space, batch=batch)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    sampler = TNASSampler(space, config, seed=seed, device=device)
    return run_vae_loop(sampler, evaluate, budget, generator, batch)


def tnas_seeded_ga(space: SearchSpace, evaluate: Evaluator, budget: int, generator: torch.Generator,
                   config: TNASConfig | None = None, *, warmup: int = 60, batch: int = 10,
                   population: int = 10, parents: int = 3, mutations: int = 10, crossovers: int = 5,
                   mutate_prob: float = 0.0, device: str | torch.device = "cpu") -> History:
    """TNAS mode (b): VAE-seeded evolution (paper 4.2: "from p(a|z) sampling initial seeds, and
    then use genetic algorithm to search").

    The first `warmup` evaluations run the generation loop (uniform at first, then Gamma) to
    train the VAE; the GA's initial population is `population` *novel* draws from p(a|z)
    (eps = 1); then `tnas.strategy.evolution.spos_ga` evolves it with the remaining budget.
    Architectures evaluated during the warm-up are kept out of the GA through its `constraint`
    hook, so the History stays distinct.
    Args:
        space, evaluate, budget, generator, config, batch, device: as in `tnas_loop`.
        warmup: evaluations spent training the VAE before the GA starts.
        population, parents, mutations, crossovers, mutate_prob: passed to `spos_ga`. The
            defaults (a small population, exactly one decision mutated) are tuned for budgets
            of ~100 on NB201; SPOS's own 50/10/25/25/0.1 measured worse there (docs/sampler.md).
    Returns:
        History of `budget` distinct architectures: the warm-up, then the GA's.
    """
    _check_budget(budget, space, batch=batch, population=population, warmup=warmup)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    sampler = TNASSampler(space, config, seed=seed, device=device)
    warm = run_vae_loop(sampler, evaluate, min(warmup, budget), generator, batch)
    if budget <= warmup:
        return warm
    sampler.step()  # train on everything the warm-up saw before seeding
    init = sampler.sample(population, generator=generator, eps=1.0)  # novel draws from p(a|z)
    warm_keys = space.keys(warm.archs)

    def unseen(archs: Tensor) -> Tensor:
        # spos_ga knows only its own evaluations: its constraint hook keeps it off the warm-up's
        return ~torch.isin(space.keys(archs), warm_keys)

    ga = spos_ga(space, evaluate, budget - warmup, generator, population=population, parents=parents,
                 mutations=mutations, crossovers=crossovers, mutate_prob=mutate_prob, init=init,
                 constraint=unseen)
    return History(torch.cat([warm.archs, ga.archs]), torch.cat([warm.scores, ga.scores.to(torch.float64)]),
                   warm.sources + ["vae-seed" if s == "init" else s for s in ga.sources])
