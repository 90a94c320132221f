"""The run directory: resolved config, environment, JSONL metrics and architectures, results.

Layout (only rank 0 writes):
    runs/<YYYYmmdd-HHMMSS>-<space>-<strategy>-s<seed>[-k]/
      config.yaml  env.json  metrics.jsonl  archs.jsonl  log.txt
      ckpt/last.pt  tb/ (TensorBoard events)  result.json  report.md  *.png

A new directory is claimed atomically (`claim_run_dir`: create-exclusive, then the suffix -1, -2,
... on collision), so two runs started with the same name, seed and second never share one. Every
failed write (full disk, read-only folder, a file where a folder should be) is a TnasError naming
the file; a log line torn by a crash is dropped on resume.
"""
from __future__ import annotations

import json
import logging
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


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with writing(path):
        tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
        os.replace(tmp, path)


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
        # where log_metrics sends scalars besides metrics.jsonl (`tnas.run.track`); run_job adds
        # MLflow / W&B / the caller's own
        self.trackers: list[Tracker] = [TensorBoardTracker(self.path / "tb")] if enabled else []
        if enabled:
            with writing(self.path / "ckpt"):
                (self.path / "ckpt").mkdir(parents=True, exist_ok=True)

    # ---- writers ----------------------------------------------------------------------
    def write_config(self, cfg: dict[str, Any], extra: dict[str, Any]) -> None:
        if self.enabled:
            text = yaml.safe_dump({**cfg, "_meta": extra}, sort_keys=False)
            tmp = self.path / "config.yaml.tmp"
            with writing(self.path / "config.yaml"):
                tmp.write_text(text)
                os.replace(tmp, self.path / "config.yaml")

    def write_text(self, name: str, text: str) -> None:
        """Write the file `name` of the run directory atomically."""
        if self.enabled:
            tmp, path = self.path / f"{name}.tmp", self.path / name
            with writing(path):
                tmp.write_text(text)
                os.replace(tmp, path)

    def write_env(self, env: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "env.json", env)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one event to metrics.jsonl and its numbers, as `phase/key` scalars at its step, to
        every tracker (TensorBoard, and MLflow / W&B when configured)."""
        if not self.enabled:
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
        path = self.path / name
        with writing(path), open(path, "a") as f:
            f.write("".join(json.dumps(r, default=float) + "\n" for r in rows))

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
                    # one event per evaluation (step = evaluations so far) is kept up to the memo's count;
                    # per-generation events are all written again as the resumed GA replays its generations
                    if "generation" not in row and _step_of(row) <= n_search:
                        keep.append(row)
                elif row.get("phase") == "search":
                    seen += 1
                    if seen <= n_search:
                        keep.append(row)
                elif _step_of(row) <= step:
                    keep.append(row)
            if p.exists():
                with writing(p):
                    p.write_text("".join(json.dumps(r, default=float) + "\n" for r in keep))

    def write_result(self, result: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "result.json", result)

    def close(self, status: str = "finished") -> None:
        """Close every tracker; `status` is 'finished', 'interrupted' or 'failed'."""
        for tracker in self.trackers:
            tracker.close(status)


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
