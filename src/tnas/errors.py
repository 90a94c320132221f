"""User-facing errors.

`TnasError` is raised for bad *input* (a malformed architecture, a missing file, an unknown
option). Its message is one paragraph naming the bad value, what was expected and the fix; the
CLI prints it and exits 2 without a traceback. Internal invariants use `assert` instead.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable


# A bad value is echoed in the message, but never whole when it is long (issue 24): a word longer
# than _WORD characters keeps its start and end, and a message longer than _MESSAGE its start and end.
_WORD, _MESSAGE = 200, 4000
_LONG_WORD = re.compile(r"\S{%d,}" % (_WORD + 1))


def cut(value: object, limit: int = _WORD) -> str:
    """str(value), its middle replaced by '...[N characters]...' when longer than `limit`."""
    text = str(value)
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 8):]
    return f"{head}...[{len(text) - len(head) - len(tail)} more characters]...{tail}"


class TnasError(ValueError):
    """Bad input from the user; the message says what was wrong and how to fix it. Long values in
    the message are cut (`cut`), so a 100,000-character bad value does not flood the console."""

    def __init__(self, message: object = "", *args: object) -> None:
        text = _LONG_WORD.sub(lambda m: cut(m.group(0)), str(message))
        super().__init__(cut(text, _MESSAGE), *args)


def suggest(value: str, options: Iterable[str]) -> str:
    """Return ' Did you mean 'x'?' for the closest option, or '' when nothing is close."""
    matches = difflib.get_close_matches(str(value), [str(o) for o in options], n=1, cutoff=0.5)
    return f" Did you mean '{matches[0]}'?" if matches else ""


def unknown(kind: str, value: object, options: Iterable[str], fix: str = "") -> TnasError:
    """Build the standard error for a value that is not one of `options`."""
    opts = sorted(str(o) for o in options)
    msg = f"Unknown {kind} '{value}'. Expected one of: {', '.join(opts)}.{suggest(str(value), opts)}"
    return TnasError(msg + (f" {fix}" if fix else ""))


RUN_WRITE_FIX = ("or choose another output folder (out=DIR); an interrupted run resumes from its last complete "
                 "checkpoint with --resume.")


def write_error(path: object, e: BaseException, fix: str = "or choose another output folder.") -> TnasError:
    """The error for a failed write of `path`: a full disk, a read-only folder, a file where a
    folder should be. `e` is the OSError (or torch's RuntimeError for a full disk)."""
    if isinstance(e, OSError):
        reason = e.strerror or str(e)
    else:  # torch.save's zip writer: "unexpected pos N vs M" when a write came up short
        reason = "the write stopped short, the disk is probably full"
    return TnasError(f"Could not write '{path}' ({reason}). Check that the disk has free space (df -h) and that the "
                     f"folder exists, is a folder and is writable, {fix}")


def os_error(e: OSError) -> TnasError:
    """The CLI's last-resort message for a failed read or write that no caller named itself."""
    where = f"'{e.filename}'" if e.filename else "a file"
    return TnasError(
        f"Could not access {where} ({e.strerror or e}). Check that the path exists and is of the right kind (file "
        "or folder), that you may read and write it and that the disk has free space (df -h), or choose another path."
    )
