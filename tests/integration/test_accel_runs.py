"""The GPU path's settings on CPU, end to end: reading losses and scores back every k steps
instead of every step changes no result (same seed, same result), and bf16 autocast with
channels-last runs `tnas search` and `tnas train` (issue 13)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from tnas.run.config import resolve_config
from tnas.run.search import run_search
from tnas.train import resolve_train_config, run_train

pytestmark = pytest.mark.slow

SEARCH = {"supernet.C": "4", "train.epochs": "3", "train.steps_per_epoch": "12", "train.batch_size": "32",
          "search.budget": "16", "search.population": "8", "search.parents": "3", "search.mutations": "4",
          "search.crossovers": "4", "search.eval_batch_size": "128", "search.bn_batches": "2",
          "search.eval_batches": "1", "sampler.min_observations": "5", "sampler.train_steps": "10",
          "sampler.eps_inc": "0.3"}
CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
TRAIN = {"net.C": "8", "net.N": "1", "optim.epochs": "2", "data.limit": "300"}


def _fingerprint(run: Path, weights: str) -> dict:
    """result.json, metrics.jsonl and archs.jsonl without wall times, and a hash of the final weights."""
    res = json.loads((run / "result.json").read_text())
    res.pop("wall_seconds", None)
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    for m in metrics:
        m.pop("seconds", None)
        m.pop("sampler_seconds", None)
    archs = (run / "archs.jsonl").read_text() if (run / "archs.jsonl").exists() else ""
    h = hashlib.sha256()
    for k, v in sorted(torch.load(run / "ckpt" / "last.pt", weights_only=True)[weights].items()):
        h.update(k.encode() + v.contiguous().numpy().tobytes())
    return {"result": res, "metrics": metrics, "archs": archs, "weights": h.hexdigest()}


def _search(out: Path, **extra: str) -> Path:
    _, run = run_search(resolve_config(None, {**SEARCH, "out": str(out), **extra}), progress_bar=False)
    return run


def _train(out: Path, **extra: str) -> Path:
    cfg = resolve_train_config("train-quick", {**TRAIN, "out": str(out), **extra})
    _, run = run_train(dataclasses.replace(cfg, genotype=CELL), progress_bar=False)
    return run


@pytest.mark.parametrize("sampler", [
    {},  # the preset's TNAS-OS sampler: feedback is handed over every 5 steps
    # VAE draws start near the best observed archs, so draws depend on feedback: it is handed over
    # before every draw (a loop that deferred it anyway gives another result here)
    {"sampler.local_frac": "1"},
])
def test_sync_interval_changes_no_search_result(tmp_path: Path, sampler: dict[str, str]) -> None:
    every_step = _fingerprint(_search(tmp_path / "a", sync_every="1", **sampler), "supernet")
    batched = _fingerprint(_search(tmp_path / "b", sync_every="5", **sampler), "supernet")
    assert batched == every_step
    assert any(json.loads(x)["source"] == "vae" for x in every_step["archs"].splitlines())  # the VAE took part


def test_sync_interval_changes_no_train_result(tmp_path: Path) -> None:
    assert _fingerprint(_train(tmp_path / "a", sync_every="4"), "model") == \
        _fingerprint(_train(tmp_path / "b", sync_every="1"), "model")


def test_bf16_channels_last_search_and_train_run_on_cpu(tmp_path: Path) -> None:
    fp32 = _fingerprint(_search(tmp_path / "fp32"), "supernet")
    run = _search(tmp_path / "bf16", precision="bf16", channels_last="on")
    meta = yaml.safe_load((run / "config.yaml").read_text())["_meta"]["accel"]
    assert meta == {"precision": "bf16", "channels_last": "on", "sync_every": 1}
    bf16 = _fingerprint(run, "supernet")
    assert bf16["weights"] != fp32["weights"]  # autocast really ran
    assert all(math.isfinite(m["loss"]) for m in bf16["metrics"] if m.get("phase") == "train")
    assert 0 <= bf16["result"]["supernet_valid_acc"] <= 100 and bf16["result"]["evaluated"] == 16
    # all of digits, 3 epochs: fp32 reaches 83.5 %, bf16 80.7 % here (chance: 10 %)
    trained = _train(tmp_path / "train", precision="bf16", channels_last="on", **{"optim.epochs": "3", "data.limit": "1000"})
    assert json.loads((trained / "result.json").read_text())["test_acc"] > 60
