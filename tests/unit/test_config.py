"""Config presets and key=value overrides: types, errors with the closest key, CLI exit codes."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tnas.cli import main
from tnas.errors import TnasError
from tnas.run.config import RunConfig, config_from_dict, list_presets, resolve_config
from tnas.run.overrides import apply_overrides, parse_override_args, to_dict


def test_presets_resolve() -> None:
    assert {"digits-quick", "nb201-cifar10", "nb201-cifar10-cpu-proxy"} <= set(list_presets())
    for name in list_presets():
        cfg = resolve_config(name)
        assert isinstance(cfg, RunConfig)
    assert resolve_config().data.name == "digits"


def test_overrides_convert_types() -> None:
    cfg = resolve_config(None, parse_override_args(
        ["train.epochs=3", "sampler.eps_inc=2e-1", "data.limit=500", "data.root=null", "strategy=spos",
         "sampler.vae.latent_dim=8", "search.max_params_M=0.5", "train.nesterov=false"]))
    assert cfg.train.epochs == 3 and isinstance(cfg.train.epochs, int)
    assert cfg.sampler.eps_inc == 0.2 and cfg.data.limit == 500 and cfg.data.root is None
    assert cfg.strategy == "spos" and cfg.sampler.vae.latent_dim == 8
    assert cfg.search.max_params_M == 0.5 and cfg.train.nesterov is False


def test_round_trip_through_dict() -> None:
    cfg = resolve_config("nb201-cifar10-cpu-proxy", {"seed": "3"})
    assert config_from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.epoch=3", ["train.epoch", "train.epochs"]),
        ("train.epochs=abc", ["train.epochs", "integer"]),
        ("train.lr=fast", ["train.lr", "number"]),
        ("strategy=tnas-x", ["strategy", "tnas-os", "gdas"]),
        ("train.metric=acc", ["accuracy"]),
        ("train.nesterov=maybe", ["true or false"]),
        ("sampler=3", ["section"]),
    ],
)
def test_bad_overrides(override: str, words: list[str]) -> None:
    with pytest.raises(TnasError) as e:
        resolve_config(None, parse_override_args([override]))
    for w in words:
        assert w in str(e.value)


def test_malformed_override_and_preset() -> None:
    with pytest.raises(TnasError, match="key=value"):
        parse_override_args(["epochs"])
    with pytest.raises(TnasError, match="digits-quick"):
        resolve_config("digits-quik")
    with pytest.raises(TnasError, match="does not exist"):
        resolve_config("no/such/file.yaml")


def test_apply_overrides_is_pure() -> None:
    cfg = RunConfig()
    new = apply_overrides(cfg, {"train.epochs": 1}, parse=False)
    assert cfg.train.epochs != 1 and new.train.epochs == 1


def test_cli_exit_2_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "train.epoch=3"]) == 2
    err = capsys.readouterr().err
    assert "train.epochs" in err and "Traceback" not in err
    proc = subprocess.run([sys.executable, "-m", "tnas.cli", "search", "digits-quik"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "digits-quick" in proc.stderr


def test_show_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--show-config", "seed=7"]) == 0
    assert "seed: 7" in capsys.readouterr().out
