"""Pre-extracted benchmark tables, loaded once; one documented `query()` with a named protocol.

`load_nb201()` gives the NAS-Bench-201 ground truth (`NB201Table`, bundled with tnas); `PROTOCOL`
names what its numbers mean. `NASBench201API` / `tnas.bench.api.create` answer the calls of the
official `nas_201_api` / `nats_bench` APIs from it. `convert_nats()` turns the official NATS-Bench
topology files into the same table.

The protocol names are plain data; the rest is imported on first use (PEP 562), so that the CLI's
parsers can read `DATASETS` and `PROTOCOL` without loading torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tnas.bench.protocol import (
    DATASETS, NB201_DATASETS, NUM_ARCHS, PROTOCOL, SPLITS, canonical_dataset, canonical_split, column_name,
)

if TYPE_CHECKING:
    from tnas.bench.api import MissingBenchKey, NASBench201API, NATStopology
    from tnas.bench.convert import convert_nats
    from tnas.bench.nb201 import BestCell, NB201Table, load_nb201, locate_table, parse_arch

__all__ = [
    "DATASETS", "NB201_DATASETS", "NUM_ARCHS", "PROTOCOL", "SPLITS", "BestCell", "MissingBenchKey",
    "NASBench201API", "NATStopology", "NB201Table", "canonical_dataset", "canonical_split", "column_name",
    "convert_nats", "load_nb201", "locate_table", "parse_arch",
]
_HOME = {**dict.fromkeys(("BestCell", "NB201Table", "load_nb201", "locate_table", "parse_arch"), "tnas.bench.nb201"),
         **dict.fromkeys(("MissingBenchKey", "NASBench201API", "NATStopology"), "tnas.bench.api"),
         "convert_nats": "tnas.bench.convert"}


def __getattr__(name: str) -> Any:  # PEP 562
    if name not in _HOME:
        raise AttributeError(f"module 'tnas.bench' has no attribute '{name}'")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
