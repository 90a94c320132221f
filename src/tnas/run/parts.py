"""The parts every `tnas search` job is built from: data, supernet, sampler, optimizer, schedule,
named random streams and loop counters (`Parts`, `build`), and the training data stream that a
run resumed mid-epoch replays (`epoch_stream`). Shared by the one-shot and the gradient job.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import torch

from tnas.accel import Accel, resolve_accel
from tnas.version import __version__
from tnas.data import DataSplits, load_dataset
from tnas.data.stream import StreamedImageSet
from tnas.data.stream_split import open_stream
from tnas.errors import TnasError
from tnas.run.checkpoint import rng_state, set_rng_state
from tnas.run.config import GRADIENT_STRATEGIES, RunConfig, validate_config
from tnas.run.dist import DistInfo, device_for, init_distributed, resolve_device
from tnas.run.overrides import to_dict
from tnas.run.preflight import built, check_batch, check_eval_memory, probe_forward
from tnas.sampler import build_sampler
from tnas.seeds import stream, stream_seed
from tnas.space import SearchSpace, get_space
from tnas.strategy.oneshot import TrainState
from tnas.supernet.registry import NetSize, build_supernet

_log = logging.getLogger(__name__)


@dataclasses.dataclass
class Parts:
    """The stateful objects of a run."""

    cfg: RunConfig
    device: torch.device
    data: DataSplits
    supernet: torch.nn.Module
    sampler: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    gens: dict[str, torch.Generator]
    steps_per_epoch: int
    state: TrainState
    memo: dict[int, float]
    phase: str = "train"  # train | search | done
    step_in_epoch: int = 0  # > 0 only in a checkpoint written by Ctrl-C mid-epoch
    epoch_data_state: torch.Tensor | None = None  # data generator state at the epoch's start
    partial: dict[str, float] = dataclasses.field(default_factory=dict)  # running sums of the epoch
    dist: DistInfo = dataclasses.field(default_factory=DistInfo)
    accel: Accel = Accel(torch.device("cpu"))  # precision, layout, host-sync interval (tnas.accel)
    evaluator: Any = None  # the search stage's SupernetEvaluator (reused for the final report)
    rejection: dict[str, Any] = dataclasses.field(default_factory=dict)  # the GA's rejection-sampling counts
    # the supernet's parameters as initialised (on the CPU), for search.score=angle; None when
    # resumed from a checkpoint written before tnas kept them
    init_params: dict[str, torch.Tensor] | None = None
    scorer: Any = None  # the search stage's Scorer when search.score is not accuracy
    feedback_scorer: Any = None  # the training loop's Scorer of sampler.feedback_score (None: its own metric)

    def checkpoint(self) -> dict[str, Any]:
        return {
            "tnas_version": __version__, "config": to_dict(self.cfg), "phase": self.phase,
            "supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(),
            "rng": rng_state(self.gens), "state": dataclasses.asdict(self.state), "memo": dict(self.memo),
            "step_in_epoch": self.step_in_epoch, "epoch_data_state": self.epoch_data_state,
            "partial": dict(self.partial), "init_params": self.init_params,
            "memo_for": memo_signature(to_dict(self.cfg)),
        }

    def restore(self, ck: dict[str, Any]) -> None:
        self.supernet.load_state_dict(ck["supernet"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.sampler.load_state_dict(ck["sampler"])
        set_rng_state(self.gens, ck["rng"])
        self.state = TrainState(**ck["state"])
        self.phase = ck["phase"]
        # the memo holds scores of one scoring setup; a resume with another (search.score=...) re-runs the search
        if (ck.get("memo_for") or memo_signature(ck["config"])) == memo_signature(to_dict(self.cfg)):
            self.memo.update(ck["memo"])
        elif self.phase in ("search", "done"):
            _log.info("search stage re-run: its scoring changed (%s)", memo_signature(to_dict(self.cfg)))
            self.phase = "search"
        self.step_in_epoch, self.epoch_data_state = ck["step_in_epoch"], ck["epoch_data_state"]
        self.partial = dict(ck["partial"])
        self.init_params = ck.get("init_params")  # absent in checkpoints of older runs (angle then says so)

    def meta(self) -> dict[str, Any]:
        """What config.yaml's `_meta` records of the run beyond its config: the data split, the accelerator."""
        return {"split": self.data.split_info, "accel": self.accel.describe()}

    def files(self) -> dict[str, str]:
        """Text files for the run directory (e.g. holdout.txt): one path per line."""
        return {name: "".join(f"{p}\n" for p in paths) for name, paths in self.data.files.items()}


_MEMO_KEYS = ("score", "rank_reference", "bn_batches", "eval_batches", "eval_batch_size")


def memo_signature(tree: dict[str, Any]) -> dict[str, Any]:
    """What the search stage's memo of scores depends on besides the supernet, from a config dict
    (`to_dict`; older configs lack the newer keys and get their defaults)."""
    default = to_dict(RunConfig())
    search, zero_cost = {**default["search"], **tree.get("search", {})}, {**default["zero_cost"], **tree.get("zero_cost", {})}
    return {**{k: search[k] for k in _MEMO_KEYS}, "zero_cost": zero_cost}


def build(cfg: RunConfig) -> Parts:
    """Data, supernet, sampler, optimizer and generators for `cfg` (nothing is trained yet).
    Every check that needs the data or the network runs here, before a run directory exists."""
    validate_config(cfg)
    device = resolve_device(cfg.device)
    info = init_distributed(device)
    device = device_for(device, info)
    if cfg.train.batch_size % (info.world * cfg.train.micro_batches):
        raise TnasError(
            f"train.batch_size={cfg.train.batch_size} must be divisible by world size x train.micro_batches "
            f"= {info.world} x {cfg.train.micro_batches}; each rank takes an equal slice of the global batch."
        )
    space = get_space(cfg.space)
    data = load_data(cfg, device, info)
    train = data.train
    check_batch("train.batch_size", cfg.train.batch_size, train)
    size = NetSize(C=cfg.supernet.C, N=cfg.supernet.N, num_classes=train.num_classes,
                   in_channels=train.shape[0], image_size=int(train.shape[-1]))
    fix = (f"Lower supernet.C={cfg.supernet.C} / supernet.N={cfg.supernet.N}, or change data.image_size "
           f"(now {size.image_size} px) or train.batch_size.")
    # gradient strategies compute in fp32 (their bilevel / Gumbel steps are not validated in bf16)
    precision = "fp32" if cfg.strategy in GRADIENT_STRATEGIES and cfg.precision == "auto" else cfg.precision
    accel = resolve_accel(device, precision, cfg.channels_last, cfg.sync_every)
    with torch.random.fork_rng(devices=[]):  # initial weights from the run's stream 'init', global RNG untouched
        torch.manual_seed(stream_seed(cfg.seed, "init"))
        supernet = built(lambda: accel.prepare(build_supernet(space, size).to(device)), f"{cfg.space} supernet", fix)
    arch0 = torch.zeros(space.num_decisions, dtype=torch.long, device=device)
    piece = cfg.train.batch_size // (info.world * cfg.train.micro_batches)
    probe_forward(supernet, lambda x: supernet(x, arch0), (min(piece, 2), size.in_channels, size.image_size,
                  size.image_size), device, f"{cfg.space} supernet", fix)
    check_eval_memory(cfg.search, train, data.valid, device)
    sampler = build_run_sampler(cfg, space)
    t = cfg.train
    optimizer = torch.optim.SGD(supernet.parameters(), lr=t.lr, momentum=t.momentum,
                                weight_decay=t.weight_decay, nesterov=t.nesterov and t.momentum > 0)
    steps = t.steps_per_epoch or max(1, len(train) // t.batch_size)
    _check_feedback(cfg, steps)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, t.epochs * steps))
    gens = {name: stream(cfg.seed, name) for name in ("data", "arch", "valid")}
    parts = Parts(cfg, device, data, supernet, sampler, optimizer, scheduler, gens, steps, TrainState(), {})
    parts.dist, parts.accel = info, accel
    parts.init_params = {n: p.detach().to("cpu", copy=True) for n, p in supernet.named_parameters()}
    return parts


def load_data(cfg: RunConfig, device: torch.device, info: DistInfo) -> DataSplits:
    """The run's splits: in memory (`load_dataset`), or with data.stream=true a streamed image folder
    whose training batches each rank decodes only its share of (`tnas.data.stream_split`)."""
    d = cfg.data
    if not d.stream:
        return load_dataset(d.name, d.root, device=device, split_seed=d.split_seed, limit=d.limit,
                            image_size=d.image_size)
    if d.root is None:
        raise TnasError("data.stream=true needs data.root=DIR, the folder holding DIR/train/<class>/ and "
                        "DIR/val/<class>/ (ImageNet layout).")
    data = open_stream(d.root, holdout=d.holdout, image_size=d.image_size, split_seed=d.split_seed, limit=d.limit,
                       workers=d.workers, device=device, skip_bad=d.skip_bad)
    data.train.shard(info.rank, info.world)
    return data


def build_run_sampler(cfg: RunConfig, space: SearchSpace) -> Any:
    """The one-shot sampler `sampler.name` (auto: the TNAS VAE for tnas-os, uniform for spos) from
    the sampler registry, seeded from the stream 'sampler'.

    The VAE stays on the CPU whatever the run's device: it draws one architecture per training step,
    which on a GPU would be dozens of tiny kernels and a sync (the drawn indices are read back
    to pick the path); on the CPU it takes ~2 ms and overlaps the GPU's queued step. Its
    retraining once per epoch is ~0.1 s there (docs/results/throughput.md)."""
    seed = stream_seed(cfg.seed, "sampler")
    name = run_sampler_name(cfg)
    if name == "uniform":
        return build_sampler("uniform", space, seed=seed)
    options = {"device": "cpu"} if name == "tnas" else {}
    sampler = built(lambda: build_sampler(name, space, seed=seed, config=cfg.sampler, **options),
                    f"{name} sampler", "Lower sampler.vae.d_model / dim_feedforward / num_layers.")
    missing = [m for m in _RUN_PROTOCOL if not hasattr(sampler, m)]
    if missing:  # the registry's boundary: the loops then call these methods without probing
        raise TnasError(f"Sampler '{name}' lacks {', '.join(missing)}, which tnas search calls. Subclass "
                        "tnas.sampler.SamplerBase (it supplies defaults) or implement them (docs/sampler.md).")
    return sampler


_RUN_PROTOCOL = ("sample", "observe", "step", "state_dict", "load_state_dict", "draw", "propose", "rejects",
                 "probability", "sampling_eps", "feedback_affects_sample")


def run_sampler_name(cfg: RunConfig) -> str:
    """The sampler a one-shot run uses: sampler.name, or for auto the strategy's (tnas-os: tnas, spos: uniform)."""
    if cfg.sampler.name != "auto":
        return cfg.sampler.name
    return "tnas" if cfg.strategy == "tnas-os" else "uniform"


def _check_feedback(cfg: RunConfig, steps: int) -> None:
    """TNAS-OS must score enough architectures to ever train its VAE; otherwise it would quietly
    be uniform sampling (strategy=spos)."""
    if cfg.strategy != "tnas-os":
        return
    scored = cfg.train.epochs * steps // cfg.train.score_every
    if scored < cfg.sampler.min_observations:
        raise TnasError(
            f"train.score_every={cfg.train.score_every} scores only {scored} architectures in {cfg.train.epochs} "
            f"epochs x {steps} steps, fewer than sampler.min_observations={cfg.sampler.min_observations}, so the "
            "TNAS VAE would never train and TNAS-OS would be uniform sampling. Lower train.score_every or "
            "sampler.min_observations, train longer, or use strategy=spos."
        )


def _epoch_batches(parts: Parts) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches for one epoch, cycling through the split as often as needed."""
    cfg = parts.cfg
    while True:
        yield from parts.data.train.batches(cfg.train.batch_size, generator=parts.gens["data"],
                                            shuffle=True, augment=cfg.data.augment)


def epoch_stream(parts: Parts) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The current epoch's training batches, positioned at `parts.step_in_epoch`.

    A fresh epoch remembers where its data stream starts; a run resumed mid-epoch replays the
    stream from there up to the interruption, so it sees exactly the batches it would have seen.
    """
    if parts.step_in_epoch == 0:
        parts.epoch_data_state = parts.gens["data"].get_state()
        parts.partial = {}
    else:
        parts.gens["data"].set_state(parts.epoch_data_state)
    train, cfg = parts.data.train, parts.cfg
    if isinstance(train, StreamedImageSet):  # starts at the step without decoding the skipped batches
        return train.epoch_batches(cfg.train.batch_size, generator=parts.gens["data"], steps=parts.steps_per_epoch,
                                   start=parts.step_in_epoch, augment=cfg.data.augment)
    batches = _epoch_batches(parts)
    for _ in range(parts.step_in_epoch):
        next(batches)
    return batches
