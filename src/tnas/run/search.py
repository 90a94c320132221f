"""`tnas search`: build the parts of a one-shot search, run it, checkpoint, resume, report.

Everything stateful (supernet, optimizer, scheduler, sampler, RNGs, loop counters, the search
stage's memo of evaluated architectures) goes into one checkpoint dict, written atomically at
every epoch end, every `search.population` evaluations of the search stage, and on Ctrl-C.
A resumed run ends with the same result as an uninterrupted one (tests/integration).
"""
from __future__ import annotations

import dataclasses
import logging
import math
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from tnas import __version__
from tnas.data import DataSplits, load_dataset
from tnas.errors import TnasError
from tnas.evaluate import SupernetEvaluator
from tnas.run.checkpoint import rng_state, save_checkpoint, set_rng_state
from tnas.run.config import GRADIENT_STRATEGIES, RunConfig, config_from_dict, validate_config
from tnas.run.constraints import check_constraint, constraint
from tnas.run.dist import DistInfo, allreduce_grads, device_for, init_distributed
from tnas.run.overrides import to_dict
from tnas.run.preflight import built, check_batch, check_eval_memory, probe_forward
from tnas.run.resume import open_run, resume_overrides
from tnas.run.rundir import RunDir, environment, shared_run_path
from tnas.sampler.tnas import TNASSampler
from tnas.sampler.uniform import UniformSampler
from tnas.space import get_space
from tnas.strategy.oneshot import Feedback, Shard, TrainState, train_epoch
from tnas.supernet.registry import NetSize, build_supernet

_log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when present, else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise TnasError(f"Unknown device '{name}'. Expected auto, cpu, cuda or cuda:N.") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TnasError(f"device={name} was requested but CUDA is not available here; use device=cpu or device=auto.")
    return dev


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

    def checkpoint(self) -> dict[str, Any]:
        return {
            "tnas_version": __version__, "config": to_dict(self.cfg), "phase": self.phase,
            "supernet": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "sampler": self.sampler.state_dict(),
            "rng": rng_state(self.gens), "state": dataclasses.asdict(self.state), "memo": dict(self.memo),
            "step_in_epoch": self.step_in_epoch, "epoch_data_state": self.epoch_data_state,
            "partial": dict(self.partial),
        }

    def restore(self, ck: dict[str, Any]) -> None:
        self.supernet.load_state_dict(ck["supernet"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.sampler.load_state_dict(ck["sampler"])
        set_rng_state(self.gens, ck["rng"])
        self.state = TrainState(**ck["state"])
        self.memo.update(ck["memo"])
        self.phase = ck["phase"]
        self.step_in_epoch, self.epoch_data_state = ck["step_in_epoch"], ck["epoch_data_state"]
        self.partial = dict(ck["partial"])


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
    data = load_dataset(cfg.data.name, cfg.data.root, device=device, split_seed=cfg.data.split_seed,
                        limit=cfg.data.limit, image_size=cfg.data.image_size)
    train = data.train
    check_batch("train.batch_size", cfg.train.batch_size, train)
    size = NetSize(C=cfg.supernet.C, N=cfg.supernet.N, num_classes=train.num_classes,
                   in_channels=train.images.shape[1], image_size=int(train.images.shape[-1]))
    fix = (f"Lower supernet.C={cfg.supernet.C} / supernet.N={cfg.supernet.N}, or change data.image_size "
           f"(now {size.image_size} px) or train.batch_size.")
    with torch.random.fork_rng(devices=[]):  # initial weights from the run's seed, global RNG untouched
        torch.manual_seed(cfg.seed)
        supernet = built(lambda: build_supernet(space, size).to(device), f"{cfg.space} supernet", fix)
    arch0 = torch.zeros(space.num_decisions, dtype=torch.long, device=device)
    piece = cfg.train.batch_size // (info.world * cfg.train.micro_batches)
    probe_forward(supernet, lambda x: supernet(x, arch0), (min(piece, 2), size.in_channels, size.image_size,
                  size.image_size), device, f"{cfg.space} supernet", fix)
    check_eval_memory(cfg.search, train, data.valid, device)
    if cfg.strategy == "tnas-os":
        sampler: Any = built(lambda: TNASSampler(space, cfg.sampler, seed=cfg.seed + 1, device=device),
                             "TNAS sampler", "Lower sampler.vae.d_model / dim_feedforward / num_layers.")
    else:
        sampler = UniformSampler(space)
    t = cfg.train
    optimizer = torch.optim.SGD(supernet.parameters(), lr=t.lr, momentum=t.momentum,
                                weight_decay=t.weight_decay, nesterov=t.nesterov and t.momentum > 0)
    steps = t.steps_per_epoch or max(1, len(train) // t.batch_size)
    _check_feedback(cfg, steps)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, t.epochs * steps))
    gens = {name: torch.Generator().manual_seed(cfg.seed * 1000 + i) for i, name in enumerate(("data", "arch", "valid"))}
    parts = Parts(cfg, device, data, supernet, sampler, optimizer, scheduler, gens, steps, TrainState(), {})
    parts.dist = info
    return parts


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


class _StopFlag:
    """Ctrl-C sets a flag; the loop stops at the next step boundary and checkpoints."""

    def __init__(self) -> None:
        self.stop = False

    def __call__(self, *_: Any) -> None:
        if self.stop:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.stop = True


@contextmanager
def _sigint(flag: _StopFlag) -> Iterator[None]:
    try:
        old = signal.signal(signal.SIGINT, flag)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class Interrupted(Exception):
    """Raised after Ctrl-C once the checkpoint is written."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"interrupted; checkpoint saved. Resume with: tnas search --resume {path}")
        self.path = path


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
    batches = _epoch_batches(parts)
    for _ in range(parts.step_in_epoch):
        next(batches)
    return batches


def _save(parts: Parts, run: RunDir) -> None:
    if run.enabled:
        save_checkpoint(run.path / "ckpt" / "last.pt", parts.checkpoint())


def train(parts: Parts, run: RunDir, flag: _StopFlag, progress_bar: bool = True) -> None:
    """Supernet training from `parts.state.epoch` to `cfg.train.epochs`, checkpointing each epoch."""
    cfg, st = parts.cfg, parts.state
    total = cfg.train.epochs * parts.steps_per_epoch
    bar = tqdm(total=total, initial=st.step, desc=f"train {cfg.strategy}", unit="step",
               disable=not progress_bar, leave=False, dynamic_ncols=True)

    def valid_batch() -> tuple[torch.Tensor, torch.Tensor]:
        return parts.data.valid.random_batch(cfg.train.batch_size, parts.gens["valid"])

    def on_step(arch: torch.Tensor, loss: float, score: float, from_vae: bool) -> None:
        st.step += 1
        bar.update(1)
        if not math.isnan(score):
            run.log_archs([{"step": st.step, "phase": "train", "genotype": parts.supernet.space.to_genotype(arch),
                            "score": score, "source": "vae" if from_vae else "uniform", "eps": _eps(parts.sampler)}])

    allowed = constraint(parts)  # SPOS: train only architectures within the hard limits
    feedback = Feedback(valid_batch, cfg.train.score_every, cfg.train.metric,
                        parts.state.baseline if cfg.train.relative_scores else None)
    shard = Shard(cfg.train.micro_batches, parts.dist.rank, parts.dist.world,
                  allreduce_grads if parts.dist.world > 1 else None)
    while st.epoch < cfg.train.epochs:
        batches = epoch_stream(parts)
        t0 = time.perf_counter()
        done = train_epoch(parts.supernet, parts.sampler, parts.optimizer, parts.scheduler, batches,
                           parts.gens["arch"], parts.partial, steps=parts.steps_per_epoch,
                           grad_clip=cfg.train.grad_clip, feedback=feedback, shard=shard, constraint=allowed,
                           should_stop=lambda: flag.stop, on_step=on_step)
        if not done:
            # the data generator must be re-positioned from the epoch start on resume
            data_now = parts.gens["data"].get_state()
            parts.step_in_epoch = int(parts.partial["i"])
            _save(parts, run)
            parts.gens["data"].set_state(data_now)
            bar.close()
            raise Interrupted(run.path)
        _finish_epoch(parts, run, time.perf_counter() - t0)
    bar.close()


def _eps(sampler: Any) -> float:
    return float(getattr(sampler, "sampling_eps", 0.0))


def _finish_epoch(parts: Parts, run: RunDir, seconds: float) -> None:
    from tnas.strategy.oneshot import epoch_summary

    st = parts.state
    stats = epoch_summary(parts.partial)
    sampler_stats = parts.sampler.step()  # retrain the VAE on the top-K, eps += eps_inc
    record = {"phase": "train", "epoch": st.epoch + 1, "step": st.step, "lr": parts.optimizer.param_groups[0]["lr"],
              **stats, **{f"sampler_{k}": v for k, v in sampler_stats.items()}, "eps": _eps(parts.sampler),
              "seconds": seconds}
    st.history.append(record)
    st.epoch += 1
    parts.step_in_epoch, parts.partial = 0, {}
    run.log_metrics(record)
    _log.info("epoch %3d/%d  loss %.4f  train acc %6.2f%%  held-out %6.2f  eps %.3f  vae share %.2f  %5.1fs",
              st.epoch, parts.cfg.train.epochs, stats["loss"], stats["acc"], stats["score"], record["eps"],
              stats["vae_share"], seconds)
    _save(parts, run)


def _fixed_batches(images: Any, batch_size: int, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`count` unaugmented batches of a split in a fixed shuffled order (deterministic fitness).

    Shuffled, not storage order: files such as the shared CIFAR-10 copy are sorted by class, and
    the first batches of a sorted split would score every architecture on one class only.
    """
    out = []
    for x, y in images.batches(batch_size, generator=torch.Generator().manual_seed(0), shuffle=True,
                               augment=False, drop_last=False):
        out.append((x, y))
        if len(out) == count:
            break
    return out


def eval_batches(parts: Parts, g: torch.Generator) -> tuple[list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
    """The supernet evaluator's data: `search.bn_batches` BN-calibration image batches drawn
    from the training split with `g` (advanced), and the fixed validation batches."""
    s = parts.cfg.search
    calib = [parts.data.train.random_batch(s.eval_batch_size, g, augment=False)[0] for _ in range(s.bn_batches)]
    return calib, _fixed_batches(parts.data.valid, s.eval_batch_size, s.eval_batches)


def search_stage(parts: Parts, run: RunDir, flag: _StopFlag, progress_bar: bool = True) -> Any:
    """The SPOS genetic algorithm on the trained supernet; initial population from p(a|z) for
    TNAS-OS. Returns the History of evaluated architectures (fitness = supernet valid acc, %)."""
    from tnas.strategy.evolution import spos_ga

    cfg, s = parts.cfg, parts.cfg.search
    parts.phase = "search"
    space = parts.supernet.space
    g = torch.Generator().manual_seed(cfg.seed * 1000 + 7)  # fixed: a resumed search replays it
    calib, valid = eval_batches(parts, g)
    bar = tqdm(total=s.budget, desc="search", unit="arch", disable=not progress_bar, leave=False, dynamic_ncols=True)
    bar.update(len(parts.memo))
    fresh = {"n": 0}

    def on_eval(arch: torch.Tensor, score: float) -> None:
        bar.update(1)
        fresh["n"] += 1
        run.log_archs([{"step": parts.state.step, "phase": "search", "genotype": space.to_genotype(arch),
                        "score": score, "source": "search"}])
        if flag.stop or fresh["n"] % s.population == 0:
            _save(parts, run)
        if flag.stop:
            raise Interrupted(run.path)

    evaluator = SupernetEvaluator(parts.supernet, space, calib, valid, memo=parts.memo, on_eval=on_eval)
    init = None
    if isinstance(parts.sampler, TNASSampler) and parts.sampler.trained:
        init = parts.sampler.sample_vae(s.population, g)
    history = spos_ga(space, evaluator, s.budget, g, population=s.population, parents=s.parents,
                      mutations=s.mutations, crossovers=s.crossovers, mutate_prob=s.mutate_prob, init=init,
                      constraint=constraint(parts))
    bar.close()
    parts.evaluator = evaluator  # type: ignore[attr-defined]  (reused for the final report)
    return history


def _shared_path(parts: Parts, cfg: RunConfig) -> Path:
    return shared_run_path(parts.dist.is_main, parts.dist.world, cfg.out, cfg.space, cfg.strategy, cfg.seed)


def run_search(cfg: RunConfig | None = None, *, resume: str | Path | None = None,
               overrides: dict[str, str] | None = None, progress_bar: bool = True) -> tuple[dict[str, Any], Path]:
    """Train + search (or resume a run directory). Returns (result, run directory).

    Args:
        cfg: the resolved config of a new run; None when resuming.
        resume: a run directory to continue from its last checkpoint (its saved config is used).
        overrides: with `resume`, changes to the settings read after training
            (`tnas.run.resume.RESUMABLE_KEYS`), e.g. {"search.budget": "200"}.
    """
    from tnas.run.gradient_search import run_gradient_search

    ck = None
    if resume is not None:
        path, tree, ck = open_run(resume, "search")
        cfg = resume_overrides(config_from_dict(ck["config"]), overrides, path, tree, validate_config)
    assert cfg is not None
    if cfg.strategy in GRADIENT_STRATEGIES:  # darts, darts-v2, gdas, tnas-g: their own loop, same run directory
        return run_gradient_search(cfg, resume=resume, checkpoint=ck, progress_bar=progress_bar)
    parts = build(cfg)
    check_constraint(parts)
    if ck is not None:
        parts.restore(ck)
        run = RunDir(Path(resume), enabled=parts.dist.is_main)
        run.truncate_logs(parts.state.step, n_search=len(parts.memo))
        if parts.phase == "done":
            _log.info("run already finished: %s", run.path)
    else:
        run = RunDir(_shared_path(parts, cfg), enabled=parts.dist.is_main)
        run.write_config(to_dict(cfg), {"tnas_version": __version__, "split": parts.data.split_info})
        run.write_env(environment(parts.device))
    if not parts.dist.is_main:  # one console, one set of logs
        progress_bar = False
        logging.getLogger("tnas").setLevel(logging.WARNING)
    _log.info("run directory: %s", run.path)
    from tnas.run.result import finish

    flag = _StopFlag()
    t0 = time.perf_counter()
    try:
        with _sigint(flag):
            train(parts, run, flag, progress_bar)
            history = search_stage(parts, run, flag, progress_bar)
            result = finish(parts, run, history, time.perf_counter() - t0)
    finally:
        run.close()
    return result, run.path
