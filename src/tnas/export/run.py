"""`export_run`: rebuild the network of a run (or export folder) and write the requested formats."""
from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tnas.errors import TnasError, unknown
from tnas.run import lock
from tnas.run.lock import LOCK_NAME
from tnas.safeio import ensure_dir
from tnas.export.formats import FIX, FORMATS, TOLERANCE, write_onnx, write_state, write_torchscript
from tnas.export.rebuild import SPEC_NAME, rebuild
from tnas.seeds import stream

_log = logging.getLogger(__name__)


def parse_formats(text: str) -> tuple[str, ...]:
    """'state,torchscript' / 'all' -> the format names, checked."""
    names = FORMATS if text.strip() == "all" else tuple(t.strip() for t in text.split(",") if t.strip())
    for name in names:
        if name not in FORMATS:
            raise unknown("export format", name, (*FORMATS, "all"), "Pass a comma-separated list, e.g. "
                          "--format state,torchscript,onnx.")
    if not names:
        raise TnasError(f"--format '{text}' names no format; expected a comma-separated list of {', '.join(FORMATS)} "
                        "or 'all'.")
    return names


def export_run(path: str | Path, out: str | Path | None = None, formats: Sequence[str] = ("state", "torchscript"),
               device: str = "cpu") -> dict[str, Any]:
    """Write the network of `path` (a finished run directory or an export folder) to `out`.

    Args:
        out: the folder to write (default: RUN_DIR/export, or the export folder itself).
        formats: any of 'state' (network.pt + network.json), 'torchscript', 'onnx'.
        device: where the network is rebuilt (BN recalibration of a search run runs there);
            the files are written from the CPU.
    Returns:
        {'out', 'genotype', 'source', 'checks', and per format its file, size and max_abs_diff}.
    """
    formats = parse_formats(",".join(formats))
    src = Path(path)
    if out is None:
        out = src if (src / SPEC_NAME).is_file() else src / "export"
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise TnasError(f"--out '{out}' is an existing file; pass a folder for the exported files.")
    # a run directory is locked while it is read, so no resume rewrites it meanwhile
    held = None if lock.holds(src) or not (src / "config.yaml").is_file() else lock.acquire(src, read_only_ok=True)
    try:
        built = rebuild(src, device)
        new_folder = not os.path.lexists(out)
        ensure_dir(out, FIX)
        try:
            report = _write(built, formats, out)
        except BaseException:
            _remove_partial(out, new_folder)
            raise
    finally:
        if held is not None:
            lock.release(src)
    _log.info("exported %s (%s) to %s", report["genotype"], ", ".join(formats), out)
    return report


def _write(built: Any, formats: Sequence[str], out: Path) -> dict[str, Any]:
    net = built.network.cpu().eval()
    sample = built.sample
    if sample is None:  # no data loaded (train run, export folder): normalised images are ~N(0, 1) per channel
        s = built.size
        sample = torch.randn(5, s.in_channels, s.image_size, s.image_size, generator=stream(0, "export-sample"))
    report: dict[str, Any] = {"out": str(out), "genotype": built.space.to_genotype(built.arch),
                              "source": built.source, "checks": built.checks, "tolerance": TOLERANCE}
    if "torchscript" in formats:
        report["torchscript"] = write_torchscript(net, sample, out)
    if "onnx" in formats:
        report["onnx"] = write_onnx(net, sample, out)
    if "state" in formats:  # last, so network.json lists the checked files beside it
        spec = {**built.spec(), "exports": {f: report[f] for f in ("torchscript", "onnx") if f in report}}
        report["state"] = write_state(net, spec, out)
    return report


def _remove_partial(out: Path, new_folder: bool) -> None:
    """After a failed export: remove the folder it created (only tnas's own files are in it), so a
    full disk leaves no half-written export; a folder that existed before is left as it was
    (each file in it is replaced atomically, so none is half-written)."""
    if not new_folder:
        return
    names = {"network.pt", "network.json", "network.torchscript.pt", "network.onnx", LOCK_NAME}
    for entry in out.iterdir():
        if entry.name in names or entry.name.endswith(".tmp"):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    try:
        out.rmdir()
    except OSError:  # something else was put there meanwhile: keep it
        pass
