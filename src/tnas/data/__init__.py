"""tnas.data: in-memory image datasets with batched tensor augmentation.

    splits = load_dataset("digits")                       # built in, no download
    splits = load_dataset("cifar10", device="cuda", limit=2000)
    for x, y in splits.train.batches(256, generator=g, augment=True): ...

Images live as uint8 [N, C, H, W] on the device; each batch is gathered, randomly cropped and
flipped and normalised there (no DataLoader, no per-sample Python). `download` fetches the
official CIFAR archives with checksum verification.
"""

from __future__ import annotations

from tnas.data import loaders as _loaders  # noqa: F401  (fills the dataset registry)
from tnas.data.augment import augment_batch, channel_stats, default_padding, normalize
from tnas.data.download import ARCHIVES, download
from tnas.data.imageset import DataSplits, ImageSet
from tnas.data.registry import list_datasets, load_dataset, register_dataset

__all__ = [
    "ARCHIVES",
    "DataSplits",
    "ImageSet",
    "augment_batch",
    "channel_stats",
    "default_padding",
    "download",
    "list_datasets",
    "load_dataset",
    "normalize",
    "register_dataset",
]
