"""`ImageSet`: a labelled image set held as one uint8 tensor on a device, and `DataSplits`.

Images stay uint8 [N, C, H, W] on the device (4x less memory than float); each batch is
gathered, augmented and normalised there with batched tensor ops (see `tnas.data.augment`), so
training needs no DataLoader workers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from tnas.data.augment import augment_batch, default_padding, normalize
from tnas.errors import TnasError

log = logging.getLogger(__name__)


@dataclass
class ImageSet:
    """A labelled image set in memory.

    Attributes:
        images: uint8 [N, C, H, W], pixel values 0..255, on any device.
        labels: long [N], class ids 0..num_classes-1, on the images' device.
        num_classes: number of classes of the dataset (not only those present here).
        mean: per-channel mean of x / 255 used for normalisation (length C).
        std: per-channel standard deviation of x / 255 used for normalisation (length C).
        name: dataset and split, e.g. 'cifar10/train'.
        crop_padding: random-crop padding in px for `augment=True`; None picks 4 px per 32 px
            (`default_padding`), 0 disables cropping.
        flip: whether `augment=True` flips horizontally (off for digits: a flip changes them).
        index: optional long [N], row of each image in its source file (provenance).
    """

    images: Tensor
    labels: Tensor
    num_classes: int
    mean: Sequence[float]
    std: Sequence[float]
    name: str = ""
    crop_padding: int | None = None
    flip: bool = True
    index: Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise TnasError(
                f"ImageSet '{self.name}': images must be uint8 [N, C, H, W], got {self.images.dtype} "
                f"{list(self.images.shape)}. Convert pixels to 0..255 uint8 in channels-first order."
            )
        n, c = self.images.shape[:2]
        if self.labels.shape != (n,):
            raise TnasError(
                f"ImageSet '{self.name}': {n} images but labels of shape {list(self.labels.shape)}."
            )
        self.labels = self.labels.to(device=self.images.device, dtype=torch.long)
        self.mean, self.std = tuple(float(m) for m in self.mean), tuple(float(s) for s in self.std)
        if len(self.mean) != c or len(self.std) != c:
            raise TnasError(f"ImageSet '{self.name}': {c} channels but mean {self.mean} and std {self.std}.")
        if self.crop_padding is None:
            self.crop_padding = default_padding(self.images.shape[2])

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def device(self) -> torch.device:
        return self.images.device

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator,
        shuffle: bool = True,
        augment: bool = False,
        drop_last: bool = True,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """One epoch of batches.

        Args:
            batch_size: images per batch.
            generator: source of the shuffle order and the augmentation; the same generator state
                gives the same batches.
            shuffle: visit the images in a random order (else in storage order).
            augment: random crop (`crop_padding`) and horizontal flip (`flip`).
            drop_last: skip the last incomplete batch.

        Yields:
            (x, y): x float32 [B, C, H, W] normalised with mean/std, y long [B]; on `self.device`.
        """
        n = len(self)
        if batch_size < 1:
            raise TnasError(f"batch_size must be a positive integer, got {batch_size}.")
        if drop_last and n < batch_size:
            raise TnasError(
                f"ImageSet '{self.name}' has {n} images, fewer than batch_size={batch_size}, so an epoch "
                "with drop_last=True would yield no batch. Use a smaller batch size or a larger limit."
            )
        return self._iterate(batch_size, generator, shuffle, augment, drop_last)

    def _iterate(
        self, batch_size: int, generator: torch.Generator, shuffle: bool, augment: bool, drop_last: bool
    ) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self)
        if shuffle:
            order = torch.randperm(n, generator=generator, device=generator.device).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self._batch(idx, generator if augment else None), self.labels[idx]

    def _batch(self, idx: Tensor, generator: torch.Generator | None) -> Tensor:
        x = self.images[idx]
        if generator is not None:
            x = augment_batch(x, padding=int(self.crop_padding or 0), flip=self.flip, generator=generator)
        return normalize(x, self.mean, self.std)

    def random_batch(
        self, batch_size: int, generator: torch.Generator, *, augment: bool = False
    ) -> tuple[Tensor, Tensor]:
        """One batch of distinct random images (all of them, shuffled, if batch_size >= len).

        Returns:
            (x, y): x float32 [B, C, H, W] normalised, y long [B]; on `self.device`.
        """
        if batch_size < 1:
            raise TnasError(f"batch_size must be a positive integer, got {batch_size}.")
        idx = torch.randperm(len(self), generator=generator, device=generator.device)[:batch_size]
        idx = idx.to(self.device)
        return self._batch(idx, generator if augment else None), self.labels[idx]

    def subset(self, indices: Tensor | Sequence[int]) -> ImageSet:
        """The images at `indices` (long [M] or a sequence of ints), as a new ImageSet."""
        idx = torch.as_tensor(indices, dtype=torch.long).to(self.device)
        index = self.index[idx.to(self.index.device)] if self.index is not None else None
        return replace(self, images=self.images[idx], labels=self.labels[idx], index=index)

    def to(self, device: torch.device | str) -> ImageSet:
        """A copy on `device` (the same object's tensors if already there)."""
        return replace(self, images=self.images.to(device), labels=self.labels.to(device))

    def class_counts(self) -> Tensor:
        """long [num_classes]: images per class."""
        return torch.bincount(self.labels.cpu(), minlength=self.num_classes)

    def describe(self) -> dict[str, Any]:
        """Sizes and settings as plain Python values (for logs, `tnas data info` and run records)."""
        return {
            "name": self.name,
            "size": len(self),
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_padding": self.crop_padding,
            "flip": self.flip,
        }


@dataclass
class DataSplits:
    """Train / valid / test sets of one dataset and how the split was made.

    Attributes:
        train: weights are trained on this.
        valid: architectures are scored on this during search.
        test: held out; only reported.
        split_info: JSON-able record of the split (dataset, source file or folder, protocol,
            split seed, sizes, limit); store it in the run directory.
        files: file name -> image paths of a split drawn from a folder (a streamed search's
            held-out images, `tnas.data.stream_split`); runs write them beside split_info.
    """

    train: ImageSet
    valid: ImageSet
    test: ImageSet
    split_info: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[str]] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> DataSplits:
        return DataSplits(
            self.train.to(device), self.valid.to(device), self.test.to(device), dict(self.split_info),
            dict(self.files),
        )

    def items(self) -> list[tuple[str, ImageSet]]:
        return [("train", self.train), ("valid", self.valid), ("test", self.test)]
