"""Readers for the on-disk formats users have: CIFAR python batches, NB201's ImageNet16 pickle
batches and the shared JPEG `.npz` (with a decoded-pixel cache).

Readers return numpy arrays: images uint8 [N, C, H, W] and labels int64 [N]. Every problem with
a file raises `TnasError` naming the file, the layout that was expected and how to get it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from tnas.errors import TnasError

log = logging.getLogger(__name__)

CACHE_ENV = "TNAS_CACHE"

# The only globals a CIFAR / ImageNet16 batch pickle (or a NATS-Bench result file) needs: numpy
# arrays and dtypes, OrderedDict. Anything else (a pickle can run arbitrary code) is refused.
_NUMPY_GLOBALS = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer", "frombuffer"}
_NUMPY_MODULES = {
    "numpy",
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
}


class PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: containers, numbers, strings, numpy arrays. Any other global
    raises pickle.UnpicklingError('refusing to load global ...') before anything runs."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in (("_codecs", "encode"), ("collections", "OrderedDict")):  # protocol-2 bytes
            return super().find_class(module, name)
        if module in _NUMPY_MODULES and name in _NUMPY_GLOBALS:
            # numpy 2 moved numpy.core to numpy._core; old (Python 2) pickles name the old module.
            module = module.replace("numpy.core", "numpy._core")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def load_batch_pickle(path: Path, layout: str, fix: str) -> dict[str, object]:
    """Load one batch pickle (a dict of numpy arrays / lists) with only numpy globals allowed.

    Args:
        path: the batch file.
        layout: words for the expected layout, used in errors.
        fix: how to get a good copy, used in errors.

    Returns:
        The dict with str keys (Python 2 byte-string keys decoded as latin-1).
    """
    try:
        with open(path, "rb") as f:
            obj = PlainUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise TnasError(f"Missing file {path}. Expected {layout}. {fix}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        LookupError,  # _codecs.encode with an unknown codec (protocol-2 bytes go through it)
        OverflowError,
    ) as e:
        raise TnasError(f"Could not read {path} as a batch pickle ({e}). Expected {layout}. {fix}") from None
    if not isinstance(obj, dict):
        raise TnasError(f"{path} holds a {type(obj).__name__}, not a dict. Expected {layout}. {fix}")
    return {k.decode("latin1") if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def batch_arrays(
    path: Path, label_key: str, side: int, layout: str, fix: str
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 3, side, side] and labels int64 [N] from one CIFAR-style batch pickle.

    Rows of 'data' are 3 * side * side bytes: the red plane, then green, then blue, row-major
    (the CIFAR and downsampled-ImageNet convention), so a reshape gives channels-first images.
    """
    d = load_batch_pickle(path, layout, fix)
    if "data" not in d or label_key not in d:
        raise TnasError(
            f"{path} has keys {sorted(d)}; expected 'data' and '{label_key}'. Expected {layout}. {fix}"
        )
    data = np.asarray(d["data"])
    labels = np.asarray(d[label_key], dtype=np.int64)
    if (
        data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != 3 * side * side
        or len(labels) != len(data)
    ):
        raise TnasError(
            f"{path}: 'data' is {data.dtype} {list(data.shape)} with {len(labels)} labels; expected uint8 "
            f"[N, {3 * side * side}] and N labels. Expected {layout}. {fix}"
        )
    return data.reshape(-1, 3, side, side), labels


# ----------------------------------------------------------------------------- JPEG npz (shared data)


def npz_layout(path: Path) -> str:
    return (
        f"a numpy .npz at {path} with keys 'jpeg' (uint8 bytes), 'offsets' (int64 [N+1]) and 'labels' "
        "(uint8 [N]), as described in shared/data/README.md section 2"
    )


# what np.load raises for a missing key, a truncated, empty or non-zip file
_NPZ_ERRORS = (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile)


def read_npz_index(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(jpeg bytes uint8 [T], offsets int64 [N+1], labels int64 [N]) of a shared JPEG npz."""
    if not path.is_file():
        raise TnasError(
            f"Missing file {path}. Expected {npz_layout(path)}. Set TNAS_DATA to the shared data root."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            jpeg, offsets, labels = z["jpeg"], z["offsets"].astype(np.int64), z["labels"].astype(np.int64)
    except _NPZ_ERRORS as e:
        raise TnasError(f"Could not read {path} ({type(e).__name__}: {e}); the file is truncated or not such an "
                        f"archive. Expected {npz_layout(path)}. Restore or re-create the file.") from None
    if len(offsets) != len(labels) + 1 or offsets[-1] != len(jpeg):
        raise TnasError(
            f"{path}: {len(offsets)} offsets for {len(labels)} labels. Expected {npz_layout(path)}."
        )
    return jpeg, offsets, labels


def write_jpeg_folder(path: Path, out: Path, per_class: int | None = None) -> int:
    """Write a shared JPEG npz as an image folder, OUT/<its 'names' entry> (e.g. train/<class>/0001.jpg),
    the JPEG bytes unchanged; at most `per_class` images per class (the first ones). Returns the
    number of files written. (CIFAR-10 as an ImageNet-style folder, for streamed-search tests and
    benchmarks.)"""
    jpeg, offsets, labels = read_npz_index(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            names = [str(n) for n in z["names"]]
    except _NPZ_ERRORS as e:
        raise TnasError(f"{path} has no 'names' of its images ({type(e).__name__}: {e}); only the shared layout's "
                        "npz files can be written as a folder.") from None
    seen: dict[int, int] = {}
    for i, name in enumerate(names):
        seen[int(labels[i])] = k = seen.get(int(labels[i]), 0) + 1
        if per_class is not None and k > per_class:
            continue
        dest = out / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(jpeg[offsets[i] : offsets[i + 1]].tobytes())
    return sum(min(k, per_class or k) for k in seen.values())


def read_npz_labels(path: Path) -> np.ndarray:
    """Labels int64 [N] of a shared JPEG npz, without reading the image bytes."""
    if not path.is_file():
        raise TnasError(
            f"Missing file {path}. Expected {npz_layout(path)}. Set TNAS_DATA to the shared data root."
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["labels"].astype(np.int64)
    except _NPZ_ERRORS as e:
        raise TnasError(f"Could not read {path} ({type(e).__name__}: {e}); the file is truncated or not such an "
                        f"archive. Expected {npz_layout(path)}. Restore or re-create the file.") from None


def decode_jpegs(jpeg: np.ndarray, offsets: np.ndarray, indices: np.ndarray, path: Path) -> np.ndarray:
    """Decode the JPEGs at `indices` with Pillow -> uint8 [len(indices), 3, H, W] (RGB)."""
    out = None
    for row, i in enumerate(indices):
        try:
            img = Image.open(io.BytesIO(jpeg[offsets[i] : offsets[i + 1]].tobytes())).convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise TnasError(
                f"{path}: image {i} is not a valid JPEG ({e}). Expected {npz_layout(path)}."
            ) from None
        arr = np.asarray(img)
        if out is None:
            out = np.empty((len(indices), 3, arr.shape[0], arr.shape[1]), dtype=np.uint8)
        out[row] = arr.transpose(2, 0, 1)
    return out if out is not None else np.empty((0, 3, 32, 32), dtype=np.uint8)


def cache_dir() -> Path:
    """$TNAS_CACHE, else ~/.cache/tnas (where decoded pixels are kept)."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "tnas").expanduser()


def _cache_path(src: Path) -> Path:
    st = src.stat()
    key = hashlib.sha1(f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / f"{src.stem}-{key}.npy"


def _write_cache(path: Path, images: np.ndarray) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written cache."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.part")
        with os.fdopen(fd, "wb") as f:
            np.save(f, images)
        os.replace(tmp, path)
    except OSError as e:  # a read-only home must not stop training
        log.warning(
            "could not write the decoded-image cache %s (%s); set %s to a writable folder", path, e, CACHE_ENV
        )


def read_jpeg_npz(path: Path, indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [M, 3, H, W] and labels int64 [M] from a shared JPEG npz.

    Decoding all 60k CIFAR-10 images takes ~7 s, so a full decode is cached as .npy in
    `cache_dir()`, keyed by the source's path, size and mtime. With `indices` only those images
    are decoded (or read from an existing cache through a memory map).

    Args:
        path: the .npz file.
        indices: int64 rows to read, in the order wanted; None reads all.
    """
    jpeg, offsets, labels = read_npz_index(path)
    cached = _cache_path(path)
    rows = np.arange(len(labels)) if indices is None else np.asarray(indices, dtype=np.int64)
    if cached.is_file():
        try:
            images = np.load(cached, mmap_mode="r", allow_pickle=False)
            if images.shape[0] == len(labels):
                return np.ascontiguousarray(images[rows] if indices is not None else images), labels[rows]
        except (ValueError, OSError) as e:
            log.warning("ignoring unreadable cache %s (%s)", cached, e)
    if indices is not None:
        return decode_jpegs(jpeg, offsets, rows, path), labels[rows]
    log.info("decoding %d JPEG images from %s (cached afterwards in %s)", len(labels), path, cached.parent)
    images = decode_jpegs(jpeg, offsets, rows, path)
    _write_cache(cached, images)
    return images, labels
