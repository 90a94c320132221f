"""Every random stream of a run, derived from the run seed by name.

A run has one seed; each consumer of randomness (the supernet's initial weights, the training
data order, the architecture draws, ...) gets its own stream, `stream_seed(seed, name, *index)`:
a 63-bit integer hashed from the seed, the stream's name and optional integer indices (an epoch,
a step, a rank). Call sites name their stream and never do arithmetic on the seed, so two streams
can never share a seed by accident (as `seed * 1000 + i` and `seed + 1` once did at seed 0), and a
new stream cannot shift an existing one. The derivation is stable across versions and platforms
(BLAKE2b of the text `seed/name/index...`); tests/unit/test_seeds.py pins it.
"""
from __future__ import annotations

import hashlib

import torch

SEED_BITS = 63

# The named streams of the built-in runs (a new name needs no entry here; this list is what the
# distinctness test covers and what docs/architecture.md refers to).
STREAMS = (
    "init",  # initial weights (supernet, stand-alone network): the global RNG inside a fork
    "data",  # training batches: order and augmentation
    "arch",  # architectures sampled during supernet training / GDAS / TNAS-G draws
    "valid",  # held-out batches that score sampled architectures / drive the architecture step
    "sampler",  # the TNAS sampler's own generator, or DARTS / GDAS alpha initialisation
    "search",  # the search stage: BN-calibration batches, GA draws, VAE initial population
    "derive",  # TNAS-G derivation: prior draws of z for best-of
    "marginals",  # TNAS-G: the fixed z draws behind the per-epoch op probabilities
    "drop-path",  # drop-path masks of a stand-alone network
    "train-data",  # `tnas train`: one stream per epoch (index: epoch)
    "train-loader",  # `tnas train`, streamed image folders: DataLoader order per epoch
    "train-augment",  # `tnas train`, streamed image folders: per-image crops (numpy, with epoch and index)
    "train-cutout",  # `tnas train`, streamed image folders: cutout per (epoch, step, rank)
)


def stream_seed(seed: int, name: str, *index: int) -> int:
    """The seed of stream `name` (with optional integer `index`es) of a run seeded `seed`: a
    63-bit non-negative integer, a pure function of its arguments."""
    if not name:
        raise ValueError("a random stream needs a name")
    text = "/".join([str(int(seed)), name, *(str(int(i)) for i in index)])
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - SEED_BITS)


def stream(seed: int, name: str, *index: int, device: torch.device | str | None = None) -> torch.Generator:
    """A fresh torch.Generator seeded with `stream_seed(seed, name, *index)`."""
    g = torch.Generator(device=device) if device is not None else torch.Generator()
    return g.manual_seed(stream_seed(seed, name, *index))
