"""tnas.bench.api with upstream's semantics: defaults, times, simulate_train_eval, result objects, find_best checks.

The baseline-style scripts at the end are written here (not copied) and call the NB201 / NATS-Bench entry points
the way public baselines do: AutoDL-Projects' NATS-Bench REA / random / REINFORCE (`exps/NATS-algos/*.py`:
`create(None, 'tss', fast_mode=True, verbose=False)`, `simulate_train_eval(arch, dataset, hp='12' or
api.full_train_epochs)` until a time budget, `query_index_by_arch(CellStructure)`, `query_info_str_by_arch(best,
'200')`) and the zero-cost-NAS predictor (`nasbench2_pred.py`: `for i, arch_str in enumerate(api)`,
`get_more_info(i, 'cifar10-valid' or dataset, iepoch=None, hp='200', is_random=False)`).
"""
from __future__ import annotations

import inspect
import math
import random
import warnings

import numpy as np
import pytest
import torch

from tnas import TnasError
from tnas.bench.api import MissingBenchKey, NASBench201API, create

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@pytest.fixture(scope="module")
def api() -> NASBench201API:
    return NASBench201API(None, verbose=False)


def test_defaults_are_upstreams():
    for name in ("get_more_info", "get_cost_info", "get_latency", "find_best", "simulate_train_eval",
                 "query_meta_info_by_index", "query_by_index", "query_info_str_by_arch"):
        assert inspect.signature(getattr(NASBench201API, name)).parameters["hp"].default == "12", name
    assert inspect.signature(NASBench201API.get_more_info).parameters["is_random"].default is True
    fresh = create(None, "tss", fast_mode=True, verbose=False)
    assert fresh.full_train_epochs == 200 and fresh.is_topology() and not fresh.is_size()
    with pytest.warns(UserWarning, match="is_random=True .* answered with the mean"):
        default = fresh.get_more_info(11472, "cifar100")
    assert default == fresh.get_more_info(11472, "cifar100", hp="12", is_random=False)
    assert default["valid-accuracy"] != fresh.get_more_info(11472, "cifar100", hp="200", is_random=False)["valid-accuracy"]


def test_is_random_true_is_said_once_per_api_object():
    fresh = NASBench201API(None, verbose=False)
    with pytest.warns(UserWarning, match="answered with the mean") as record:
        fresh.get_more_info(1, "cifar10")
        fresh.get_more_info(2, "ImageNet16-120", hp="200")
        fresh.simulate_train_eval(3, "cifar10")
    assert sum("is_random" in str(w.message) for w in record) == 1
    assert record[0].filename == __file__  # attributed to the caller's line, not to tnas
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.get_more_info(4, "cifar100", is_random=False)


# Per-epoch times NATS-Bench itself gives (the three cells its repository ships as test fixtures,
# fake_torch_dir/NATS-tss-v1_0-3ffb9-simple/{000000,000011,000284}; seconds, rounded to 4 decimals there).
UPSTREAM_TIMES = {  # index: {(dataset, time name): per-epoch s}
    0: {("cifar10", "train"): 14.4422, ("cifar100", "train"): 14.4422, ("ImageNet16-120", "train"): 43.8176,
        ("cifar10", "ori-test"): 1.0196, ("cifar100", "x-valid"): 0.5098, ("ImageNet16-120", "x-valid"): 0.3059,
        ("ImageNet16-120", "ori-test"): 0.6118, ("cifar100", "ori-test"): 1.0196},
    11: {("cifar10", "train"): 24.9241, ("ImageNet16-120", "train"): 75.6198, ("cifar100", "x-valid"): 0.8303,
         ("ImageNet16-120", "x-valid"): 0.4982, ("cifar10", "ori-test"): 1.6605},
    284: {("cifar100", "train"): 9.7516, ("ImageNet16-120", "train"): 29.5863, ("ImageNet16-120", "x-valid"): 0.2867,
          ("cifar10", "ori-test"): 0.9558},
}


@pytest.mark.parametrize("index", sorted(UPSTREAM_TIMES))
def test_times_match_natsbench_on_its_own_fixtures(api, index):
    for (dataset, name), per_epoch in UPSTREAM_TIMES[index].items():
        for hp, epochs in (("12", 12), ("200", 200)):
            cost = api.get_cost_info(index, dataset, hp=hp)
            assert cost[f"T-{name}@epoch"] == pytest.approx(per_epoch, abs=6e-5), (dataset, name)
            assert cost[f"T-{name}@total"] == pytest.approx(epochs * cost[f"T-{name}@epoch"], rel=1e-12)
    info = api.get_more_info(index, "ImageNet16-120", hp="12", is_random=False)
    assert info["train-all-time"] == pytest.approx(12 * UPSTREAM_TIMES[index][("ImageNet16-120", "train")], abs=1e-3)


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "ImageNet16-120"])
@pytest.mark.parametrize("hp", ["12", "200"])
def test_simulate_train_eval_on_every_dataset_and_hp(api, dataset, hp):
    api.reset_time()
    acc, latency, cost, total = api.simulate_train_eval(RESNET, dataset, hp=hp)
    run = "cifar10-valid" if dataset == "cifar10" else dataset
    info = api.get_more_info(11472, run, hp=hp, is_random=False)
    assert acc == info["valid-accuracy"] and cost == total == api.used_time
    assert cost == info["train-all-time"] + info["valid-per-time"]
    assert cost == pytest.approx(int(hp) * api.get_cost_info(11472, run, hp=hp)["T-train@epoch"]
                                 + info["valid-per-time"])
    assert (latency is None) == (dataset != "cifar10")
    api.reset_time()


def test_simulate_train_eval_takes_both_upstream_argument_orders(api):
    nats = api.simulate_train_eval(11472, "cifar100", None, "200", False)  # nats_bench: (arch, dataset, iepoch, hp)
    assert api.simulate_train_eval(11472, "cifar100", "200", account_time=False) == nats  # nas_201_api: (.., hp)
    assert nats[0] == api.get_more_info(11472, "cifar100", hp="200", is_random=False)["valid-accuracy"]


def test_simulate_train_eval_reproduces_natsbench_time_costs(api):
    # cell 0 in NATS-Bench's fixtures: 12 epochs x per-epoch train time + one x-valid evaluation
    assert api.simulate_train_eval(0, "cifar10", account_time=False)[2] == pytest.approx(12 * 7.2211 + 2.5490, abs=2e-3)
    assert api.simulate_train_eval(0, "cifar100", account_time=False)[2] == pytest.approx(173.306 + 0.5098, abs=2e-3)
    assert api.simulate_train_eval(0, "ImageNet16-120", hp="200", account_time=False)[2] == \
        pytest.approx(8763.518 + 0.3059, abs=2e-3)


def test_query_meta_info_by_index(api):
    results = api.query_meta_info_by_index(11472, "200")
    assert results.arch_str == RESNET and results.arch_index == 11472 and results.get_total_epoch() == 200
    assert api.query_by_index(11472, hp="200").arch_index == 11472
    for dataset in ("cifar10-valid", "cifar100", "ImageNet16-120"):
        metrics = results.get_metrics(dataset, "x-valid")
        info = api.get_more_info(11472, dataset, hp="200", is_random=False)
        assert metrics["accuracy"] == info["valid-accuracy"] and metrics["iepoch"] == 199
        assert metrics["cur_time"] == info["valid-per-time"] and metrics["all_time"] == info["valid-all-time"]
        assert results.get_metrics(dataset, "valid") == metrics
    train = results.get_metrics("cifar10-valid", "train")
    assert train["accuracy"] == pytest.approx(99.99, abs=0.01) and train["loss"] < 0.01
    assert results.get_metrics("cifar100", "x-test")["accuracy"] == pytest.approx(70.89, abs=0.005)
    assert results.get_compute_costs("cifar100") == api.get_cost_info(11472, "cifar100", hp="200")
    with pytest.raises(MissingBenchKey, match=r"\['loss'\] \(get_more_info's 'valid-loss'\)"):
        results.get_metrics("cifar100", "x-valid")["loss"]
    with pytest.raises(KeyError):  # a missing key stays a KeyError for ported code
        api.query_meta_info_by_index(11472).get_metrics("cifar10-valid", "train")["accuracy"]
    with pytest.raises(TnasError, match="Unknown set name for 'cifar10' 'x-valid'"):
        results.get_metrics("cifar10", "x-valid")
    with pytest.raises(TnasError, match="per-seed"):
        results.get_dataset_seeds("cifar10")


def test_query_info_str_by_arch(api):
    text = api.query_info_str_by_arch(RESNET, "200")
    assert RESNET in text and "arch-index=11472" in text and "hp=200" in text
    assert "valid-accuracy=90.86%" in text and "test-accuracy=93.91%" in text and "test-accuracy=44.23%" in text
    assert api.query_by_arch(11472, "200") == text and api.query_info_str_by_arch(RESNET) != text


@pytest.mark.parametrize("kwargs,match", [
    ({"FLOP_max": "abc"}, "FLOP_max='abc' is not a number"),
    ({"FLOP_max": float("nan")}, "FLOP_max=nan is NaN"),
    ({"Param_max": np.float32("nan")}, "Param_max=.*nan.* is NaN"),
    ({"Param_max": True}, "Param_max=True is not a number"),
    ({"flop_max": [50]}, "flop_max=\\[50\\] is not a number"),
    ({"FLOP_max": 50, "flop_max": 60}, "both FLOP_max=50 and flop_max=60"),
])
def test_find_best_rejects_bad_limits(api, kwargs, match):
    with pytest.raises(TnasError, match=match):
        api.find_best("cifar10", "ori-test", **kwargs)


def test_find_best_limits_long_values_are_cut_and_numbers_work(api):
    with pytest.raises(TnasError) as e:
        api.find_best("cifar10", "ori-test", FLOP_max="9" * 500)
    assert len(str(e.value)) < 200 and "..." in str(e.value)
    assert api.find_best("cifar10", "ori-test", FLOP_max=np.int64(50), hp="200") == \
        api.find_best("cifar10", "ori-test", flop_max=torch.tensor(50.0), hp="200")
    assert api.find_best("cifar10", "ori-test", FLOP_max=math.inf, hp="200") == api.find_best("cifar10", "ori-test", hp="200")


# ---- baseline-style scripts (written here) calling the entry points as public baselines do ----------------------
class Cell:
    """Upstream's CellStructure as these scripts use it: `.nodes` (per node a tuple of (op, input)) and `.tostr()`."""

    def __init__(self, nodes: list[tuple[tuple[str, int], ...]]) -> None:
        self.nodes = nodes

    def tostr(self) -> str:
        return "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in self.nodes)


def random_cell(rng: random.Random) -> Cell:
    return Cell([tuple((rng.choice(OPS), j) for j in range(i)) for i in range(1, 4)])


def mutate(cell: Cell, rng: random.Random) -> Cell:
    nodes = [list(node) for node in cell.nodes]
    node = rng.choice(nodes)
    k = rng.randrange(len(node))
    node[k] = (rng.choice([o for o in OPS if o != node[k][0]]), node[k][1])
    return Cell([tuple(n) for n in nodes])


def rea(api, dataset: str, hp: str, budget: float, rng: random.Random) -> tuple[int, float]:
    """Aging evolution until the simulated time budget is spent: population 10, tournaments of 3."""
    api.reset_time()
    population, history, total = [], [], 0.0
    while total < budget:
        cell = random_cell(rng) if len(population) < 10 else mutate(max(rng.sample(population, 3), key=lambda p: p[0])[1], rng)
        acc, _, _, total = api.simulate_train_eval(cell, dataset, hp=hp)
        population.append((acc, cell))
        history.append((acc, cell))
        population = population[-10:]
    best = max(history, key=lambda h: h[0])[1]
    return api.query_index_by_arch(best), total


def random_search(api, dataset: str, budget: float, rng: random.Random) -> int:
    api.reset_time()
    best, total = (-1.0, None), 0.0
    while total < budget:
        cell = random_cell(rng)
        acc, _, _, total = api.simulate_train_eval(cell, dataset, hp="12")
        best = max(best, (acc, cell.tostr()))
    return api.query_index_by_arch(best[1])


def reinforce(api, dataset: str, budget: float, seed: int) -> int:
    """REINFORCE on per-edge op logits with a moving-average baseline (reward = simulated valid accuracy)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.zeros(6, len(OPS), requires_grad=True)
    opt, baseline, total, trace = torch.optim.Adam([logits], lr=0.01), None, 0.0, []
    api.reset_time()
    while total < budget:
        dist = torch.distributions.Categorical(logits=logits)
        ops = torch.multinomial(dist.probs, 1, generator=g).squeeze(1)
        names = [OPS[k] for k in ops.tolist()]
        cell = Cell([((names[0], 0),), ((names[1], 0), (names[2], 1)), ((names[3], 0), (names[4], 1), (names[5], 2))])
        reward, _, _, total = api.simulate_train_eval(cell, dataset, hp="12")
        baseline = reward if baseline is None else 0.95 * baseline + 0.05 * reward
        loss = -dist.log_prob(ops).sum() * (reward - baseline)
        opt.zero_grad()
        loss.backward()
        opt.step()
        trace.append((reward, cell))
    return api.query_index_by_arch(max(trace, key=lambda t: t[0])[1])


@pytest.mark.parametrize("dataset,budget", [("cifar10", 20000), ("cifar100", 40000), ("ImageNet16-120", 120000)])
def test_natsbench_baselines_run_on_every_dataset(dataset, budget):
    api = create(None, "tss", fast_mode=True, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the once-per-object notices (is_random, latency)
        best, used = rea(api, dataset, "12", budget, random.Random(1))
        full, _ = rea(api, dataset, api.full_train_epochs, budget * 20, random.Random(1))
        others = [random_search(api, dataset, budget, random.Random(2)), reinforce(api, dataset, budget, 3)]
    assert used >= budget and 0 <= best < 15625 and 0 <= full < 15625 and all(0 <= i < 15625 for i in others)
    text = api.query_info_str_by_arch(api.arch(best), "200")
    assert f"arch-index={best}" in text
    # the found cell beats the median cell of the space on that dataset (12 epochs)
    median = np.median([api.get_more_info(i, dataset if dataset != "cifar10" else "cifar10-valid", is_random=False)
                        ["valid-accuracy"] for i in range(0, 15625, 25)])
    found = api.get_more_info(best, dataset if dataset != "cifar10" else "cifar10-valid", is_random=False)
    assert found["valid-accuracy"] > median


def zero_cost_labels(api, dataset: str, end: int) -> list[dict]:
    labels = []
    for i, arch_str in enumerate(api):
        if i >= end:
            break
        info = api.get_more_info(i, "cifar10-valid" if dataset == "cifar10" else dataset, iepoch=None, hp="200",
                                 is_random=False)
        labels.append({"i": i, "arch": arch_str, "trainacc": info["train-accuracy"],
                       "valacc": info["valid-accuracy"], "testacc": info["test-accuracy"]})
    return labels


def test_zero_cost_predictor_labels():
    with pytest.warns(UserWarning, match="Ignoring 'data/NAS-Bench-201-v1_0-e61699.pth'"):
        api = NASBench201API("data/NAS-Bench-201-v1_0-e61699.pth")  # its default --api_loc
    labels = zero_cost_labels(api, "cifar10", 20)
    assert [r["i"] for r in labels] == list(range(20)) and labels[1]["arch"] == api.arch(1)
    assert all(0 < r["trainacc"] <= 100 and 0 < r["valacc"] <= 100 for r in labels)
    assert sum(1 for _ in api) == 15625  # iterating the API walks every architecture string
    for dataset in ("cifar100", "ImageNet16-120"):  # the table has no train accuracy there: said, not invented
        with pytest.raises(MissingBenchKey, match="train-accuracy.*only for 'cifar10-valid' with hp='200'"):
            zero_cost_labels(api, dataset, 1)
