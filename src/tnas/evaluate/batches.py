"""The data a supernet evaluator scores on: fixed validation / test batches and BN-calibration
batches (deterministic fitness: every architecture is scored on the same images)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor


def fixed_batches(split: Any, batch_size: int, count: int) -> list[tuple[Tensor, Tensor]]:
    """`count` unaugmented batches of a split in a fixed shuffled order (deterministic fitness).

    Shuffled, not storage order: files such as the shared CIFAR-10 copy are sorted by class, and
    the first batches of a sorted split would score every architecture on one class only.
    """
    out = []
    for x, y in split.batches(batch_size, generator=torch.Generator().manual_seed(0), shuffle=True,
                              augment=False, drop_last=False):
        out.append((x, y))
        if len(out) == count:
            break
    return out


def pass_batches(split: Any, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
    """Every image of a split once, unaugmented, in `fixed_batches`' order, one batch at a time (a
    test set is scored without holding it whole: a streamed one never fits)."""
    return split.batches(batch_size, generator=torch.Generator().manual_seed(0), shuffle=True, augment=False,
                         drop_last=False)


def eval_batches(train: Any, valid: Any, batch_size: int, bn_batches: int, valid_batches: int,
                 g: torch.Generator) -> tuple[list[Tensor], list[tuple[Tensor, Tensor]]]:
    """A supernet evaluator's data: `bn_batches` BN-calibration image batches drawn from the
    `train` split with `g` (advanced), and `valid_batches` fixed batches of the `valid` split."""
    calib = [train.random_batch(batch_size, g, augment=False)[0] for _ in range(bn_batches)]
    return calib, fixed_batches(valid, batch_size, valid_batches)
