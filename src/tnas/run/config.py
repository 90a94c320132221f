"""Run configuration: nested frozen dataclasses, presets in `tnas/configs/*.yaml`.

`resolve_config(preset, overrides)` = defaults <- preset YAML <- `key=value` overrides; every
value is type-checked against the field (see `overrides.py`), then range-checked against the
field's declared rule (`checked(...)`, see `tnas.checks`) by `validate_config`, before anything
is loaded or trained. The resolved config is saved in the run directory and in every checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
import yaml

from tnas.accel import LAYOUTS, PRECISIONS
from tnas.checks import SEED_MAX, Cross, bad_value, checked, validate
from tnas.errors import TnasError, suggest, unknown
from tnas.run.overrides import apply_overrides, flatten
from tnas.run.track import TrackConfig
from tnas.sampler.tnas import TNASConfig
from tnas.strategy.gradient import TNASGConfig


# Upper bounds below are far beyond any sensible run: they catch typos and overflow (an absurd
# value would otherwise fail only when memory runs out or an integer overflows mid-run).
MAX_CHANNELS, MAX_CELLS, MAX_IMAGE_SIZE = 2048, 64, 1024


@dataclass(frozen=True)
class DataConfig:
    name: str = "digits"  # digits | cifar10 | cifar100 | imagenet16-120 | imagefolder (checked by `validate_config`)
    root: str | None = None  # dataset location; None = built-in / shared data
    limit: int | None = checked(None, ge=1, le=10**9)  # keep at most this many images per split (CPU proxies)
    split_seed: int = checked(0, ge=0, le=SEED_MAX)  # seed of the train/valid split (recorded in the run)
    image_size: int | None = checked(None, ge=4, le=MAX_IMAGE_SIZE)  # resize to this side (CPU proxies: 16)
    augment: bool = True  # pad-and-crop + flip during supernet training (streamed: random resized crop + flip)
    # imagefolder only: stream ROOT/train and ROOT/val from disk (decoded by `workers` processes) and
    # hold `holdout` images of train/ out for scoring architectures (tnas.data.stream_split)
    stream: bool = False
    holdout: int = checked(10000, ge=1, le=10**8)  # held-out images of train/ when streaming (SPOS: 50000)
    workers: int = checked(4, ge=0, le=256)  # decoding processes per streamed split (0: the training process)
    skip_bad: bool = False  # streamed: skip (count, list in skipped_files.txt, log) image files that do not decode

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(not self.stream or self.name == "imagefolder", "stream", self.stream,
                      f"false for data.name={self.name}: only image folders are streamed (data.name=imagefolder "
                      "data.root=DIR with DIR/train/<class>/ and DIR/val/<class>/)"),
                Cross(not self.skip_bad or self.stream, "skip_bad", self.skip_bad,
                      "false without data.stream=true: in-memory datasets are decoded (and checked) whole before "
                      "training; skipping bad files is for streamed image folders"))


@dataclass(frozen=True)
class SupernetConfig:
    # channels of the first stage (NB201: 16; DARTS search: 16; ShuffleNet: 64 = SPOS widths)
    C: int = checked(8, ge=1, le=MAX_CHANNELS)
    # cells per stage (NB201: 5; DARTS: normal cells per stage, 3N+2 cells; ShuffleNet: unused)
    N: int = checked(1, ge=1, le=MAX_CELLS)


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = checked(6, ge=1, le=100_000)
    batch_size: int = checked(64, ge=1, le=1_000_000)
    lr: float = checked(0.05, gt=0, le=10)  # SGD, cosine-annealed to 0 over all steps
    momentum: float = checked(0.9, ge=0, lt=1)
    weight_decay: float = checked(5e-4, ge=0, le=1)
    nesterov: bool = True
    grad_clip: float = checked(5.0, ge=0, le=1e6)  # max gradient norm; 0 = off
    steps_per_epoch: int | None = checked(None, ge=1, le=10**9)  # None = one pass over the training split
    score_every: int = checked(1, ge=1, le=10**9)  # score the sampled arch on a held-out batch every k steps
    metric: Literal["accuracy", "loss"] = "accuracy"  # what the sampler learns from
    relative_scores: bool = True  # sampler sees score - EMA(scores): removes the training-progress trend (supernet scores only)
    micro_batches: int = checked(1, ge=1, le=1_000_000)  # gradient accumulation pieces per batch (per rank)

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(self.batch_size % self.micro_batches == 0, "micro_batches", self.micro_batches,
                      f"a divisor of train.batch_size = {self.batch_size} (each piece is an equal slice)"),)


@dataclass(frozen=True)
class SearchConfig:
    """The evolutionary search stage (SPOS GA), fitness = supernet valid accuracy after BN recalibration."""

    budget: int = checked(100, ge=1, le=1_000_000)  # supernet evaluations (at most the space's size)
    population: int = checked(20, ge=1, le=10**6)
    parents: int = checked(5, ge=1, le=10**6)
    mutations: int = checked(10, ge=0, le=10**6)
    crossovers: int = checked(10, ge=0, le=10**6)
    mutate_prob: float = checked(0.1, ge=0, le=1)
    bn_batches: int = checked(4, ge=1, le=1000)  # batches of training data to recalibrate BN per candidate
    eval_batches: int = checked(2, ge=1, le=10_000)  # validation batches per candidate
    eval_batch_size: int = checked(256, ge=1, le=1_000_000)
    max_params_M: float | None = checked(None, gt=0, le=1e9)  # hard constraint (the paper's dagger variant)
    max_flops_M: float | None = checked(None, gt=0, le=1e12)  # multiply-accumulates, millions (the papers' "FLOPs")
    cost_C: int | None = checked(None, ge=1, le=MAX_CHANNELS)  # network the limits are counted on; None = the
    cost_N: int | None = checked(None, ge=1, le=MAX_CELLS)  # family's standard one (NB201: C=16, N=5; DARTS: 36, 6)
    cost_image_size: int | None = checked(None, ge=4, le=MAX_IMAGE_SIZE)  # None = the family's (32; ShuffleNet 224)
    # what ranks candidates (tnas.evaluate.score): accuracy | loss | angle | naswot | synflow | snip |
    # grad_norm | jacov, or a rank ensemble rank:A+B[+...]; the GA, TNAS-G's best-of, reports' tau use it
    score: str = "accuracy"
    rank_reference: int = checked(64, ge=2, le=100_000)  # rank ensembles: uniform reference architectures
    # strategy=zero-cost only: the query search over the training-free score (random | rea | spos-ga |
    # tnas | tnas-ga, tnas.strategy.discrete.SEARCHES)
    method: str = "spos-ga"

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(self.mutations + self.crossovers >= 1, "mutations", self.mutations,
                      "search.mutations + search.crossovers >= 1 (each GA generation needs children)"),)


@dataclass(frozen=True)
class ZeroCostConfig:
    """The stand-alone network and data of zero-cost scores (search.score / sampler.feedback_score =
    naswot, synflow, snip, grad_norm, jacov or an ensemble with them): the family's standard network
    (NB201: C=16, N=5) at initialisation, at the run's image size, on real training batches."""

    batch_size: int = checked(64, ge=2, le=100_000)  # images per zero-cost batch (unaugmented training images)
    batches: int = checked(1, ge=1, le=1000)  # batches per architecture (scores averaged)
    C: int | None = checked(None, ge=1, le=MAX_CHANNELS)  # None = the family's standard network
    N: int | None = checked(None, ge=1, le=MAX_CELLS)


@dataclass(frozen=True)
class EvalConfig:
    tau_cells: int = checked(0, ge=0, le=15_625)  # cells for Kendall tau vs ground truth (0 = skip; NB201 table)
    # random: tau_cells uniform cells, top 10% = the set's top decile (~tau_cells/10 cells);
    # stratified: tau_cells cells, tau_top_cells of them from the table's top 10% (evaluate/ranking.py)
    tau_set: Literal["random", "stratified"] = "random"
    tau_top_cells: int = checked(50, ge=3, le=1_562)  # stratified only: members from the GT top 10% (its tau's n)
    bench_path: str | None = None  # NB201 table folder (default: $TNAS_DATA/nb201 if present, else the bundled table)

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(self.tau_set == "random" or self.tau_cells == 0 or self.tau_top_cells <= self.tau_cells,
                      "tau_top_cells", self.tau_top_cells,
                      f"eval.tau_top_cells <= eval.tau_cells ({self.tau_cells}) for eval.tau_set=stratified"),)


@dataclass(frozen=True)
class GradientConfig:
    """Gradient-based strategies (darts, darts-v2, gdas, tnas-g; docs/gradient.md). The supernet
    weights use `train` (SGD, cosine); the architecture (alpha or the VAE decoder) uses Adam."""

    arch_lr: float = checked(3e-4, gt=0, le=10)  # Adam on alpha (DARTS/GDAS); tnas-g uses tnas_g.decoder_lr
    arch_weight_decay: float = checked(1e-3, ge=0, le=1)  # on alpha; tnas-g uses tnas_g.decoder_weight_decay
    alpha_init_std: float = checked(1e-3, ge=0, le=10)  # alpha starts as this * N(0, 1): near-uniform
    tau_max: float = checked(10.0, gt=0, le=1000)  # Gumbel temperature (gdas, tnas-g), linear per step from tau_max ...
    tau_min: float = checked(0.1, gt=0, le=1000)  # ... to tau_min over the run
    darts_fd_eps: float = checked(0.01, ge=0, le=1)  # darts-v2 finite-difference step (0 = exact Hessian-vector product)
    derive: Literal["mode", "best-of"] = "mode"  # tnas-g final cell: argmax p(a|z=0), or best of per-z modes
    best_of: int = checked(20, ge=0, le=100_000)  # tnas-g: latent draws for the best-of derivation (scored by the supernet)
    marginal_samples: int = checked(256, ge=1, le=10**6)  # tnas-g: z draws for the op probabilities reported per epoch
    tnas_g: TNASGConfig = field(default_factory=TNASGConfig)

    def cross_checks(self) -> tuple[Cross, ...]:
        return (Cross(self.tau_min <= self.tau_max, "tau_min", self.tau_min,
                      f"a temperature <= gradient.tau_max = {self.tau_max} (it anneals from tau_max down to tau_min)"),
                Cross(self.derive != "best-of" or self.best_of >= 1, "best_of", self.best_of,
                      "at least 1 latent draw when gradient.derive=best-of"))


GRADIENT_STRATEGIES = ("darts", "darts-v2", "gdas", "tnas-g")
# data.name -> NB201 table dataset: the runs that get ground truth and Kendall tau
TABLE_DATASETS = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16-120": "ImageNet16-120"}


@dataclass(frozen=True)
class RunConfig:
    # spos = uniform sampling (eps stays 0); darts, darts-v2, gdas, tnas-g: gradient-based (`gradient`)
    # zero-cost: no supernet, search.method over a training-free search.score
    strategy: Literal["tnas-os", "spos", "darts", "darts-v2", "gdas", "tnas-g", "zero-cost"] = "tnas-os"
    space: str = "nb201"  # checked against the registered spaces by `validate_config`
    seed: int = checked(0, ge=0, le=SEED_MAX)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    out: str = "runs"  # parent folder of run directories
    threads: int = checked(0, ge=0, le=1024)  # torch CPU threads for the run (0 = torch's default)
    precision: str = checked("auto", choices=PRECISIONS)  # auto = bf16 on CUDA, fp32 on CPU (tnas.accel)
    channels_last: str = checked("auto", choices=LAYOUTS)  # NHWC activations; auto = the model's on CPU, on with bf16
    sync_every: int | None = checked(None, ge=1, le=100_000)  # steps between host syncs; None = 1 on CPU, 50 on CUDA
    data: DataConfig = field(default_factory=DataConfig)
    supernet: SupernetConfig = field(default_factory=SupernetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sampler: TNASConfig = field(default_factory=TNASConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    gradient: GradientConfig = field(default_factory=GradientConfig)
    zero_cost: ZeroCostConfig = field(default_factory=ZeroCostConfig)
    track: TrackConfig = field(default_factory=TrackConfig)  # MLflow / W&B besides TensorBoard (off by default)

    def cross_checks(self) -> tuple[Cross, ...]:
        gradient = self.strategy in GRADIENT_STRATEGIES
        limit = "max_params_M" if self.search.max_params_M is not None else "max_flops_M"
        limit_value = getattr(self.search, limit)
        return (
            Cross(not gradient or limit_value is None, f"search.{limit}", limit_value,
                  f"null for strategy={self.strategy}: a gradient search derives one cell from its distribution "
                  "and cannot filter candidates by search.max_params_M / max_flops_M (use strategy=tnas-os or spos "
                  "for constrained searches)"),
            # bf16 is not validated for bilevel steps (DARTS-V2's finite differences, Gumbel
            # relaxations): the gradient strategies compute in fp32 (precision=auto picks that)
            Cross(not gradient or self.precision != "bf16", "precision", self.precision,
                  f"auto or fp32 for strategy={self.strategy} (gradient strategies compute in fp32; bf16 applies to "
                  "tnas-os and spos)"),
        )


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


def validate_config(cfg: RunConfig) -> RunConfig:
    """Every value check of a search config, before any data is loaded or anything trained: the
    declared field rules (`tnas.checks`), the rules between fields, and the registries (space,
    model family, dataset, device, output folder, budget vs the space's size). Returns `cfg`."""
    from tnas.space import get_space
    from tnas.supernet.registry import get_family

    validate(cfg)
    check_common(cfg.space, cfg.data.name, cfg.device, cfg.out)
    get_family(cfg.space)
    size = get_space(cfg.space).size
    if cfg.strategy not in GRADIENT_STRATEGIES and cfg.search.budget > size:
        raise bad_value("search.budget", cfg.search.budget,
                        f"at most {size}, the number of architectures in space '{cfg.space}' (the GA evaluates "
                        "each architecture once)")
    check_scores(cfg)
    check_sampler(cfg)
    if cfg.eval.tau_cells > 0:
        if cfg.space != "nb201" or cfg.data.name not in TABLE_DATASETS:
            raise bad_value("eval.tau_cells", cfg.eval.tau_cells,
                            f"0 for space={cfg.space}, data.name={cfg.data.name}: Kendall tau needs NB201 ground truth, "
                            f"i.e. space=nb201 on {', '.join(TABLE_DATASETS)}")
        from tnas.bench import locate_table

        locate_table(cfg.eval.bench_path)  # fails now, naming every place looked at, not after training
    return cfg


def check_sampler(cfg: RunConfig) -> None:
    """sampler.name is registered and sampler.role one the strategy and sampler can play."""
    from tnas.sampler import SAMPLERS
    from tnas.sampler.roles import ROLES

    sc = cfg.sampler
    if sc.role not in ROLES:
        raise unknown("sampler.role", sc.role, ROLES, "Set it with sampler.role=... (docs/sampler.md: what each role does).")
    if sc.name != "auto":
        SAMPLERS.get(sc.name)  # names the registered samplers and the closest match
    if cfg.strategy in GRADIENT_STRATEGIES and (sc.role != "steer" or sc.name != "auto"):
        key, value = ("sampler.role", sc.role) if sc.role != "steer" else ("sampler.name", sc.name)
        raise bad_value(key, value, f"the default ({'steer' if key == 'sampler.role' else 'auto'}) for "
                        f"strategy={cfg.strategy}: a gradient strategy learns its own distribution and trains on it; "
                        "sampler roles and names are for the one-shot strategies (strategy=tnas-os)")
    if cfg.strategy == "spos" and (sc.name not in ("auto", "uniform") or sc.role != "steer"):
        key, value = ("sampler.name", sc.name) if sc.name not in ("auto", "uniform") else ("sampler.role", sc.role)
        raise bad_value(key, value, "the default for strategy=spos, which trains uniformly by definition; use "
                        "strategy=tnas-os with sampler.name / sampler.role for a learned sampler")
    if sc.role != "steer" and sc.name == "uniform":
        raise bad_value("sampler.role", sc.role, "steer for sampler.name=uniform: the uniform distribution learns "
                        "nothing to seed, reject or reweight with; use sampler.name=tnas (or auto)")


def check_scores(cfg: RunConfig) -> None:
    """search.score, sampler.feedback_score and search.method name what the strategy can use."""
    from tnas.evaluate.score import SCORES, parse_score
    from tnas.strategy.discrete import SEARCHES

    spec = parse_score(cfg.search.score, "search.score")
    feedback = parse_score(cfg.sampler.feedback_score, "sampler.feedback_score")
    if cfg.strategy == "zero-cost":
        if "supernet" in spec.needs:
            raise bad_value("search.score", cfg.search.score,
                            "a training-free score for strategy=zero-cost (no supernet is trained): one of "
                            f"{', '.join(n for n in SCORES.names() if 'supernet' not in SCORES.get(n).needs)} or a "
                            "rank ensemble of them, e.g. rank:naswot+synflow")
        SEARCHES.get(cfg.search.method)
    elif cfg.search.method != "spos-ga":
        raise bad_value("search.method", cfg.search.method,
                        f"spos-ga for strategy={cfg.strategy} (search.method picks the query search of "
                        "strategy=zero-cost only; one-shot runs search with the SPOS GA)")
    if feedback.ensemble and {"accuracy", "loss"} & set(feedback.members):
        raise bad_value("sampler.feedback_score", cfg.sampler.feedback_score,
                        "a single score, or a rank ensemble of angle and zero-cost scores: during training an "
                        "architecture's accuracy is measured on one held-out batch and has no fixed reference to "
                        "rank against (use rank ensembles with accuracy in search.score)")


def check_common(space: str, dataset: str, device: str, out: str) -> None:
    """The checks `tnas search` and `tnas train` configs share: a registered space and dataset,
    a device name torch knows, and an output folder that is not a file."""
    from tnas.data import list_datasets
    from tnas.space import get_space

    get_space(space)  # names the known spaces and the closest match
    if dataset not in list_datasets():
        raise unknown("dataset", dataset, list_datasets(), "Set it with data.name=...")
    if device != "auto":
        try:
            torch.device(device)
        except (RuntimeError, ValueError):
            raise bad_value("device", device, "auto, cpu, cuda or cuda:N") from None
    if Path(out).exists() and not Path(out).is_dir():
        raise bad_value("out", out, "a folder for run directories, but it is an existing file; pick another path")


_EPS_KEYS = ("sampler.eps0", "sampler.eps_inc", "sampler.eps_max")


def resolve_config(preset: str | None = None, overrides: dict[str, str] | None = None) -> RunConfig:
    """Defaults <- preset <- overrides, validated (`validate_config`)."""
    cfg = RunConfig()
    cfg = apply_overrides(cfg, load_preset(preset or DEFAULT_PRESET), parse=False)
    cfg = validate_config(apply_overrides(cfg, overrides or {}, parse=True))
    _check_ignored_eps(cfg, overrides or {})
    return cfg


def _check_ignored_eps(cfg: RunConfig, overrides: dict[str, str]) -> None:
    """An eps setting given with a role that never mixes the VAE into training is a mistake to name.
    (strategy=spos ignores eps too, but paired studies pass one set of overrides to spos and tnas-os.)"""
    from tnas.sampler.roles import USES_EPS

    given = [k for k in _EPS_KEYS if k in overrides]
    if not given:
        return
    if cfg.strategy == "tnas-os" and cfg.sampler.role not in USES_EPS:
        raise bad_value(given[0], overrides[given[0]],
                        f"no eps setting for sampler.role={cfg.sampler.role}: training stays uniform and the VAE only "
                        "seeds the search, so eps is ignored; drop the override, or pick sampler.role=steer|reject|"
                        "steer-unbiased")



def config_from_dict(tree: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig from its saved dict (config.yaml / checkpoint), validated."""
    cfg = apply_overrides(RunConfig(), flatten({k: v for k, v in tree.items() if k != "_meta"}), parse=False)
    return validate_config(cfg)
