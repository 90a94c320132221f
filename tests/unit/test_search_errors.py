"""`tnas search` bad input: one-paragraph errors, exit code 2, nothing written."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tnas.cli import main


def _err(capsys: pytest.CaptureFixture[str], args: list[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("tnas: error:")
    return err


def test_resume_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a tnas run directory" in _err(capsys, ["search", "--resume", str(tmp_path)])


def test_resume_incompatible_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "ckpt").mkdir()
    torch.save({"version": 999}, tmp_path / "ckpt" / "last.pt")
    assert "format version 999" in _err(capsys, ["search", "--resume", str(tmp_path)])
    (tmp_path / "ckpt" / "last.pt").write_bytes(b"not a checkpoint")
    assert "could not be read" in _err(capsys, ["search", "--resume", str(tmp_path)])


def test_missing_dataset_names_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(capsys, ["search", "data.name=cifar100", f"data.root={tmp_path / 'nope'}", f"out={tmp_path / 'runs'}"])
    assert "nope" in err and "tnas data download" in err
    assert not (tmp_path / "runs").exists()  # nothing written for a run that could not start


def test_unknown_dataset_and_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "cifar10" in _err(capsys, ["search", "data.name=cifar11", f"out={tmp_path}"])
    assert "device" in _err(capsys, ["search", "device=tpu", f"out={tmp_path}"])


def test_impossible_constraint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(capsys, ["search", "search.max_params_M=0.0001", f"out={tmp_path / 'runs'}"])
    assert "No architecture meets" in err
    assert not (tmp_path / "runs").exists()


def test_impossible_flops_limit_on_shufflenet_names_the_cheapest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(capsys, ["search", "space=shufflenet", "search.max_flops_M=100", f"out={tmp_path / 'runs'}"])
    assert "No architecture meets" in err and "224x224" in err and "M FLOPs" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_space_and_gradient_constraint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(capsys, ["search", "space=dart", f"out={tmp_path}"])
    assert "'dart'" in err and "darts" in err
    err = _err(capsys, ["search", "strategy=gdas", "search.max_params_M=1", f"out={tmp_path}"])
    assert "cannot filter" in err


@pytest.mark.parametrize("genotype,space,needle", [
    ("Genotype(normal=[('sep_conv_9x9', 0)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])",
     "darts", "expected 8"),
    ("[0, 1, 2]", "shufflenet", "expected 20"),
    ("|nor_conv_3x3~0|+|", "nb201", "nor_conv_3x3~0"),
])
def test_train_malformed_genotype(genotype: str, space: str, needle: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    err = _err(capsys, ["train", genotype, "--space", space, f"out={tmp_path / 'runs'}"])
    assert needle in err
    assert not (tmp_path / "runs").exists()
