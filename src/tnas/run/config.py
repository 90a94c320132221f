"""Run configuration: nested frozen dataclasses, presets in `tnas/configs/*.yaml`.

`resolve_config(preset, overrides)` = defaults <- preset YAML <- `key=value` overrides; every
value is type-checked against the field (see `overrides.py`). The resolved config is saved in
the run directory and in every checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from tnas.errors import TnasError, suggest
from tnas.run.overrides import apply_overrides, flatten
from tnas.sampler.tnas import TNASConfig
from tnas.strategy.gradient import TNASGConfig


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # digits | cifar10 | cifar100 | imagenet16-120 | imagefolder
    root: str | None = None  # dataset location; None = built-in / shared data
    limit: int | None = None  # keep at most this many images per split (CPU proxies)
    split_seed: int = 0  # seed of the train/valid split (recorded in the run)
    image_size: int | None = None  # resize images to this side (CPU proxies: 16 = ImageNet16's size)
    augment: bool = True  # pad-and-crop + flip during supernet training


@dataclass(frozen=True)
class SupernetConfig:
    C: int = 8  # channels of the first stage (NB201: 16; DARTS search: 16; ShuffleNet: 64 = SPOS widths)
    N: int = 1  # cells per stage (NB201: 5; DARTS: normal cells per stage, 3N+2 cells; ShuffleNet: unused)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6
    batch_size: int = 64
    lr: float = 0.05  # SGD, cosine-annealed to 0 over all steps
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    grad_clip: float = 5.0
    steps_per_epoch: int | None = None  # None = one pass over the training split
    score_every: int = 1  # score the sampled arch on a held-out batch every k steps (Metric_{t-1})
    metric: Literal["accuracy", "loss"] = "accuracy"  # what the sampler learns from
    relative_scores: bool = True  # sampler sees score - EMA(scores): removes the training-progress trend
    micro_batches: int = 1  # gradient accumulation pieces per batch (per rank under torchrun)


@dataclass(frozen=True)
class SearchConfig:
    """The evolutionary search stage (SPOS GA), fitness = supernet valid accuracy after BN recalibration."""

    budget: int = 100  # supernet evaluations
    population: int = 20
    parents: int = 5
    mutations: int = 10
    crossovers: int = 10
    mutate_prob: float = 0.1
    bn_batches: int = 4  # batches of training data to recalibrate BN per candidate
    eval_batches: int = 2  # validation batches per candidate
    eval_batch_size: int = 256
    max_params_M: float | None = None  # hard constraint (the paper's dagger variant)
    max_flops_M: float | None = None  # multiply-accumulates, millions (the papers' "FLOPs")
    cost_C: int | None = None  # network the limits are counted on; None = the family's standard
    cost_N: int | None = None  #   stand-alone network (NB201: C=16, N=5; DARTS: 36, 6; ShuffleNet: 64)
    cost_image_size: int | None = None  # None = the family's (NB201/DARTS 32, ShuffleNet 224)


@dataclass(frozen=True)
class EvalConfig:
    tau_cells: int = 0  # cells for Kendall tau vs ground truth (0 = skip; needs the NB201 table)
    # random: tau_cells uniform cells, top 10% = the set's top decile (~tau_cells/10 cells);
    # stratified: tau_cells cells, tau_top_cells of them from the table's top 10% (evaluate/ranking.py)
    tau_set: Literal["random", "stratified"] = "random"
    tau_top_cells: int = 50  # stratified only: members from the GT top 10% (the top-10% tau's n)
    bench_path: str | None = None  # NB201 table folder (default: $TNAS_DATA/nb201 or ../shared/data/nb201)


@dataclass(frozen=True)
class GradientConfig:
    """Gradient-based strategies (darts, darts-v2, gdas, tnas-g; docs/gradient.md). The supernet
    weights use `train` (SGD, cosine); the architecture (alpha or the VAE decoder) uses Adam."""

    arch_lr: float = 3e-4  # Adam on alpha (DARTS/GDAS); tnas-g uses tnas_g.decoder_lr
    arch_weight_decay: float = 1e-3  # on alpha; tnas-g uses tnas_g.decoder_weight_decay
    alpha_init_std: float = 1e-3  # alpha starts as this * N(0, 1): near-uniform
    tau_max: float = 10.0  # Gumbel temperature (gdas, tnas-g), linear per step from tau_max ...
    tau_min: float = 0.1  # ... to tau_min over the run
    darts_fd_eps: float = 0.01  # darts-v2 finite-difference step (0 = exact Hessian-vector product)
    derive: Literal["mode", "best-of"] = "mode"  # tnas-g final cell: argmax p(a|z=0), or best of per-z modes
    best_of: int = 20  # tnas-g: latent draws for the best-of derivation (scored by the supernet)
    marginal_samples: int = 256  # tnas-g: z draws for the op probabilities reported per epoch
    tnas_g: TNASGConfig = field(default_factory=TNASGConfig)


@dataclass(frozen=True)
class RunConfig:
    # spos = uniform sampling (eps stays 0); darts, darts-v2, gdas, tnas-g: gradient-based (`gradient`)
    strategy: Literal["tnas-os", "spos", "darts", "darts-v2", "gdas", "tnas-g"] = "tnas-os"
    space: str = "nb201"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out: str = "runs"  # parent folder of run directories
    data: DataConfig = field(default_factory=DataConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: TNASConfig = field(default_factory=TNASConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gradient: GradientConfig = field(default_factory=GradientConfig)


DEFAULT_PRESET = "digits-quick"


def list_presets() -> list[str]:
    folder = resources.files("tnas") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name: str) -> dict[str, Any]:
    """A preset by name (`tnas/configs/<name>.yaml`) or a path to a YAML file -> flat overrides."""
    path = Path(name)
    if name.endswith((".yaml", ".yml")) or path.exists():
        if not path.is_file():
            raise TnasError(f"Config file '{name}' does not exist. Give a preset name ({', '.join(list_presets())}) or a YAML path.")
        text = path.read_text()
    else:
        presets = list_presets()
        if name not in presets:
            raise TnasError(
                f"Unknown preset '{name}'. Expected one of: {', '.join(presets)}.{suggest(name, presets)} "
                "Or pass the path to a YAML file."
            )
        text = (resources.files("tnas") / "configs" / f"{name}.yaml").read_text()
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise TnasError(f"Config '{name}' is not valid YAML: {e}") from e
    if not isinstance(tree, dict):
        raise TnasError(f"Config '{name}' must be a YAML mapping of keys to values, got {type(tree).__name__}.")
    return flatten(tree)


def resolve_config(preset: str | None = None, overrides: dict[str, str] | None = None) -> RunConfig:
    """Defaults <- preset <- overrides."""
    cfg = RunConfig()
    cfg = apply_overrides(cfg, load_preset(preset or DEFAULT_PRESET), parse=False)
    return apply_overrides(cfg, overrides or {}, parse=True)


def config_from_dict(tree: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its saved dict (config.yaml / checkpoint)."""
    return apply_overrides(RunConfig(), flatten({k: v for k, v in tree.items() if k != "_meta"}), parse=False)
