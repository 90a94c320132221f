"""`tnas train` end to end on real images: accuracy, costs, resume, streamed folders, DDP."""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from tnas.space import get_space
from tnas.supernet.registry import NetSize, get_family
from tnas.train import TrainRunConfig, resolve_train_config, run_train

pytestmark = pytest.mark.slow

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TINY = {"net.C": "8", "net.N": "1", "train.epochs": "3", "train.batch_size": "64"}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _cfg(out: Path, **extra: str) -> TrainRunConfig:
    # the genotype is set directly (as the CLI does): a string starting with '|' is not YAML
    return dataclasses.replace(resolve_train_config("train-quick", {**TINY, "out": str(out), **extra}), genotype=CELL)


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tnas", "train", CELL, "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def _result(run: Path) -> dict:
    res = json.loads((run / "result.json").read_text())
    res.pop("wall_seconds")
    return res


def test_digits_train_accuracy_and_costs(tmp_path: Path) -> None:
    result, run = run_train(_cfg(tmp_path), progress_bar=False)
    for name in ("config.yaml", "env.json", "metrics.jsonl", "ckpt/last.pt", "result.json", "report.md", "curves.png"):
        assert (run / name).exists(), name
    assert result["test_acc"] > 60.0  # chance is 10 %; 3 epochs of a C=8 cell reach ~80-90 %
    assert result["test_top5"] >= result["test_acc"]
    assert result["test_images"] == 896 and result["train_images"] == 901  # digits: train half / held-out half
    space = get_space("nb201")
    size = NetSize(C=8, N=1, num_classes=10, in_channels=1, image_size=8)
    assert (result["params"], result["flops"]) == get_family("nb201").cost(space, space.from_genotype(CELL), size)
    assert result["params"] == result["module_params"]
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["phase"] == "train"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and epochs[-1]["lr"] < epochs[0]["lr"]
    # the standard protocol (data.split=test): no held-out number per epoch, the test set once at the end
    assert not any(k.startswith(("test_", "valid_")) for e in epochs for k in e)
    (final,) = [r for r in rows if r["phase"] == "eval"]
    assert final["test_acc"] == result["test_acc"] and "best_valid_acc" not in result


def test_valid_split_selects_on_validation_and_tests_once(tmp_path: Path, capsys, caplog) -> None:
    from tnas.cli import main

    assert main(["train", CELL, "--no-progress", *(f"{k}={v}" for k, v in TINY.items()), "data.split=valid",
                 "optim.lr=0.05", f"out={tmp_path}"]) == 0  # the old optim.* still works (deprecated)
    out = capsys.readouterr().out
    assert "optim.lr is deprecated; use train.lr" in caplog.text
    assert out.count("test accuracy:") == 1 and out.count("run directory:") == 1  # one summary
    (run,) = list(tmp_path.iterdir())
    result = json.loads((run / "result.json").read_text())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["phase"] == "train"]
    assert all("valid_acc" in e and "test_acc" not in e for e in epochs)  # per epoch: validation only
    best = max(epochs, key=lambda e: e["valid_acc"])
    assert (result["best_valid_acc"], result["best_valid_epoch"]) == (best["valid_acc"], best["epoch"])
    assert result["valid_acc"] == epochs[-1]["valid_acc"]
    (final,) = [r for r in rows if r["phase"] == "eval"]
    assert final["test_acc"] == result["test_acc"] and f"{result['test_acc']:.2f}%" in out
    assert result["valid_images"] + result["test_images"] == 896 and result["train_images"] == 901  # digits
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == 0.05


def test_sigkill_and_ctrl_c_resume_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    extra = ["train.epochs=4", "train.batch_size=32"]
    ref, _ = run_train(_cfg(tmp_path / "ref", **dict(a.split("=") for a in extra)), progress_bar=False)
    # SIGKILL after the first epoch's checkpoint, then Ctrl-C mid-epoch of the resumed run, then resume again
    proc = _cli(*extra, f"out={tmp_path / 'run'}")
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "run").glob("*/ckpt/last.pt")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = next((tmp_path / "run").iterdir())
    assert not (run / "result.json").exists()
    resumed = subprocess.Popen([sys.executable, "-m", "tnas", "train", "--resume", str(run), "--no-progress"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    n0 = len((run / "metrics.jsonl").read_text().splitlines())
    while time.time() < deadline and len((run / "metrics.jsonl").read_text().splitlines()) == n0:
        time.sleep(0.02)
    time.sleep(0.15)  # into the next epoch
    resumed.send_signal(signal.SIGINT)
    _, err = resumed.communicate(timeout=120)
    interrupted = resumed.returncode == 130
    assert resumed.returncode in (0, 130), err
    if interrupted:
        assert "tnas train --resume" in err and "Traceback" not in err
        again = subprocess.run([sys.executable, "-m", "tnas", "train", "--resume", str(run), "--no-progress"],
                               capture_output=True, text=True, env=ENV, timeout=120, check=False)
        assert again.returncode == 0, again.stderr
    assert _result(run) == {k: v for k, v in ref.items() if k != "wall_seconds"}
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 4] and [r["phase"] for r in rows].count("eval") == 1


def _write_folder(root: Path, per_class: int) -> None:
    """Real digits as PNG files in the ImageNet layout root/{train,val}/<class>/*.png."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        for split, rows in (("train", idx[:per_class]), ("val", idx[per_class : per_class + per_class // 2])):
            (root / split / f"class{c}").mkdir(parents=True, exist_ok=True)
            for i in rows:
                img = Image.fromarray(np.rint(d.images[i] * 255 / 16).astype(np.uint8)).resize((24, 24), Image.NEAREST)
                img.save(root / split / f"class{c}" / f"{i}.png")


def test_streamed_image_folder(tmp_path: Path) -> None:
    _write_folder(tmp_path / "folder", per_class=40)
    over = {"data.name": "imagefolder", "data.root": str(tmp_path / "folder"), "data.stream": "true",
            "data.image_size": "16", "data.workers": "2", "train.epochs": "4", "train.batch_size": "32",
            "reg.cutout": "4"}
    result, _ = run_train(_cfg(tmp_path / "runs", **over), progress_bar=False)
    assert result["train_images"] == 400 and result["test_images"] == 200
    assert result["net"]["image_size"] == 16 and result["net"]["in_channels"] == 3
    assert result["test_acc"] > 25.0  # chance is 10 %
    again, _ = run_train(_cfg(tmp_path / "runs2", **over), progress_bar=False)  # same seed, same result
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {
        k: v for k, v in result.items() if k != "wall_seconds"}


def test_two_process_ddp(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "tnas", "train",
           CELL, "--no-progress", "train.epochs=2", f"out={tmp_path}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = list(tmp_path.iterdir())  # only rank 0 wrote a run directory
    result = json.loads((run / "result.json").read_text())
    assert result["world_size"] == 2 and result["test_images"] == 896  # both shards evaluated
    assert result["test_acc"] > 30.0


@pytest.mark.parametrize("space_name, extra", [
    ("darts", {"data.image_size": "32", "data.limit": "192", "net.C": "4", "reg.cutout": "4", "reg.drop_path_prob": "0.2",
               "reg.auxiliary": "true"}),
    ("shufflenet", {"data.image_size": "32", "net.C": "16", "train.schedule": "linear", "reg.label_smoothing": "0.1"}),
])
def test_darts_and_shufflenet_networks_train(tmp_path: Path, space_name: str, extra: dict[str, str]) -> None:
    importlib.import_module(f"tnas.supernet.{space_name}_family")  # registers the family; missing = fail, not skip
    space = get_space(space_name)
    arch = space.sample_uniform(1, torch.Generator().manual_seed(0))[0]
    cfg = dataclasses.replace(_cfg(tmp_path, **{"train.epochs": "2", **extra}), space=space_name,
                              genotype=space.to_genotype(arch))
    result, run = run_train(cfg, progress_bar=False)
    size = NetSize(C=int(extra["net.C"]), N=1, num_classes=10, in_channels=1, image_size=int(extra["data.image_size"]))
    assert (result["params"], result["flops"]) == get_family(space_name).cost(space, arch, size)
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    epochs = [r for r in rows if r["phase"] == "train"]
    assert all(np.isfinite(e["loss"]) for e in epochs) and np.isfinite(result["test_acc"])
    if space_name == "darts":  # drop path raised linearly per epoch; the auxiliary head is trained, not counted
        assert [e["drop_path_prob"] for e in epochs] == pytest.approx([0.0, 0.1])
        assert result["module_params"] > result["params"]
