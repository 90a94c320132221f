"""The run directory: resolved config, environment, JSONL metrics and architectures, results.

Layout (only rank 0 writes):
    runs/<YYYYmmdd-HHMMSS>-<space>-<strategy>-s<seed>/
      config.yaml  env.json  metrics.jsonl  archs.jsonl  log.txt
      ckpt/last.pt  tb/ (TensorBoard events)  result.json  report.md  *.png
"""
from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from tnas import __version__

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


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


class RunDir:
    """A run directory. All writes are no-ops when `enabled` is False (non-zero DDP ranks)."""

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._tb = None
        if enabled:
            (self.path / "ckpt").mkdir(parents=True, exist_ok=True)

    @staticmethod
    def new_path(root: str | Path, space: str, strategy: str, seed: int) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{stamp}-{space}-{strategy}-s{seed}"
        k = 1
        while path.exists():  # two runs started in the same second
            path = Path(root) / f"{stamp}-{space}-{strategy}-s{seed}-{k}"
            k += 1
        return path

    # ---- writers ----------------------------------------------------------------------
    def write_config(self, cfg: dict[str, Any], extra: dict[str, Any]) -> None:
        if self.enabled:
            text = yaml.safe_dump({**cfg, "_meta": extra}, sort_keys=False)
            (self.path / "config.yaml").write_text(text)

    def write_env(self, env: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "env.json", env)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one event to metrics.jsonl and scalars to TensorBoard."""
        if not self.enabled:
            return
        with open(self.path / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record, default=float) + "\n")
        tb = self._writer()
        if tb is not None and "step" in record:
            phase = record.get("phase", "train")
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    tb.add_scalar(f"{phase}/{k}", v, record["step"])

    def log_archs(self, rows: list[dict[str, Any]]) -> None:
        """Append evaluated architectures (genotype, score, source, step) to archs.jsonl."""
        if self.enabled and rows:
            with open(self.path / "archs.jsonl", "a") as f:
                for r in rows:
                    f.write(json.dumps(r, default=float) + "\n")

    def truncate_logs(self, step: int, n_search: int = 0) -> None:
        """On resume, drop events written after the checkpoint (they will be redone): train
        events after `step`, and search rows beyond the first `n_search` (the memo replays those)."""
        if not self.enabled:
            return
        for name in ("metrics.jsonl", "archs.jsonl"):
            p = self.path / name
            if not p.exists():
                continue
            keep, seen = [], 0
            for ln in p.read_text().splitlines():
                row = json.loads(ln)
                if row.get("phase") == "search":
                    seen += 1
                    if seen <= n_search:
                        keep.append(ln)
                elif row.get("step", 0) <= step:
                    keep.append(ln)
            p.write_text("".join(ln + "\n" for ln in keep))

    def write_result(self, result: dict[str, Any]) -> None:
        if self.enabled:
            write_json_atomic(self.path / "result.json", result)

    def _writer(self):  # noqa: ANN202 - optional dependency
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard not installed: JSONL only
                self._tb = False
                return None
            self._tb = SummaryWriter(str(self.path / "tb"))
        return self._tb or None

    def close(self) -> None:
        if self._tb:
            self._tb.close()


def shared_run_path(is_main: bool, world: int, out: str, space: str, tag: str, seed: int) -> Path:
    """A new run directory's path: rank 0 names it, the other ranks of a torchrun job learn it
    (they never write to it)."""
    path = [str(RunDir.new_path(out, space, tag, seed)) if is_main else None]
    if world > 1:
        import torch.distributed as dist

        dist.broadcast_object_list(path, src=0)
    return Path(path[0])
