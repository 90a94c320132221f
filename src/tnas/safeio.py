"""Writes that stay inside their folder (issue 24): every file tnas writes into a run directory or
an export folder goes through these functions.

- `atomic_write` / `atomic_text`: the new content goes to `NAME.tmp`, created with
  O_CREAT | O_EXCL | O_NOFOLLOW (a planted link there is refused, never written through; a stale
  regular `NAME.tmp` left by a crash is removed first), then renamed onto `NAME`, which must be
  absent or a regular file (`lstat`: a symbolic link, folder or FIFO at `NAME` is refused).
- `atomic_path`: the same for writers that insist on a file name (the ONNX exporter): they write
  into a fresh private folder (`mkdtemp`, mode 0700) beside the target, then the file is renamed.
- `append_text`: O_APPEND | O_NOFOLLOW | O_NONBLOCK, and the opened file must be a regular file.
- `ensure_dir`: a sub-folder tnas creates (ckpt/, tb/, export/) must be a real folder, not a link.

A refusal is a TnasError naming the path and what is there; an OSError (full disk, read-only
folder) is one naming the file (`tnas.errors.write_error`). Files are created with mode 0666 less
the umask, as `open` would.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tnas.errors import TnasError, write_error

DEFAULT_FIX = "or choose another output folder."
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device",
          stat.S_IFBLK: "a device"}


def _what(path: Path, st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        try:
            return f"a symbolic link (to '{os.readlink(path)}')"
        except OSError:
            return "a symbolic link"
    return _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")


def refusal(path: Path, st: os.stat_result, wanted: str = "a regular file") -> TnasError:
    """The error for a path tnas would write that is something else (a link, a folder, a FIFO)."""
    return TnasError(f"Refusing to write '{path}': it is {_what(path, st)}, not {wanted}. tnas writes only regular files "
                     "inside its own folders and never follows a link out of them. Remove it (rm, not rm -r through "
                     "the link) if you did not put it there on purpose, or choose another output folder.")


def check_regular(path: Path) -> None:
    """Refuse `path` when it exists as anything but a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise write_error(path, e) from None
    if not stat.S_ISREG(st.st_mode):
        raise refusal(path, st)


def ensure_dir(path: Path, fix: str = DEFAULT_FIX) -> Path:
    """Create folder `path` (and parents) unless it exists; refuse a link or a file in its place."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        pass  # a file or a dangling link: named below
    except OSError as e:
        raise write_error(path, e, fix) from None
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise refusal(path, st, "a folder")
    return path


def _clear_stale(tmp: Path) -> None:
    """Remove a temp file a crashed writer left; refuse anything else planted under its name."""
    try:
        st = os.lstat(tmp)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(st.st_mode):
        raise refusal(tmp, st)
    tmp.unlink()


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, fsync: bool = False,
                 fix: str = DEFAULT_FIX) -> None:
    """Write `path` atomically: `write(f)` fills a new binary file, which is then renamed onto `path`.

    `fsync` forces the bytes to disk before the rename (checkpoints: a power loss leaves the old
    file or the new one). torch's zip writer reports a full disk as RuntimeError: also a TnasError."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    created = False
    try:
        check_regular(path)
        _clear_stale(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
        created = True
        _fill(fd, write, fsync)
        check_regular(path)
        os.replace(tmp, path)
        created = False
    except (OSError, RuntimeError) as e:
        raise write_error(path, e, fix) from None
    finally:
        if created:
            tmp.unlink(missing_ok=True)


def atomic_text(path: Path, text: str, fix: str = DEFAULT_FIX) -> None:
    """`atomic_write` of UTF-8 text."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data), fix=fix)


@contextmanager
def atomic_path(path: Path, fix: str = DEFAULT_FIX) -> Iterator[Path]:
    """Yield a file name in a fresh private folder beside `path`; on success it is renamed onto `path`."""
    path = Path(path)
    try:
        check_regular(path)
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise write_error(path, e, fix) from None
    try:
        yield folder / path.name
        try:
            check_regular(path)
            os.replace(folder / path.name, path)
        except OSError as e:
            raise write_error(path, e, fix) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_append(path: Path, fix: str = DEFAULT_FIX) -> int:
    """An O_APPEND descriptor of the regular file `path` (created when absent), never through a link."""
    path = Path(path)
    try:
        check_regular(path)
        # O_NONBLOCK: a FIFO planted after the check fails to open instead of blocking forever
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK, 0o666)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):
            raise refusal(path, os.lstat(path)) from None
        raise write_error(path, e, fix) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise refusal(path, st)
    return fd


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte of `data` is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def append_text(path: Path, text: str, fix: str = DEFAULT_FIX) -> None:
    """Append `text` (UTF-8) to the regular file `path`, created when absent; never through a link."""
    fd = open_append(path, fix)
    try:
        write_all(fd, text.encode("utf-8"))
    except OSError as e:
        raise write_error(path, e, fix) from None
    finally:
        os.close(fd)


def _fill(fd: int, write: Callable[[BinaryIO], None], fsync: bool) -> None:
    """Run `write` on the open file `fd` and close it; a failed close after a failed write is
    dropped so that the first error is the one reported."""
    f = os.fdopen(fd, "wb")
    ok = False
    try:
        write(f)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
        ok = True
    finally:
        if ok:
            f.close()
        else:
            with contextlib.suppress(OSError):
                f.close()
