"""The run skeleton: every run (`tnas search` with any strategy, `tnas train`) is a job object with
the same few methods, driven by `run_job`:

    job = STRATEGIES.get(cfg.strategy)(cfg)      # build everything; fail before any file is written
    run directory: new (claimed atomically) or the resumed one; job.load_state_dict(checkpoint)
    job.fit(session)                             # the loops; session.save() checkpoints, session.stop
    result = job.finish(session)                 # result.json, report.md, the final checkpoint

around which the skeleton owns what every run shares: the run's global RNG (forked, seeded from
the named stream "init", `tnas.seeds`), `threads=`, one Ctrl-C flag and handler, one atomic
checkpoint path (ckpt/last.pt, one dict from `job.state_dict()`), and a console where log lines and
progress bars never collide (`logging_redirect_tqdm`).
"""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from tnas.version import __version__
from tnas.errors import TnasError
from tnas.registry import Registry
from tnas.run.checkpoint import save_checkpoint
from tnas.run import lock
from tnas.run.dist import resolve_device
from tnas.run.overrides import flatten, to_dict
from tnas.run.rundir import LogFile, RunDir, environment, shared_run_path
from tnas.run.threads import contention_notice
from tnas.run.track import Tracker, attach_trackers, check_trackers, discard_trackers, log_result, open_trackers
from tnas.seeds import stream_seed

_log = logging.getLogger(__name__)


class StopFlag:
    """Ctrl-C sets a flag; the loops stop at the next step boundary and checkpoint."""

    def __init__(self) -> None:
        self.stop = False

    def __call__(self, *_: Any) -> None:
        if self.stop:  # a second Ctrl-C: give up at once
            raise KeyboardInterrupt
        self.stop = True


@contextmanager
def catch_sigint(flag: StopFlag) -> Iterator[None]:
    """Route SIGINT to `flag` while the run lasts (no-op outside the main thread)."""
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
    """Raised after Ctrl-C once the checkpoint is written; names the resume command."""

    command = "search"

    def __init__(self, path: Path) -> None:
        super().__init__(f"interrupted; checkpoint saved. Resume with: tnas {self.command} --resume {path}")
        self.path = path


class Job:
    """What `run_job` drives. Subclasses build every stateful part in `__init__(cfg)` and
    implement the methods below; `cfg` has `seed`, `space`, `out`, `device` and `threads`."""

    command: ClassVar[str] = "search"  # the CLI command that resumes it
    interrupted: ClassVar[type[Interrupted]] = Interrupted
    cfg: Any
    device: torch.device
    is_main: bool = True  # rank 0 (or the only process): the one that writes files and logs

    def tag(self) -> str:
        """The run directory's middle name: the strategy, or 'train'."""
        raise NotImplementedError

    def meta(self) -> dict[str, Any]:
        """Extra facts for config.yaml's _meta (e.g. the data split)."""
        return {}

    def files(self) -> dict[str, str]:
        """Extra files for a new run directory, name -> text (e.g. a streamed search's held-out list)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The one checkpoint dict (tensors and plain containers only)."""
        raise NotImplementedError

    def load_state_dict(self, ck: dict[str, Any]) -> None:
        raise NotImplementedError

    def position(self) -> tuple[int, int]:
        """(finished steps, search-stage evaluations) of the restored state: the logs are cut there."""
        raise NotImplementedError

    def fit(self, session: Session) -> None:
        """The run's loops from the restored position; `session.save()` at checkpoints."""
        raise NotImplementedError

    def finish(self, session: Session) -> dict[str, Any]:
        """Write result.json / report.md and the final checkpoint; return the result."""
        raise NotImplementedError


STRATEGIES: Registry[type[Job]] = Registry(
    "strategy", "Pick one of the listed strategies (`tnas search strategy=NAME`).")


@dataclass
class Session:
    """A job's run directory, its Ctrl-C flag and whether progress bars are shown."""

    job: Job
    run: RunDir
    flag: Any  # StopFlag, or anything with a boolean `stop`
    progress_bar: bool = True

    @property
    def stop(self) -> bool:
        return bool(self.flag.stop)

    def save(self) -> None:
        """Write the job's checkpoint atomically to ckpt/last.pt (main process only)."""
        if self.run.enabled:
            save_checkpoint(self.run.path / "ckpt" / "last.pt", self.job.state_dict())

    def interrupt(self) -> None:
        """Checkpoint and raise the job's Interrupted."""
        self.save()
        raise self.job.interrupted(self.run.path)

    def bar(self, total: int, initial: int, desc: str, unit: str = "step") -> tqdm:
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.progress_bar,
                    leave=False, dynamic_ncols=True)


def open_run_dir(job: Job, checkpoint: dict[str, Any] | None = None, resume: str | Path | None = None) -> RunDir:
    """Restore `job` from `checkpoint` into the resumed directory, or claim a new run directory
    and write config.yaml and env.json into it."""
    cfg = job.cfg
    if checkpoint is not None:
        assert resume is not None
        if job.is_main:
            lock.acquire(resume)  # held already when tnas.run.resume.open_run opened it
        job.load_state_dict(checkpoint)
        run = RunDir(Path(resume), enabled=job.is_main)
        step, n_search = job.position()
        run.truncate_logs(step, n_search=n_search)
        return run
    world = getattr(getattr(job, "dist", None), "world", 1)
    path = shared_run_path(job.is_main, world, cfg.out, cfg.space, job.tag(), cfg.seed)
    if job.is_main:
        lock.acquire(path)  # a fresh folder: nobody else can hold it yet
    run = RunDir(path, enabled=job.is_main)
    run.write_config(to_dict(cfg), {"tnas_version": __version__, **job.meta()})
    run.write_env(environment(job.device))
    for name, text in job.files().items():
        run.write_text(name, text)
    return run


@contextmanager
def run_context(cfg: Any) -> Iterator[None]:
    """The run's own global RNG (seeded from the stream 'init'; the caller's is restored after)
    and its torch thread count (`threads`; 0 = torch's default)."""
    old_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=_rng_devices(cfg.device)):
        torch.manual_seed(stream_seed(cfg.seed, "init"))
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        notice = contention_notice(torch.get_num_threads(), _device_type(cfg.device))
        if notice:
            _log.warning("%s", notice)
        try:
            yield
        finally:
            torch.set_num_threads(old_threads)


def _device_type(name: str) -> str:
    try:
        return resolve_device(name).type
    except TnasError:  # reported with the rest of the config by the job's build
        return "cpu"


def _rng_devices(name: str) -> list[int]:
    """The CUDA device whose RNG the run forks: this rank's GPU (torchrun sets LOCAL_RANK)."""
    try:
        device = resolve_device(name)
    except TnasError:  # reported with the rest of the config by the job's build
        return []
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", "0"))]


def run_job(job_type: type[Job], cfg: Any, *, checkpoint: dict[str, Any] | None = None,
            resume: str | Path | None = None, progress_bar: bool = True,
            trackers: Sequence[Tracker] = ()) -> tuple[dict[str, Any], Path]:
    """Build, open (or resume), fit and finish one job. Returns (result, run directory).

    `trackers` (`tnas.run.track.Tracker`) get the run's params and scalars besides TensorBoard and
    the trackers `cfg.track` asks for (MLflow, W&B)."""
    track = getattr(cfg, "track", None)
    check_trackers(track)  # a missing extra fails before anything is built
    with run_context(cfg):
        job = job_type(cfg)
        # trackers open (and fail) before the run directory is claimed: no half-made directory
        opened = open_trackers(track, cfg.out, resume) if job.is_main else []
        try:
            run = open_run_dir(job, checkpoint, resume)
        except BaseException:
            discard_trackers(opened)
            raise
        try:
            with log_file(run):
                return _drive(job, run, cfg, progress_bar, opened, trackers, resumed=checkpoint is not None)
        finally:
            lock.release(run.path)


@contextmanager
def log_file(run: RunDir) -> Iterator[None]:
    """The 'tnas' loggers' INFO lines also go to RUN/log.txt while the run lasts (main process)."""
    if not run.enabled:
        yield
        return
    handler, logger = LogFile(run.path / "log.txt"), logging.getLogger("tnas")
    old_level = logger.level
    if logger.getEffectiveLevel() > logging.INFO:  # a library caller that configured no logging
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        handler.close()


def _drive(job: Job, run: RunDir, cfg: Any, progress_bar: bool, opened: list[Tracker], trackers: Sequence[Tracker],
           resumed: bool) -> tuple[dict[str, Any], Path]:
    """Fit and finish an opened job; `opened` are the config's trackers (opened before the run
    directory was claimed), `trackers` the caller's; all are closed with the run's status."""
    if not job.is_main:  # one console, one set of logs
        progress_bar = False
        logging.getLogger("tnas").setLevel(logging.WARNING)
    _log.info("run directory: %s%s", run.path, " (resumed)" if resumed else "")
    session = Session(job, run, StopFlag(), progress_bar)
    status = "failed"
    try:
        if run.enabled:
            run.trackers += [*opened, *trackers]
            attach_trackers(opened, run.path)
            run.log_params(flatten(to_dict(cfg)))
        with catch_sigint(session.flag), logging_redirect_tqdm():
            job.fit(session)
            result = job.finish(session)
        if run.enabled:
            log_result(run.trackers, run.path, result)  # genotype tag, result files as artifacts
        status = "finished"
    except Interrupted:
        status = "interrupted"
        raise
    finally:
        run.close(status)
    return result, run.path
