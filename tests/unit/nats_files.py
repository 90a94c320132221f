"""Write small benchmark files in the official NATS-Bench / NAS-Bench-201 formats, for converter tests.

The official files (GBs) cannot be downloaded here, so these are built with `nats_bench`'s own
classes (`ResultsCount`, `ArchResults`) and saver (`pickle_save`), from the *real* values of the
shared table: two seeds per architecture whose mean is the table value (+-0.5 around it), the
200-epoch schedule from the main columns and the 12-epoch one from the `e12_*` columns. Epoch
curves before the last epoch are filler (the converter reads only the last epoch).
"""
from __future__ import annotations

import csv
from pathlib import Path

import torch

SEEDS = (777, 888)
# NATS dataset -> {eval set -> (200-epoch column, 12-epoch column)}; None: not in our table (filler)
SETS = {
    "cifar10-valid": {"x-valid": ("c10_valid", "e12_c10_valid"), "ori-test": ("nats_c10v_oritest_acc", None)},
    "cifar10": {"ori-test": ("c10_test", "e12_c10_test")},
    "cifar100": {"x-valid": ("c100_valid", "e12_c100_valid"), "x-test": ("c100_test", "e12_c100_test"),
                 "ori-test": (None, None)},
    "ImageNet16-120": {"x-valid": ("in16_valid", "e12_in16_valid"), "x-test": ("in16_test", "e12_in16_test"),
                       "ori-test": (None, None)},
}


def read_rows(table_csv: Path) -> list[dict[str, str]]:
    with open(table_csv, newline="") as f:
        return list(csv.DictReader(f))


def _results(row: dict[str, str], dataset: str, seed: int, epochs: int, which: int):
    from nats_bench.api_utils import ResultsCount

    def final(col: str | None) -> float:
        base = float(row[col]) if col else 50.0
        return base + (0.5 if seed == SEEDS[0] else -0.5)  # two seeds, mean = table value

    arch_config = {"channel": 16, "num_cells": 5, "arch_str": row["arch_str"], "class_num": 10}
    train = {i: 10.0 + i * 0.1 for i in range(epochs)}
    rc = ResultsCount(dataset, None, train, {i: 1.0 for i in range(epochs)}, float(row["c10_params_M"]),
                      float(row["c10_flops_M"]), arch_config, seed, epochs, [float(row["c10_latency_s"])])
    accs, losses, times = {}, {}, {}
    for name, cols in SETS[dataset].items():
        for i in range(epochs):
            key = f"{name}@{i}"
            accs[key] = final(cols[which]) if i == epochs - 1 else 1.0
            losses[key], times[key] = 1.0, 0.1
    rc.update_eval(accs, losses, times)
    return rc


def arch_state(row: dict[str, str], hp: str) -> dict:
    """ArchResults state dict of one architecture for schedule hp ('200' or '12')."""
    from nats_bench import ArchResults

    epochs, which = (200, 0) if hp == "200" else (12, 1)
    ar = ArchResults(int(row["index"]), row["arch_str"])
    for dataset in SETS:
        for seed in SEEDS:
            ar.update(dataset, seed, _results(row, dataset, seed, epochs, which))
    return ar.state_dict()


def write_all(rows: list[dict[str, str]], picked: list[int], root: Path) -> dict[str, Path]:
    """Write the three official layouts for the rows `picked` (by index); returns {format: path}."""
    from nats_bench import pickle_save

    by_index = {int(r["index"]): r for r in rows}
    meta_archs = [by_index[i]["arch_str"] for i in range(len(rows))]
    states = {i: {hp: arch_state(by_index[i], hp) for hp in ("12", "200")} for i in picked}
    folder = root / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    pickle_save({"meta_archs": meta_archs, "arch2infos": {}, "evaluated_indexes": []}, str(folder / "meta.pickle"))
    for i, per_hp in states.items():
        pickle_save(per_hp, str(folder / f"{i:06d}.pickle"))
    full = {"meta_archs": meta_archs, "arch2infos": states, "evaluated_indexes": sorted(states)}
    pickle_save(full, str(root / "NATS-tss-v1_0-3ffb9.pickle"))
    nb201 = {"meta_archs": meta_archs, "evaluated_indexes": sorted(states),
             "arch2infos": {i: {"less": s["12"], "full": s["200"]} for i, s in states.items()}}
    torch.save(nb201, root / "NAS-Bench-201-v1_1-096897.pth")
    return {"dir": folder, "pbz2": root / "NATS-tss-v1_0-3ffb9.pickle.pbz2",
            "pth": root / "NAS-Bench-201-v1_1-096897.pth"}
