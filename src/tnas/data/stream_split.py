"""The splits of a streamed search (`data.stream=true`) on ROOT/train/<class>/ and ROOT/val/<class>/:

    train/ minus the held-out images  -> train   (the supernet's weights; streamed)
    `holdout` images of train/        -> valid   (scoring architectures; decoded once, in memory)
    val/ (or test/)                   -> test    (reported only; streamed)

as SPOS does on ImageNet (50,000 training images held out for the search, the official validation
set kept for the final report). The held-out images are class-stratified and drawn with
`split_seed`; their list (paths relative to train/) goes into the run directory (holdout.txt), so
the split can be checked and reproduced. Normalisation: the held-out set's per-channel mean / std.

Memory: the held-out set (holdout x 3 x S x S bytes on the device) and the streamed sets' bound
(`tnas.data.stream`), whatever the size of the folders.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from tnas.data.folder import list_image_folder, scan_files
from tnas.data.imageset import DataSplits, ImageSet
from tnas.data.split import stratified_limit
from tnas.data.stream import NO_AUGMENT, FolderImages, StreamedImageSet, decode, folder_pools
from tnas.errors import TnasError

_log = logging.getLogger(__name__)

DEFAULT_SIDE = 224  # data.image_size=None: the ImageNet convention
HOLDOUT_FILE = "holdout.txt"
SKIPPED_FILE = "skipped_files.txt"  # data.skip_bad=true: the bad files the scan skipped, one per line with the reason


def _listing(folder: Path, classes: list[str] | None) -> tuple[list[str], np.ndarray, list[str]]:
    """Paths relative to `folder` (compact: ~100 bytes per image), labels int64 [N], class names."""
    files, labels, classes = list_image_folder(folder, classes)
    return [str(p.relative_to(folder)) for p in files], labels, classes


def _limited(files: list[str], labels: np.ndarray, limit: int | None, rng: np.random.Generator
             ) -> tuple[list[str], np.ndarray]:
    if limit is None:
        return files, labels
    keep = stratified_limit(labels, limit, rng)
    return [files[i] for i in keep], labels[keep]


def _decode_all(images: FolderImages, workers: int) -> torch.Tensor:
    """Every image of `images`, center-cropped: uint8 [N, 3, S, S] (decoded by the workers)."""
    keys = [(i, NO_AUGMENT) for i in range(len(images))]
    batches = [keys[s : s + 256] for s in range(0, len(keys), 256)]
    return torch.cat([x for x, _ in decode(images, batches, workers)])


def _mean_std(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of uint8 [N, C, H, W] / 255."""
    v = x.transpose(0, 1).reshape(x.shape[1], -1).double() / 255
    return v.mean(1).tolist(), v.std(1).clamp_min(1e-3).tolist()


def open_stream(root: str | Path, *, holdout: int, image_size: int | None, split_seed: int, limit: int | None,
                workers: int, device: torch.device | str = "cpu", skip_bad: bool = False) -> DataSplits:
    """The streamed train / in-memory held-out valid / streamed test splits of an image folder.

    Args:
        root: folder holding train/<class>/ and val/<class>/ (or test/<class>/).
        holdout: images of train/ held out for scoring architectures (class-stratified).
        image_size: side S of every delivered image (None: 224).
        split_seed: seeds the held-out draw (and `limit`'s subsets).
        limit: at most this many images of train/ and of val/ (class-balanced), e.g. for tests.
        workers: decoding processes per streamed set.
        skip_bad: bad files are skipped instead of an error: those the scan finds are left out of
            the splits and listed in `files['skipped_files.txt']`; one that fails to decode during
            training is dropped from its batch and logged (`StreamedImageSet.skipped`).
    Returns:
        DataSplits whose `files['holdout.txt']` lists the held-out images (relative to train/).
    """
    root = Path(root).expanduser()
    train_dir, test_dir = folder_pools(root)
    files, labels, classes = _listing(train_dir, None)
    test_files, test_labels, _ = _listing(test_dir, classes)
    files, labels = _limited(files, labels, limit, np.random.default_rng([split_seed, 1, 0]))
    test_files, test_labels = _limited(test_files, test_labels, limit, np.random.default_rng([split_seed, 1, 2]))
    # before the run directory is claimed: a bad file is an error now, not hours into an epoch
    bad = scan_files([train_dir / f for f in files] + [test_dir / f for f in test_files], skip_bad=skip_bad)
    if bad:
        _log.warning("data.skip_bad=true: skipping %d bad image file(s), listed in %s (first: %s: %s)", len(bad),
                     SKIPPED_FILE, *next(iter(bad.items())))
        keep = [i for i, f in enumerate(files) if train_dir / f not in bad]
        files, labels = [files[i] for i in keep], labels[keep]
        keep = [i for i, f in enumerate(test_files) if test_dir / f not in bad]
        test_files, test_labels = [test_files[i] for i in keep], test_labels[keep]
        if len(set(labels.tolist())) < len(classes):
            raise TnasError(f"After skipping {len(bad)} bad files, a class folder of {train_dir} holds no usable image "
                            f"(classes left: {len(set(labels.tolist()))} of {len(classes)}). Fix or remove the files "
                            f"listed in the warning, or remove the class folder.")
    if not 1 <= holdout < len(files):
        raise TnasError(f"data.holdout={holdout} images cannot be held out of the {len(files)} images in {train_dir}: "
                        f"expected 1 to {len(files) - 1}. Lower data.holdout (SPOS holds out 50000 of ImageNet's "
                        "1.28M).")
    held = stratified_limit(labels, holdout, np.random.default_rng([split_seed, 2, 0]))
    rest = np.setdiff1d(np.arange(len(files)), held)
    side = image_size or DEFAULT_SIDE
    held_images = FolderImages(train_dir, [files[i] for i in held], labels[held], side)
    x = _decode_all(held_images, workers)
    mean, std = _mean_std(x)
    n_cls = len(classes)
    valid = ImageSet(x, torch.as_tensor(labels[held]), n_cls, mean, std, name="imagefolder/valid (held out of train/)",
                     crop_padding=0, flip=False, index=torch.as_tensor(held)).to(device)
    train = StreamedImageSet(FolderImages(train_dir, [files[i] for i in rest], labels[rest], side), n_cls, mean, std,
                             "imagefolder/train (streamed)", torch.device(device), workers)
    test = StreamedImageSet(FolderImages(test_dir, test_files, test_labels, side), n_cls, mean, std,
                            f"imagefolder/test ({test_dir.name}/, streamed)", torch.device(device), workers)
    train.skip_bad = test.skip_bad = skip_bad
    info = {"dataset": "imagefolder", "source": str(root), "stream": True, "split_seed": split_seed, "limit": limit,
            "protocol": f"train/ minus {holdout} held-out images (class-stratified, split_seed) -> train; the held-out "
                        f"images -> valid ({HOLDOUT_FILE}); {test_dir.name}/ -> test",
            "sizes": {"train": len(rest), "valid": len(held), "test": len(test_files)}, "classes": n_cls,
            "holdout_file": HOLDOUT_FILE, "image_size": [3, side, side], "workers": workers,
            "skipped_by_scan": len(bad)}
    _log.info("streamed image folder %s: %d train (streamed), %d held out (in memory, %.1f MB), %d test (streamed)",
              root, len(rest), len(held), x.numel() / 1e6, len(test_files))
    listed = {HOLDOUT_FILE: [files[i] for i in held]}
    if bad:
        listed[SKIPPED_FILE] = [f"{p}\t{why}" for p, why in bad.items()]
    return DataSplits(train, valid, test, info, files=listed)
