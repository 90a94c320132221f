"""Names of the NB201 ground truth: protocol, datasets, splits, column names and their aliases.

`PROTOCOL` says what every accuracy in `nb201_all.csv` means; print it beside every reported number.
"""
from __future__ import annotations

from tnas.errors import TnasError, unknown

NUM_ARCHS = 15625
TABLE_FILE = "nb201_all.csv"
SUPERNET_FILE = "supernet_estimates_c10.csv"
PROTOCOL = (
    "NB201 v1.1, 200 epochs, top-1 % at the last epoch, mean over available seeds; valid = "
    "cifar10-valid x-valid (25k train) / cifar100, ImageNet16-120 x-valid; test = cifar10 ori-test "
    "(50k train) / cifar100, ImageNet16-120 x-test"
)
CONVERT_HOW = (
    "To build it from the official NATS-Bench topology files run `tnas table convert "
    "NATS-tss-v1_0-3ffb9-simple --out DIR` (needs `pip install 'tnas[nats]'`)."
)
HOW = (
    "Leave the path out (and TNAS_DATA unset, or without an nb201/ folder) to use the table bundled with tnas, "
    "or pass a folder holding nb201_all.csv (--path DIR). " + CONVERT_HOW
)
OP_COLUMNS = ("op_0to1", "op_0to2", "op_1to2", "op_0to3", "op_1to3", "op_2to3")
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
# NB201's own setting names: 'cifar10-valid' is the CIFAR-10 run trained on 25k images; its 'valid' is
# x-valid (= tnas's cifar10 'valid') and its 'test' the official test set after that 25k training.
NB201_DATASETS = ("cifar10-valid", *DATASETS)
_C10V_COLUMNS = {"valid": "c10_valid", "test": "nats_c10v_oritest_acc"}
SPLITS = ("valid", "test")
_PREFIX = {"cifar10": "c10", "cifar100": "c100", "ImageNet16-120": "in16"}
ACCURACY_COLUMNS = tuple(f"{_PREFIX[d]}_{s}" for d in DATASETS for s in SPLITS)
COST_COLUMNS = {"flops": "c10_flops_M", "params": "c10_params_M", "latency": "c10_latency_s"}
SUPERNET_COLUMNS = {"oneshot": "oneshot_supernet_acc", "fewshot": "fewshot_supernet_acc"}
REQUIRED_COLUMNS = ("index", *OP_COLUMNS, *ACCURACY_COLUMNS)

_DATASET_ALIASES = {
    "cifar10-valid": ("cifar10-valid", "c10-valid", "cifar10_valid", "cifar-10-valid"),
    "cifar10": ("cifar10", "c10", "cifar-10", "cifar_10"),
    "cifar100": ("cifar100", "c100", "cifar-100", "cifar_100"),
    "ImageNet16-120": ("imagenet16-120", "imagenet16", "imagenet", "in16", "in16-120", "imagenet16_120",
                       "imagenet-16-120", "imagenet-16", "im16"),
}
_SPLIT_ALIASES = {"valid": ("valid", "val", "validation", "x-valid"), "test": ("test", "x-test", "ori-test")}
_KIND_ALIASES = {"oneshot": ("oneshot", "one-shot", "one_shot"), "fewshot": ("fewshot", "few-shot", "few_shot")}


def _canonical(kind: str, value: str, aliases: dict[str, tuple[str, ...]]) -> str:
    low = str(value).strip().lower()
    for name, names in aliases.items():
        if low in names:
            return name
    shown = "; ".join(f"{name}: {', '.join(names[:4])}" for name, names in aliases.items())
    raise unknown(kind, value, aliases, f"Aliases (any case) - {shown}.")


def canonical_dataset(name: str) -> str:
    """'c10', 'CIFAR-10', 'in16', 'cifar10-valid', ... -> one of NB201_DATASETS; else TnasError."""
    return _canonical("NB201 dataset", name, _DATASET_ALIASES)


def canonical_split(name: str) -> str:
    """'val', 'x-test', ... -> 'valid' or 'test'; else TnasError."""
    return _canonical("NB201 split", name, _SPLIT_ALIASES)


def column_name(dataset: str, split: str) -> str:
    """The table column holding `dataset`/`split` accuracy, e.g. ('cifar100', 'test') -> 'c100_test'.

    NB201's meaning of each name: ('cifar10-valid', 'test') is the official test set after training on
    25k images (NATS-Bench column), not tnas's ('cifar10', 'test') after training on 50k; 'ori-test' of
    cifar100 / ImageNet16-120 (their whole test set) is not in the table, only its x-valid/x-test halves.
    """
    d, s = canonical_dataset(dataset), canonical_split(split)
    if d == "cifar10-valid":
        return _C10V_COLUMNS[s]
    if str(split).strip().lower() == "ori-test" and d != "cifar10":
        raise TnasError(f"'ori-test' of {d} (its whole official test set) is not in the NB201 table; it holds the two "
                        f"halves: split 'valid' (x-valid) and 'test' (x-test). Use one of those.")
    return f"{_PREFIX[d]}_{s}"
