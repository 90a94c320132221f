"""`tnas train`: train a found architecture from scratch, checkpoint, resume, report.

One checkpoint dict holds the network, the optimizer, the global RNG (drop path draws from it),
the epoch / step counters, the interrupted epoch's running sums and the per-epoch history. It is
written atomically after every epoch and on Ctrl-C (at a step boundary), so `--resume RUN_DIR`
ends with the same result.json as an uninterrupted run (tests/integration/test_train.py). Data
order and augmentation are pure functions of (seed, epoch), see `tnas.train.data`.

Under torchrun the network is wrapped in DistributedDataParallel (gloo on CPU, NCCL on CUDA):
a stand-alone network uses every weight, so DDP's bucketed all-reduce applies unchanged.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tnas.accel import Accel, resolve_accel
from tnas.version import __version__
from tnas.errors import TnasError
from tnas.run.dist import DistInfo, device_for, init_distributed, resolve_device
from tnas.run.job import STRATEGIES, Interrupted, Job, Session, run_job
from tnas.run.overrides import to_dict
from tnas.run.preflight import built, probe_forward
from tnas.run.resume import open_run
from tnas.run.track import Tracker
from tnas.seeds import stream
from tnas.space import SearchSpace, get_space
from tnas.space.base import genotype_text
from tnas.supernet.registry import NetSize, final_size, get_family
from tnas.train.config import TrainRunConfig, train_config_from_dict, validate_train_config
from tnas.train.data import BatchSource, make_source
from tnas.train.loop import drop_path_at, evaluate, new_sums, set_drop_path, train_steps

_log = logging.getLogger(__name__)


class TrainInterrupted(Interrupted):
    """Ctrl-C during `tnas train`; the checkpoint is written (the message names the resume command)."""

    command = "train"


@dataclasses.dataclass
class TrainState:
    """Progress of `tnas train`. Not `tnas.strategy.oneshot.TrainState`: that one holds only the
    one-shot loop's counters and sampler baseline (the rest lives in `Parts`); this one also holds
    the interrupted epoch's running sums, the accumulated time and the finished flag, and is saved
    as it is in the checkpoint of a train run."""

    epoch: int = 0  # finished epochs
    step: int = 0  # finished optimizer steps (all epochs)
    step_in_epoch: int = 0  # > 0 only in a checkpoint written by Ctrl-C mid-epoch
    sums: dict[str, float] = dataclasses.field(default_factory=new_sums)
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    seconds: float = 0.0  # training + evaluation time over all sessions of the run
    done: bool = False
    test: dict[str, Any] = dataclasses.field(default_factory=dict)  # the one test evaluation, after the last epoch


@dataclasses.dataclass
class Trainer:
    """The stateful parts of a training run."""

    cfg: TrainRunConfig
    device: torch.device
    dist: DistInfo
    space: SearchSpace
    arch: torch.Tensor  # long [D]
    size: NetSize
    model: nn.Module  # the bare network (checkpointed, evaluated)
    wrapped: nn.Module  # DDP-wrapped under torchrun, else the same module
    optimizer: torch.optim.Optimizer
    source: BatchSource
    state: TrainState = dataclasses.field(default_factory=TrainState)
    accel: Accel = Accel(torch.device("cpu"))  # precision, layout, host-sync interval (tnas.accel)

    def checkpoint(self) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if isinstance(getattr(self.model, "generator", None), torch.Generator):
            rng["model"] = self.model.generator.get_state()
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"tnas_version": __version__, "kind": "train", "config": to_dict(self.cfg),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": rng, "state": dataclasses.asdict(self.state)}

    def restore(self, ck: dict[str, Any]) -> None:
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["rng"]["cpu"])
        if "model" in ck["rng"]:
            self.model.generator.set_state(ck["rng"]["model"])
        if self.device.type == "cuda" and "cuda" in ck["rng"]:
            torch.cuda.set_rng_state(ck["rng"]["cuda"], self.device)
        self.state = TrainState(**ck["state"])


def parse_genotype(space: SearchSpace, genotype: Any) -> torch.Tensor:
    """The architecture long [D] of a genotype (string or Genotype object); a blank one is a clear error."""
    genotype = genotype_text(genotype)
    if not genotype.strip():
        raise TnasError(f"No architecture given. Pass the genotype in space '{space.name}''s notation as the first "
                        f"argument, e.g. the one a search printed or wrote to result.json: `tnas train GENOTYPE "
                        f"--space {space.name}`.")
    arch = space.from_genotype(genotype)
    space.validate(arch)
    return arch


def build_network(cfg: TrainRunConfig, space: SearchSpace, arch: torch.Tensor, size: NetSize) -> nn.Module:
    """The family's stand-alone network of `arch` at `size` (options: the auxiliary head)."""
    family = get_family(space.name)
    if family.network is None:
        raise TnasError(f"Space '{space.name}' registers no stand-alone network builder, so its architectures cannot "
                        "be trained. Register the family with network=... (see tnas.supernet.registry).")
    model = family.network(space, arch, size, {"auxiliary": cfg.reg.auxiliary})
    if cfg.reg.drop_path_prob > 0:
        set_drop_path(model, cfg.reg.drop_path_prob)  # fails early (nothing trained) without drop path
    return model


def build(cfg: TrainRunConfig) -> Trainer:
    """Data, network and optimizer for `cfg` (the global RNG is seeded by the run skeleton)."""
    validate_train_config(cfg)
    device = resolve_device(cfg.device)
    info = init_distributed(device)
    device = device_for(device, info)
    space = get_space(cfg.space)
    arch = parse_genotype(space, cfg.genotype)
    get_family(space.name)  # unknown family: fail before loading data
    source = make_source(cfg, device, info)
    d = source.info
    size = final_size(space, d.num_classes, d.in_channels, C=cfg.net.C, N=cfg.net.N, image_size=d.image_size)
    fix = (f"Lower net.C / net.N (now C={size.C}, N={size.N}), or change data.image_size (now {size.image_size} px) "
           "or train.batch_size.")
    accel = resolve_accel(device, cfg.precision, cfg.channels_last, cfg.sync_every)
    model = built(lambda: accel.prepare(build_network(cfg, space, arch, size).to(device)), f"{space.name} network", fix)
    probe_forward(model, model, (min(cfg.train.batch_size // info.world, 2), size.in_channels, size.image_size,
                                 size.image_size), device, f"{space.name} network", fix)
    if hasattr(model, "generator"):  # drop-path masks from the run's own generator (DARTS networks)
        model.generator = stream(cfg.seed, "drop-path", device=device)
    o = cfg.train
    optimizer = torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                                nesterov=o.nesterov and o.momentum > 0)
    wrapped = model
    if info.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    return Trainer(cfg, device, info, space, arch, size, model, wrapped, optimizer, source, accel=accel)


def _all_sum(t: torch.Tensor, tr: Trainer) -> torch.Tensor:
    import torch.distributed as dist

    if tr.dist.world == 1:
        return t
    backend_dev = tr.device if tr.device.type == "cuda" else torch.device("cpu")
    out = t.to(backend_dev)
    dist.all_reduce(out)
    return out.cpu()


def _stopper(tr: Trainer, session: Session) -> Any:
    """should_stop(): the Ctrl-C flag, agreed over all ranks (any rank stopping stops all at the same step)."""
    if tr.dist.world == 1:
        return lambda: session.stop
    return lambda: bool(_all_sum(torch.tensor([float(session.stop)]), tr)[0] > 0)


def _evaluate(tr: Trainer, split: str) -> dict[str, Any]:
    """'{split}_acc', ... of the network on the 'valid' or 'test' set; {} when there is no such set."""
    batches = tr.source.eval_batches(split)
    if batches is None:
        return {}
    if tr.dist.world > 1:  # every rank evaluates with rank 0's BN statistics
        import torch.distributed as dist

        for b in tr.model.buffers():
            dist.broadcast(b, 0)
    return evaluate(tr.model, batches, tr.source.info.num_classes,
                    reduce=(lambda t: _all_sum(t, tr)) if tr.dist.world > 1 else None, prefix=split)


def test_once(tr: Trainer, session: Session) -> dict[str, Any]:
    """The test-set evaluation of the final network: once per run (kept in the state, so a resumed
    finished run does not test again), logged as the 'eval' event of metrics.jsonl."""
    st = tr.state
    if not st.test:
        st.test = _evaluate(tr, "test")
        session.run.log_metrics({"phase": "eval", "step": st.step, "epoch": st.epoch, **st.test})
    return st.test


def _epoch(tr: Trainer, session: Session) -> None:
    """One (possibly resumed) epoch: train, evaluate when due, log, checkpoint."""
    cfg, st, steps = tr.cfg, tr.state, tr.source.steps_per_epoch
    epochs = cfg.train.epochs
    set_drop_path(tr.model, drop_path_at(st.epoch, epochs, cfg.reg.drop_path_prob))
    bar = session.bar(steps, int(st.sums["i"]), f"epoch {st.epoch + 1}/{epochs}")
    t0 = time.perf_counter()
    done = train_steps(tr.wrapped, tr.optimizer, tr.source.train_batches(st.epoch, int(st.sums["i"])), st.sums,
                       optim=cfg.train, reg=cfg.reg, first_step=st.epoch * steps, total_steps=epochs * steps,
                       steps=steps, should_stop=_stopper(tr, session), sync_every=tr.accel.sync_every,
                       on_step=lambda m: (bar.update(1), bar.set_postfix(loss=f"{m['loss']:.3f}")))
    bar.close()
    st.step = st.epoch * steps + int(st.sums["i"])
    if not done:
        st.step_in_epoch = int(st.sums["i"])
        st.seconds += time.perf_counter() - t0
        session.interrupt()
    sums = _all_sum(torch.tensor([st.sums["loss"], st.sums["correct"], st.sums["seen"]], dtype=torch.float64), tr)
    record: dict[str, Any] = {"phase": "train", "epoch": st.epoch + 1, "step": st.step,
                              "lr": tr.optimizer.param_groups[0]["lr"],
                              "loss": float(sums[0]) / tr.dist.world / steps,
                              "train_acc": 100.0 * float(sums[1]) / max(1.0, float(sums[2])),
                              "drop_path_prob": getattr(tr.model, "drop_path_prob", 0.0)}
    if (st.epoch + 1) % cfg.eval_every == 0 or st.epoch + 1 == epochs:
        record.update(_evaluate(tr, "valid"))  # no validation set (data.split=test): nothing per epoch
    record["seconds"] = time.perf_counter() - t0
    st.seconds += record["seconds"]
    st.history.append(record)
    st.epoch, st.step_in_epoch, st.sums = st.epoch + 1, 0, new_sums()
    session.run.log_metrics(record)
    valid = f"  valid acc {record['valid_acc']:6.2f}%" if "valid_acc" in record else ""
    _log.info("epoch %3d/%d  loss %.4f  train acc %6.2f%%%s  lr %.4g  %5.1fs", st.epoch, epochs,
              record["loss"], record["train_acc"], valid, record["lr"], record["seconds"])
    session.save()


@STRATEGIES.register("train")
class TrainJob(Job):
    """`tnas train` as a job of the run skeleton: a `Trainer`, its epochs, its report."""

    command = "train"
    interrupted = TrainInterrupted

    def __init__(self, cfg: TrainRunConfig) -> None:
        self.cfg = cfg
        self.trainer = build(cfg)
        self.device, self.dist, self.is_main = self.trainer.device, self.trainer.dist, self.trainer.dist.is_main

    def tag(self) -> str:
        return "train"

    def meta(self) -> dict[str, Any]:
        return {"command": "train", "data": self.trainer.source.info.record, "accel": self.trainer.accel.describe()}

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.checkpoint()

    def load_state_dict(self, ck: dict[str, Any]) -> None:
        self.trainer.restore(ck)

    def position(self) -> tuple[int, int]:
        return self.trainer.state.step, 0

    def fit(self, session: Session) -> None:
        while self.trainer.state.epoch < self.cfg.train.epochs:
            _epoch(self.trainer, session)

    def finish(self, session: Session) -> dict[str, Any]:
        from tnas.train.report import finish

        test_once(self.trainer, session)
        result = finish(self.trainer, session.run)
        if not self.trainer.state.done:  # the final checkpoint marks the run finished
            self.trainer.state.done = True
            session.save()
        return result


def _open(cfg: TrainRunConfig | None, resume: str | Path | None) -> tuple[TrainRunConfig, dict[str, Any] | None]:
    if resume is None:
        if cfg is None:
            raise TnasError("run_train needs a config (resolve_train_config(...)) or resume=RUN_DIR.")
        return cfg, None
    path, _, ck = open_run(resume, "train")
    if ck.get("kind") != "train":
        raise TnasError(f"'{path}' is not a `tnas train` run (it was written by `tnas search`); resume it with "
                        f"`tnas search --resume {path}`.")
    return train_config_from_dict(ck["config"]), ck


def run_train(cfg: TrainRunConfig | None = None, *, resume: str | Path | None = None,
              progress_bar: bool = True, trackers: Sequence[Tracker] = ()) -> tuple[dict[str, Any], Path]:
    """Train `cfg.genotype` from scratch (or resume a run directory). Returns (result, run directory).
    `trackers`: your own `tnas.run.track.Tracker`s (besides TensorBoard and `track.*`).

    Raises:
        TnasError: bad config, genotype, data or run directory.
        TrainInterrupted: Ctrl-C; the checkpoint is written and the run can be resumed.
    """
    cfg, ck = _open(cfg, resume)
    cfg = validate_train_config(cfg)  # a Genotype object becomes its text (config.yaml stays plain YAML)
    return run_job(TrainJob, cfg, checkpoint=ck, resume=resume, progress_bar=progress_bar, trackers=trackers)
