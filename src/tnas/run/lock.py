"""One owner per run directory (issue 24): an exclusive `flock` on `FOLDER/lock` for the owner's
whole life.

A run (new or resumed), an export and a seeds axis take the lock of the folder they work on; a
second process that asks for it gets a TnasError naming the holder (pid, host, command, start
time, written into the lock file) and the CLI exits 2. The kernel releases a flock when its
process ends however it ends (kill -9 included), so a lock is never stale; the file itself stays
and is reused. Within one process the lock is re-entrant (a resume opens the directory, then the
run skeleton does again): `acquire` of a held folder returns the held lock.
"""
from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tnas.errors import TnasError
from tnas.safeio import check_regular, refusal

_log = logging.getLogger(__name__)
LOCK_NAME = "lock"
_HELD: dict[str, "RunLock"] = {}


@dataclass
class RunLock:
    """A held lock: the folder and the open lock file."""

    folder: Path
    fd: int


def acquire(folder: str | Path, *, read_only_ok: bool = False) -> RunLock | None:
    """Lock `folder` for this process or raise naming who holds it.

    `read_only_ok`: a folder where the lock file cannot be created (read-only, not ours) is not
    locked (None) instead of an error: for readers such as `tnas export`, which cannot race a
    writer there."""
    folder = Path(folder)
    key = os.path.realpath(folder)
    if key in _HELD:
        return _HELD[key]
    path = folder / LOCK_NAME
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO):
            raise refusal(path, os.lstat(path)) from None
        if read_only_ok and e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            _log.debug("%s is not writable: not locked (%s)", folder, e.strerror)
            return None
        raise TnasError(f"Could not lock '{folder}' ({e.strerror}): tnas keeps the file '{path}' there so that one "
                        "process at a time owns a run directory. Check that the folder exists and is writable.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        holder = _holder(fd)
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise busy(folder, holder) from None
        raise TnasError(f"Could not lock '{path}' ({e.strerror}); the file system may not support locks (flock). "
                        "Use a local folder for run directories.") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv)[:300],
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    lock = _HELD[key] = RunLock(folder, fd)
    return lock


def busy(folder: Path, holder: str) -> TnasError:
    return TnasError(f"'{folder}' is in use by {holder}: only one process at a time may own a run directory (a "
                     "resume, an export or a seeds axis). Wait for that process to end or stop it, then try again; "
                     "its lock goes away when it ends, even when it is killed.")


def _holder(fd: int) -> str:
    """'process 123 on host (tnas search --resume R, since ...)' from a lock file, or 'another process'."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
        return f"process {int(info['pid'])} on {info['host']} (`{info['command']}`, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def holds(folder: str | Path) -> bool:
    """Whether this process holds the lock of `folder`."""
    return os.path.realpath(folder) in _HELD


def release(folder: str | Path) -> None:
    """Give up this process's lock of `folder` (no-op when it holds none)."""
    lock = _HELD.pop(os.path.realpath(folder), None)
    if lock is not None:
        try:
            os.ftruncate(lock.fd, 0)
        except OSError:
            pass
        os.close(lock.fd)  # closing the last descriptor releases the flock


def main_rank() -> bool:
    """True outside torchrun and on rank 0: the one process of a DDP job that owns the directory."""
    return int(os.environ.get("RANK", "0")) == 0
