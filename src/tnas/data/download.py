"""Download the official CIFAR archives with checksum verification.

The archive is streamed into a temporary folder inside `root`, its md5 checked against the
published value, extracted there (only regular files and folders under the expected top folder;
no absolute paths, no '..', no links) and then renamed into place in one step. Any failure
removes the temporary folder, so nothing half-written is left behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from tnas.errors import TnasError, unknown, write_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archive:
    """An official dataset archive: where it is, its md5 and what it unpacks to."""

    url: str
    md5: str
    folder: str
    files: tuple[str, ...]


# URLs and md5 sums published on https://www.cs.toronto.edu/~kriz/cifar.html.
ARCHIVES: dict[str, Archive] = {
    "cifar10": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
        "cifar-10-batches-py",
        tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
    ),
    "cifar100": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
        "cifar-100-python",
        ("train", "test"),
    ),
}

_CHUNK = 1 << 20


def download(
    name: str,
    root: str | os.PathLike,
    *,
    url: str | None = None,
    md5: str | None = None,
    progress: bool = True,
) -> Path:
    """Fetch, verify and unpack an official archive into `root`.

    Args:
        name: 'cifar10' or 'cifar100'.
        root: folder to unpack into (created if needed); the result is `root/<archive folder>`.
        url: a mirror to use instead of the official URL (http, https or file).
        md5: expected md5 of the archive; None uses the official one (a mirror serves the same file).
        progress: show a tqdm progress bar.

    Returns:
        The unpacked folder, e.g. `root/cifar-10-batches-py` (returned at once if already complete).
    """
    if name not in ARCHIVES:
        raise unknown("downloadable dataset", name, ARCHIVES)
    arc = ARCHIVES[name]
    root = Path(root).expanduser()
    target = root / arc.folder
    if _complete(target, arc):
        log.info("%s is already complete at %s", name, target)
        return target
    url = url or arc.url
    _check_url(url)  # before anything is created
    expected = (md5 or arc.md5).strip().lower()
    if len(expected) != 32 or any(c not in "0123456789abcdef" for c in expected):
        raise TnasError(f"Bad --md5 '{md5}': expected 32 hexadecimal digits, e.g. {arc.md5}.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise write_error(root, e) from None
    with tempfile.TemporaryDirectory(dir=root, prefix=".tnas-download-") as tmp:
        archive = Path(tmp) / "archive.tar.gz"
        digest = _fetch(url, archive, progress)
        if digest != expected:
            raise TnasError(
                f"Checksum mismatch for {url}: md5 {digest}, expected {expected}. The file is corrupt or not the "
                f"official {name} archive; nothing was kept in {root}. Retry, or pass --url with a trusted mirror "
                "(and --md5 with its checksum)."
            )
        unpacked = Path(tmp) / "unpacked"
        _extract(archive, unpacked, arc.folder, url)
        missing = [f for f in arc.files if not (unpacked / arc.folder / f).is_file()]
        if missing:
            raise TnasError(
                f"The archive from {url} lacks {arc.folder}/{', '.join(missing)}; nothing was kept in {root}."
            )
        os.replace(unpacked / arc.folder, target)  # atomic: the folder appears complete or not at all
    log.info("%s unpacked to %s", name, target)
    return target


def _complete(target: Path, arc: Archive) -> bool:
    """True if `target` holds the whole archive; an incomplete folder is an error (never overwritten)."""
    if not target.exists():
        return False
    missing = [f for f in arc.files if not (target / f).is_file()]
    if missing:
        raise TnasError(
            f"{target} exists but lacks {', '.join(missing)}. Remove that folder and run the download again."
        )
    return True


def _check_url(url: str) -> None:
    if url.split(":", 1)[0].lower() not in ("http", "https", "file"):
        raise TnasError(f"Unsupported URL '{url}': expected an http://, https:// or file:// address.")


def _fetch(url: str, dest: Path, progress: bool) -> str:
    """Stream `url` into `dest`; return the md5 hex digest of the bytes."""
    md5 = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=PurePosixPath(url).name, disable=not progress
            ) as bar:
                while chunk := resp.read(_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise TnasError(
            f"Could not download {url} ({e}). Check the network connection, or download the file yourself "
            "and pass --url file:///path/to/archive.tar.gz."
        ) from None
    return md5.hexdigest()


def _extract(archive: Path, dest: Path, folder: str, url: str) -> None:
    """Unpack only regular files and folders below `folder/`; anything else is an error."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                parts = PurePosixPath(m.name).parts
                unsafe = m.name.startswith(("/", "\\")) or ".." in parts or not parts or parts[0] != folder
                if unsafe or not (m.isfile() or m.isdir()):
                    raise TnasError(
                        f"The archive from {url} holds an unexpected entry '{m.name}' (expected only files under "
                        f"{folder}/); refusing to unpack it."
                    )
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(dest, members=members, **kwargs)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise TnasError(f"The file from {url} is not a readable tar archive ({e}).") from None
