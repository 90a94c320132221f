"""`tnas train` configuration: nested frozen dataclasses, presets `tnas/configs/train/train-*.yaml`.

`resolve_train_config(preset, overrides)` = defaults <- preset YAML <- `key=value` overrides, each
value type-checked against its field by `tnas.run.overrides` (the same machinery as `tnas search`).
The resolved config is saved as config.yaml in the run directory and in every checkpoint.

The optimisation keys are `train.*`, as in `tnas search` (`train.lr`, `train.epochs`, ...); the
former name `optim.*` is still accepted, in overrides, YAML files and the configs of older runs,
with a deprecation warning (`renamed_keys`).

Presets (see each YAML file for its source):
    train-quick           digits, NB201 C=8 N=1, a few epochs: < 30 s on a CPU (the default)
    train-nb201-cifar10   NB201's 200-epoch recipe (SGD 0.1 nesterov, cosine, wd 5e-4, batch 256)
    train-darts-cifar10   DARTS evaluation: C=36, 20 cells, cutout 16, drop path 0.2, aux 0.4, 600 epochs
    train-spos-imagenet   SPOS ImageNet: batch 1024, lr 0.5 linear decay, label smoothing 0.1, 240 epochs
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tnas.accel import LAYOUTS, PRECISIONS
from tnas.checks import SEED_MAX, Cross, checked, validate
from tnas.errors import unknown
from tnas.run.config import MAX_CELLS, MAX_CHANNELS, MAX_IMAGE_SIZE, check_common
from tnas.run.overrides import apply_overrides, flatten
from tnas.run.track import TrackConfig

_log = logging.getLogger(__name__)

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+
    from importlib.abc import Traversable

DEFAULT_PRESET = "train-quick"


@dataclass(frozen=True)
class TrainDataConfig:
    name: str = "digits"  # digits | cifar10 | cifar100 | imagenet16-120 | imagefolder (tnas.data)
    root: str | None = None  # dataset folder; None = built in / shared data ($TNAS_DATA, ../shared/data)
    image_size: int | None = checked(None, ge=4, le=MAX_IMAGE_SIZE)  # side in pixels; None = native / 224 (stream)
    limit: int | None = checked(None, ge=1, le=10**9)  # at most this many images per split (CPU proxies, tests)
    # test: train on the whole training pool, no held-out evaluation per epoch, test accuracy once at
    # the end (the standard protocol); valid: train on the train split, validation accuracy per epoch
    # (the best epoch is picked on it), test accuracy once at the end
    split: Literal["test", "valid"] = "test"
    split_seed: int = checked(0, ge=0, le=SEED_MAX)
    augment: bool = True  # in memory: pad-and-crop + flip; stream: RandomResizedCrop + flip
    stream: bool = False  # imagefolder only: decode files per batch with DataLoader workers (ImageNet)
    workers: int = checked(4, ge=0, le=256)  # DataLoader worker processes per rank (stream only)

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(not self.stream or self.name == "imagefolder", "stream", self.stream,
                      "false unless data.name=imagefolder (other datasets are held in memory)"),)


@dataclass(frozen=True)
class NetConfig:
    # channels of the first searchable stage; None = the family's standard size
    C: int | None = checked(None, ge=1, le=MAX_CHANNELS)
    # cells per stage (NB201) / normal cells per stage (DARTS: 3N+2 layers)
    N: int | None = checked(None, ge=1, le=MAX_CELLS)


@dataclass(frozen=True)
class OptimConfig:
    """`train.*` of `tnas train` (the keys `tnas search` uses for supernet training)."""

    lr: float = checked(0.05, gt=0, le=10)  # SGD learning rate for the global batch
    momentum: float = checked(0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = checked(5e-4, ge=0, le=1)
    epochs: int = checked(4, ge=1, le=100_000)
    batch_size: int = checked(64, ge=1, le=1_000_000)  # global batch (split evenly over torchrun ranks)
    eval_batch_size: int = checked(256, ge=1, le=1_000_000)
    schedule: Literal["cosine", "linear"] = "cosine"  # per step to 0; linear = SPOS's decay
    warmup_epochs: int = checked(0, ge=0, le=100_000)  # linear warm-up from 0 to lr before the schedule starts

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(self.warmup_epochs < self.epochs, "warmup_epochs", self.warmup_epochs,
                      f"fewer epochs than train.epochs = {self.epochs}"),)


@dataclass(frozen=True)
class RegConfig:
    cutout: int = checked(0, ge=0, le=MAX_IMAGE_SIZE)  # side of the zeroed square in pixels (DARTS: 16); 0 = off
    drop_path_prob: float = checked(0.0, ge=0, lt=1)  # final drop-path probability, raised linearly from 0
    auxiliary: bool = False  # auxiliary head (DARTS) ...
    auxiliary_weight: float = checked(0.4, ge=0, le=100)  # ... whose loss is added with this weight
    label_smoothing: float = checked(0.0, ge=0, lt=1)  # SPOS ImageNet: 0.1
    grad_clip: float = checked(0.0, ge=0, le=1e6)  # max gradient norm; 0 = off (DARTS: 5)


@dataclass(frozen=True)
class TrainRunConfig:
    genotype: str = ""  # the architecture, in the space's genotype notation (CLI argument; or a Genotype object)
    space: str = "nb201"  # nb201 | darts | shufflenet | a user-registered space with a family
    seed: int = checked(0, ge=0, le=SEED_MAX)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out: str = "runs"  # parent folder of run directories
    threads: int = checked(0, ge=0, le=1024)  # torch CPU threads for the run (0 = torch's default)
    precision: str = checked("auto", choices=PRECISIONS)  # auto = bf16 on CUDA, fp32 on CPU (tnas.accel)
    channels_last: str = checked("auto", choices=LAYOUTS)  # NHWC activations; auto = the model's on CPU, on with bf16
    sync_every: int | None = checked(None, ge=1, le=100_000)  # steps between host syncs; None = 1 on CPU, 50 on CUDA
    eval_every: int = checked(1, ge=1, le=100_000)  # data.split=valid: validation every k epochs (the last always)
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    net: NetConfig = field(default_factory=NetConfig)
    train: OptimConfig = field(default_factory=OptimConfig)  # optimiser and schedule ('optim.*' before)
    reg: RegConfig = field(default_factory=RegConfig)
    track: TrackConfig = field(default_factory=TrackConfig)  # MLflow / W&B besides TensorBoard (off by default)


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
    return renamed_keys(load_preset(name), f"'{name}'")


def renamed_keys(flat: dict[str, Any], where: str = "the overrides", warn: bool = True) -> dict[str, Any]:
    """`optim.KEY` -> `train.KEY` (the section was renamed so that `tnas train` and `tnas search`
    share one dialect), with one deprecation warning naming the keys; other keys unchanged."""
    old = [k for k in flat if k.startswith("optim.")]
    if old and warn:
        _log.warning("%s: %s is deprecated; use %s (the same keys as `tnas search`)", where, ", ".join(old),
                     ", ".join("train." + k[len("optim."):] for k in old))
    return {("train." + k[len("optim."):] if k.startswith("optim.") else k): v for k, v in flat.items()}


def validate_train_config(cfg: TrainRunConfig) -> TrainRunConfig:
    """Every value check of a training config before anything is loaded: the declared field rules
    (`tnas.checks`), the registries (space with a model family, dataset, device, output folder)
    and the genotype when one is set. Returns `cfg`, its genotype as text (`genotype` may be
    given as a DARTS `Genotype` namedtuple or any object `tnas.space.base.genotype_text` takes)."""
    from tnas.space import get_space
    from tnas.space.base import genotype_text
    from tnas.supernet.registry import get_family

    if not isinstance(cfg.genotype, str):  # a DARTS Genotype namedtuple, a CellStructure, a list
        cfg = replace(cfg, genotype=genotype_text(cfg.genotype))
    validate(cfg)
    check_common(cfg.space, cfg.data.name, cfg.device, cfg.out)
    get_family(cfg.space)
    if cfg.genotype.strip():
        space = get_space(cfg.space)
        space.validate(space.from_genotype(cfg.genotype))
    return cfg


def resolve_train_config(preset: str | None = None, overrides: dict[str, str] | None = None) -> TrainRunConfig:
    """Defaults <- preset (default `train-quick`) <- `key=value` overrides (strings, YAML-parsed)."""
    cfg = apply_overrides(TrainRunConfig(), _load(preset or DEFAULT_PRESET), parse=False)
    return validate_train_config(apply_overrides(cfg, renamed_keys(dict(overrides or {})), parse=True))


def train_config_from_dict(tree: dict[str, Any]) -> TrainRunConfig:
    """Rebuild a TrainRunConfig from its saved dict (config.yaml / checkpoint), validated."""
    flat = renamed_keys(flatten({k: v for k, v in tree.items() if k != "_meta"}), warn=False)  # older runs: optim.*
    cfg = apply_overrides(TrainRunConfig(), flat, parse=False)
    return validate_train_config(cfg)
