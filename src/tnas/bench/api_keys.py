"""Which upstream NB201 / NATS-Bench keys the table serves, from which column, and why the rest are missing.

The data half of `tnas.bench.api`: dataset and set names, the key -> column maps (the module docstring of
`tnas.bench.api` lists them with their sources), the dict type the API returns and its missing-key error.
"""
from __future__ import annotations

from typing import Any

from tnas.errors import TnasError, suggest

DATASET_NAMES = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
HPS = ("12", "200")
NUM_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
INPUT_SIZE = {"cifar10-valid": 32, "cifar10": 32, "cifar100": 32, "ImageNet16-120": 16}

SETS = {"cifar10-valid": ("train", "valid", "test"), "cifar10": ("train", "test"),
         "cifar100": ("train", "valid", "test", "valtest"), "ImageNet16-120": ("train", "valid", "test", "valtest")}
FIELDS = ("loss", "accuracy", "per-time", "all-time")
EVAL_NAMES = {"cifar10-valid": ("x-valid", "ori-test"), "cifar10": ("ori-test",),
               "cifar100": ("ori-test", "x-valid", "x-test"), "ImageNet16-120": ("ori-test", "x-valid", "x-test")}
# metric_on_set (after upstream's remapping) -> the get_more_info key prefix that holds it
SET_TO_KEY = {"cifar10-valid": {"train": "train", "x-valid": "valid", "valid": "valid", "ori-test": "test"},
               "cifar10": {"train": "train", "ori-test": "test"},
               "cifar100": {"train": "train", "x-valid": "valid", "x-test": "test", "ori-test": "valtest"}}
SET_TO_KEY["ImageNet16-120"] = SET_TO_KEY["cifar100"]

_V, _ST = "nats_c10v_", "st_c10_train_time_"
INFO_COLUMNS = {  # (dataset, hp) -> {get_more_info key: column}
    ("cifar10-valid", "200"): {
        "train-loss": _V + "train_loss", "train-accuracy": _V + "train_acc",
        "train-per-time": _V + "train_time_per_epoch_s", "train-all-time": _V + "train_time_total_s",
        "valid-loss": _V + "valid_loss", "valid-accuracy": "c10_valid",
        "valid-per-time": _V + "valid_eval_time_per_epoch_s", "valid-all-time": _V + "valid_eval_time_total_s",
        "test-loss": _V + "oritest_loss", "test-accuracy": _V + "oritest_acc",
        "test-per-time": _V + "oritest_eval_time_per_epoch_s", "test-all-time": _V + "oritest_eval_time_total_s"},
    ("cifar10", "200"): {"test-accuracy": "c10_test", "train-per-time": _ST + "per_epoch_s",
                         "train-all-time": _ST + "total_s"},
    ("cifar100", "200"): {"valid-accuracy": "c100_valid", "test-accuracy": "c100_test"},
    ("ImageNet16-120", "200"): {"valid-accuracy": "in16_valid", "test-accuracy": "in16_test"},
    ("cifar10-valid", "12"): {"valid-accuracy": "e12_c10_valid"},
    ("cifar10", "12"): {"test-accuracy": "e12_c10_test"},
    ("cifar100", "12"): {"valid-accuracy": "e12_c100_valid", "test-accuracy": "e12_c100_test"},
    ("ImageNet16-120", "12"): {"valid-accuracy": "e12_in16_valid", "test-accuracy": "e12_in16_test"},
}
C10_COST = {"flops": "c10_flops_M", "params": "c10_params_M", "latency": "c10_latency_s"}
TIME_COLUMNS = {  # dataset -> {cost key: column}, hp='200' only
    "cifar10-valid": {"T-train@epoch": _V + "train_time_per_epoch_s", "T-train@total": _V + "train_time_total_s",
                      "T-x-valid@epoch": _V + "valid_eval_time_per_epoch_s",
                      "T-x-valid@total": _V + "valid_eval_time_total_s",
                      "T-ori-test@epoch": _V + "oritest_eval_time_per_epoch_s",
                      "T-ori-test@total": _V + "oritest_eval_time_total_s"},
    "cifar10": {"T-train@epoch": _ST + "per_epoch_s", "T-train@total": _ST + "total_s"},
}
class MissingBenchKey(TnasError, KeyError):
    """A dict key the bundled table cannot fill (or that upstream does not have either).

    Both a `TnasError` and a `KeyError`, so `except KeyError` in ported code still catches it.
    """

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class BenchInfo(dict):
    """The dict `get_more_info` / `get_cost_info` return: upstream keys the table has, with values.

    `info[key]` for a missing key raises `MissingBenchKey` saying why; `info.get(key)` returns None.
    """

    def __init__(self, values: dict[str, float], what: str, dataset: str, hp: str, upstream: tuple[str, ...],
                 columns: dict[str, str]) -> None:
        super().__init__(values)
        self.what, self.dataset, self.hp, self.upstream, self._columns = what, dataset, hp, upstream, columns

    def __missing__(self, key: str) -> Any:
        why = why_missing(self.dataset, self.hp, key, self.upstream, self._columns.get(key))
        have = ", ".join(self) or "none"
        raise MissingBenchKey(f"{self.what}['{key}'] is not available: {why} Keys present: {have}.")


def why_missing(dataset: str, hp: str, key: str, upstream: tuple[str, ...], column: str | None) -> str:
    """Why `key` is absent from the dict for `dataset`/`hp` (`column`: the one that would serve it)."""
    kind, _, field = key.partition("-")
    if key not in upstream:
        hint = ""
        if dataset == "cifar10" and kind in ("valid", "T", "valtest"):
            hint = (" cifar10 is trained on all 50k images and has no validation split; its validation "
                    "results are dataset 'cifar10-valid'.")
        return (f"'{key}' is not a key for '{dataset}' upstream either. Upstream keys: {', '.join(upstream)}."
                f"{hint or suggest(key, upstream)}")
    if column is not None:
        return (f"the table in use has no column '{column}' (a table converted from the official files keeps "
                f"only the accuracies and CIFAR-10 costs). Use the shared/bundled table.")
    if kind == "valtest":
        return ("valtest is the ori-test result (the whole official test/validation set); the table has only its "
                "halves. Use 'valid-accuracy' (x-valid) or 'test-accuracy' (x-test).")
    if key == "latency":
        return "latency is known only for the CIFAR-10 network (datasets 'cifar10' and 'cifar10-valid')."
    if kind == "T" or field in ("per-time", "all-time"):
        return ("times are in the table only for hp='200': 'cifar10-valid' (NATS-Bench train/x-valid/ori-test) "
                "and 'cifar10' training (Syne Tune export).")
    if hp == "12":
        if dataset == "cifar10-valid" and kind == "test":
            return ("the 12-epoch data has no ori-test result of the cifar10-valid (25k-train) run; its CIFAR-10 "
                    "test accuracy is the cifar10 (50k-train) run: use dataset 'cifar10'.")
        return "the 12-epoch (hp='12') data holds only the final valid/test accuracies (mean over seeds)."
    if key == "train-accuracy" and dataset == "cifar10":
        return ("the table's CIFAR-10 train accuracy (st_c10_train_acc) is mostly single-seed, not the seed mean "
                "is_random=False returns. 'cifar10-valid' has the seed-mean train accuracy and loss.")
    if field == "loss" or kind == "train":
        return "losses and train accuracies are in the table only for 'cifar10-valid' (NATS-Bench)."
    return "the bundled table does not hold it."


def remap_dataset_set_names(dataset: str, metric_on_set: str, verbose: bool = False) -> tuple[str, str]:
    """Upstream's shorthand: ('cifar10', 'valid') -> ('cifar10-valid', 'x-valid'), ('cifar10', 'test') ->
    ('cifar10', 'ori-test'), ('cifar100' | 'ImageNet16-120', 'valid' | 'test') -> 'x-valid' | 'x-test'."""
    if dataset == "cifar10" and metric_on_set == "valid":
        return "cifar10-valid", "x-valid"
    if dataset == "cifar10" and metric_on_set == "test":
        return "cifar10", "ori-test"
    if dataset in ("cifar100", "ImageNet16-120") and metric_on_set in ("valid", "test"):
        return dataset, "x-" + metric_on_set
    return dataset, metric_on_set
