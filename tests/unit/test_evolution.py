"""Population functions, the query-based searches and the sampler-quality benchmark CLI."""
from __future__ import annotations

import pytest
import torch

from tnas.bench import load_nb201
from tnas.cli import main
from tnas.errors import TnasError
from tnas.space import get_space
from tnas.strategy import evolution as evo
from tnas.strategy.discrete import SEARCHES, get_search

SPACE = get_space("nb201")
WEIGHTS = torch.tensor([0.0, 0.3, 1.0, 1.7, 0.6])  # an arbitrary fixed objective: score of each op


def objective(archs: torch.Tensor) -> torch.Tensor:
    """A deterministic, non-trivial score: position-weighted op values (higher = better)."""
    pos = torch.arange(1, SPACE.num_decisions + 1, dtype=torch.float)
    return (WEIGHTS[archs] * pos).sum(-1) + 0.01 * SPACE.keys(archs).float() / SPACE.size


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def table():
    return load_nb201()


# ---- operators -----------------------------------------------------------------------------------
def test_operators_give_valid_archs_and_dedup_keeps_first_unseen() -> None:
    parents = SPACE.sample_uniform(10, gen(0))
    for kids in (evo.mutate_population(SPACE, parents, 200, gen(1), 0.1),
                 evo.crossover_population(SPACE, parents, 200, gen(2))):
        SPACE.validate(kids)
        assert kids.shape == (200, SPACE.num_decisions)
    mutants = evo.mutate_population(SPACE, parents[:1], 50, gen(3), 0.0)
    assert ((mutants != parents[:1]).sum(-1) == 1).all()  # prob 0: exactly the forced decision changes
    seen = set(SPACE.keys(parents[:3]).tolist())
    both = torch.cat([parents, parents, mutants])
    out = evo.dedup(SPACE, both, seen)
    keys = SPACE.keys(out).tolist()
    assert len(keys) == len(set(keys)) and not seen & set(keys)
    expected = list(dict.fromkeys(k for k in SPACE.keys(both).tolist() if k not in seen))
    assert keys == expected  # first occurrences, in order


def test_select_top_k_orders_best_first_with_stable_ties() -> None:
    archs = torch.arange(5)[:, None].repeat(1, SPACE.num_decisions)
    scores = torch.tensor([1.0, 3.0, 2.0, 3.0, 0.0])
    top, s = evo.select_top_k(archs, scores, 3)
    assert top[:, 0].tolist() == [1, 3, 2] and s.tolist() == [3.0, 3.0, 2.0]
    assert evo.select_top_k(archs, scores, 10)[0].shape[0] == 5


def test_constraint_filters_offspring_and_impossible_constraint_raises() -> None:
    def no_none_no_pool(a: torch.Tensor) -> torch.Tensor:  # a hard limit, like a params budget
        return ((a == 0) | (a == 4)).sum(-1) <= 1

    h = evo.spos_ga(SPACE, objective, 200, gen(0), constraint=no_none_no_pool)
    assert len(h) == 200 and bool(no_none_no_pool(h.archs).all())
    assert {"mutation", "crossover"} <= set(h.sources)
    init = SPACE.sample_uniform(80, gen(5))
    h2 = evo.spos_ga(SPACE, objective, 60, gen(0), init=init, constraint=no_none_no_pool)
    assert bool(no_none_no_pool(h2.archs).all()) and h2.sources[0] == "init"
    with pytest.raises(TnasError, match="unsatisfiable"):
        evo.spos_ga(SPACE, objective, 20, gen(0), constraint=lambda a: torch.zeros(a.shape[0], dtype=torch.bool))


def test_spos_ga_never_reevaluates_known_archs_and_breeds_from_them() -> None:
    known = SPACE.sample_uniform(30, gen(4))
    star = known[7]
    scores = torch.zeros(30)
    scores[7] = 1e3  # known to be far better than anything `objective` returns: always a parent
    h = evo.spos_ga(SPACE, objective, 200, gen(0), known=(known, scores))
    assert len(h) == 200 and not set(SPACE.keys(h.archs).tolist()) & set(SPACE.keys(known).tolist())
    # one-decision neighbours of `star` (24 of 15,625 cells) only turn up if it is bred from
    assert int(((h.archs != star).sum(-1) == 1).sum()) >= 3
    with pytest.raises(TnasError, match="scores"):
        evo.spos_ga(SPACE, objective, 10, gen(0), known=(known, torch.zeros(3)))


def test_bad_arguments_raise() -> None:
    with pytest.raises(TnasError, match="budget"):
        evo.random_search(SPACE, objective, SPACE.size + 1, gen(0))
    with pytest.raises(TnasError, match="sample_size"):
        evo.rea(SPACE, objective, 20, gen(0), population=3, sample_size=5)
    with pytest.raises(TnasError, match="Unknown search 'reaa'.*Did you mean 'rea'"):
        get_search("reaa")


# ---- search contract (every registered search) ---------------------------------------------------
@pytest.mark.parametrize("name", list(SEARCHES))
def test_search_budget_distinct_deterministic_prefix(name: str) -> None:
    search = get_search(name)
    budget = 40 if name == "tnas" else 120  # the loop retrains a VAE every 10 evaluations
    h = search(SPACE, objective, budget, gen(7))
    assert len(h) == budget == h.scores.shape[0] == len(h.sources)
    SPACE.validate(h.archs)
    assert len(set(SPACE.keys(h.archs).tolist())) == budget  # never evaluated twice
    assert torch.equal(h.scores.double(), objective(h.archs).double())
    again = search(SPACE, objective, budget, gen(7))
    assert torch.equal(again.archs, h.archs) and again.sources == h.sources
    for n in (n for n in (1, 17, 37, 50, 61) if n < budget):
        short = search(SPACE, objective, n, gen(7))
        assert torch.equal(short.archs, h.archs[:n]), f"{name}: budget-{n} run is not a prefix"
    assert not torch.equal(search(SPACE, objective, budget, gen(8)).archs, h.archs)


def test_small_space_can_be_exhausted() -> None:
    from tnas.space.base import Decision, SearchSpace

    tiny = SearchSpace("tiny", (Decision("a", ("x", "y", "z")), Decision("b", ("u", "v"))))
    score = lambda a: a.sum(-1).float()  # noqa: E731
    for search in (evo.random_search, evo.rea, evo.spos_ga):
        kwargs = {"population": 2, "sample_size": 2} if search is evo.rea else {}
        kwargs = {"population": 3, "parents": 2, "mutations": 2, "crossovers": 2} if search is evo.spos_ga else kwargs
        h = search(tiny, score, tiny.size, gen(0), **kwargs)
        assert sorted(tiny.keys(h.archs).tolist()) == list(range(tiny.size))


# ---- on the real NB201 table ---------------------------------------------------------------------
def test_rea_beats_random_on_nb201(table) -> None:
    """NB201 protocol at N=100 (valid drives, test reported), mean over 12 seeds on CIFAR-100."""
    def best_test(search) -> float:
        out = []
        for seed in range(12):
            h = search(SPACE, lambda a: table.lookup(a, "cifar100", "valid"), 100, gen(seed))
            out.append(float(table.lookup(h.archs[h.best_index()][None], "cifar100", "test")[0]))
        return sum(out) / len(out)

    rea, rnd = best_test(evo.rea), best_test(evo.random_search)
    assert rea > rnd + 0.3, (rea, rnd)  # published gap ~1.1 pp; measured ~1 pp


def test_benchmark_does_not_depend_on_worker_count() -> None:
    from tnas.harness.sampler_quality import BenchSettings, run_benchmark

    s = BenchSettings(seeds=2, datasets=("cifar10",), methods=("random", "rea"), budgets=(5, 15),
                      supernets=("fewshot",), eps_incs=(), sweep_seeds=0, dist_seeds=0)
    one = run_benchmark(s, workers=1, progress=False)
    two = run_benchmark(s, workers=2, progress=False)
    assert one == two and len(one) == 2 * 2 * 2


def test_cli_bench_sampler_quick_writes_markdown(tmp_path, capsys) -> None:
    code = main(["bench", "sampler", "--quick", "--seeds", "2", "--datasets", "cifar10", "--methods", "random",
                 "rea", "tnas", "--budgets", "10,20", "--supernets", "oneshot", "--eps-incs", "0.2",
                 "--sweep-seeds", "1", "--dist-seeds", "1", "--workers", "1", "--out", str(tmp_path)])
    assert code == 0
    md = (tmp_path / "sampler_quality.md").read_text()
    assert "| REA (P=10, S=3) |" in md and "oneshot supernet estimate" in md and "eps_inc=0.2" in md
    assert "NB201 v1.1" in md and "94.37" in md  # protocol and the oracle row
    assert (tmp_path / "sampler_quality_fig2.png").stat().st_size > 0
    assert (tmp_path / "sampler_quality_fig3.png").stat().st_size > 0
    assert main(["bench", "sampler", "--datasets", "cifar1O", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'cifar10'" in capsys.readouterr().err


def test_curves_report_the_earliest_best_on_ties() -> None:
    from tnas.harness.sampler_quality import _curves

    test = torch.tensor([10.0, 30.0, 31.0, 20.0, 50.0], dtype=torch.float64)
    c = _curves(torch.tensor([1.0, 3.0, 3.0, 2.0, 5.0]), test)
    assert c["best"] == [10.0, 30.0, 30.0, 30.0, 50.0]  # History.best_index: ties go to the earliest
    assert c["max"] == [10.0, 30.0, 31.0, 31.0, 50.0] and c["mean"][1] == 20.0
