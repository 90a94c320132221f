"""`tnas search strategy=darts|darts-v2|gdas|tnas-g`: the gradient-based searches end to end.

Each step takes one training batch (supernet weights, SGD with the one-shot run's cosine schedule)
and one validation batch (architecture: alpha for DARTS/GDAS, the VAE decoder for TNAS-G, Adam);
the steps themselves are `tnas.strategy.gradient`. The parts (`tnas.run.parts`) and the run
directory, checkpoint and Ctrl-C handling (the run skeleton, `tnas.run.job`) are those of the
one-shot job; the checkpoint adds the architecture optimizer. It is written at every epoch end and on Ctrl-C, so a
resumed run ends with the same result as an uninterrupted one (tests/integration). At the end
the final cell is derived, scored on the supernet and looked up in the NB201 table
(`tnas.run.gradient_report`).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from tnas.errors import TnasError
from tnas.run.config import RunConfig
from tnas.run.dist import agreed_stop, allreduce_, sync_from_main
from tnas.run.gradient_report import distribution, finish
from tnas.run.report import final_record
from tnas.run.job import STRATEGIES, Job, Session
from tnas.run.overrides import flatten, to_dict
from tnas.run.parts import build, epoch_stream
from tnas.run.preflight import built
from tnas.sampler import build_sampler
from tnas.sampler.softmax import ArchParameters, tau_schedule
from tnas.seeds import stream, stream_seed
from tnas.run.scoring import check_run_scores, feedback_scorer
from tnas.strategy.gradient import darts_step, decoder_optimizer, gdas_step, tnas_g_step
from tnas.strategy.parallel import Parallel

_log = logging.getLogger(__name__)

_VERSION = 1
_SUMS = ("loss", "acc", "valid_loss", "valid_acc", "score")  # per-step metrics averaged per epoch


# one-shot options a gradient run does not read: the GA search stage and the per-step sampler
# feedback of one-shot training (TNAS-G has its own under gradient.tnas_g)
_UNUSED = ("train.score_every", "train.metric", "train.relative_scores", "search.budget", "search.population",
           "search.parents", "search.mutations", "search.crossovers", "search.mutate_prob")


def _warn_unused(cfg: RunConfig) -> None:
    """Say which set options this strategy ignores, instead of ignoring them silently."""
    now, default = flatten(to_dict(cfg)), flatten(to_dict(RunConfig()))
    changed = [k for k in _UNUSED if now.get(k) != default.get(k)]
    if changed:
        _log.warning("strategy=%s ignores %s (one-shot training / GA search options; gradient options are "
                     "under gradient.*)", cfg.strategy, ", ".join(f"{k}={now[k]}" for k in changed))


@STRATEGIES.register("darts", "darts-v2", "gdas", "tnas-g")
class GradientJob(Job):
    """The one-shot `Parts` (its `sampler` is the distribution: ArchParameters or TNASSampler)
    plus the architecture optimizer (Adam on alpha, or on the decoder for TNAS-G)."""

    def __init__(self, cfg: RunConfig) -> None:
        _warn_unused(cfg)
        self.cfg = cfg
        self.parts = p = build(cfg)
        self.device, self.dist, self.is_main = p.device, p.dist, p.dist.is_main
        # data parallel under torchrun: every rank draws the same noise and takes its pieces of each batch
        self.par = Parallel(cfg.train.micro_batches, p.dist.rank, p.dist.world,
                            allreduce_ if p.dist.world > 1 else None)
        p.sampler, self.arch_optimizer = _distribution(cfg, p.supernet.space, p.device)
        self.feedback = None  # TNAS-G's sampler.feedback_score Scorer, built in fit (after a resume)
        self.scorer = None  # search.score's Scorer for the best-of derivation, built in finish
        self.seconds = 0.0  # search time over all sessions of this run (epochs + derivation), s

    def tag(self) -> str:
        return self.cfg.strategy

    def meta(self) -> dict[str, Any]:
        return self.parts.meta()

    def files(self) -> dict[str, str]:
        return self.parts.files()

    def state_dict(self) -> dict[str, Any]:
        return {**self.parts.checkpoint(), "gradient": {"version": _VERSION, "seconds": self.seconds,
                                                        "arch_optimizer": self.arch_optimizer.state_dict()}}

    def load_state_dict(self, ck: dict[str, Any]) -> None:
        state = ck.get("gradient", {})
        if state.get("version") != _VERSION:
            raise TnasError(
                f"This checkpoint has gradient-search state version {state.get('version')!r}; this tnas reads "
                f"version {_VERSION}. Resume it with the tnas version that wrote it, or start a new run."
            )
        self.parts.restore(ck)
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.seconds = float(state["seconds"])

    def position(self) -> tuple[int, int]:
        return self.parts.state.step, 0

    def fit(self, session: Session) -> None:
        check_run_scores(self.parts)  # before any training, also for a resumed run
        self.feedback = feedback_scorer(self.parts)
        train(self, session)

    def finish(self, session: Session) -> dict[str, Any]:
        done = session.run.path / "result.json"
        if self.parts.phase == "done" and done.exists():
            _log.info("run already finished: %s", session.run.path)
            try:
                result = json.loads(done.read_text())
                session.run.log_metrics(final_record(result, self.parts.state.step))  # resuming dropped it
                return result
            except (OSError, ValueError, KeyError):  # unreadable: derive the result again
                _log.warning("%s is unreadable; writing it again", done)
        result = finish(self, session.run, time.perf_counter())
        session.save()
        return result

    def step(self, train_batch: Any, valid_batch: Any) -> dict[str, Any]:
        """One search step of the configured strategy (weights on train_batch, distribution on valid_batch)."""
        return search_step(self, train_batch, valid_batch)


def build_gradient(cfg: RunConfig) -> GradientJob:
    """The gradient job for `cfg` (benchmarks step it directly with `job.step`)."""
    return GradientJob(cfg)


def _distribution(cfg: RunConfig, space: Any, device: torch.device) -> tuple[Any, torch.optim.Optimizer]:
    """The strategy's architecture distribution (seeded from the stream 'sampler') and its optimizer."""
    g = cfg.gradient
    if cfg.strategy == "tnas-g":
        sampler = built(lambda: build_sampler("tnas", space, seed=stream_seed(cfg.seed, "sampler"),
                                              config=cfg.sampler, device=device),
                        "TNAS sampler", "Lower sampler.vae.d_model / dim_feedforward / num_layers.")
        return sampler, decoder_optimizer(sampler, g.tnas_g)
    alpha = ArchParameters(space, g.alpha_init_std, generator=stream(cfg.seed, "sampler"), device=device)
    return alpha, torch.optim.Adam(alpha.parameters(), lr=g.arch_lr, betas=(0.5, 0.999),
                                   weight_decay=g.arch_weight_decay)


def search_step(run: GradientJob, train_batch: Any, valid_batch: Any) -> dict[str, Any]:
    """One search step of the configured strategy (weights on train_batch, distribution on valid_batch)."""
    p = run.parts
    cfg, g = p.cfg, p.cfg.gradient
    tau = tau_schedule(p.state.step, cfg.train.epochs * p.steps_per_epoch, g.tau_max, g.tau_min)
    common = {"grad_clip": cfg.train.grad_clip, "par": run.par}
    if cfg.strategy in ("darts", "darts-v2"):
        out = darts_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                         order=2 if cfg.strategy == "darts-v2" else 1, fd_eps=g.darts_fd_eps, **common)
    elif cfg.strategy == "gdas":
        out = gdas_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                        generator=p.gens["arch"], tau=tau, **common)
    else:
        out = tnas_g_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                          generator=p.gens["arch"], tau=tau, step=p.state.step,
                          cfg=dataclasses.replace(g.tnas_g, metric="loss") if cfg.sampler.feedback_score == "loss"
                          else g.tnas_g,
                          baseline=p.state.baseline,
                          score_fn=None if run.feedback is None else lambda a: float(run.feedback(a[None])[0]),
                          **common)
    p.scheduler.step()
    out["tau"] = tau
    return out


def _accumulate(job: GradientJob, session: Session, out: dict[str, Any]) -> None:
    p = job.parts
    part = p.partial
    for k in _SUMS:
        if k in out:
            part[k] = part.get(k, 0.0) + float(out[k])
    part["i"] = part.get("i", 0.0) + 1
    part["tau"] = float(out["tau"])
    if out.get("refit") is not None:  # TNAS-G: an ELBO refit happened at this step
        part["refits"] = part.get("refits", 0.0) + 1
        part["refit_loss"] = float(out["refit"]["loss"])
    if "arch" in out:  # TNAS-G: the sampled cell and its (raw) validation-batch score
        session.run.log_archs([{"step": p.state.step, "phase": "train", "score": float(out["score"]),
                                "genotype": p.supernet.space.to_genotype(out["arch"]), "source": "decoder"}])


def _finish_epoch(job: GradientJob, session: Session, t0: float) -> None:
    """Log the epoch (its time includes reading the distribution) and checkpoint."""
    p = job.parts
    st, part = p.state, p.partial
    n = max(part.get("i", 0.0), 1.0)
    spread = _rank_spread(job)
    probs, ent = distribution(job)
    seconds = time.perf_counter() - t0
    job.seconds += seconds
    record = {"phase": "train", "epoch": st.epoch + 1, "step": st.step, "lr": p.optimizer.param_groups[0]["lr"],
              **{k: part[k] / n for k in _SUMS if k in part}, "tau": part.get("tau", float("nan")),
              "entropy_mean": float(ent.mean()), "entropy": ent.tolist(), "probs": probs.tolist(),
              "seconds": seconds}
    if "refits" in part:
        record.update(refits=int(part["refits"]), refit_loss=part["refit_loss"])
    record.update(spread)
    st.history.append(record)
    st.epoch += 1
    p.step_in_epoch, p.partial = 0, {}
    session.run.log_metrics(record)
    _log.info("epoch %3d/%d  loss %.4f  train acc %6.2f%%  valid acc %6.2f%%  tau %.2f  entropy %.3f  %5.1fs",
              st.epoch, p.cfg.train.epochs, record["loss"], record["acc"], record.get("valid_acc", float("nan")),
              record["tau"], record["entropy_mean"], seconds)
    session.save()


def _rank_spread(job: GradientJob) -> dict[str, float]:
    """Under torchrun: how far the ranks' distribution parameters and supernet weights drifted apart
    this epoch (0.0: identical, as the same generators and summed gradients keep them on CPU), after
    which every rank takes rank 0's. Logged per epoch as rank_spread_distribution / _supernet."""
    if job.dist.world <= 1:
        return {}
    p = job.parts
    dist_params = p.sampler.distribution_parameters()
    return {"rank_spread_distribution": sync_from_main(list(dist_params), job.dist),
            "rank_spread_supernet": sync_from_main(list(p.supernet.parameters()), job.dist)}


def _interrupt(job: GradientJob, session: Session, seconds: float) -> None:
    """Checkpoint mid-epoch (data stream replayed from the epoch start on resume) and raise."""
    data_now = job.parts.gens["data"].get_state()
    job.seconds += seconds
    try:
        session.interrupt()
    finally:
        job.parts.gens["data"].set_state(data_now)


def train(job: GradientJob, session: Session) -> None:
    """Search steps from the checkpointed position to `train.epochs`, checkpointing each epoch."""
    p = job.parts
    cfg, st = p.cfg, p.state
    bar = session.bar(cfg.train.epochs * p.steps_per_epoch, st.step, f"search {cfg.strategy}")
    should_stop = agreed_stop(lambda: session.stop, job.dist, job.device)  # all ranks stop at the same step
    try:
        while st.epoch < cfg.train.epochs:
            batches = epoch_stream(p)
            t0 = time.perf_counter()
            while p.step_in_epoch < p.steps_per_epoch:
                if should_stop():
                    _interrupt(job, session, time.perf_counter() - t0)
                valid = p.data.valid.random_batch(cfg.train.batch_size, p.gens["valid"])
                out = search_step(job, next(batches), valid)
                st.step += 1
                p.step_in_epoch += 1
                _accumulate(job, session, out)
                bar.update(1)
            _finish_epoch(job, session, t0)
    finally:
        bar.close()


def run_gradient_search(cfg: RunConfig | None = None, *, resume: str | Path | None = None,
                        progress_bar: bool = True) -> tuple[dict[str, Any], Path]:
    """A DARTS, DARTS-V2, GDAS or TNAS-G search (or resume its run directory) end to end: the
    same as `tnas.run.search.run_search` (which this calls) for a gradient strategy.

    Raises:
        TnasError: bad config, or a NaN loss / architecture parameters (the last checkpoint is kept).
        Interrupted: after Ctrl-C, once the checkpoint is written.
    """
    from tnas.run.search import run_search

    return run_search(cfg, resume=resume, progress_bar=progress_bar)
