"""Named random streams: distinct over names, indices and seeds, and stable."""
from __future__ import annotations

import itertools

import torch

from tnas.seeds import SEED_BITS, STREAMS, stream, stream_seed


def test_streams_are_distinct_over_names_and_seeds() -> None:
    seeds = [0, 1, 2, 7, 1000, 2**31 - 1]
    keys = [(s, n) for s in seeds for n in STREAMS]
    values = {stream_seed(s, n) for s, n in keys}
    assert len(values) == len(keys)
    indexed = {stream_seed(s, "train-data", e) for s in seeds for e in range(50)}
    assert len(indexed) == len(seeds) * 50 and not indexed & values


def test_index_is_not_concatenated_text() -> None:
    assert stream_seed(1, "x", 23) != stream_seed(12, "x", 3) != stream_seed(1, "x", 2, 3)


def test_derivation_is_stable_and_in_range() -> None:
    # pinned: changing the derivation changes every run's results
    assert stream_seed(0, "init") == 7797302695267191734
    assert stream_seed(0, "data") == stream_seed(0, "data")
    for s, n in itertools.product(range(20), STREAMS):
        assert 0 <= stream_seed(s, n) < 2**SEED_BITS


def test_stream_generator_matches_seed() -> None:
    a = torch.rand(3, generator=stream(5, "arch"))
    b = torch.rand(3, generator=torch.Generator().manual_seed(stream_seed(5, "arch")))
    assert torch.equal(a, b)
