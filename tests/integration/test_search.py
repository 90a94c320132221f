"""End-to-end one-shot search on digits: run directory, kill-and-resume equality, Ctrl-C, NaN."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tnas.run.config import resolve_config
from tnas.run.search import run_search

pytestmark = pytest.mark.slow

TINY = ["supernet.C=4", "train.epochs=3", "train.steps_per_epoch=12", "train.batch_size=32",
        "search.budget=24", "search.population=8", "search.parents=3", "search.mutations=4", "search.crossovers=4",
        "search.eval_batch_size=128", "search.bn_batches=2", "search.eval_batches=1", "sampler.min_observations=5",
        "sampler.train_steps=10", "sampler.eps_inc=0.3", "sampler.eps0=0.0"]


def _overrides(tmp: Path, extra: list[str] = ()) -> dict[str, str]:
    return dict(a.split("=", 1) for a in [*TINY, f"out={tmp}", *extra])


def _run_cli(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tnas", "search", "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _result(run: Path) -> dict:
    res = json.loads((run / "result.json").read_text())
    res.pop("wall_seconds")
    return res


def test_digits_search_end_to_end(tmp_path: Path) -> None:
    cfg = resolve_config(None, _overrides(tmp_path))
    result, run = run_search(cfg, progress_bar=False)
    for name in ("config.yaml", "env.json", "metrics.jsonl", "archs.jsonl", "ckpt/last.pt", "result.json",
                 "report.md", "training.png", "scores.png"):
        assert (run / name).exists(), name
    assert result["evaluated"] == 24 and result["epochs"] == 3
    assert 0 <= result["supernet_valid_acc"] <= 100
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["phase"] == "train"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [r["step"] for r in rows if r["phase"] == "search" and "fitness" in r] == list(range(1, 25))
    assert epochs[-1]["eps"] > 0  # TNAS-OS raised eps
    assert any(json.loads(x)["source"] == "vae" for x in (run / "archs.jsonl").read_text().splitlines())
    assert list((run / "tb").iterdir())  # TensorBoard events


def test_sigkill_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    ref_cfg = resolve_config(None, _overrides(tmp_path / "ref"))
    ref, _ = run_search(ref_cfg, progress_bar=False)
    proc = _run_cli([f"{k}={v}" for k, v in _overrides(tmp_path / "killed").items()])
    deadline = time.time() + 120
    ckpt = None
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "killed").glob("*/ckpt/last.pt"))
        if found:
            ckpt = found[0]
            break
        time.sleep(0.05)
    assert ckpt is not None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = ckpt.parent.parent
    assert not (run / "result.json").exists()
    resumed = _run_cli(["--resume", str(run)])
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert _result(run) == {k: v for k, v in ref.items() if k != "wall_seconds"}


def test_ctrl_c_checkpoints_and_resumes(tmp_path: Path) -> None:
    proc = _run_cli([f"{k}={v}" for k, v in _overrides(tmp_path, ["train.epochs=4"]).items()])
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob("*/metrics.jsonl")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before Ctrl-C arrived")
    assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err
    run = next(tmp_path.glob("*/ckpt/last.pt")).parent.parent
    resumed = _run_cli(["--resume", str(run)])
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    ref, _ = run_search(resolve_config(None, _overrides(tmp_path / "ref", ["train.epochs=4"])), progress_bar=False)
    assert _result(run) == {k: v for k, v in ref.items() if k != "wall_seconds"}


def test_nan_loss_stops_with_message_and_keeps_checkpoint(tmp_path: Path) -> None:
    proc = _run_cli([f"{k}={v}" for k, v in _overrides(tmp_path, ["train.lr=10", "train.weight_decay=1", "train.grad_clip=0"]).items()])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "loss became" in err and "Traceback" not in err


def test_constrained_search_reports_rejection_sampling(tmp_path: Path) -> None:
    # parameters counted on the C=4, N=1 NB201 network; 0.008M splits the space (test_oneshot)
    extra = ["strategy=spos", "train.epochs=2", "train.steps_per_epoch=6", "search.max_params_M=0.008",
             "search.cost_C=4", "search.cost_N=1"]
    result, run = run_search(resolve_config(None, _overrides(tmp_path, extra)), progress_bar=False)
    epochs = [m for m in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if m["phase"] == "train"]
    assert len(epochs) == 2
    for e in epochs:  # one accepted architecture per training step, drawn uniformly until one fits
        assert e["rejection_accepted"] == 6 and e["rejection_drawn"] >= e["rejection_passed"] >= 6
        assert e["rejection_accept_rate"] == e["rejection_passed"] / e["rejection_drawn"]
        assert e["rejection_ms_per_accepted"] == pytest.approx(1e3 * e["rejection_seconds"] / 6)
    rej = result["rejection"]
    assert rej["train"]["accepted"] == 12 and rej["train"]["drawn"] == sum(e["rejection_drawn"] for e in epochs)
    assert 0 < rej["train"]["accept_rate"] < 1  # the limit binds: some draws were rejected
    assert rej["search"]["accepted"] >= 24 - 8 and 0 < rej["search"]["accept_rate"] < 1  # GA children + fill-ups
    assert rej["search"]["ms_per_accepted"] > 0 and "rejection sampling, search" in (run / "report.md").read_text()
    assert result["cost"]["params_M"] <= 0.008


def test_unconstrained_search_has_no_rejection_metrics(tmp_path: Path) -> None:
    extra = ["strategy=spos", "train.epochs=1", "train.steps_per_epoch=2", "search.budget=8"]
    result, run = run_search(resolve_config(None, _overrides(tmp_path, extra)), progress_bar=False)
    assert result["rejection"] is None
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows and not any(k.startswith("rejection_") for row in rows for k in row)


class _StopAfter:
    """A stop flag that turns on after `n` checks (one check per step): a deterministic Ctrl-C."""

    def __init__(self, n: int) -> None:
        self.n = n

    @property
    def stop(self) -> bool:
        self.n -= 1
        return self.n < 0


def test_streamed_image_folder_search_resumes_mid_epoch_exactly(tmp_path: Path) -> None:
    from tnas.data.formats import write_jpeg_folder
    from tnas.run.job import Session, open_run_dir
    from tnas.run.search import Interrupted, OneShotJob, train

    cifar = Path(__file__).resolve().parents[1] / "data" / "cifar10"
    for split in ("train", "test"):  # real CIFAR-10 JPEGs as DIR/train/<class>/, DIR/test/<class>/
        write_jpeg_folder(cifar / f"cifar10_jpeg_q75_{split}.npz", tmp_path / "folder", per_class=40)
    extra = ["data.name=imagefolder", f"data.root={tmp_path / 'folder'}", "data.stream=true", "data.holdout=100",
             "data.image_size=16", "data.workers=2", "train.epochs=2", "train.steps_per_epoch=6", "search.budget=8"]
    ref, run = run_search(resolve_config(None, _overrides(tmp_path / "ref", extra)), progress_bar=False)
    held = (run / "holdout.txt").read_text().splitlines()
    assert len(held) == 100 and all(h.endswith(".jpg") for h in held)
    split = yaml.safe_load((run / "config.yaml").read_text())["_meta"]["split"]
    assert split["stream"] and split["sizes"] == {"train": 300, "valid": 100, "test": 400}
    job = OneShotJob(resolve_config(None, _overrides(tmp_path / "cut", extra)))
    rd = open_run_dir(job)
    with pytest.raises(Interrupted):
        train(job.parts, Session(job, rd, _StopAfter(9), progress_bar=False))  # mid epoch 2
    rd.close()
    assert 0 < job.parts.step_in_epoch < 6 and not (rd.path / "result.json").exists()
    again, _ = run_search(resume=rd.path, progress_bar=False)
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {k: v for k, v in ref.items() if k != "wall_seconds"}
