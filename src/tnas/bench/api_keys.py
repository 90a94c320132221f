"""Which upstream NB201 / NATS-Bench keys the table serves, from which column, and why the rest are missing.

The data half of `tnas.bench.api`: dataset and set names, the key -> column maps (listed below with their
sources), the dict type the API returns and its missing-key error.

Which column serves each key (v1.1: NB201 v1.1 seed mean; NATS: NATS-Bench tss seed mean; ST: the Syne Tune
export of NB201; columns as described in shared/data/README.md):

    get_more_info, hp='200'
      cifar10-valid    valid-accuracy (x-valid, 25k-train run)   c10_valid                    v1.1
                       valid-loss, valid-per-time, -all-time     nats_c10v_valid_*            NATS
                       test-* (ori-test of that same run)        nats_c10v_oritest_*          NATS
                       train-*                                   nats_c10v_train_*            NATS
      cifar10          test-accuracy (ori-test, 50k-train run)   c10_test                     v1.1
      cifar100         valid-/test-accuracy (x-valid / x-test)   c100_valid / c100_test       v1.1
      ImageNet16-120   valid-/test-accuracy (x-valid / x-test)   in16_valid / in16_test       v1.1
    get_more_info, hp='12': valid-/test-accuracy from e12_* (v1.1); cifar10-valid: valid only, cifar10: test only
    every other *-per-time / *-all-time, both hps: nats_c10v_{train,valid_eval}_time_per_epoch_s x images of the
                       set / 25,000 (x hp epochs for all-time); NATS-Bench's times are per-image constants (TIME_BASE)
    get_cost_info
      cifar10(-valid)  flops (M), params (M), latency (s)        c10_flops_M, c10_params_M, c10_latency_s   ST
      all datasets     T-train@{epoch,total}, T-<set>@{epoch,total}   as the *-time keys above         NATS
      cifar100, IN16   flops, params                             tnas.supernet.nb201_cost counter    analytic
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

_V = "nats_c10v_"
INFO_COLUMNS = {  # (dataset, hp) -> {get_more_info key: column}; the API adds the other times (`time_scales`)
    ("cifar10-valid", "200"): {
        "train-loss": _V + "train_loss", "train-accuracy": _V + "train_acc",
        "train-per-time": _V + "train_time_per_epoch_s", "train-all-time": _V + "train_time_total_s",
        "valid-loss": _V + "valid_loss", "valid-accuracy": "c10_valid",
        "valid-per-time": _V + "valid_eval_time_per_epoch_s", "valid-all-time": _V + "valid_eval_time_total_s",
        "test-loss": _V + "oritest_loss", "test-accuracy": _V + "oritest_acc",
        "test-per-time": _V + "oritest_eval_time_per_epoch_s", "test-all-time": _V + "oritest_eval_time_total_s"},
    ("cifar10", "200"): {"test-accuracy": "c10_test"},
    ("cifar100", "200"): {"valid-accuracy": "c100_valid", "test-accuracy": "c100_test"},
    ("ImageNet16-120", "200"): {"valid-accuracy": "in16_valid", "test-accuracy": "in16_test"},
    ("cifar10-valid", "12"): {"valid-accuracy": "e12_c10_valid"},
    ("cifar10", "12"): {"test-accuracy": "e12_c10_test"},
    ("cifar100", "12"): {"valid-accuracy": "e12_c100_valid", "test-accuracy": "e12_c100_test"},
    ("ImageNet16-120", "12"): {"valid-accuracy": "e12_in16_valid", "test-accuracy": "e12_in16_test"},
}
C10_COST = {"flops": "c10_flops_M", "params": "c10_params_M", "latency": "c10_latency_s"}

# NATS-Bench's times are per-image constants: one time per epoch for each (cell, dataset, set), the same for
# every seed and for hp='12' and '200', and proportional to the number of images the epoch sees (checked on the
# three cells NATS-Bench ships as test fixtures, all datasets and sets, and on all 15,625 cells for the two
# cifar10-valid eval sets, which the table has: ori-test / x-valid = 10k / 25k to 1e-9). So the table's
# cifar10-valid per-epoch times give every upstream time: per-epoch x images / 25,000, total = per-epoch x hp.
TIME_BASE = {"train": _V + "train_time_per_epoch_s", "eval": _V + "valid_eval_time_per_epoch_s"}
C10V_TIMES = {name: (_V + f"{stem}_per_epoch_s", _V + f"{stem}_total_s")  # the table's own cifar10-valid times
              for name, stem in (("train", "train_time"), ("x-valid", "valid_eval_time"),
                                 ("ori-test", "oritest_eval_time"))}
BASE_IMAGES = 25_000  # cifar10-valid trains on 25k images and evaluates x-valid on 25k
TRAIN_IMAGES = {"cifar10-valid": 25_000, "cifar10": 50_000, "cifar100": 50_000, "ImageNet16-120": 151_700}
EVAL_IMAGES = {"cifar10-valid": {"x-valid": 25_000, "ori-test": 10_000}, "cifar10": {"ori-test": 10_000},
               "cifar100": {"x-valid": 5_000, "x-test": 5_000, "ori-test": 10_000},
               "ImageNet16-120": {"x-valid": 3_000, "x-test": 3_000, "ori-test": 6_000}}
# get_more_info key prefix -> upstream eval set name, per dataset
PREFIX_TO_SET = {"cifar10-valid": {"valid": "x-valid", "test": "ori-test"}, "cifar10": {"test": "ori-test"},
                 "cifar100": {"valid": "x-valid", "test": "x-test", "valtest": "ori-test"}}
PREFIX_TO_SET["ImageNet16-120"] = PREFIX_TO_SET["cifar100"]


def time_scales(dataset: str) -> dict[str, tuple[str, float]]:
    """Upstream time name -> (base column, factor): 'train' and each eval set of `dataset` ('x-valid', ...).

    A time per epoch is `column * factor` (seconds); see the comment on TIME_BASE for why.
    """
    out = {"train": (TIME_BASE["train"], TRAIN_IMAGES[dataset] / BASE_IMAGES)}
    for name, n in EVAL_IMAGES[dataset].items():
        out[name] = (TIME_BASE["eval"], n / BASE_IMAGES)
    return out


def time_columns(dataset: str, hp: str, info: bool) -> dict[str, str | tuple[str, float]]:
    """Time key -> column or (column, factor): get_more_info's '*-per-time' / '*-all-time' (`info`) or
    get_cost_info's 'T-<set>@epoch' / '@total'. The cifar10-valid hp='200' times are table columns; all
    others are those per-epoch times scaled by images (NATS-Bench's times are per-image constants)."""
    prefix = {"train": "train", **{name: p for p, name in PREFIX_TO_SET[dataset].items()}}
    out: dict[str, str | tuple[str, float]] = {}
    for name, (column, factor) in time_scales(dataset).items():
        if dataset == "cifar10-valid" and hp == "200":
            per, total = C10V_TIMES[name]
        else:
            per, total = (column, factor), (column, factor * int(hp))
        keys = (f"{prefix[name]}-per-time", f"{prefix[name]}-all-time") if info else \
            (f"T-{name}@epoch", f"T-{name}@total")
        out.update(zip(keys, (per, total)))
    return out


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
    if hp == "12":
        if dataset == "cifar10-valid" and kind == "test":
            return ("the 12-epoch data has no ori-test result of the cifar10-valid (25k-train) run; its CIFAR-10 "
                    "test accuracy is the cifar10 (50k-train) run: use dataset 'cifar10'.")
        return ("the 12-epoch (hp='12') data holds only the final valid/test accuracies (mean over seeds) and the "
                "times; no losses or train accuracies.")
    if key == "train-accuracy" and dataset == "cifar10":
        return ("the table's CIFAR-10 train accuracy (st_c10_train_acc) is mostly single-seed, not a seed mean. "
                "'cifar10-valid' has the seed-mean train accuracy and loss.")
    if field == "loss" or kind == "train":
        return ("the table has losses and train accuracies only for 'cifar10-valid' with hp='200' (NATS-Bench); no "
                "public export of the other datasets' train metrics small enough to bundle was found.")
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
