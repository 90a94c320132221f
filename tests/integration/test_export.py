"""`tnas export` / `tnas.load_network` on real runs (digits): the exported network reproduces the
run's own numbers, every file format reloads to the same outputs, bad run directories are clear
errors (issue 14, item 2)."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch

import tnas
from tnas.cli import main
from tnas.evaluate import fixed_batches
from tnas.export import TOLERANCE, export_run, load_network
from tnas.run.checkpoint import load_checkpoint, save_checkpoint
from tnas.run.config import resolve_config
from tnas.run.dist import DistInfo
from tnas.run.search import run_search
from tnas.data import load_dataset
from tnas.train import resolve_train_config, run_train
from tnas.train.data import make_source
from tnas.train.loop import evaluate

pytestmark = pytest.mark.slow

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SEARCH = {"strategy": "spos", "supernet.C": "4", "train.epochs": "1", "train.steps_per_epoch": "6",
          "train.batch_size": "32", "search.budget": "4", "search.population": "2", "search.parents": "1",
          "search.mutations": "1", "search.crossovers": "1", "search.bn_batches": "2", "search.eval_batches": "2",
          "search.eval_batch_size": "64", "data.limit": "300"}
TRAIN = {"optim.epochs": "1", "optim.batch_size": "32", "net.C": "4", "net.N": "1", "data.limit": "200"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A finished search run and a finished train run on digits."""
    root = tmp_path_factory.mktemp("export")
    _, search = run_search(resolve_config(None, {**SEARCH, "out": str(root)}), progress_bar=False)
    cfg = dataclasses.replace(resolve_train_config("train-quick", {**TRAIN, "out": str(root)}), genotype=CELL)
    _, train = run_train(cfg, progress_bar=False)
    return {"search": search, "train": train, "root": root}


def test_search_export_reproduces_the_search_score_and_reloads(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["search"]
    result = json.loads((run / "result.json").read_text())
    report = export_run(run, tmp_path, ("state", "torchscript"))
    # inherited weights + BN recalibrated on the search stage's batches = the search's own score
    assert report["checks"]["valid_acc"] == result["supernet_valid_acc"]
    spec = json.loads((tmp_path / "network.json").read_text())
    assert spec["genotype"] == result["genotype"] and spec["builder"] == "extract"
    assert len(spec["input"]["normalization"]["mean"]) == 1  # digits: one channel
    net = tnas.load_network(run)
    cfg = resolve_config(None, {**SEARCH, "out": str(runs["root"])})
    data = load_dataset("digits", None, device="cpu", split_seed=0, limit=cfg.data.limit)
    test = fixed_batches(data.test, cfg.search.eval_batch_size, 10**9)
    correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in test)
    assert 100.0 * correct / sum(len(y) for _, y in test) == pytest.approx(result["supernet_test_acc"], abs=1e-9)
    # the weights-only files rebuild the same module without data; TorchScript reloads to the same outputs
    state = torch.load(tmp_path / "network.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    x = test[0][0][:7]
    from_files = load_network(tmp_path)
    assert torch.equal(from_files(x), net(x))
    scripted = torch.jit.load(str(tmp_path / "network.torchscript.pt"))
    assert (scripted(x) - net(x)).abs().max() <= TOLERANCE
    assert report["torchscript"]["max_abs_diff"] <= TOLERANCE


def test_train_export_reproduces_the_test_accuracy(runs: dict[str, Path], tmp_path: Path) -> None:
    run = runs["train"]
    result = json.loads((run / "result.json").read_text())
    net = load_network(run)
    cfg = dataclasses.replace(resolve_train_config("train-quick", {**TRAIN, "out": str(runs["root"])}), genotype=CELL)
    source = make_source(cfg, torch.device("cpu"), DistInfo())
    assert evaluate(net, source.eval_batches(), 10)["test_acc"] == result["test_acc"]
    export_run(run, tmp_path, ("state",))
    spec = json.loads((tmp_path / "network.json").read_text())
    assert spec["builder"] == "network" and spec["genotype"] == CELL and spec["input"]["normalization"]
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(load_network(tmp_path)(x), net(x))


def test_onnx_export_matches_pytorch(runs: dict[str, Path], tmp_path: Path) -> None:
    if importlib.util.find_spec("onnxscript") is None or importlib.util.find_spec("onnx") is None:
        pytest.skip("ONNX export needs the optional extra: pip install 'tnas[onnx]'")
    report = export_run(runs["train"], tmp_path, ("onnx",))
    if importlib.util.find_spec("onnxruntime") is None:
        assert report["onnx"]["max_abs_diff"] is None
        pytest.skip("onnxruntime is not installed: the ONNX file was written but not checked")
    import onnxruntime as ort

    net = load_network(runs["train"])
    session = ort.InferenceSession(str(tmp_path / "network.onnx"), providers=["CPUExecutionProvider"])
    for batch in (1, 9):  # the batch axis is dynamic
        x = torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(batch))
        out = torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
        assert out.shape == (batch, 10) and (out - net(x).detach()).abs().max() <= TOLERANCE


@pytest.mark.parametrize("space, extra", [
    ("darts", {"data.limit": "200"}),  # 8x8 digits: the DARTS network halves the side twice
    ("shufflenet", {"data.limit": "120", "data.image_size": "32", "search.eval_batch_size": "40"}),  # needs >= 32 px
])
def test_darts_and_shufflenet_search_runs_export_with_inherited_weights(space: str, extra: dict[str, str],
                                                                          tmp_path: Path) -> None:
    """Every space's supernet cuts its found path out (`extract`): the export of a search run scores
    the run's own supernet_valid_acc and reloads from its files (state_dict, TorchScript)."""
    sets = {**SEARCH, "space": space, "supernet.N": "1", **extra, "out": str(tmp_path / "runs")}
    _, run = run_search(resolve_config(None, sets), progress_bar=False)
    result = json.loads((run / "result.json").read_text())
    report = export_run(run, tmp_path / "export", ("state", "torchscript"))
    assert report["checks"]["valid_acc"] == result["supernet_valid_acc"]
    assert report["torchscript"]["max_abs_diff"] <= TOLERANCE
    spec = json.loads((tmp_path / "export" / "network.json").read_text())
    assert spec["builder"] == "extract" and spec["space"] == space and spec["genotype"] == result["genotype"]
    net = load_network(run)
    x = torch.randn(5, 1, spec["size"]["image_size"], spec["size"]["image_size"],
                    generator=torch.Generator().manual_seed(0))
    assert torch.equal(load_network(tmp_path / "export")(x), net(x))


class Evil:
    """Stands for any object a hostile network.pt could hold; unpickling would import and build it."""


def _cli_error(capsys, *argv: str) -> str:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tnas: error:") and "Traceback" not in err
    return err


def test_bad_run_directories_are_clear_errors(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert "does not exist" in _cli_error(capsys, str(tmp_path / "nope"))
    err = _cli_error(capsys, str(runs["root"]))  # the parent folder of runs, not a run
    assert "no config.yaml" in err and runs["search"].name in err
    assert "Unknown export format 'tflite'" in _cli_error(capsys, str(runs["train"]), "--format", "state,tflite")
    # an unfinished search: its checkpoint says it is still training
    unfinished = tmp_path / "unfinished"
    shutil.copytree(runs["search"], unfinished)
    ck = load_checkpoint(unfinished / "ckpt" / "last.pt")
    ck.pop("version")
    save_checkpoint(unfinished / "ckpt" / "last.pt", {**ck, "phase": "train"})
    err = _cli_error(capsys, str(unfinished))
    assert "unfinished search" in err and f"tnas search --resume {unfinished}" in err
    # an unfinished train run
    unfinished = tmp_path / "unfinished-train"
    shutil.copytree(runs["train"], unfinished)
    ck = load_checkpoint(unfinished / "ckpt" / "last.pt")
    ck.pop("version")
    save_checkpoint(unfinished / "ckpt" / "last.pt", {**ck, "state": {**ck["state"], "done": False}})
    assert f"tnas train --resume {unfinished}" in _cli_error(capsys, str(unfinished))


def test_an_export_folder_never_unpickles(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    export_run(runs["train"], tmp_path, ("state",))
    torch.save({"w": Evil()}, tmp_path / "network.pt")  # a Python object, not tensors
    assert "weights-only state_dict" in _cli_error(capsys, str(tmp_path), "--format", "state")
