"""The registered datasets: where each one's files are, its split protocol and normalisation.

| name | source | split (f = valid_fraction, default 0.5) | mean/std |
|---|---|---|---|
| digits | scikit-learn `load_digits()`, 1,797 8x8 grey | 50 % train; 50 % -> f / 1-f valid/test | train split |
| cifar10, cifar10-valid | `cifar-10-batches-py/` or shared npz | 50k -> 1-f / f train/valid; test 10k | NB201 |
| cifar100 | `cifar-100-python/` (fine labels) | official train; official test f/(1-f) valid/test | NB201 |
| imagenet16-120 | NB201 `ImageNet16/` pickles, labels 1..120 | official train; val f/(1-f) valid/test | NB201 |
| imagefolder | `root/<class>/*.png` or `root/train`, `root/val` | like digits, or like cifar100 | train split |

All splits are class-stratified and seeded by `split_seed`; NB201's exact split files are not
used (the shared CIFAR-10 copy lost the original order), so the sizes match NB201 but not the
membership.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import numpy as np

from tnas.data.folder import FOLDER_LAYOUT, list_image_folder, read_image_folder
from tnas.data.formats import batch_arrays, read_jpeg_npz, read_npz_labels
from tnas.data.imageset import DataSplits
from tnas.data.registry import LoadOptions, build_splits, register_dataset
from tnas.errors import TnasError
from tnas.paths import data_candidates, find_data

log = logging.getLogger(__name__)

# NB201 / xautodl normalisation constants (pixel / 255), so supernet inputs match NB201 training.
CIFAR10_MEAN, CIFAR10_STD = tuple(x / 255 for x in (125.3, 123.0, 113.9)), tuple(
    x / 255 for x in (63.0, 62.1, 66.7)
)
CIFAR100_MEAN, CIFAR100_STD = tuple(x / 255 for x in (129.3, 124.1, 112.4)), tuple(
    x / 255 for x in (68.2, 65.4, 70.4)
)
IN16_MEAN, IN16_STD = tuple(x / 255 for x in (122.68, 116.66, 104.01)), tuple(
    x / 255 for x in (63.22, 61.26, 65.09)
)

CIFAR10_DIR, CIFAR100_DIR, IN16_DIR = "cifar-10-batches-py", "cifar-100-python", "ImageNet16"
CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
CIFAR100_FILES = ["train", "test"]
IN16_FILES = [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]
NPZ_FILES = ["cifar10_jpeg_q75_train.npz", "cifar10_jpeg_q75_test.npz"]

CIFAR10_LAYOUT = (
    f"{CIFAR10_DIR}/data_batch_1..5 and test_batch (the official CIFAR-10 python version), or "
    "cifar10_jpeg_q75_train.npz and cifar10_jpeg_q75_test.npz (the shared JPEG layout)"
)
CIFAR10_FIX = "Download it with `tnas data download cifar10 --root DIR`, or set TNAS_DATA to the folder holding cifar10/."
CIFAR100_LAYOUT = f"{CIFAR100_DIR}/train and test (the official CIFAR-100 python version)"
CIFAR100_FIX = (
    "Download it with `tnas data download cifar100 --root DIR` and pass --root DIR (or set TNAS_DATA to DIR)."
)
IN16_LAYOUT = f"{IN16_DIR}/train_data_batch_1..10 and val_data (NB201's ImageNet16 pickle batches)"
IN16_FIX = (
    "Get ImageNet16 (the 16x16 downsampled ImageNet from the NAS-Bench-201 authors; it has no public direct "
    "download) and pass --root DIR (or set TNAS_DATA to the folder holding ImageNet16/)."
)


def _dataset_dir(root: Path | None, sub: str, marker: str) -> Path | None:
    """`root` itself if it holds `marker`, else `root/sub`; without root, `sub` under the data roots."""
    if root is not None:
        return root if (root / marker).exists() or root.name == sub else root / sub
    for base in data_candidates():
        if (base / sub).is_dir():
            return (base / sub).resolve()
    return None


def _require(
    folder: Path | None, files: list[str], what: str, layout: str, fix: str, root: Path | None
) -> Path:
    """`folder` if it holds every file in `files`; else a TnasError naming where we looked."""
    if folder is None or not folder.is_dir():
        sub = layout.split("/")[0]
        tried = (
            [str(folder)]
            if folder is not None
            else sorted({str((c / sub).resolve()) for c in data_candidates()})
        )
        raise TnasError(f"No {what} found at {' or '.join(tried)}. Expected {layout}. {fix}")
    missing = [f for f in files if not (folder / f).is_file()]
    if missing:
        raise TnasError(f"{what} folder {folder} lacks {', '.join(missing)}. Expected {layout}. {fix}")
    return folder


@register_dataset("digits")
def load_digits(root: Path | None, opts: LoadOptions) -> DataSplits:
    """The 1,797 real 8x8 handwritten digits of scikit-learn's `load_digits` (UCI optdigits test set), shipped
    with tnas (`tnas/data/digits/`, licence and provenance in its README); no flips (a mirrored digit is another
    shape)."""
    if root is not None:
        log.info("digits ships with tnas; ignoring root %s", root)
    with resources.as_file(resources.files("tnas") / "data" / "digits" / "digits.npz") as path, \
            np.load(path, allow_pickle=False) as z:
        pixels, target = z["pixels"], z["target"]  # uint8 [1797, 8, 8] in 0..16, uint8 [1797]
    # Pixel values are 0..16 (counts of a 4x4 block); scale them to the 0..255 uint8 range.
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)[:, None]
    meta = {"num_classes": 10, "flip": False, "source": "UCI optdigits (as sklearn.datasets.load_digits), bundled"}
    return build_splits(
        "digits", {"all": target.astype(np.int64)}, lambda _, rows: images[rows], "single", opts, meta
    )


@register_dataset("cifar10", "cifar10-valid")
def load_cifar10(root: Path | None, opts: LoadOptions) -> DataSplits:
    """CIFAR-10 as NB201's `cifar10-valid`: train/valid = seeded halves of the 50k train set."""
    meta = {"num_classes": 10, "mean": CIFAR10_MEAN, "std": CIFAR10_STD}
    folder = _dataset_dir(root, CIFAR10_DIR, "data_batch_1")  # lossless official batches first
    if folder is not None and folder.is_dir() and not (root and any((root / n).is_file() for n in NPZ_FILES)):
        _require(folder, CIFAR10_FILES, "CIFAR-10", CIFAR10_LAYOUT, CIFAR10_FIX, root)
        return _from_pickles(
            folder, CIFAR10_FILES[:5], CIFAR10_FILES[5:], "labels", 32, "holdout-train", opts, meta, "cifar10"
        )
    npz_dir = _npz_dir(root)
    paths = {"train": npz_dir / NPZ_FILES[0], "test": npz_dir / NPZ_FILES[1]}
    pools = {pool: read_npz_labels(p) for pool, p in paths.items()}
    read = lambda pool, rows: read_jpeg_npz(paths[pool], None if len(rows) == len(pools[pool]) else rows)[
        0
    ]  # noqa: E731
    meta["source"] = str(npz_dir)
    return build_splits("cifar10", pools, read, "holdout-train", opts, meta)


def _npz_dir(root: Path | None) -> Path:
    if root is None:
        return find_data("cifar10", None, "the CIFAR-10 images", CIFAR10_FIX + f" Expected {CIFAR10_LAYOUT}.")
    for d in (root, root / "cifar10"):
        if (d / NPZ_FILES[0]).is_file():
            return d
    raise TnasError(f"No CIFAR-10 data found at {root}. Expected {CIFAR10_LAYOUT}. {CIFAR10_FIX}")


def _from_pickles(
    folder: Path,
    train: list[str],
    test: list[str],
    label_key: str,
    side: int,
    protocol: str,
    opts: LoadOptions,
    meta: dict,
    name: str,
    layout: str = CIFAR10_LAYOUT,
    fix: str = CIFAR10_FIX,
    label_max: int | None = None,
) -> DataSplits:
    """Build splits from train and test batch pickles (each pool is read whole: pickles are)."""
    arrays = {}
    for pool, files in (("train", train), ("test", test)):
        parts = [batch_arrays(folder / f, label_key, side, layout, fix) for f in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if label_max is not None:  # ImageNet16-120: keep classes 1..120 (1-based), as NB201 does
            keep = (labels >= 1) & (labels <= label_max)
            images, labels = images[keep], labels[keep] - 1
        bad = (labels < 0) | (labels >= meta["num_classes"])
        if bad.any():
            raise TnasError(
                f"{folder}: labels outside 0..{meta['num_classes'] - 1} (e.g. {labels[bad][0]}). Expected {layout}. {fix}"
            )
        arrays[pool] = (images, labels)
    meta = {**meta, "source": str(folder)}
    read = lambda pool, rows: arrays[pool][0][rows]  # noqa: E731
    return build_splits(name, {p: a[1] for p, a in arrays.items()}, read, protocol, opts, meta)


@register_dataset("cifar100")
def load_cifar100(root: Path | None, opts: LoadOptions) -> DataSplits:
    """CIFAR-100 (fine labels) as in NB201: valid/test = seeded halves of the official test set."""
    folder = _require(
        _dataset_dir(root, CIFAR100_DIR, "train"),
        CIFAR100_FILES,
        "CIFAR-100",
        CIFAR100_LAYOUT,
        CIFAR100_FIX,
        root,
    )
    meta = {"num_classes": 100, "mean": CIFAR100_MEAN, "std": CIFAR100_STD}
    return _from_pickles(
        folder,
        ["train"],
        ["test"],
        "fine_labels",
        32,
        "halves-test",
        opts,
        meta,
        "cifar100",
        CIFAR100_LAYOUT,
        CIFAR100_FIX,
    )


@register_dataset("imagenet16-120")
def load_imagenet16(root: Path | None, opts: LoadOptions) -> DataSplits:
    """NB201's ImageNet16-120: 16x16 images of the first 120 classes; valid/test = halves of val."""
    folder = _require(
        _dataset_dir(root, IN16_DIR, "val_data"), IN16_FILES, "ImageNet16", IN16_LAYOUT, IN16_FIX, root
    )
    meta = {"num_classes": 120, "mean": IN16_MEAN, "std": IN16_STD}
    return _from_pickles(
        folder,
        IN16_FILES[:10],
        IN16_FILES[10:],
        "labels",
        16,
        "halves-test",
        opts,
        meta,
        "imagenet16-120",
        IN16_LAYOUT,
        IN16_FIX,
        label_max=120,
    )


@register_dataset("imagefolder")
def load_imagefolder(root: Path | None, opts: LoadOptions) -> DataSplits:
    """Images in class folders; `root/train` + `root/val` (or `root/test`) if present."""
    if root is None:
        raise TnasError(
            f"The imagefolder dataset needs a folder: pass --root DIR (root=...). Expected {FOLDER_LAYOUT}."
        )
    held = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and held is not None:
        train_files, train_labels, classes = list_image_folder(root / "train")
        test_files, test_labels, _ = list_image_folder(held, classes)
        dirs = {"train": root / "train", "test": held}
        pools, protocol = {"train": train_labels, "test": test_labels}, "halves-test"
    else:
        _, labels, classes = list_image_folder(root)
        dirs, pools, protocol = {"all": root}, {"all": labels}, "single"
    read = lambda pool, rows: read_image_folder(dirs[pool], opts.image_size, classes, rows)[0]  # noqa: E731
    meta = {"num_classes": len(classes), "classes": classes, "source": str(root)}
    return build_splits("imagefolder", pools, read, protocol, opts, meta)
