"""NB201 space: string <-> tokens <-> key <-> official index for all 15,625 cells, bad strings, randomness."""
from __future__ import annotations

import csv

import pytest
import torch

from tnas import TnasError, get_space
from tnas.bench import NUM_ARCHS, load_nb201
from tnas.bench.nb201 import OP_COLUMNS


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


@pytest.fixture(scope="module")
def official_rows(nb201_csv):
    """(index, arch_str, op codes) of every row of the real table, read with the csv module."""
    with open(nb201_csv, newline="") as f:
        return [(int(r["index"]), r["arch_str"], [int(r[c]) for c in OP_COLUMNS]) for r in csv.DictReader(f)]


def test_round_trip_all_cells(space, official_rows):
    table = load_nb201()
    assert len(official_rows) == NUM_ARCHS
    index = torch.tensor([i for i, _, _ in official_rows])
    tokens = torch.tensor([ops for _, _, ops in official_rows])
    for (i, text, ops), arch in zip(official_rows, tokens):
        parsed = space.from_genotype(text)
        assert parsed.tolist() == ops, text  # string -> tokens
        assert space.to_genotype(parsed) == text  # tokens -> string, byte for byte
    assert torch.equal(table.arch_of(index), tokens)  # index -> tokens
    assert torch.equal(table.index_of(tokens), index)  # tokens -> index
    assert sorted(index.tolist()) == list(range(NUM_ARCHS))


def test_keys_are_a_bijection(space):
    all_keys = torch.arange(space.size)
    archs = space.from_keys(all_keys)
    assert archs.shape == (NUM_ARCHS, 6) and archs.dtype == torch.long
    assert torch.equal(space.keys(archs), all_keys)
    assert len({tuple(a) for a in archs.tolist()}) == NUM_ARCHS
    some = archs[torch.randperm(NUM_ARCHS, generator=torch.Generator().manual_seed(0))[:50]]
    assert [space.key(a) for a in some] == space.keys(some).tolist()


def test_mutate_changes_at_least_one_decision_and_stays_valid(space):
    g = torch.Generator().manual_seed(1)
    parents = space.sample_uniform(3000, g)
    for prob in (None, 0.0, 0.5):
        children = space.mutate(parents, g, prob=prob)
        space.validate(children)
        changed = (children != parents).sum(-1)
        assert bool((changed >= 1).all())
        if prob == 0.0:
            assert bool((changed == 1).all())  # only the forced decision
    one = space.mutate(parents[0], torch.Generator().manual_seed(2))
    assert one.shape == (6,) and bool((one != parents[0]).any())
    again = space.mutate(parents, torch.Generator().manual_seed(3))
    assert torch.equal(again, space.mutate(parents, torch.Generator().manual_seed(3)))


@pytest.mark.parametrize(
    "text, expect",
    [
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_conect~2|", "skip_conect"),
        ("|nor_conv_3x3~0|+|none~0|conv_5x5~1|+|skip_connect~0|none~1|skip_connect~2|", "conv_5x5"),
        ("|nor_conv_3x3~0|+|none~1|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "none~1"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~3|", "skip_connect~3"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|", "2 node group"),
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|none~1|none~2|none~3|", "4 node group"),
        ("|nor_conv_3x3~0|+|none~0|+|skip_connect~0|none~1|skip_connect~2|", "1 incoming edge"),
        ("|nor_conv_3x3|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "no '~'"),
        ("nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "'|'"),
        ("", "node group"),
    ],
)
def test_malformed_strings_raise_clear_errors(space, text, expect):
    with pytest.raises(TnasError, match="expected|Expected|must come from") as info:
        space.from_genotype(text)
    assert expect in str(info.value)


def test_bad_op_error_suggests_the_closest_op(space):
    with pytest.raises(TnasError, match="Did you mean 'skip_connect'"):
        space.from_genotype("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_conect~2|")


def test_validate_names_the_bad_position(space):
    with pytest.raises(TnasError, match="decision 2"):
        space.validate(torch.tensor([0, 1, 5, 0, 0, 0]))
    with pytest.raises(TnasError, match="last dimension must be 6"):
        space.validate(torch.zeros(3, 5, dtype=torch.long))


def test_uniform_sampling_is_deterministic_per_generator_and_uniform(space):
    a = space.sample_uniform(50_000, torch.Generator().manual_seed(7))
    b = space.sample_uniform(50_000, torch.Generator().manual_seed(7))
    c = space.sample_uniform(50_000, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    space.validate(a)
    counts = torch.stack([torch.bincount(a[:, d], minlength=5) for d in range(6)]).float()
    expected = 50_000 / 5
    # binomial sd = sqrt(n p (1-p)) = 89.4; 6 sd keeps this from failing by chance
    assert float((counts - expected).abs().max()) < 6 * 89.5
    assert space.keys(a).unique().numel() > 14_000  # covers most of the 15,625 cells


def test_crossover_takes_each_decision_from_a_parent(space):
    g = torch.Generator().manual_seed(4)
    a, b = space.sample_uniform(500, g), space.sample_uniform(500, g)
    child = space.crossover(a, b, g)
    assert bool(((child == a) | (child == b)).all())
    assert bool((child != a).any()) and bool((child != b).any())
