"""The sampler-quality benchmark on NAS-Bench-201 ground truth (TNAS paper section 5.3).

Three kinds of runs, each a pure function of its task key (so results never depend on how many
worker processes run them):

* `main`: one anytime search per (metric, dataset, method, seed) at the largest budget. The
  metric drives the search: 'valid' = ground-truth validation accuracy of that dataset (NB201
  protocol; the *test* accuracy of the best-valid arch is reported), or a real supernet's
  CIFAR-10 estimate 'oneshot' / 'fewshot' (CIFAR-10 test of the best-estimated arch reported).
* `sweep`: the TNAS loop with eps rising from 0 by eps_inc per round (paper table 4: "from purely
  random distribution to absolute VAE generation"; other TNASConfig fields at their defaults); max and mean
  ground-truth test accuracy of the *sampled* archs.
* `dist`: paper figure 2: test accuracy of the VAE training data (top-K by valid of a uniform
  pool), K uniform archs, and K novel samples of a VAE trained on that top-K.

`tnas.harness.sampler_report` turns the results into Markdown and PNGs.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from tnas.errors import TnasError, unknown
from tnas.space import get_space

logger = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "ImageNet16-120")
METHODS: tuple[str, ...] = ("random", "rea", "spos-ga", "tnas", "tnas-ga")
SUPERNETS: tuple[str, ...] = ("oneshot", "fewshot")
EPS_INCS: tuple[float, ...] = (0.0, 0.04, 0.05, 0.0625, 0.1, 0.2, 0.5)
# Relative cost of a run (the TNAS loop retrains its VAE every round); big tasks go first so the
# worker pool ends evenly.
_COST = {"tnas": 10.0, "sweep": 10.0, "dist": 5.0, "tnas-ga": 2.0}

Task = tuple[Any, ...]


@dataclass
class BenchSettings:
    """What to run. Budgets are numbers of distinct evaluated architectures."""

    seeds: int = 20
    datasets: tuple[str, ...] = DATASETS
    methods: tuple[str, ...] = METHODS
    budgets: tuple[int, ...] = (10, 50, 100, 300)
    supernets: tuple[str, ...] = SUPERNETS  # mode (ii) metrics, CIFAR-10 only
    eps_incs: tuple[float, ...] = EPS_INCS
    sweep_seeds: int = 20  # 7 eps_inc values x 3 datasets of TNAS runs: the costly part
    dist_seeds: int = 5  # figure 2 pools its samples over this many seeds
    dist_pool: int = 1000  # uniform archs whose top-K trains the figure-2 VAE
    dist_k: int = 50  # K
    table: str | None = None  # NB201 table directory (None: tnas.bench's default lookup)
    # Where the TNAS VAEs train. CPU by default: a 6-token VAE is launch-bound on a GPU, and the
    # worker processes already use every core (see docs/results/sampler_quality.md).
    device: str = "cpu"

    def validate(self) -> None:
        """Raise TnasError for an unknown dataset/method/supernet or a bad count."""
        from tnas.strategy.discrete import SEARCHES

        for kind, values, known in (("dataset", self.datasets, DATASETS), ("search method", self.methods, SEARCHES),
                                    ("supernet estimate", self.supernets, SUPERNETS)):
            for v in values:
                if v not in known:
                    raise unknown(kind, v, known)
        size = get_space("nb201").size
        if not self.budgets or min(self.budgets) < 1 or max(self.budgets) > size or self.seeds < 1:
            raise TnasError(
                f"Budgets {self.budgets} and seeds {self.seeds}: expected at least one budget, all in 1..{size} "
                "(distinct NB201 cells), and seeds >= 1. Example: --budgets 10,50,100,300 --seeds 20."
            )
        if any(not 0.0 <= e <= 1.0 for e in self.eps_incs) or self.dist_k > self.dist_pool:
            raise TnasError(
                f"eps_incs {self.eps_incs} must lie in [0, 1] and dist_k={self.dist_k} must not exceed "
                f"dist_pool={self.dist_pool}."
            )

    @property
    def max_budget(self) -> int:
        return max(self.budgets)


def run_seed(*parts: object) -> int:
    """A stable 63-bit seed from the task key (crc32 of its text; Python's hash() is salted)."""
    text = "|".join(str(p) for p in parts)
    return (zlib.crc32(text.encode()) << 31) ^ zlib.crc32(text[::-1].encode())


def plan(s: BenchSettings) -> list[Task]:
    """Every task of the benchmark, most expensive first."""
    tasks: list[Task] = []
    for seed in range(s.seeds):
        for method in s.methods:
            tasks += [("main", "valid", ds, method, seed) for ds in s.datasets]
            if "cifar10" in s.datasets:
                tasks += [("main", kind, "cifar10", method, seed) for kind in s.supernets]
    for seed in range(s.sweep_seeds):
        tasks += [("sweep", ds, eps, seed) for ds in s.datasets for eps in s.eps_incs]
    tasks += [("dist", ds, seed) for ds in s.datasets for seed in range(s.dist_seeds)]
    return sorted(tasks, key=lambda t: -_COST.get(t[3] if t[0] == "main" else t[0], 1.0))


# ---- worker side ---------------------------------------------------------------------------------
_TABLE: Any = None
_SETTINGS: BenchSettings | None = None


def _init_worker(settings: BenchSettings) -> None:
    """Load the table once per process; one torch thread per worker (workers use the cores)."""
    global _TABLE, _SETTINGS
    from tnas.bench import load_nb201

    torch.set_num_threads(1)
    _TABLE, _SETTINGS = load_nb201(settings.table), settings


def _metric(table: Any, metric: str, dataset: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The search metric: long [N, 6] -> accuracy in % [N]."""
    if metric == "valid":
        return lambda a: table.lookup(a, dataset, "valid")
    return lambda a: table.supernet_estimate(a, kind=metric)


def _curves(scores: torch.Tensor, test: torch.Tensor) -> dict[str, list[float]]:
    """Per prefix n = 1..N: test acc of the best-by-metric arch (ties: earliest), max and mean test."""
    n = torch.arange(1, scores.shape[0] + 1, dtype=torch.float64)
    best, b = [], 0
    for i, v in enumerate(scores.tolist()):  # not torch.cummax: it resolves ties to the *last* index
        b = i if v > scores[b] else b
        best.append(b)
    return {"best": test[best].tolist(), "max": torch.cummax(test, 0).values.tolist(),
            "mean": (torch.cumsum(test, 0) / n).tolist()}


def _run_main(metric: str, dataset: str, method: str, seed: int) -> dict[str, Any]:
    from tnas.strategy.discrete import get_search

    space = get_space("nb201")
    g = torch.Generator().manual_seed(run_seed("main", metric, dataset, method, seed))
    opts = {"device": _SETTINGS.device} if method in ("tnas", "tnas-ga") else {}
    h = get_search(method)(space, _metric(_TABLE, metric, dataset), _SETTINGS.max_budget, g, **opts)
    report = dataset if metric == "valid" else "cifar10"
    test = _TABLE.lookup(h.archs, report, "test").to(torch.float64)
    return _curves(h.scores, test)


def _run_sweep(dataset: str, eps_inc: float, seed: int) -> dict[str, Any]:
    from tnas.sampler.tnas import TNASConfig
    from tnas.strategy.tnas_search import tnas_loop

    space = get_space("nb201")
    g = torch.Generator().manual_seed(run_seed("sweep", dataset, eps_inc, seed))
    h = tnas_loop(space, _metric(_TABLE, "valid", dataset), _SETTINGS.max_budget, g,
                  config=TNASConfig(eps0=0.0, eps_inc=eps_inc), device=_SETTINGS.device)
    return _curves(h.scores, _TABLE.lookup(h.archs, dataset, "test").to(torch.float64))


def _run_dist(dataset: str, seed: int) -> dict[str, Any]:
    """Figure 2: a VAE trained on the top-K (by valid) of a uniform pool, vs K uniform archs."""
    from tnas.sampler.tnas import TNASConfig, TNASSampler
    from tnas.strategy.evolution import fresh_uniform, select_top_k

    s, space = _SETTINGS, get_space("nb201")
    g = torch.Generator().manual_seed(run_seed("dist", dataset, seed))
    pool = fresh_uniform(space, s.dist_pool, set(), g)
    top, _ = select_top_k(pool, _TABLE.lookup(pool, dataset, "valid"), s.dist_k)
    rand = pool[: s.dist_k]  # the pool is uniform and i.i.d., so its first K are K uniform archs
    sampler = TNASSampler(space, TNASConfig(top_k=s.dist_k, min_observations=1),
                          seed=int(torch.randint(2**62, (1,), generator=g)), device=s.device)
    sampler.observe(pool, _TABLE.lookup(pool, dataset, "valid"))
    for _ in range(5):  # a few warm-started updates = one well-trained VAE
        sampler.step()
    gen = sampler.sample(s.dist_k, generator=g, eps=1.0)  # novel: skip_seen rejects the pool
    test = {k: _TABLE.lookup(a, dataset, "test").tolist() for k, a in (("train", top), ("random", rand), ("gen", gen))}
    return test


def run_task(task: Task) -> tuple[Task, dict[str, Any]]:
    """Run one task in this process (after `_init_worker`)."""
    kind, *args = task
    fn = {"main": _run_main, "sweep": _run_sweep, "dist": _run_dist}[kind]
    return task, fn(*args)


# ---- driver --------------------------------------------------------------------------------------
def run_benchmark(settings: BenchSettings, workers: int = 2, progress: bool = True) -> dict[Task, dict[str, Any]]:
    """Run every task of `settings` over `workers` processes; returns {task: result}.

    Each task seeds its own generator from its key, so the result is the same for any `workers`.
    """
    settings.validate()
    tasks = plan(settings)
    results: dict[Task, dict[str, Any]] = {}
    for task, res in _iterate(tasks, settings, workers, progress):
        results[task] = res
    return results


def _iterate(tasks: Sequence[Task], settings: BenchSettings, workers: int,
             progress: bool) -> Iterator[tuple[Task, dict[str, Any]]]:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc="sampler-quality", unit="run", disable=not progress, leave=False)
    if workers <= 1:
        old = torch.get_num_threads()
        _init_worker(settings)
        try:
            for t in tasks:
                yield run_task(t)
                bar.update()
        finally:
            torch.set_num_threads(old)
    else:
        # spawn, not fork: a forked child of a process that already ran torch ops can deadlock in OpenMP
        with mp.get_context("spawn").Pool(workers, _init_worker, (settings,)) as pool:
            for out in pool.imap_unordered(run_task, tasks):
                yield out
                bar.update()
    bar.close()
