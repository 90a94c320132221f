"""What every `BatchSource` of `tnas train` shares: the batch type, the data facts, the source
protocol and cutout (per-epoch streams are named streams of `tnas.seeds`).

Both sources (in memory, `tnas.train.data`; streamed folders, `tnas.train.stream`) build on it.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

Batch = tuple[Tensor, Tensor]  # x float [B, C, H, W] normalised, y long [B]


def cutout(x: Tensor, length: int, generator: torch.Generator) -> Tensor:
    """Cutout (DeVries & Taylor 2017) for a whole batch: zero one length x length square per image.

    The square's centre is uniform over the image and it is clipped at the borders (as the DARTS
    code); zero is the dataset mean after normalisation.

    Args:
        x: float [B, C, H, W], normalised images.
        length: side of the square in pixels; 0 returns x unchanged.
        generator: source of the 2B centre coordinates (drawn on the CPU).

    Returns:
        float [B, C, H, W] on x's device.
    """
    if length <= 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator).to(x.device)
    return x * (1 - square_mask(cy, cx, length, h, w)[:, None].to(x.dtype))


def square_mask(cy: Tensor, cx: Tensor, length: int, h: int, w: int) -> Tensor:
    """bool [B, H, W]: True inside the square of side `length` starting at (c - length // 2)."""
    rows = torch.arange(h, device=cy.device)
    cols = torch.arange(w, device=cx.device)
    y0, x0 = (cy - length // 2)[:, None], (cx - length // 2)[:, None]
    in_r = (rows >= y0) & (rows < y0 + length)  # [B, H]
    in_c = (cols >= x0) & (cols < x0 + length)  # [B, W]
    return in_r[:, :, None] & in_c[:, None, :]


@dataclass
class DataInfo:
    """What the network and the result need to know about the data."""

    num_classes: int
    in_channels: int
    image_size: int
    train_images: int
    test_images: int
    record: dict[str, Any] = field(default_factory=dict)  # JSON-able: dataset, protocol, sizes, source


class BatchSource(Protocol):
    info: DataInfo
    steps_per_epoch: int

    def train_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        """This rank's training batches of `epoch` from step `start` on (augmented, normalised)."""

    def eval_batches(self, split: str = "test") -> Iterator[Batch] | None:
        """This rank's shard of the 'test' or 'valid' set, in a fixed order, unaugmented; None
        when the protocol has no such set (no validation set under `data.split=test`)."""
