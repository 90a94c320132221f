"""Training data for `tnas train`: in-memory datasets (batched tensor augmentation + cutout).

Every epoch's batches are a pure function of (seed, epoch): the epoch's generator is derived from
both, so a run resumed at step k of an epoch regenerates that epoch and skips its first k batches
(no data-generator state in the checkpoint). Under torchrun every rank builds the same global
batch and keeps its own contiguous slice; evaluation shards the test set by rank.

ImageNet-sized folders stream from disk instead (`tnas.train.stream`), behind the same
`BatchSource` interface.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import torch

from tnas.data import DataSplits, ImageSet, load_dataset
from tnas.errors import TnasError
from tnas.run.dist import DistInfo
from tnas.seeds import stream
from tnas.train.batch import Batch, BatchSource, DataInfo, cutout
from tnas.train.config import TrainRunConfig

_log = logging.getLogger(__name__)


def _merge(a: ImageSet, b: ImageSet, name: str) -> ImageSet:
    return replace(a, images=torch.cat([a.images, b.images]), labels=torch.cat([a.labels, b.labels]),
                   index=None, name=name)


def protocol_sets(splits: DataSplits, split: str) -> tuple[ImageSet, ImageSet | None, ImageSet, str]:
    """(train set, validation set or None, test set, description) for `data.split`.

    'test' is the standard protocol: train on every image of the training pool, no validation,
    test once on the whole held-out pool (CIFAR-10: 50k train / 10k test; CIFAR-100 and image
    folders: train / all of test or val; digits: the 50 % train half / the other half). 'valid'
    trains on the search's train split, validates on its validation split every epoch (where the
    best epoch is picked) and tests once on its test split: no choice ever looks at the test set.
    """
    if split == "valid":
        return splits.train, splits.valid, splits.test, "train split -> valid split per epoch, test split once"
    name = splits.split_info.get("dataset", "data")
    if splits.split_info.get("protocol") == "holdout-train":  # valid was carved out of the train pool
        return _merge(splits.train, splits.valid, f"{name}/train+valid"), None, splits.test, "train pool -> test pool"
    return splits.train, None, _merge(splits.valid, splits.test, f"{name}/test"), "train pool -> held-out pool"


class InMemorySource:
    """Batches from an in-memory dataset (`tnas.data.load_dataset`), on the device."""

    def __init__(self, cfg: TrainRunConfig, device: torch.device, dist: DistInfo) -> None:
        d = cfg.data
        splits = load_dataset(d.name, d.root, device=device, split_seed=d.split_seed, limit=d.limit,
                              image_size=d.image_size)
        self.train, self.valid, self.test, how = protocol_sets(splits, d.split)
        self.cfg, self.dist = cfg, dist
        self.global_batch = cfg.train.batch_size
        if len(self.train) < self.global_batch:
            raise TnasError(f"The training set has {len(self.train)} images, fewer than train.batch_size="
                            f"{self.global_batch}. Lower train.batch_size or raise data.limit.")
        self.steps_per_epoch = len(self.train) // self.global_batch
        c, h, _ = self.train.shape
        record = {**splits.split_info, "split": d.split, "protocol_used": how,
                  "train_images": len(self.train), "test_images": len(self.test),
                  "valid_images": 0 if self.valid is None else len(self.valid)}
        self.info = DataInfo(self.train.num_classes, c, h, len(self.train), len(self.test), record)

    def train_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        g = stream(self.cfg.seed, "train-data", epoch)
        local = self.global_batch // self.dist.world
        lo = self.dist.rank * local
        batches = self.train.batches(self.global_batch, generator=g, shuffle=True, augment=self.cfg.data.augment)
        for i, (x, y) in enumerate(batches):
            x = cutout(x, self.cfg.reg.cutout, g)  # drawn for skipped batches too: the stream stays aligned
            if i >= start:
                yield x[lo : lo + local], y[lo : lo + local]

    def eval_batches(self, split: str = "test") -> Iterator[Batch] | None:
        """This rank's shard of the test (or validation) set; None when there is no such set."""
        held = self.test if split == "test" else self.valid
        if held is None:
            return None
        shard = held.subset(torch.arange(self.dist.rank, len(held), self.dist.world))
        if len(shard) == 0:
            return iter(())
        return shard.batches(self.cfg.train.eval_batch_size, generator=torch.Generator(), shuffle=False,
                             augment=False, drop_last=False)


def make_source(cfg: TrainRunConfig, device: torch.device, dist: DistInfo) -> BatchSource:
    """The in-memory source, or the streaming one for `data.stream=true` image folders."""
    if cfg.train.batch_size % dist.world:  # checked before any data is read
        raise TnasError(f"train.batch_size={cfg.train.batch_size} must be divisible by the {dist.world} torchrun "
                        "processes: each rank trains on an equal slice of the global batch.")
    if cfg.data.stream:
        from tnas.train.stream import StreamSource

        return StreamSource(cfg, device, dist)
    return InMemorySource(cfg, device, dist)
