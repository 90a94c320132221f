"""benchmarks/gpu_check.py --smoke: every section of the GPU check on the CPU with tiny sizes (the
CUDA tests skip, the throughput and the TNAS-OS vs SPOS study run, pilot and sizing included),
so the check works the first time a GPU is there (issue 13)."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_smoke(tmp_path: Path) -> None:
    cmd = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--out", str(tmp_path),
           "--budget-s", "600"]  # a limit for a loaded machine; ~40 s on an idle 2-core one
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "results.json").read_text())
    counts = res["tests"]["counts"]
    assert res["tests"]["returncode"] == 0 and counts["failure"] == counts["error"] == 0
    n_gpu = (ROOT / "tests" / "gpu" / "test_cuda.py").read_text().count("\ndef test_")
    assert counts["passed" if torch.cuda.is_available() else "skipped"] == n_gpu
    for precision in ("fp32", "bf16"):
        rows = res["throughput"][precision]["rows"]
        assert {"tnas NB201Supernet", "tnas NB201Supernet NCHW"} <= set(rows)
        assert all(r["images_per_s"] > 0 and r["model_tflops"] > 0 for r in rows.values())
    study = res["study"]
    assert 1 <= study["sizing"]["epochs"] <= 2 and study["sizing"]["step_s"] > 0
    for strategy in ("tnas-os", "spos"):
        (run,) = study["main"]["strategies"][strategy]["runs"]
        assert len(run["epoch_seconds"]) == study["sizing"]["epochs"]
        assert 0 < run["gt_test"] <= 100 and -1 <= run["tau"] <= 1 and math.isfinite(run["tau"])
        assert run["accel"] == {"precision": "fp32", "channels_last": "model default", "sync_every": 1}
    text = (tmp_path / "summary.md").read_text()
    assert all(s in text for s in ("(a) CUDA tests", "(b) Supernet training throughput", "(c) TNAS-OS vs SPOS"))
