"""`tnas train` config: presets, typed overrides, bad input (exit 2, no traceback)."""
from __future__ import annotations

import dataclasses

import pytest

from tnas.cli import main
from tnas.errors import TnasError
from tnas.run.overrides import to_dict
from tnas.train.config import (
    list_train_presets,
    resolve_train_config,
    train_config_from_dict,
)

CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_presets_load_with_their_recipes() -> None:
    assert {"train-darts-cifar10", "train-nb201-cifar10", "train-quick", "train-spos-imagenet"} <= set(list_train_presets())
    darts = resolve_train_config("train-darts-cifar10")
    assert (darts.space, darts.net.C, darts.net.N, darts.train.epochs, darts.train.batch_size) == ("darts", 36, 6, 600, 96)
    assert (darts.reg.cutout, darts.reg.drop_path_prob, darts.reg.auxiliary, darts.reg.auxiliary_weight,
            darts.reg.grad_clip, darts.train.lr, darts.train.weight_decay) == (16, 0.2, True, 0.4, 5.0, 0.025, 3e-4)
    spos = resolve_train_config("train-spos-imagenet")
    assert (spos.train.schedule, spos.train.batch_size, spos.train.lr, spos.reg.label_smoothing, spos.data.stream,
            spos.data.image_size, spos.train.epochs, spos.train.weight_decay) == (
        "linear", 1024, 0.5, 0.1, True, 224, 240, 4e-5)
    nb = resolve_train_config("train-nb201-cifar10")
    assert (nb.train.lr, nb.train.nesterov, nb.train.epochs, nb.train.batch_size) == (0.1, True, 200, 256)
    assert resolve_train_config() == resolve_train_config("train-quick")
    assert resolve_train_config().data.name == "digits"


def test_overrides_are_typed_and_round_trip() -> None:
    cfg = resolve_train_config("train-quick", {"train.epochs": "3", "reg.cutout": "4", "train.lr": "1e-2",
                                               "net.C": "16", "data.limit": "null", "train.schedule": "linear"})
    assert cfg.train.epochs == 3 and cfg.reg.cutout == 4 and cfg.train.lr == 0.01 and cfg.net.C == 16
    assert cfg.train.schedule == "linear" and cfg.data.limit is None
    cfg = dataclasses.replace(cfg, genotype=CELL)
    assert train_config_from_dict(to_dict(cfg)) == cfg


@pytest.mark.parametrize("over, words", [
    ({"train.epoch": "3"}, "Did you mean 'train.epochs'"),
    ({"train.schedule": "step"}, "cosine, linear"),
    ({"reg.cutout": "-1"}, "reg.cutout"),
    ({"reg.drop_path_prob": "1.5"}, "[0, 1)"),
    ({"train.warmup_epochs": "9"}, "warmup"),
    ({"data.stream": "true"}, "imagefolder"),
    ({"train.batch_size": "many"}, "integer"),
])
def test_bad_values_name_the_key(over: dict[str, str], words: str) -> None:
    with pytest.raises(TnasError, match=None) as e:
        resolve_train_config("train-quick", over)
    assert words in str(e.value)


def test_unknown_preset_suggests() -> None:
    with pytest.raises(TnasError, match="Did you mean 'train-quick'"):
        resolve_train_config("train-quik")


@pytest.mark.parametrize("argv, words", [
    (["train"], "No architecture given"),
    (["train", "|bad~0|"], "node group"),
    (["train", CELL, "--space", "nb21"], "Did you mean 'nb201'"),
    (["train", CELL, "train-quik"], "Unknown training preset"),
    (["train", CELL, "train.epochs=x"], "expected an integer"),
    (["train", CELL, "train-quick", "extra"], "Unexpected argument 'extra'"),
    (["train", "--resume", "/nonexistent/run"], "not a tnas run directory"),
])
def test_cli_bad_input_exits_2_without_traceback(argv: list[str], words: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_cli_show_config_takes_options_between_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", CELL, "--space", "nb201", "train-quick", "train.epochs=2", "--show-config"]) == 0
    out = capsys.readouterr().out
    assert "train:\n" in out and "epochs: 2" in out and CELL in out
    assert main(["train", "--list-presets"]) == 0
    assert "train-darts-cifar10" in capsys.readouterr().out


def test_old_optim_keys_are_accepted_with_a_deprecation_note(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="tnas.train.config"):
        cfg = resolve_train_config("train-quick", {"optim.epochs": "3", "train.lr": "0.02"})
    assert (cfg.train.epochs, cfg.train.lr) == (3, 0.02)
    assert "optim.epochs is deprecated; use train.epochs" in caplog.text
    old = to_dict(cfg)
    old["optim"] = old.pop("train")  # the config.yaml / checkpoint of a run made before the rename
    assert train_config_from_dict(old) == cfg


def test_a_darts_genotype_namedtuple_is_accepted() -> None:
    from collections import namedtuple

    from tnas.space import get_space
    from tnas.train.config import validate_train_config

    Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")  # DARTS's genotypes.py
    darts_v2 = Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
        reduce_concat=range(2, 6))
    space = get_space("darts")
    arch = space.from_genotype(darts_v2)
    assert arch.tolist() == space.from_genotype(repr(darts_v2)).tolist()
    assert space.from_genotype(space.to_genotype(arch)).tolist() == arch.tolist()
    cfg = validate_train_config(dataclasses.replace(resolve_train_config("train-quick"), space="darts",
                                                    genotype=darts_v2))
    assert isinstance(cfg.genotype, str) and space.from_genotype(cfg.genotype).tolist() == arch.tolist()
    shuffle = get_space("shufflenet")
    assert shuffle.from_genotype([0, 1, 2, 3] * 5).tolist() == [0, 1, 2, 3] * 5
    with pytest.raises(TnasError, match="A genotype must be a string"):
        space.from_genotype(3.5)
