"""`tnas query ARCH`: NAS-Bench-201 ground truth for one cell (string or official index)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from tnas.bench.protocol import DATASETS, NUM_ARCHS, PROTOCOL, canonical_dataset
from tnas.errors import TnasError

# NB201's networks per dataset: C=16, N=5, classes and input side (ImageNet16-120 is 16x16)
NET = {"cifar10": (10, 32), "cifar10-valid": (10, 32), "cifar100": (100, 32), "ImageNet16-120": (120, 16)}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "query",
        help="NAS-Bench-201 ground truth of one cell",
        description=(
            "Print the NAS-Bench-201 ground truth of one cell: its official index and string, valid/test "
            f"accuracy ({PROTOCOL}), the params/FLOPs of the dataset's own network (CIFAR-10 latency) and the "
            "supernet estimates where known. ARCH is an NB201 string like '|nor_conv_3x3~0|+|none~0|"
            "nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|' (quote it) or an index 0..15624."
        ),
    )
    p.add_argument("arch", metavar="ARCH", help="NB201 architecture string or official index 0..15624")
    p.add_argument("--dataset", default="all",
                   help="cifar10, cifar100, ImageNet16-120 (aliases c10, c100, in16), NB201's cifar10-valid, "
                        "or all (default)")
    p.add_argument("--path", default=None, help="nb201_all.csv or its folder (default: $TNAS_DATA/nb201 when "
                   "it exists, else the table bundled with tnas)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tnas.bench import load_nb201  # torch: only when the command runs

    datasets = list(DATASETS) if args.dataset.strip().lower() == "all" else [canonical_dataset(args.dataset)]
    text = args.arch.strip()
    if text.lstrip("+-").isdigit() and not 0 <= int(text) < NUM_ARCHS:  # before it meets a 64-bit tensor
        raise TnasError(f"Architecture index {text} is out of range; expected an integer in 0..{NUM_ARCHS - 1}.")
    table = load_nb201(args.path, strict=False)  # a converted partial table works; a missing cell errors
    arch = table.as_arch(args.arch)
    facts = query(table, arch, datasets)
    print(json.dumps(facts, indent=2, allow_nan=False) if args.json else "\n".join(_lines(facts)))
    return 0


def query(table: Any, arch: Any, datasets: list[str]) -> dict[str, Any]:  # NB201Table, Tensor [6]
    """Everything `tnas query` knows about one cell, JSON-able: accuracies per dataset, each
    dataset's own network cost, the supernet estimates (None where the table does not know)."""
    facts: dict[str, Any] = {"index": int(table.index_of(arch)), "arch": table.space.to_genotype(arch),
                             "protocol": PROTOCOL, "table": str(table.path),
                             "table_cells": len(table), "accuracy": {}, "cost": {}}
    for d in datasets:
        facts["accuracy"][d] = {"valid": table.query(arch, d, "valid"), "test": table.query(arch, d, "test")}
        facts["cost"][d] = dataset_cost(table, arch, d)
    facts["supernet_estimate_cifar10"] = {k: _known(lambda k=k: float(table.supernet_estimate(arch, k)))
                                          for k in ("oneshot", "fewshot")}
    return facts


def dataset_cost(table: Any, arch: Any, dataset: str) -> dict[str, Any]:
    """Params (millions) and FLOPs (multiply-accumulates, millions) of NB201's network for
    `dataset` (C=16, N=5; its classes and input size), and the latency (ms) where measured.

    CIFAR-10 (and cifar10-valid, the same network) come from the table, as NB201 reports them;
    the table has no other dataset's costs, so CIFAR-100 and ImageNet16-120 are counted here by
    tnas's NB201 counter (`tnas.supernet.nb201_cost`, which reproduces the table's CIFAR-10
    numbers) on the network with 100 / 120 classes and 32 / 16 px input. NB201 measured latency
    per dataset, the table only CIFAR-10's.
    """
    if dataset in ("cifar10", "cifar10-valid"):
        params = _known(lambda: float(table.cost(arch, "params")))
        if params is not None:
            return {"params_M": params, "flops_M": float(table.cost(arch, "flops")),
                    "latency_ms": 1000 * float(table.cost(arch, "latency")), "source": "table"}
    from tnas.supernet.registry import NetSize, get_family

    classes, side = NET[dataset]
    params, flops = get_family("nb201").cost(table.space, arch, NetSize(C=16, N=5, num_classes=classes,
                                                                          in_channels=3, image_size=side))
    return {"params_M": params / 1e6, "flops_M": flops / 1e6, "latency_ms": None,
            "source": f"counted (C=16, N=5, {classes} classes, {side}x{side} px)"}


def _known(get: Any) -> Any:
    try:
        return get()
    except TnasError:  # a column this table does not have
        return None


def _lines(facts: dict[str, Any]) -> list[str]:
    lines = []
    if facts["table_cells"] != NUM_ARCHS:
        lines.append(f"table     {facts['table']} (partial: {facts['table_cells']} of {NUM_ARCHS} cells)")
    lines += [f"index     {facts['index']}", f"arch      {facts['arch']}", f"protocol  {facts['protocol']}",
              f"{'dataset':<16}{'valid %':>10}{'test %':>10}{'params M':>10}{'MFLOPs':>10}{'latency ms':>12}"]
    for d, acc in facts["accuracy"].items():
        c = facts["cost"][d]
        latency = "-" if c["latency_ms"] is None else f"{c['latency_ms']:.2f}"
        lines.append(f"{d:<16}{acc['valid']:>10.2f}{acc['test']:>10.2f}{c['params_M']:>10.4f}{c['flops_M']:>10.2f}"
                     f"{latency:>12}")
    if "cifar10-valid" in facts["accuracy"]:
        lines.append("note      cifar10-valid test = official test set after training on 25k images (NATS-Bench); "
                     "cifar10 test = after training on all 50k")
    if any(c["source"] != "table" for c in facts["cost"].values()):
        lines.append("note      costs of CIFAR-100 / ImageNet16-120 networks: counted by tnas (the table has "
                     "CIFAR-10's); latency measured on CIFAR-10 only")
    est = facts["supernet_estimate_cifar10"]
    if est["oneshot"] is not None:
        lines.append(f"CIFAR-10 supernet estimate: one-shot {est['oneshot']:.2f} %, few-shot {est['fewshot']:.2f} %")
    return lines
