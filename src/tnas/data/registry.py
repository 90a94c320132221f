"""Dataset registry and `load_dataset`.

A loader is `fn(root, opts) -> DataSplits` (on the CPU), registered with
`@register_dataset("name")`. `load_dataset` checks the options, calls it, optionally resizes,
and moves the images to the device.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tnas.data.augment import channel_stats
from tnas.data.imageset import DataSplits, ImageSet
from tnas.data.split import plan_splits
from tnas.errors import TnasError
from tnas.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadOptions:
    """What every loader gets besides the root (see `load_dataset` for the meaning)."""

    split_seed: int = 0
    limit: int | None = None
    valid_fraction: float = 0.5
    image_size: int | None = None


Loader = Callable[[Path | None, LoadOptions], DataSplits]
DATASETS: Registry[Loader] = Registry("dataset", "Run `tnas data info NAME` with one of these names.")


def register_dataset(*names: str) -> Callable[[Loader], Loader]:
    """Decorator: register a loader under one or more names."""
    return DATASETS.register(*names)


def list_datasets() -> list[str]:
    return DATASETS.names()


def load_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    device: torch.device | str = "cpu",
    split_seed: int = 0,
    limit: int | None = None,
    valid_fraction: float = 0.5,
    image_size: int | None = None,
) -> DataSplits:
    """Load a dataset's train / valid / test splits into memory on `device`.

    Args:
        name: 'digits' (built in, no download), 'cifar10' (alias 'cifar10-valid'), 'cifar100',
            'imagenet16-120' or 'imagefolder'; see `tnas.data.loaders` for each layout and split.
        root: where the data is; None searches $TNAS_DATA and ../shared/data.
        device: where the uint8 images live (and batches are made).
        split_seed: seeds the train/valid/test split (recorded in `split_info`).
        limit: keep at most this many images per split, class-balanced and seeded, chosen before
            decoding (for CPU proxies and tests); None keeps all.
        valid_fraction: share of the held-out pool used as valid (see each loader).
        image_size: resize images to image_size x image_size (antialiased bilinear) if they
            differ; None keeps the native size.
    """
    loader = DATASETS.get(name)
    if not isinstance(split_seed, int) or not 0 <= split_seed <= 2**32 - 1:
        raise TnasError(f"split_seed must be an integer in 0..{2**32 - 1}, got {split_seed}.")
    if limit is not None and limit < 1:
        raise TnasError(f"limit must be a positive number of images per split or None, got {limit}.")
    if not 0.0 < valid_fraction < 1.0:
        raise TnasError(f"valid_fraction must be strictly between 0 and 1, got {valid_fraction}.")
    if image_size is not None and image_size < 1:
        raise TnasError(f"image_size must be a positive number of pixels or None, got {image_size}.")
    opts = LoadOptions(int(split_seed), limit, float(valid_fraction), image_size)
    splits = loader(Path(root).expanduser() if root is not None else None, opts)
    if image_size is not None:
        splits = DataSplits(*(_resized(s, image_size) for _, s in splits.items()), splits.split_info)
    splits.split_info["image_size"] = list(splits.train.shape[1:])
    return splits.to(device)


def _resized(s: ImageSet, size: int) -> ImageSet:
    if s.shape[1:] == (size, size):
        return s
    out = torch.empty((len(s), s.shape[0], size, size), dtype=torch.uint8)
    for start in range(0, len(s), 4096):  # chunks keep the float copy small
        x = s.images[start : start + 4096].float()
        y = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + 4096] = y.round_().clamp_(0, 255).to(torch.uint8)
    return replace(s, images=out, crop_padding=None if s.crop_padding else 0)


def build_splits(
    name: str,
    pools: dict[str, np.ndarray],
    read: Callable[[str, np.ndarray], np.ndarray],
    protocol: str,
    opts: LoadOptions,
    meta: dict,
) -> DataSplits:
    """Plan the split on labels, decode only the rows needed and wrap them in ImageSets.

    Args:
        name: dataset name for the ImageSets and split_info.
        pools: pool name -> labels int [N] (see `plan_splits`).
        read: (pool name, sorted rows) -> uint8 images [len(rows), C, H, W].
        protocol: split protocol (see `plan_splits`).
        opts: the load options.
        meta: num_classes, mean and std (None: computed from the train split), flip, source,
            and anything else to record in split_info.
    """
    _check_labels(pools, meta)
    plan = plan_splits(pools, protocol, opts.valid_fraction, opts.split_seed, opts.limit)
    needed = {
        pool: np.unique(np.concatenate([idx for p, idx in plan.values() if p == pool])) for pool in pools
    }
    images = {pool: read(pool, rows) for pool, rows in needed.items()}
    # rows of `images[pool]` holding each split's indices
    arrays = {
        s: np.ascontiguousarray(images[p][np.searchsorted(needed[p], idx)]) for s, (p, idx) in plan.items()
    }
    if meta.get("mean"):
        mean, std = meta["mean"], meta["std"]
    else:  # normalise every split with the train statistics
        mean, std = channel_stats(torch.from_numpy(arrays["train"]))
    sets = {
        split: ImageSet(
            images=torch.from_numpy(arrays[split]),
            labels=torch.from_numpy(pools[pool][idx].astype(np.int64)),
            num_classes=meta["num_classes"],
            mean=mean,
            std=std,
            name=f"{name}/{split}",
            flip=meta.get("flip", True),
            index=torch.from_numpy(idx.astype(np.int64)),
        )
        for split, (pool, idx) in plan.items()
    }
    return DataSplits(
        sets["train"], sets["valid"], sets["test"], _split_info(name, pools, protocol, opts, meta, sets)
    )


def _check_labels(pools: dict[str, np.ndarray], meta: dict) -> None:
    """Every pool holds images, and every label is a class index in 0..num_classes-1 (a label
    out of range would otherwise train silently on a wrong target)."""
    where, k = meta.get("source", "the dataset"), meta["num_classes"]
    for pool, labels in pools.items():
        if len(labels) == 0:
            raise TnasError(f"The {pool} images of {where} are empty. Re-create or re-download the files "
                            "(tnas data download), or point data.root at a complete copy.")
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= k:
            raise TnasError(f"The {pool} labels of {where} run from {low} to {high}, but its {k} classes need labels "
                            f"0..{k - 1}: the files are corrupt or of another dataset. Re-download them (tnas data "
                            "download) or point data.root at the right folder.")


def _split_info(name: str, pools: dict, protocol: str, opts: LoadOptions, meta: dict, sets: dict) -> dict:
    """The JSON-able record of how the split was made (stored in run directories)."""
    return {
        "dataset": name,
        "protocol": protocol,
        "split_seed": opts.split_seed,
        "valid_fraction": opts.valid_fraction,
        "limit": opts.limit,
        "sizes": {k: len(v) for k, v in sets.items()},
        "pools": {k: int(len(v)) for k, v in pools.items()},
        "mean_std": "NB201 constants" if meta.get("mean") else "computed from the train split",
        # the normalisation (x / 255 - mean) / std every split gets: an exported network expects it
        "mean": list(sets["train"].mean), "std": list(sets["train"].std),
        **{k: v for k, v in meta.items() if k not in ("mean", "std", "flip")},
    }
