"""The run directory: resolved config, environment, JSONL metrics and architectures, results.

Layout (only rank 0 writes):
    runs/<YYYYmmdd-HHMMSS>-<space>-<strategy>-s<seed>[-k]/
      config.yaml  env.json  metrics.jsonl  archs.jsonl  log.txt
      ckpt/last.pt  tb/ (TensorBoard events)  result.json  report.md  *.png

A new directory is claimed atomically (`claim_run_dir`: create-exclusive, then the suffix -1, -2,
... on collision), so two runs started with the same name, seed and second never share one. Every
failed write (full disk, read-only folder, a file where a folder should be) is a TnasError naming
the file; a log line torn by a crash is dropped on resume. No write follows a link: files are
replaced atomically or appended through `tnas.safeio`, which refuses a symbolic link, folder or
FIFO planted at any name tnas writes. The JSON files are strict JSON: a NaN or infinite number is
written as null. `log.txt` holds the run's console log (INFO and up), appended on resume.
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import yaml

from tnas.version import __version__
from tnas.errors import RUN_WRITE_FIX, write_error
from tnas.safeio import append_text, atomic_text, ensure_dir, open_append, write_all
from tnas.run.track import TensorBoardTracker, Tracker

_log = logging.getLogger(__name__)


def git_sha() -> str | None:
    """The source checkout's commit, when tnas runs from one."""
    try:
        root = Path(__file__).resolve().parents[3]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware, saved as env.json."""
    env = {
        "tnas": __version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda":
        env["device_name"] = torch.cuda.get_device_name(device)
    return env


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn an OSError while writing `path` into a TnasError naming it and the fix."""
    try:
        yield
    except OSError as e:
        raise write_error(path, e, RUN_WRITE_FIX) from None


def finite(obj: Any) -> Any:
    """`obj` with every NaN / infinite float replaced by None (strict JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, default: Any = float, **kw: Any) -> str:
    """Strict JSON of `obj` (NaN and infinities -> null); `default` converts other objects (numpy
    or 0-d tensor numbers -> float)."""
    return json.dumps(finite(obj), default=lambda o: finite(default(o)), allow_nan=False, **kw)


def write_json_atomic(path: Path, obj: Any) -> None:
    atomic_text(path, dumps(obj, default=str, indent=2) + "\n", RUN_WRITE_FIX)


def claim_run_dir(root: str | Path, name: str) -> Path:
    """Create and return `root/name`, or `root/name-1`, `-2`, ... when taken: `mkdir` without
    exist_ok either creates a folder or fails, so concurrent runs never get the same one."""
    root = Path(root)
    with writing(root):
        root.mkdir(parents=True, exist_ok=True)
    for k in range(100_000):
        path = root / (name if k == 0 else f"{name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise write_error(path, e, RUN_WRITE_FIX) from None
    raise write_error(root / name, FileExistsError(f"{name} and 100000 suffixed names exist"), RUN_WRITE_FIX)


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """(rows, numbers of the lines that are no JSON object, e.g. torn by a crash mid-write)."""
    rows, bad = [], []
    if not path.exists():
        return rows, bad
    for i, ln in enumerate(path.read_bytes().decode("utf-8", errors="replace").splitlines(), 1):
        if not ln.strip():
            continue
        try:
            row = json.loads(ln)
        except ValueError:
            row = None
        if isinstance(row, dict):
            rows.append(row)
        else:
            bad.append(i)
    return rows, bad


class RunDir:
    """A run directory. All writes are no-ops when `enabled` is False (non-zero DDP ranks)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._replayed: dict[str, int] = {}  # kept search events a resumed GA logs again, by content
        # where log_metrics sends scalars besides metrics.jsonl (`tnas.run.track`); run_job adds
        # MLflow / W&B / the caller's own
        self.trackers: list[Tracker] = [TensorBoardTracker(self.path / "tb")] if enabled else []
        if enabled:
            ensure_dir(self.path / "ckpt", RUN_WRITE_FIX)
            if os.path.lexists(self.path / "tb"):
                ensure_dir(self.path / "tb", RUN_WRITE_FIX)  # a link in its place is refused

    # ---- writers ----------------------------------------------------------------------
    def write_config(self, cfg: dict[str, Any], extra: dict[str, Any]) -> None:
        if self.enabled:
            text = yaml.safe_dump({**cfg, "_meta": extra}, sort_keys=False)
            atomic_text(self.path / "config.yaml", text, RUN_WRITE_FIX)

    def write_text(self, name: str, text: str) -> None:
        """Write the file `name` of the run directory atomically."""
        if self.enabled:
            atomic_text(self.path / name, text, RUN_WRITE_FIX)

    def write_env(self, env: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "env.json", env)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one event to metrics.jsonl and its numbers, as `phase/key` scalars at its step, to
        every tracker (TensorBoard, and MLflow / W&B when configured)."""
        if not self.enabled:
            return
        key = _key(record) if self._replayed else ""
        if self._replayed.get(key):  # a resumed search replaying a generation event it kept (truncate_logs)
            self._replayed[key] -= 1
            return
        self._append("metrics.jsonl", [record])
        if "step" in record:
            phase = record.get("phase", "train")
            scalars = {f"{phase}/{k}": float(v) for k, v in record.items()
                       if isinstance(v, (int, float)) and k not in ("step", "epoch", "generation")}
            for tracker in self.trackers:
                tracker.log_metrics(scalars, int(record["step"]))

    def log_params(self, params: dict[str, Any]) -> None:
        """The run's flattened config to every tracker."""
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_archs(self, rows: list[dict[str, Any]]) -> None:
        """Append evaluated architectures (genotype, score, source, step) to archs.jsonl."""
        if self.enabled and rows:
            self._append("archs.jsonl", rows)

    def _append(self, name: str, rows: list[dict[str, Any]]) -> None:
        append_text(self.path / name, "".join(dumps(r) + "\n" for r in rows), RUN_WRITE_FIX)

    def truncate_logs(self, step: int, n_search: int = 0) -> None:
        """On resume, drop events written after the checkpoint (they will be redone): train
        events after `step`, search rows beyond the first `n_search` (the memo replays those), the
        search stage's per-generation events and the final 'eval' event (both written again)."""
        if not self.enabled:
            return
        for name in ("metrics.jsonl", "archs.jsonl"):
            p = self.path / name
            rows, bad = read_jsonl(p)
            if bad:
                _log.warning("%s: dropped %d line(s) that are no JSON record (torn by a crash?): line %s", p,
                             len(bad), ", ".join(map(str, bad[:10])))
            keep, seen = [], 0
            for row in rows:
                if row.get("phase") == "eval":  # the final results: written again when the run finishes
                    continue
                if row.get("phase") == "search" and name == "metrics.jsonl":
                    # one event per evaluation (step = evaluations so far) is kept up to the memo's count,
                    # and so is each per-generation event of those evaluations: the resumed GA replays
                    # its generations and logs them again, identical, and log_metrics drops those
                    # repeats, so the rows keep the order of an uninterrupted run
                    if _step_of(row) <= n_search:
                        keep.append(row)
                        if "generation" in row:
                            self._replayed[_key(row)] = self._replayed.get(_key(row), 0) + 1
                elif row.get("phase") == "search":
                    seen += 1
                    if seen <= n_search:
                        keep.append(row)
                elif _step_of(row) <= step:
                    keep.append(row)
            if os.path.lexists(p):
                atomic_text(p, "".join(dumps(r) + "\n" for r in keep), RUN_WRITE_FIX)

    def write_result(self, result: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "result.json", result)

    def close(self, status: str = "finished") -> None:
        """Close every tracker; `status` is 'finished', 'interrupted' or 'failed'."""
        for tracker in self.trackers:
            tracker.close(status)


class LogFile(logging.Handler):
    """The run's console log as `log.txt` (appended, never through a link; INFO and up)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.INFO)
        self.path = path
        self.fd = open_append(path, RUN_WRITE_FIX)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            write_all(self.fd, (self.format(record) + "\n").encode("utf-8", "replace"))
        except OSError:  # a full disk must not end the run here; the checkpoint write reports it
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()


def _key(row: dict[str, Any]) -> str:
    return dumps(row, sort_keys=True)


def _step_of(row: dict[str, Any]) -> float:
    step = row.get("step", 0)
    return step if isinstance(step, (int, float)) else float("inf")  # a malformed step is dropped


def shared_run_path(is_main: bool, world: int, out: str, space: str, tag: str, seed: int) -> Path:
    """A new run directory, `out/<YYYYmmdd-HHMMSS>-<space>-<tag>-s<seed>[-k]`: rank 0 claims (creates)
    it, the other ranks of a torchrun job learn its path (they never write to it)."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{space}-{tag}-s{seed}"
    path = [str(claim_run_dir(out, name)) if is_main else None]
    if world > 1:
        import torch.distributed as dist

        dist.broadcast_object_list(path, src=0)
    return Path(path[0])
