"""`tnas train` configuration: nested frozen dataclasses, presets `tnas/configs/train/train-*.yaml`.

`resolve_train_config(preset, overrides)` = defaults <- preset YAML <- `key=value` overrides, each
value type-checked against its field by `tnas.run.overrides` (the same machinery as `tnas search`).
The resolved config is saved as config.yaml in the run directory and in every checkpoint.

Presets (see each YAML file for its source):
    train-quick           digits, NB201 C=8 N=1, a few epochs: < 30 s on a CPU (the default)
    train-nb201-cifar10   NB201's 200-epoch recipe (SGD 0.1 nesterov, cosine, wd 5e-4, batch 256)
    train-darts-cifar10   DARTS evaluation: C=36, 20 cells, cutout 16, drop path 0.2, aux 0.4, 600 epochs
    train-spos-imagenet   SPOS ImageNet: batch 1024, lr 0.5 linear decay, label smoothing 0.1, 240 epochs
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tnas.errors import TnasError, unknown
from tnas.run.overrides import apply_overrides, flatten

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+
    from importlib.abc import Traversable

DEFAULT_PRESET = "train-quick"


@dataclass(frozen=True)
class TrainDataConfig:
    name: str = "digits"  # digits | cifar10 | cifar100 | imagenet16-120 | imagefolder (tnas.data)
    root: str | None = None  # dataset folder; None = built in / shared data ($TNAS_DATA, ../shared/data)
    image_size: int | None = None  # side in pixels; None = native (in memory) / 224 (stream)
    limit: int | None = None  # at most this many images per split (CPU proxies, tests)
    # test: train on the whole training set, report test accuracy (the standard protocol);
    # valid: train on the train split only, report the validation split (for tuning a recipe)
    split: Literal["test", "valid"] = "test"
    split_seed: int = 0
    augment: bool = True  # in memory: pad-and-crop + flip; stream: RandomResizedCrop + flip
    stream: bool = False  # imagefolder only: decode files per batch with DataLoader workers (ImageNet)
    workers: int = 4  # DataLoader worker processes per rank (stream only)


@dataclass(frozen=True)
class NetConfig:
    C: int | None = None  # channels of the first searchable stage; None = the family's standard size
    N: int | None = None  # cells per stage (NB201) / normal cells per stage (DARTS: 3N+2 layers)


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 0.05  # SGD learning rate for the global batch
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    epochs: int = 4
    batch_size: int = 64  # global batch (split evenly over torchrun ranks)
    eval_batch_size: int = 256
    schedule: Literal["cosine", "linear"] = "cosine"  # per step to 0; linear = SPOS's decay
    warmup_epochs: int = 0  # linear warm-up from 0 to lr before the schedule starts


@dataclass(frozen=True)
class RegConfig:
    cutout: int = 0  # side of the zeroed square in pixels (DARTS: 16); 0 = off
    drop_path_prob: float = 0.0  # final drop-path probability, raised linearly from 0 over epochs
    auxiliary: bool = False  # auxiliary head (DARTS) ...
    auxiliary_weight: float = 0.4  # ... whose loss is added with this weight
    label_smoothing: float = 0.0  # SPOS ImageNet: 0.1
    grad_clip: float = 0.0  # max gradient norm; 0 = off (DARTS: 5)


@dataclass(frozen=True)
class TrainRunConfig:
    genotype: str = ""  # the architecture, in the space's genotype notation (set by the CLI argument)
    space: str = "nb201"  # nb201 | darts | shufflenet | a user-registered space with a family
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out: str = "runs"  # parent folder of run directories
    eval_every: int = 1  # test-set evaluation every k epochs (the last epoch always)
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    reg: RegConfig = field(default_factory=RegConfig)


def _folder() -> Traversable:
    # a sub-folder of tnas/configs: `tnas search` lists and resolves the top-level presets only
    return resources.files("tnas") / "configs" / "train"


def list_train_presets() -> list[str]:
    """Names of the built-in `tnas train` presets (`tnas/configs/train/train-*.yaml`)."""
    return sorted(p.name[:-5] for p in _folder().iterdir() if p.name.endswith(".yaml"))


def _load(name: str) -> dict[str, Any]:
    """A preset by name or a YAML file path -> flat {'dotted.key': value}."""
    from tnas.run.config import load_preset

    if not (name.endswith((".yaml", ".yml")) or Path(name).exists()):
        presets = list_train_presets()
        if name not in presets:
            raise unknown("training preset", name, presets, "Or pass the path to a YAML file.")
        name = str(_folder() / f"{name}.yaml")
    return load_preset(name)


def check_config(cfg: TrainRunConfig) -> None:
    """Value checks the types cannot express; raises TnasError naming the key and the fix."""
    o, r, d = cfg.optim, cfg.reg, cfg.data
    checks = [
        (o.epochs >= 1, "optim.epochs", o.epochs, "a positive number of epochs"),
        (o.batch_size >= 1, "optim.batch_size", o.batch_size, "a positive batch size"),
        (o.eval_batch_size >= 1, "optim.eval_batch_size", o.eval_batch_size, "a positive batch size"),
        (o.lr > 0, "optim.lr", o.lr, "a positive learning rate"),
        (0 <= o.warmup_epochs < o.epochs, "optim.warmup_epochs", o.warmup_epochs, "0 <= warmup < optim.epochs"),
        (r.cutout >= 0, "reg.cutout", r.cutout, "a side in pixels >= 0 (0 = off)"),
        (0 <= r.drop_path_prob < 1, "reg.drop_path_prob", r.drop_path_prob, "a probability in [0, 1)"),
        (0 <= r.label_smoothing < 1, "reg.label_smoothing", r.label_smoothing, "a value in [0, 1)"),
        (r.grad_clip >= 0, "reg.grad_clip", r.grad_clip, "a norm >= 0 (0 = off)"),
        (cfg.eval_every >= 1, "eval_every", cfg.eval_every, "a positive number of epochs"),
        (d.workers >= 0, "data.workers", d.workers, "a number of worker processes >= 0"),
        (not d.stream or d.name == "imagefolder", "data.stream", d.stream,
         "false unless data.name=imagefolder (other datasets are held in memory)"),
    ]
    for ok, key, value, expected in checks:
        if not ok:
            raise TnasError(f"Bad value {value!r} for '{key}': expected {expected}. Set it with {key}=...")


def resolve_train_config(preset: str | None = None, overrides: dict[str, str] | None = None) -> TrainRunConfig:
    """Defaults <- preset (default `train-quick`) <- `key=value` overrides (strings, YAML-parsed)."""
    cfg = apply_overrides(TrainRunConfig(), _load(preset or DEFAULT_PRESET), parse=False)
    cfg = apply_overrides(cfg, overrides or {}, parse=True)
    check_config(cfg)
    return cfg


def train_config_from_dict(tree: dict[str, Any]) -> TrainRunConfig:
    """Rebuild a TrainRunConfig from its saved dict (config.yaml / checkpoint)."""
    return apply_overrides(TrainRunConfig(), flatten({k: v for k, v in tree.items() if k != "_meta"}), parse=False)
