"""Pre-extracted benchmark tables, loaded once; one documented `query()` with a named protocol.

`load_nb201()` gives the NAS-Bench-201 ground truth (`NB201Table`, bundled with tnas); `PROTOCOL`
names what its numbers mean. `NASBench201API` / `tnas.bench.api.create` answer the calls of the
official `nas_201_api` / `nats_bench` APIs from it. `convert_nats()` turns the official NATS-Bench
topology files into the same table.
"""
from tnas.bench.nb201 import BestCell, NB201Table, load_nb201, locate_table, parse_arch
from tnas.bench.protocol import (
    DATASETS, NB201_DATASETS, NUM_ARCHS, PROTOCOL, SPLITS, canonical_dataset, canonical_split, column_name,
)
from tnas.bench.api import MissingBenchKey, NASBench201API, NATStopology
from tnas.bench.convert import convert_nats

__all__ = [
    "DATASETS", "NB201_DATASETS", "NUM_ARCHS", "PROTOCOL", "SPLITS", "BestCell", "MissingBenchKey",
    "NASBench201API", "NATStopology", "NB201Table", "canonical_dataset", "canonical_split", "column_name",
    "convert_nats", "load_nb201", "locate_table", "parse_arch",
]
