"""Image folders: `root/<class_name>/*.png|jpg`, decoded with Pillow.

Class ids follow the sorted class-folder names (torchvision's ImageFolder convention).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tnas.errors import TnasError

log = logging.getLogger(__name__)

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
FOLDER_LAYOUT = (
    "an image folder: ROOT/<class_name>/<image>.png|jpg (one sub-folder per class), or ROOT/train/<class_name>/... "
    "plus ROOT/val/<class_name>/..."
)


def list_image_folder(
    root: Path, classes: list[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image files, their class ids int64 [N] and the class names, for a class-per-folder tree.

    Args:
        root: folder holding one sub-folder per class.
        classes: the class names to use (e.g. the train folder's, for a val folder); None takes
            the sorted sub-folder names.
    """
    if not root.is_dir():
        raise TnasError(f"Image folder {root} does not exist. Expected {FOLDER_LAYOUT}.")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
    extra = sorted(set(found) - set(classes))
    if extra:
        raise TnasError(
            f"{root} has class folders {extra} that the training folder lacks. Expected {FOLDER_LAYOUT}."
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        for p in sorted((root / name).iterdir()) if (root / name).is_dir() else []:
            if p.suffix.lower() in EXTENSIONS:
                files.append(p)
                labels.append(label)
    if not files:
        raise TnasError(f"No images ({', '.join(EXTENSIONS)}) found under {root}. Expected {FOLDER_LAYOUT}.")
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
    empty = [c for c, n in zip(classes, counts) if n == 0]
    if empty and root.name not in ("val", "test"):  # a held-out folder may lack a class; training may not
        raise TnasError(f"Class folder(s) {', '.join(repr(str(root / c)) for c in empty[:5])} hold no images "
                        f"({', '.join(EXTENSIONS)}), so the network would get an output for a class it never sees. "
                        "Add images or remove the empty folder(s).")
    if len(classes) < 2:
        raise TnasError(f"{root} has {len(classes)} class folder ({', '.join(classes)}); classification needs at least "
                        f"two. Expected {FOLDER_LAYOUT}.")
    return files, np.asarray(labels, dtype=np.int64), list(classes)


MAGIC = ((b"\x89PNG\r\n\x1a\n", 0), (b"\xff\xd8\xff", 0), (b"BM", 0), (b"WEBP", 8))


def _file_problem(path: Path) -> str | None:
    """Why `path` is no usable image file by its metadata and first bytes (None: it looks fine)."""
    import stat as st

    try:
        info = os.stat(path)
        head = b""
        if st.S_ISREG(info.st_mode) and info.st_size > 0:
            with open(path, "rb") as f:
                head = f.read(16)
    except OSError as e:
        return f"cannot be read ({e.strerror}: a broken or looping link, a missing permission)"
    if not head:
        return "is empty (0 bytes)" if st.S_ISREG(info.st_mode) else "is not a regular file"
    if not any(head[at : at + len(m)] == m for m, at in MAGIC):
        return f"is no PNG, JPEG, BMP or WebP image although its name says so (its first bytes are {head[:8]!r})"
    return None


def scan_files(paths: list[Path], sample: int = 64, rng: np.random.Generator | None = None,
               skip_bad: bool = False) -> dict[Path, str]:
    """A fast check of image files before training (issue 24): every file is a readable regular
    file, not empty, with a PNG/JPEG/BMP/WebP signature; a sample of `sample` files is decoded
    fully. Raises a TnasError naming the first bad file, or with `skip_bad` returns every bad one
    found {path: reason} (empty: all good)."""
    bad: dict[Path, str] = {}
    for path in paths:
        why = _file_problem(path)
        if why is not None and not skip_bad:
            raise TnasError(f"Image {path} {why}. Remove or replace it (or set data.skip_bad=true to skip bad "
                            f"files); expected {FOLDER_LAYOUT}.")
        if why is not None:
            bad[path] = why
    rng = rng or np.random.default_rng(0)
    for i in rng.choice(len(paths), size=min(sample, len(paths)), replace=False):
        if paths[int(i)] in bad:
            continue
        try:
            _open(paths[int(i)], None)
        except TnasError as e:
            if not skip_bad:
                raise
            bad[paths[int(i)]] = str(e)
    return bad


def _open(path: Path, size: tuple[int, int] | None) -> Image.Image:
    """One image file decoded (grey or RGB, resized to `size`); bad files and decompression bombs
    are a TnasError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise TnasError(f"Refusing image {path}: {e} Remove or shrink it.") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, EOFError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise TnasError(f"Could not decode image {path} ({reason}). Remove or replace the file; expected "
                        f"{FOLDER_LAYOUT}.") from None
    img = img.convert("L" if img.mode in ("1", "L", "I;16", "I", "F", "LA") else "RGB")
    if size is not None and img.size != size:
        img = img.resize(size, Image.BILINEAR)
    return img


def decode_images(files: list[Path], image_size: int | None) -> np.ndarray:
    """Decode image files into uint8 [N, C, S, S] (C = 1 if every image is grey, else 3).

    Args:
        files: image paths.
        image_size: side S to resize every image to; None takes the first image's size (all must
            then share it or are resized to it, which is logged).
    """
    size = (image_size, image_size) if image_size else None
    images = []
    for path in files:
        img = _open(path, size)
        if size is None:
            size = img.size
            if size[0] != size[1]:
                log.info("image folder: images are %dx%d (not square); pass image_size to resize", *size)
        images.append(img)
    grey = all(img.mode == "L" for img in images)
    out = np.empty((len(images), 1 if grey else 3, size[1], size[0]), dtype=np.uint8)
    for i, img in enumerate(images):
        arr = np.asarray(img if grey else img.convert("RGB"))
        out[i] = arr[None] if grey else arr.transpose(2, 0, 1)
    return out


def read_image_folder(
    root: Path,
    image_size: int | None = None,
    classes: list[str] | None = None,
    select: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images uint8 [N, C, S, S], labels int64 [N] and class names from a class-per-folder tree.

    Args:
        root: folder with one sub-folder per class.
        image_size: side to resize to; None keeps the first image's size.
        classes: class names to use; None takes the sorted sub-folder names.
        select: optional int indices into the sorted file list: only these are decoded.
    """
    files, labels, classes = list_image_folder(root, classes)
    if select is not None:
        files, labels = [files[i] for i in select], labels[select]
    return decode_images(files, image_size), labels, classes
