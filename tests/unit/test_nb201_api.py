"""tnas.bench.api: the nas_201_api / nats_bench drop-in on the real NB201 table."""
from __future__ import annotations

import csv
import pickle
import random
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tnas import TnasError
from tnas.bench import load_nb201
from tnas.bench.api import (
    DATASET_NAMES, BenchInfo, MissingBenchKey, NASBench201API, NATStopology, create, remap_dataset_set_names,
)
from tnas.supernet.nb201_cost import count_flops, count_params

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
INDEX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
PINNED = (11472, 6111, 13714, 9930, 10676, 857, 1459)  # ResNet and the optima of shared/data/README.md


@pytest.fixture(scope="module")
def api() -> NASBench201API:
    return NASBench201API(None, verbose=False)


@pytest.fixture(scope="module")
def table():
    return load_nb201()


def col(table, name: str, index: int) -> float:
    """The table's own value of `name` for architecture `index` (exact, not a typed decimal)."""
    return float(table.column(name)[table.space.key(table.arch_of(index))])


class Structure:
    """Stands in for upstream's CellStructure: anything with .tostr()."""

    def __init__(self, text: str) -> None:
        self.text = text

    def tostr(self) -> str:
        return self.text


# ---- construction ---------------------------------------------------------------------------
def test_both_constructors_give_the_same_kind_of_object(api):
    nats = create(None, "tss", fast_mode=True, verbose=False)
    assert isinstance(nats, NASBench201API) and isinstance(nats, NATStopology)
    assert len(api) == len(nats) == 15625
    assert nats.fast_mode and not api.fast_mode and nats.search_space_name == "topology"
    assert NATStopology(None, True, False).fast_mode  # nats_bench's positional order
    assert "15625/15625" in repr(api) and api.avaliable_hps == ["12", "200"]
    assert api.archive_dir is None and len(api.evaluated_indexes) == 15625


def test_construction_is_cheap(table):
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        NASBench201API(None, verbose=False)
        times.append(time.perf_counter() - t0)
    assert min(times) < 0.05


def test_upstream_file_names_are_ignored_with_a_warning(api):
    names = ("/x/NAS-Bench-201-v1_1-096897.pth", "NAS-Bench-201-v1_0-e61699.pth", "~/.torch/NATS-tss-v1_0-3ffb9-simple")
    for name in names:
        with pytest.warns(UserWarning, match="tnas answers from its own table"):
            other = NASBench201API(name, verbose=False)
        assert other.arch(11472) == RESNET
    with pytest.warns(UserWarning):
        create("NATS-tss-v1_0-3ffb9-simple", "tss", fast_mode=True, verbose=False)


def test_bad_sources_raise():
    with pytest.raises(TnasError, match="only the topology space"):
        create(None, "sss")
    with pytest.raises(TnasError, match="only the topology space"):
        create("NATS-sss-v1_0-50262-simple", "tss")
    with pytest.raises(TnasError, match="Unknown NATS-Bench search space 'tsss'.*Did you mean 'tss'"):
        create(None, "tsss")
    with pytest.raises(TnasError, match="dict loaded from an official benchmark file"):
        NASBench201API({"meta_archs": []})
    with pytest.raises(TnasError):
        NASBench201API("/nonexistent/nb201_all.csv", verbose=False)


# ---- architectures ----------------------------------------------------------------------------
def test_arch_strings_and_indexing(api, table):
    assert api.arch(11472) == RESNET == api[11472]
    assert api.arch(1) == INDEX1 == api.meta_archs[1]
    assert api[-1] == api.arch(15624) and len(api.meta_archs) == 15625
    for i in (0, 1, 777, 11472, 15624):
        assert api.arch(i) == table.space.to_genotype(table.arch_of(i))
    assert api.archstr2index[RESNET] == 11472
    for bad in (-1, 15625, 1.0, "3", True):
        with pytest.raises(TnasError, match="0..15624"):
            api.arch(bad)


def test_query_index_by_arch(api, table):
    arch = table.arch_of(11472)
    assert api.query_index_by_arch(RESNET) == 11472
    assert api.query_index_by_arch(Structure(RESNET)) == 11472
    assert api.query_index_by_arch(11472) == 11472 and api.query_index_by_arch(np.int64(5)) == 5
    assert api.query_index_by_arch(arch) == 11472 and api.query_index_by_arch(torch.tensor(7)) == 7
    garbage = ["", "resnet", "|nor_conv_3x3~0|", RESNET.replace("nor_conv_3x3", "conv9x9"), RESNET.replace("~1", "~2"),
               Structure("nope"), None, 3.5, True, [3, 0, 3, 1, 0, 1], arch.float(), arch[:5], arch + 5,
               arch.unsqueeze(0), object()]
    for thing in garbage:
        assert api.query_index_by_arch(thing) == -1, thing
    for bad in (-1, 15625):  # upstream raises a ValueError for an index out of range
        with pytest.raises(ValueError, match="0..15624"):
            api.query_index_by_arch(bad)


# ---- get_more_info ----------------------------------------------------------------------------
RESNET_TYPED = {  # shared/data/README.md anchors (NB201 v1.1)
    "cifar10-valid": {"valid-accuracy": 90.86}, "cifar10": {"test-accuracy": 93.91},
    "cifar100": {"valid-accuracy": 70.50, "test-accuracy": 70.89},
    "ImageNet16-120": {"valid-accuracy": 44.10, "test-accuracy": 44.23},
}
RESNET_COLUMNS = {  # which table column serves each accuracy key, as documented
    "cifar10-valid": {"valid-accuracy": "c10_valid", "test-accuracy": "nats_c10v_oritest_acc",
                      "train-accuracy": "nats_c10v_train_acc", "train-loss": "nats_c10v_train_loss",
                      "valid-loss": "nats_c10v_valid_loss", "test-loss": "nats_c10v_oritest_loss",
                      "train-all-time": "nats_c10v_train_time_total_s"},
    "cifar10": {"test-accuracy": "c10_test"},
    "cifar100": {"valid-accuracy": "c100_valid", "test-accuracy": "c100_test"},
    "ImageNet16-120": {"valid-accuracy": "in16_valid", "test-accuracy": "in16_test"},
}


@pytest.mark.parametrize("dataset", DATASET_NAMES)
def test_resnet_on_every_dataset(api, table, dataset):
    info = api.get_more_info(11472, dataset, hp="200", is_random=False)
    assert isinstance(info, BenchInfo) and isinstance(info, dict)
    for key, name in RESNET_COLUMNS[dataset].items():
        assert info[key] == col(table, name, 11472), key
    for key, value in RESNET_TYPED[dataset].items():
        assert info[key] == pytest.approx(value, abs=0.005)
    assert api.get_more_info(RESNET, dataset, hp="200", is_random=False) == info == \
        api.get_more_info(table.arch_of(11472), dataset, hp=200, is_random=False)
    assert api.get_more_info(Structure(RESNET), dataset, None, "200", False) == info


def test_cifar10_valid_has_every_upstream_key(api):
    info = api.get_more_info(11472, "cifar10-valid", hp="200", is_random=False)
    assert sorted(info) == sorted(f"{s}-{f}" for s in ("train", "valid", "test")
                                  for f in ("loss", "accuracy", "per-time", "all-time"))
    assert info["test-accuracy"] == pytest.approx(90.68)  # ori-test of the 25k-train run, not cifar10's 93.91
    assert info["train-all-time"] == pytest.approx(200 * info["train-per-time"], rel=1e-6)


@pytest.mark.parametrize("dataset,key,match", [
    ("cifar100", "train-loss", "only for 'cifar10-valid'"),
    ("cifar100", "test-loss", "only for 'cifar10-valid'"),
    ("ImageNet16-120", "valtest-accuracy", "x-valid"),
    ("cifar100", "train-accuracy", "only for 'cifar10-valid' with hp='200'"),
    ("cifar10", "train-accuracy", "single-seed"),
    ("cifar10", "test-loss", "only for 'cifar10-valid'"),
    ("cifar10", "valid-accuracy", "no validation split.*'cifar10-valid'"),
    ("cifar10-valid", "valtest-accuracy", "not a key for 'cifar10-valid' upstream either"),
    ("cifar100", "test-acc", "Did you mean 'test-accuracy'"),
])
def test_missing_keys_say_why(api, dataset, key, match):
    info = api.get_more_info(11472, dataset, hp="200", is_random=False)
    assert info.get(key) is None and key not in info
    with pytest.raises(MissingBenchKey, match=match) as e:
        info[key]
    assert isinstance(e.value, KeyError) and isinstance(e.value, TnasError)
    assert str(e.value).startswith(f"get_more_info(11472, '{dataset}', hp='200')['{key}']")
    with pytest.raises(KeyError):  # ported `except KeyError` code keeps working
        info[key]


def test_info_pickles_and_copies(api):
    info = api.get_more_info(1, "cifar100", is_random=False)
    again = pickle.loads(pickle.dumps(info))
    assert again == info and isinstance(again, BenchInfo)
    with pytest.raises(MissingBenchKey):
        again["train-loss"]


def test_hp_12(api, table):
    columns = {"cifar10-valid": {"valid-accuracy": "e12_c10_valid"}, "cifar10": {"test-accuracy": "e12_c10_test"},
               "cifar100": {"valid-accuracy": "e12_c100_valid", "test-accuracy": "e12_c100_test"},
               "ImageNet16-120": {"valid-accuracy": "e12_in16_valid", "test-accuracy": "e12_in16_test"}}
    for dataset, keys in columns.items():
        info = api.get_more_info(11472, dataset, hp="12", is_random=False)
        assert {k: v for k, v in info.items() if k.endswith("accuracy")} == {k: col(table, c, 11472) for k, c in keys.items()}
        assert info["train-all-time"] == pytest.approx(12 * info["train-per-time"])  # 12 epochs of the same per-epoch time
        assert api.get_more_info(11472, dataset, iepoch=11, hp=12, is_random=False) == info
    with pytest.raises(MissingBenchKey, match="use dataset 'cifar10'"):
        api.get_more_info(11472, "cifar10-valid", hp="12", is_random=False)["test-accuracy"]
    with pytest.raises(MissingBenchKey, match="12-epoch"):
        api.get_more_info(11472, "cifar10-valid", hp="12", is_random=False)["train-loss"]
    assert api.get_more_info(11472, "cifar10", hp="12", is_random=False)["test-accuracy"] == pytest.approx(87.95)


def test_what_the_table_cannot_answer_raises(api):
    with pytest.raises(TnasError, match="is_random=777"):
        api.get_more_info(1, "cifar10", is_random=777)
    with pytest.raises(TnasError, match="iepoch=11 is not available.*iepoch=None or 199.*hp='12'"):
        api.get_more_info(1, "cifar10", iepoch=11, hp="200", is_random=False)
    with pytest.raises(TnasError, match="iepoch=3 is not available.*iepoch=None or 11"):  # BOHB's budgets
        api.get_more_info(1, "cifar10", iepoch=3, is_random=False)
    assert api.get_more_info(1, "cifar10", iepoch=199, hp="200", is_random=False) == \
        api.get_more_info(1, "cifar10", hp="200", is_random=False)
    with pytest.raises(TnasError, match="Unknown hp.*hp='200' or hp='12'"):
        api.get_more_info(1, "cifar10", hp="90")
    with pytest.raises(TnasError, match="Did you mean 'cifar10-valid'"):
        api.get_more_info(1, "cifar10_valid")
    with pytest.raises(TnasError, match="Unknown NB201 API dataset 'c10'"):
        api.get_cost_info(1, "c10")
    with pytest.raises(TnasError, match="not an NB201 architecture.*0..15624"):
        api.get_more_info("|none~0|", "cifar10")
    for call, args in (("get_net_param", (1, "cifar10", None)), ("query_by_index", (1, "cifar10")),
                       ("show", ()), ("statistics", ("cifar10", "200"))):
        with pytest.raises(TnasError, match=f"{call}\\(\\) is not available"):
            getattr(api, call)(*args)
    api.reload()
    api.clear_params(3)  # harmless no-ops


# ---- costs ------------------------------------------------------------------------------------
def test_counter_reproduces_the_tables_cifar10_costs_for_pinned_cells(table):
    for i in PINNED:
        arch = table.arch_of(i)
        assert count_params(arch) / 1e6 == pytest.approx(col(table, "c10_params_M", i), rel=1e-6)
        assert count_flops(arch) / 1e6 == pytest.approx(col(table, "c10_flops_M", i), rel=1e-6)


@pytest.mark.parametrize("index", PINNED)
def test_costs(api, table, index):
    arch = table.arch_of(index)
    for dataset in ("cifar10-valid", "cifar10"):
        cost = api.get_cost_info(index, dataset)
        assert [cost[k] for k in ("flops", "params", "latency")] == \
            [col(table, c, index) for c in ("c10_flops_M", "c10_params_M", "c10_latency_s")]
        assert api.get_latency(index, dataset) == cost["latency"]
    for dataset, classes, size in (("cifar100", 100, 32), ("ImageNet16-120", 120, 16)):
        cost = api.get_cost_info(index, dataset)
        assert cost["params"] == pytest.approx(count_params(arch, num_classes=classes) / 1e6, rel=1e-6)
        assert cost["flops"] == pytest.approx(count_flops(arch, num_classes=classes, input_size=size) / 1e6, rel=1e-6)
        with pytest.raises(MissingBenchKey, match="latency is known only for the CIFAR-10 network"):
            cost["latency"]
        c10v = col(table, "nats_c10v_train_time_per_epoch_s", index)  # per-image times: 50k / 151.7k vs 25k images
        assert cost["T-train@epoch"] == pytest.approx(c10v * {100: 2.0, 120: 6.068}[classes], rel=1e-12)


def test_cost_time_keys(api, table):
    cost = api.get_cost_info(11472, "cifar10-valid", hp="200")
    assert list(cost) == ["flops", "params", "latency", "T-train@epoch", "T-train@total", "T-x-valid@epoch",
                          "T-x-valid@total", "T-ori-test@epoch", "T-ori-test@total"]
    assert cost["T-ori-test@total"] == col(table, "nats_c10v_oritest_eval_time_total_s", 11472)
    c10 = api.get_cost_info(11472, "cifar10", hp="200")
    assert c10["T-train@total"] == pytest.approx(2 * 200 * col(table, "nats_c10v_train_time_per_epoch_s", 11472))
    assert c10["T-ori-test@epoch"] == pytest.approx(cost["T-ori-test@epoch"], rel=1e-9)  # the same 10k test images
    short = api.get_cost_info(11472, "cifar10-valid")  # hp='12': the same per-epoch times, 12 epochs
    assert short["T-train@epoch"] == cost["T-train@epoch"]
    assert short["T-x-valid@total"] == pytest.approx(12 * cost["T-x-valid@epoch"])


def test_other_datasets_differ_from_cifar10_only_by_classifier_and_input(api, table):
    cells = [*range(0, 15625, 7), 327, 737, 9473]  # the last three: the table deviates from the counter

    def costs(dataset: str) -> np.ndarray:
        return np.array([[api.get_cost_info(i, dataset)[k] for k in ("params", "flops")] for i in cells])

    c10, c100, in16 = costs("cifar10"), costs("cifar100"), costs("ImageNet16-120")
    head = 64 * 90 + 90  # 100- instead of 10-way classifier on 64 features: weights + biases (= MACs + adds)
    assert np.allclose(c100 - c10, head / 1e6, atol=2e-6)
    head16 = 64 * 110 + 110
    assert np.allclose(in16[:, 0] - c10[:, 0], head16 / 1e6, atol=2e-6)
    assert np.allclose(in16[:, 1], (c10[:, 1] - 650 / 1e6) / 4 + 7800 / 1e6, atol=2e-5)  # convs see 1/4 of the pixels


def test_get_net_config(api):
    assert api.get_net_config(11472, "cifar100") == {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": RESNET,
                                                     "num_classes": 100}
    assert [api.get_net_config(0, d)["num_classes"] for d in DATASET_NAMES] == [10, 10, 100, 120]


# ---- find_best --------------------------------------------------------------------------------
@pytest.mark.parametrize("dataset,metric_on_set,index,value", [
    ("cifar10-valid", "x-valid", 6111, 91.60666665039064),
    ("cifar10-valid", "valid", 6111, 91.60666665039064),
    ("cifar10", "valid", 6111, 91.60666665039064),  # upstream remaps to cifar10-valid x-valid
    ("cifar10", "ori-test", 6111, 94.37333333333333),  # tie with 13714: the lowest index wins
    ("cifar10", "test", 6111, 94.37333333333333),
    ("cifar10-valid", "ori-test", 1459, 91.52333333333333),
    ("cifar100", "x-valid", 9930, 73.4933333577474),
    ("cifar100", "x-test", 9930, 73.51333332112631),
    ("cifar100", "test", 9930, 73.51333332112631),
    ("ImageNet16-120", "x-valid", 10676, 46.73333327229818),
    ("ImageNet16-120", "x-test", 857, 47.31111100599501),
])
def test_find_best_optima(api, dataset, metric_on_set, index, value):
    best, acc = api.find_best(dataset, metric_on_set, hp="200")
    assert (best, acc) == (index, pytest.approx(value, abs=1e-6))


def test_find_best_tie_goes_to_the_lowest_index(api):
    assert api.get_more_info(13714, "cifar10", hp="200", is_random=False)["test-accuracy"] == \
        api.find_best("cifar10", "ori-test", hp="200")[1]


def upstream_find_best(api, dataset, metric_on_set, flop_max=None, param_max=None):
    """Upstream's loop, written against the public API only: the oracle for the vectorised version."""
    dataset, metric_on_set = remap_dataset_set_names(dataset, metric_on_set)
    key = {"x-valid": "valid-accuracy", "ori-test": "test-accuracy", "x-test": "test-accuracy"}[metric_on_set]
    best, best_acc = -1, None
    for i in range(len(api)):
        cost = api.get_cost_info(i, dataset, hp="200")
        if flop_max is not None and cost["flops"] > flop_max:
            continue
        if param_max is not None and cost["params"] > param_max:
            continue
        acc = api.get_more_info(i, dataset, hp="200", is_random=False)[key]
        if best == -1 or best_acc < acc:
            best, best_acc = i, acc
    return best, best_acc


@pytest.mark.parametrize("dataset,metric_on_set,flop_max,param_max", [
    ("cifar10", "ori-test", 50.0, None), ("cifar100", "x-test", None, 0.3), ("ImageNet16-120", "x-valid", 10.0, 0.5),
])
def test_find_best_with_limits_matches_upstreams_loop(api, dataset, metric_on_set, flop_max, param_max):
    best, acc = api.find_best(dataset, metric_on_set, FLOP_max=flop_max, Param_max=param_max, hp="200")
    assert (best, acc) == upstream_find_best(api, dataset, metric_on_set, flop_max, param_max)
    assert best != api.find_best(dataset, metric_on_set, hp="200")[0]  # the limit mattered
    assert api.find_best(dataset, metric_on_set, None, None, "200", True, flop_max=flop_max, param_max=param_max) == \
        (best, acc)  # nats_bench's spelling and its enforce_all
    cost = api.get_cost_info(best, dataset)
    assert flop_max is None or cost["flops"] <= flop_max
    assert param_max is None or cost["params"] <= param_max


def test_find_best_edge_cases(api):
    assert api.find_best("cifar10", "ori-test", FLOP_max=1.0) == (-1, None)
    assert api.find_best("cifar10-valid", "train", hp="200")[0] >= 0
    assert api.find_best("cifar100", "x-valid")[1] == pytest.approx(  # hp='12' by default, as upstream
        max(api.get_more_info(i, "cifar100", hp="12", is_random=False)["valid-accuracy"] for i in range(len(api))))
    with pytest.raises(TnasError, match="metric_on_set for 'cifar10' 'x-valid'"):
        api.find_best("cifar10", "x-valid")
    with pytest.raises(MissingBenchKey, match="valtest.*halves"):
        api.find_best("cifar100", "ori-test")
    with pytest.raises(MissingBenchKey, match="single-seed"):
        api.find_best("cifar10", "train", hp="200")
    with pytest.raises(MissingBenchKey, match="use dataset 'cifar10'"):
        api.find_best("cifar10-valid", "ori-test", hp="12")


# ---- the rest of the upstream surface ---------------------------------------------------------
def test_simulate_train_eval(api):
    api.reset_time()
    acc, latency, cost, total = api.simulate_train_eval(RESNET, "cifar10", hp="200")
    info = api.get_more_info(11472, "cifar10-valid", hp="200", is_random=False)
    assert acc == info["valid-accuracy"] and latency == api.get_latency(11472, "cifar10")
    assert cost == info["train-all-time"] + info["valid-per-time"] == total == api.used_time
    assert api.simulate_train_eval(11472, "cifar10", hp="200", account_time=False)[3] == total
    api.reset_time()
    assert api.used_time == 0
    with pytest.raises(TnasError, match="Unknown simulate_train_eval dataset 'cifar10-valid'"):
        api.simulate_train_eval(1, "cifar10-valid")


def test_str2lists_and_str2matrix():
    assert NASBench201API.str2lists(RESNET) == [(("nor_conv_3x3", 0),), (("none", 0), ("nor_conv_3x3", 1)),
                                                (("skip_connect", 0), ("none", 1), ("skip_connect", 2))]
    m = NASBench201API.str2matrix(RESNET)
    assert m.shape == (4, 4) and m[1, 0] == 3 and m[2, 1] == 3 and m[3, 0] == 1 and m[3, 2] == 1 and m.sum() == 8


def test_random_index(api):
    g = torch.Generator().manual_seed(0)
    picks = [api.random(g) for _ in range(20)]
    assert all(0 <= i < 15625 for i in picks) and len(set(picks)) > 1


def test_a_table_without_the_nats_columns(tmp_path, table):
    """A table converted from the official files has only the required columns: say so, don't crash."""
    from tnas.bench.protocol import OP_COLUMNS, REQUIRED_COLUMNS
    keys = table.space.keys(table.arch_of(torch.arange(15625)))
    archs = table.arch_of(torch.arange(15625))
    accs = {c: table.column(c)[keys].tolist() for c in REQUIRED_COLUMNS if c not in ("index", *OP_COLUMNS)}
    path = tmp_path / "nb201_all.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(REQUIRED_COLUMNS)
        for i in range(15625):
            w.writerow([i, *archs[i].tolist(), *(repr(accs[c][i]) for c in REQUIRED_COLUMNS[7:])])
    small = NASBench201API(path, verbose=False)
    info = small.get_more_info(11472, "cifar10-valid", hp="200", is_random=False)
    assert info["valid-accuracy"] == col(table, "c10_valid", 11472)
    with pytest.raises(MissingBenchKey, match="no column 'nats_c10v_train_loss'"):
        info["train-loss"]


# ---- research code, unchanged apart from the import ---------------------------------------------
def research_script(API) -> dict:  # noqa: N803 - written as upstream users write it
    """Typical nas_201_api user code: random search on cifar10-valid, report the winner's test numbers."""
    api = API(None, verbose=False)
    rng = random.Random(0)
    history = []
    for _ in range(50):
        index = rng.randint(0, len(api) - 1)
        arch_str = api.arch(index)
        assert api.query_index_by_arch(arch_str) == index
        info = api.get_more_info(index, "cifar10-valid", hp="200", is_random=False)
        history.append((info["valid-accuracy"], index))
    best_valid, best = max(history)
    report = {"arch": api[best], "valid": best_valid}
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        report[dataset] = api.get_more_info(best, dataset, hp="200", is_random=False)["test-accuracy"]
    cost = api.get_cost_info(best, "cifar10")
    report["flops"], report["params"] = cost["flops"], cost["params"]
    config = api.get_net_config(best, "cifar10")
    report["cell"] = (config["C"], config["N"], config["arch_str"] == report["arch"])
    report["oracle"] = api.find_best("cifar10-valid", "x-valid", hp="200")
    return report


def test_research_code_runs_with_one_import_changed(table):
    from tnas.bench.api import NASBench201API as API  # the only change: was `from nas_201_api import ...`
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = research_script(API)
    best = table.space.from_genotype(report["arch"])
    assert report["cifar10"] == table.query(best, "cifar10", "test")
    assert report["cell"] == (16, 5, True) and report["oracle"][0] == 6111
    assert 0 < report["flops"] < 250 and report["valid"] <= report["oracle"][1]
