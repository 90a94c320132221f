"""Streamed image sets: image files decoded and augmented per batch by DataLoader worker processes,
so that a training set of any size (ImageNet: 1.28M images) never sits in memory.

`StreamedImageSet` answers the calls the search makes of an in-memory `ImageSet` (`batches`,
`random_batch`, `shape`, `num_classes`, `len`) plus `epoch_batches`, which starts an epoch at any
step without decoding the skipped batches (a resumed run). Its batches are (x float [B, 3, S, S]
normalised, y long [B]) on its device; the workers return uint8 [3, S, S] per image, normalisation
runs batched on the device.

Augmentation (Inception / SPOS style, as `tnas train`): a random resized crop (scale 0.08-1,
aspect 3/4-4/3) to S x S and a horizontal flip; unaugmented images are resized to S / 0.875 and
center-cropped. Each image's augmentation comes from a numpy Generator seeded by (a draw of the
caller's generator per pass, the image's position in the pass), so a pass is reproducible, workers
need no state, and the caller's generator advances by the same amount however many batches are read.

Memory: at most `workers x PREFETCH` batches of uint8 [B, 3, S, S] are in flight (2 without
workers), plus the float batch on the device, whatever the number of images; the file list costs
about 100 bytes per image, an epoch's order 8 bytes per image.
"""
from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tnas.data.augment import normalize
from tnas.data.folder import FOLDER_LAYOUT
from tnas.errors import TnasError

EVAL_CROP = 0.875  # center crop share of the resized side (224 of 256)
PREFETCH = 2  # batches each worker decodes ahead
NO_AUGMENT = None  # the augmentation seed of an unaugmented image
Key = tuple[int, "tuple[int, int] | None"]  # (image index, augmentation seed (pass draw, position) or NO_AUGMENT)


_log = logging.getLogger(__name__)


def random_resized_box(width: int, height: int, rng: np.random.Generator, scale: tuple[float, float] = (0.08, 1.0),
                       ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """A random crop box (left, top, right, bottom) covering `scale` of the area at aspect `ratio`.

    torchvision's RandomResizedCrop rule: 10 tries, then the largest central box within `ratio`.
    """
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top, left = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
            return left, top, left + w, top + h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def center_box(width: int, height: int, side: int) -> tuple[int, int, int, int]:
    """The box of the center `side` x `side` crop after resizing the short side to side / 0.875.

    Returned in the original image's coordinates so resize and crop are one Pillow call.
    """
    short = min(width, height)
    crop = short * EVAL_CROP  # the crop's side in original pixels
    left, top = (width - crop) / 2, (height - crop) / 2
    return round(left), round(top), round(left + crop), round(top + crop)


def open_rgb(path: Path) -> Image.Image:
    """An image file decoded to RGB; a clear error naming the file when it cannot be decoded (not an
    image, empty, truncated, unreadable, a link loop) or is a decompression bomb (more pixels than
    Pillow's Image.MAX_IMAGE_PIXELS: refused, never decoded)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return img.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TnasError(f"Refusing image {path}: {e} Remove or shrink it (or raise PIL.Image.MAX_IMAGE_PIXELS in your "
                        "own code if you trust the file).") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as e:
        # Pillow reports some damaged files as SyntaxError / ValueError / EOFError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise TnasError(f"Could not decode image {path} ({reason}). Remove or replace the file; expected "
                        f"{FOLDER_LAYOUT}.") from None


def folder_pools(root: Path) -> tuple[Path, Path]:
    """ROOT/train and ROOT/val (or ROOT/test), or a TnasError naming the missing one."""
    held = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
    if not (root / "train").is_dir() or held is None:
        raise TnasError(f"Streaming needs {root}/train/<class>/... and {root}/val/<class>/... (ImageNet layout); "
                        f"found no {'train' if not (root / 'train').is_dir() else 'val or test'} folder. "
                        "Set data.root to the folder holding train/ and val/.")
    return root / "train", held


class FolderImages(Dataset):
    """Image files read by key (index, augmentation seed) into (uint8 [3, S, S], label): stateless,
    so workers need no epoch and any order works. Seed NO_AUGMENT = center crop, else a random
    resized crop and flip drawn from numpy's Generator(seed)."""

    def __init__(self, root: Path, files: Sequence[str], labels: np.ndarray, image_size: int) -> None:
        self.root, self.files, self.labels, self.image_size = root, files, labels, image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: Key) -> tuple[Tensor, int]:
        i, seed = key
        path = self.root / self.files[i]
        try:
            img = open_rgb(path)
        except TnasError:  # reported by `decode` in the main process: never as a worker traceback
            s = self.image_size
            return torch.zeros(3, s, s, dtype=torch.uint8), -1 - i
        s = self.image_size
        if seed is NO_AUGMENT:
            img = img.resize((s, s), Image.BILINEAR, box=center_box(*img.size, s))
        else:
            rng = np.random.default_rng(seed)
            img = img.resize((s, s), Image.BILINEAR, box=random_resized_box(*img.size, rng))
            if rng.random() < 0.5:
                img = img.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()), int(self.labels[i])


def decode(images: FolderImages, keys: Iterable[Sequence[Key]], workers: int, pin: bool = False,
           skipped: list[str] | None = None, drop: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
    """(uint8 [b, 3, S, S], long [b]) per list of keys, decoded by `workers` processes (0: here).
    A file that does not decode is a TnasError naming it, raised here (tnas's own message); with a
    `skipped` list (data.skip_bad=true) its path is appended to the list and logged once, and its
    row dropped (`drop`; the batch is then smaller by one) or left blank (zeros, label < 0)."""
    loader = DataLoader(images, batch_sampler=keys, num_workers=workers, pin_memory=pin,
                        prefetch_factor=PREFETCH if workers else None)
    for x, y in loader:
        if bool((y < 0).any()):
            bad = [-1 - int(v) for v in y[y < 0]]
            if skipped is None:
                path = images.root / images.files[bad[0]]
                open_rgb(path)  # raises, with the reason, in this process
                raise TnasError(f"Could not decode image {path} in a data worker. Remove or replace the file.")
            for i in bad:
                path = str(images.root / images.files[i])
                if path not in skipped:
                    _log.warning("skipping image %s: it does not decode (data.skip_bad=true)", path)
                    skipped.append(path)
            if drop:
                keep = y >= 0
                x, y = x[keep], y[keep]
        yield x, y


class StreamedImageSet:
    """A labelled image set read from files batch by batch (see the module docstring).

    Args:
        images: the files; their labels are `images.labels`.
        num_classes, mean, std, name: as `ImageSet` (mean / std of x / 255, per channel).
        device: where batches are delivered.
        workers: decoding processes (0 decodes in this process).
    """

    def __init__(self, images: FolderImages, num_classes: int, mean: Sequence[float], std: Sequence[float],
                 name: str, device: torch.device, workers: int) -> None:
        self.images, self.num_classes, self.name = images, num_classes, name
        self.mean, self.std = tuple(mean), tuple(std)
        self.device, self.workers = torch.device(device), workers
        self.labels = torch.as_tensor(images.labels, dtype=torch.long)
        self.rows: tuple[int, int] | None = None  # `shard`: the rows of each batch this rank decodes
        self.skip_bad = False  # data.skip_bad: a file that fails to decode is skipped (listed in `skipped`), not an error
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one delivered image."""
        return 3, self.images.image_size, self.images.image_size

    def to(self, device: torch.device | str) -> StreamedImageSet:
        self.device = torch.device(device)
        return self

    def shard(self, rank: int, world: int) -> None:
        """Under torchrun, training batches decode only this rank's contiguous share of the rows
        (the slice its data-parallel step reads); the other rows stay zero, never read."""
        self.rows = None if world <= 1 else (rank, world)

    def _order(self, generator: torch.Generator, shuffle: bool, augment: bool) -> tuple[Tensor, int | None]:
        """One pass: the order long [N] (from `generator`) and its augmentation draw (None: unaugmented)."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        base = int(torch.randint(0, 2**62, (1,), generator=generator)) if augment else None
        return order, base

    @staticmethod
    def _keys(order: Tensor, base: int | None, lo: int, hi: int) -> list[Key]:
        """The keys of positions lo..hi-1 of a pass (made per batch: a pass is 8 bytes per image)."""
        return [(i, NO_AUGMENT if base is None else (base, pos)) for pos, i in zip(range(lo, hi), order[lo:hi].tolist())]

    def _deliver(self, keys: Iterator[list[Key]], rows: tuple[int, int] | None) -> Iterator[tuple[Tensor, Tensor]]:
        """Decode the batches of `keys` (only `rows` = (rank, world)'s share of each) onto the device."""
        full, todo = itertools.tee(keys)  # the loader reads ahead by its prefetch: tee buffers that many
        if rows is not None:
            todo = (b[rows[0] * len(b) // rows[1] : (rows[0] + 1) * len(b) // rows[1]] for b in todo)
        skipped = self.skipped if self.skip_bad else None
        batches = decode(self.images, todo, self.workers, self.device.type == "cuda", skipped, drop=rows is None)
        for b, (x, y) in zip(full, batches):
            x = normalize(x.to(self.device, non_blocking=True), self.mean, self.std)
            if rows is not None:  # place this rank's rows in a zero batch of the global size
                lo = rows[0] * len(b) // rows[1]
                out = torch.zeros((len(b), *x.shape[1:]), device=self.device)
                out[lo : lo + len(x)] = x  # a skipped file's row stays blank: every rank keeps the global batch
                x = out
                yield x, self.labels[[i for i, _ in b]].to(self.device)
            else:
                yield x, y.to(self.device)  # a skipped file's row is dropped

    def batches(self, batch_size: int, *, generator: torch.Generator, shuffle: bool = True, augment: bool = False,
                drop_last: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        """One pass of batches (all ranks' rows; see `ImageSet.batches`)."""
        n = len(self)
        if batch_size < 1 or (drop_last and n < batch_size):
            raise TnasError(f"Streamed set '{self.name}' has {n} images; batch_size={batch_size} must be "
                            "between 1 and that. Lower the batch size.")
        order, base = self._order(generator, shuffle, augment)
        stop = n - n % batch_size if drop_last else n
        keys = (self._keys(order, base, s, min(s + batch_size, n)) for s in range(0, stop, batch_size))
        return self._deliver(keys, None)

    def epoch_batches(self, batch_size: int, *, generator: torch.Generator, steps: int, start: int = 0,
                      augment: bool = True) -> Iterator[tuple[Tensor, Tensor]]:
        """Batches `start`..`steps - 1` of a training epoch of `steps` batches (shuffled passes,
        drop_last each, as many as needed). The generator advances as for the whole epoch, so a run
        resumed at `start` continues exactly; skipped batches are not decoded."""
        per_pass = len(self) // batch_size
        if per_pass == 0:
            raise TnasError(f"Streamed set '{self.name}' has {len(self)} images, fewer than batch_size={batch_size}.")
        passes = [self._order(generator, True, augment) for _ in range(math.ceil(steps / per_pass))]
        keys = (self._keys(*passes[t // per_pass], lo, lo + batch_size)
                for t in range(start, steps) for lo in [(t % per_pass) * batch_size])
        return self._deliver(keys, self.rows)

    def random_batch(self, batch_size: int, generator: torch.Generator, *,
                     augment: bool = False) -> tuple[Tensor, Tensor]:
        """One batch of distinct random images, as `ImageSet.random_batch` (e.g. BN calibration)."""
        order, base = self._order(generator, True, augment)
        return next(self._deliver(iter([self._keys(order, base, 0, min(batch_size, len(self)))]), None))

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "size": len(self), "shape": list(self.shape), "num_classes": self.num_classes,
                "mean": list(self.mean), "std": list(self.std), "streamed": True, "workers": self.workers}
