"""Two CPU processes under torchrun (gloo) match one process on the same global batch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

ARGS = ["supernet.C=4", "train.epochs=2", "train.steps_per_epoch=8", "train.batch_size=32",
        "search.budget=10", "search.population=5", "search.parents=2", "search.mutations=3", "search.crossovers=2",
        "search.eval_batch_size=128", "search.bn_batches=1", "search.eval_batches=1", "sampler.min_observations=4",
        "sampler.train_steps=5", "sampler.eps_inc=0.5", "train.grad_clip=0"]


def _run(cmd: list[str], out: Path, extra: list[str] = ()) -> Path:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run([*cmd, "search", "--no-progress", *ARGS, *extra, f"out={out}"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list(out.iterdir())  # only rank 0 wrote a run directory
    return run


def test_two_process_gloo_matches_one_process(tmp_path: Path) -> None:
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tnas"]
    two = _run(torchrun, tmp_path / "ddp")
    # one process, the global batch in 2 gradient-accumulation pieces = what the 2 ranks computed
    one = _run([sys.executable, "-m", "tnas"], tmp_path / "one", ["train.micro_batches=2"])
    a = torch.load(two / "ckpt" / "last.pt", weights_only=True)["supernet"]
    b = torch.load(one / "ckpt" / "last.pt", weights_only=True)["supernet"]
    # parameters only: BN running stats are per-rank (rank 0 sees its half of each batch) and
    # are recalibrated before any architecture is scored
    for k in a:
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    ma, mb = ([m for m in map(json.loads, (r / "metrics.jsonl").read_text().splitlines()) if m["phase"] == "train"]
              for r in (two, one))
    assert [round(m["loss"], 4) for m in ma] == [round(m["loss"], 4) for m in mb]
    ra, rb = (json.loads((r / "result.json").read_text()) for r in (two, one))
    assert ra["genotype"] == rb["genotype"]
