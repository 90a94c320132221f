"""Pre-extracted benchmark tables, loaded once; one documented `query()` with a named protocol.

`load_nb201()` gives the NAS-Bench-201 ground truth (`NB201Table`); `PROTOCOL` names what its
numbers mean. `convert_nats()` turns the official NATS-Bench topology files into the same table.
"""
from tnas.bench.nb201 import BestCell, NB201Table, load_nb201, locate_table, parse_arch
from tnas.bench.protocol import DATASETS, NUM_ARCHS, PROTOCOL, SPLITS, canonical_dataset, canonical_split, column_name
from tnas.bench.convert import convert_nats

__all__ = [
    "DATASETS", "NUM_ARCHS", "PROTOCOL", "SPLITS", "BestCell", "NB201Table", "canonical_dataset",
    "canonical_split", "column_name", "convert_nats", "load_nb201", "locate_table", "parse_arch",
]
