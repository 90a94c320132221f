"""Streaming image folders (ImageNet): decode JPEGs per batch with DataLoader workers.

ImageNet does not fit in memory as uint8 tensors, so `data.stream=true` reads
`root/train/<class>/*.JPEG` and `root/val/<class>/*.JPEG` (or `root/test/...`) with Pillow in
worker processes. Training images get the standard Inception-style RandomResizedCrop (scale
0.08-1, aspect 3/4-4/3) and a horizontal flip; evaluation images are resized to side / 0.875 and
center-cropped (256 -> 224). Workers return uint8 [3, S, S]; normalisation (and cutout) runs
batched on the device.

Determinism: each image's augmentation comes from a numpy Generator seeded by
(seed, epoch, index), the order from `DistributedSampler` seeded by (seed, epoch), so an epoch is
reproducible and a resumed run starts the sampler at the interrupted step (`start`).
"""
from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from tnas.data import normalize
from tnas.data.folder import FOLDER_LAYOUT, list_image_folder
from tnas.data.split import stratified_limit
from tnas.data.stream import center_box, open_rgb, random_resized_box
from tnas.data.stream import folder_pools as _folder_pools
from tnas.errors import TnasError
from tnas.run.dist import DistInfo
from tnas.train.config import TrainRunConfig
from tnas.seeds import stream, stream_seed
from tnas.train.batch import Batch, DataInfo, cutout

_log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageFolderStream(Dataset):
    """Image files decoded on demand into uint8 [3, S, S] tensors.

    Args:
        files: image paths; labels: int [N] class ids.
        image_size: output side S in pixels.
        train: random resized crop + flip (seeded per (seed, epoch, index)); else center crop.
        seed: the run's seed. Set `epoch` before creating each epoch's DataLoader iterator.
    """

    def __init__(self, files: list[Path], labels: np.ndarray, image_size: int, train: bool, seed: int) -> None:
        self.files, self.labels = files, labels
        self.image_size, self.train, self.seed = image_size, train, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path = self.files[i]
        img = open_rgb(path)
        s = self.image_size
        if self.train:
            rng = np.random.default_rng([stream_seed(self.seed, "train-augment"), self.epoch, i])
            img = img.resize((s, s), Image.BILINEAR, box=random_resized_box(*img.size, rng))
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            img = img.resize((s, s), Image.BILINEAR, box=center_box(*img.size, s))
        return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()), int(self.labels[i])


class ResumableDistributedSampler(DistributedSampler):
    """DistributedSampler that can start an epoch at sample `start` (a resumed run's position)."""

    start: int = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.start, None)

    def __len__(self) -> int:
        return self.num_samples - self.start


class StreamSource:
    """`BatchSource` over a train/val image folder, decoded by DataLoader workers."""

    def __init__(self, cfg: TrainRunConfig, device: torch.device, dist: DistInfo) -> None:
        d = cfg.data
        if d.root is None:
            raise TnasError(f"data.stream=true needs data.root=DIR: {FOLDER_LAYOUT}.")
        if d.split != "test":
            raise TnasError("data.split=valid is not available for streamed folders: set data.split=test "
                            "(train on train/, evaluate on val/).")
        train_dir, val_dir = _folder_pools(Path(d.root).expanduser())
        train_files, train_labels, classes = list_image_folder(train_dir)
        val_files, val_labels, _ = list_image_folder(val_dir, classes)
        if d.limit is not None:  # class-balanced subsets, as `load_dataset(limit=...)`
            keep = stratified_limit(train_labels, d.limit, np.random.default_rng([d.split_seed, 1, 0]))
            train_files, train_labels = [train_files[i] for i in keep], train_labels[keep]
            keep = stratified_limit(val_labels, d.limit, np.random.default_rng([d.split_seed, 1, 2]))
            val_files, val_labels = [val_files[i] for i in keep], val_labels[keep]
        side = d.image_size or 224
        self.cfg, self.dist, self.device = cfg, dist, device
        self.train = ImageFolderStream(train_files, train_labels, side, d.augment, cfg.seed)
        self.test = ImageFolderStream(val_files, val_labels, side, False, cfg.seed)
        self.local = cfg.train.batch_size // dist.world
        self.sampler = ResumableDistributedSampler(self.train, num_replicas=dist.world, rank=dist.rank,
                                                   shuffle=True, seed=cfg.seed, drop_last=True)
        self.steps_per_epoch = len(self.sampler) // self.local
        if self.steps_per_epoch == 0:
            raise TnasError(f"{train_dir} has {len(train_files)} images, fewer than train.batch_size="
                            f"{cfg.train.batch_size}. Lower train.batch_size.")
        record = {"dataset": "imagefolder", "source": str(Path(d.root)), "stream": True, "split": "test",
                  "protocol_used": "train/ -> val/", "classes": len(classes), "limit": d.limit,
                  "train_images": len(train_files), "test_images": len(val_files), "image_size": [3, side, side]}
        self.info = DataInfo(len(classes), 3, side, len(train_files), len(val_files), record)

    def _loader(self, dataset: Dataset, batch: int, sampler: object | None, drop_last: bool, seed: int) -> DataLoader:
        w = self.cfg.data.workers
        # an explicit generator keeps DataLoader from drawing its worker base seed from the global RNG
        return DataLoader(dataset, batch_size=batch, sampler=sampler, shuffle=False, num_workers=w,
                          drop_last=drop_last, pin_memory=self.device.type == "cuda",
                          generator=torch.Generator().manual_seed(seed), prefetch_factor=4 if w else None)

    def _to_device(self, x: torch.Tensor, y: torch.Tensor) -> Batch:
        x = normalize(x.to(self.device, non_blocking=True), IMAGENET_MEAN, IMAGENET_STD)
        return x, y.to(self.device, non_blocking=True)

    def train_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        self.train.epoch = epoch  # workers copy the dataset when the iterator starts
        self.sampler.set_epoch(epoch)
        self.sampler.start = start * self.local
        loader = self._loader(self.train, self.local, self.sampler, True, stream_seed(self.cfg.seed, "train-loader", epoch))
        for step, (x, y) in enumerate(loader, start):
            x, y = self._to_device(x, y)
            if self.cfg.reg.cutout:
                g = stream(self.cfg.seed, "train-cutout", epoch, step, self.dist.rank)
                x = cutout(x, self.cfg.reg.cutout, g)
            yield x, y

    def eval_batches(self, split: str = "test") -> Iterator[Batch] | None:
        """The test folder (val/ or test/); a streamed run has no validation set (data.split=test)."""
        if split != "test":
            return None
        return self._test_batches()

    def _test_batches(self) -> Iterator[Batch]:
        shard = Subset(self.test, range(self.dist.rank, len(self.test), self.dist.world))
        for x, y in self._loader(shard, self.cfg.train.eval_batch_size, None, False, 0):
            yield self._to_device(x, y)
