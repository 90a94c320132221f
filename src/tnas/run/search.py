"""`tnas search`: the one-shot job (strategy spos / tnas-os) and `run_search`, which runs any
registered strategy through the run skeleton (`tnas.run.job`).

Everything stateful (supernet, optimizer, scheduler, sampler, RNGs, loop counters, the search
stage's memo of evaluated architectures) goes into one checkpoint dict, written atomically at
every epoch end, every `search.population` evaluations of the search stage, and on Ctrl-C.
A resumed run ends with the same result as an uninterrupted one (tests/integration).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from tnas.evaluate import SupernetEvaluator, eval_batches
from tnas.evaluate.score import MemoScore
from tnas.run.config import RunConfig, config_from_dict, validate_config
from tnas.run.constraints import check_constraint, constraint
from tnas.run.dist import agreed_stop, allreduce_grads
from tnas.run.job import STRATEGIES, Interrupted, Job, Session, run_job
from tnas.run.parts import Parts, build, epoch_stream
from tnas.run.resume import open_run, resume_overrides
from tnas.run.result import finish
from tnas.run.scoring import check_run_scores, feedback_scorer, run_scorer
from tnas.run.track import Tracker
from tnas.sampler.rejection import CountedConstraint
from tnas.seeds import stream
from tnas.strategy.evolution import spos_ga
from tnas.strategy.oneshot import Feedback, Shard, epoch_summary, train_epoch

__all__ = ["Interrupted", "OneShotJob", "build", "run_search"]

_log = logging.getLogger(__name__)


@STRATEGIES.register("spos", "tnas-os")
class OneShotJob(Job):
    """Supernet training with sampled paths (uniform, or the TNAS VAE), then the SPOS GA."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.parts = build(cfg)
        check_constraint(self.parts)
        self.device, self.dist, self.is_main = self.parts.device, self.parts.dist, self.parts.dist.is_main

    def tag(self) -> str:
        return self.cfg.strategy

    def meta(self) -> dict[str, Any]:
        return self.parts.meta()

    def files(self) -> dict[str, str]:
        return self.parts.files()

    def state_dict(self) -> dict[str, Any]:
        return self.parts.checkpoint()

    def load_state_dict(self, ck: dict[str, Any]) -> None:
        self.parts.restore(ck)

    def position(self) -> tuple[int, int]:
        return self.parts.state.step, len(self.parts.memo)

    def fit(self, session: Session) -> None:
        if self.parts.phase == "done":
            _log.info("run already finished: %s", session.run.path)
        check_run_scores(self.parts)  # e.g. angle on a resumed old checkpoint: before any training
        self.t0 = time.perf_counter()
        train(self.parts, session)
        self.history = search_stage(self.parts, session)

    def finish(self, session: Session) -> dict[str, Any]:
        result = finish(self.parts, session.run, self.history, time.perf_counter() - self.t0)
        session.save()
        return result


def train(parts: Parts, session: Session) -> None:
    """Supernet training from `parts.state.epoch` to `cfg.train.epochs`, checkpointing each epoch."""
    cfg, st, run = parts.cfg, parts.state, session.run
    bar = session.bar(cfg.train.epochs * parts.steps_per_epoch, st.step, f"train {cfg.strategy}")

    def valid_batch() -> tuple[torch.Tensor, torch.Tensor]:
        return parts.data.valid.random_batch(cfg.train.batch_size, parts.gens["valid"])

    def on_step(arch: torch.Tensor, loss: float, score: float, from_vae: bool) -> None:
        st.step += 1
        bar.update(1)
        if not math.isnan(score):
            run.log_archs([{"step": st.step, "phase": "train", "genotype": parts.supernet.space.to_genotype(arch),
                            "score": score, "source": "vae" if from_vae else "uniform", "eps": parts.sampler.sampling_eps}])

    scorer = feedback_scorer(parts)
    # sampler.feedback_score=loss is the loop's own -cross-entropy; accuracy keeps train.metric (older runs' meaning)
    own = "loss" if cfg.sampler.feedback_score == "loss" else cfg.train.metric
    metric = own if scorer is None else scorer.name
    # score - EMA removes the trend of a score that improves as the supernet trains; a score that does
    # not change with training (a zero-cost proxy) has no trend, and its EMA would only mix magnitudes
    trend = scorer is None or scorer.spec.dynamic
    feedback = Feedback(valid_batch, cfg.train.score_every, metric,
                        parts.state.baseline if cfg.train.relative_scores and trend else None,
                        score_fn=None if scorer is None else lambda arch: scorer(arch[None])[0])
    parts.feedback_scorer = scorer
    shard = Shard(cfg.train.micro_batches, parts.dist.rank, parts.dist.world,
                  allreduce_grads if parts.dist.world > 1 else None)
    allowed = constraint(parts)  # SPOS: train only architectures within the hard limits
    should_stop = agreed_stop(lambda: session.stop, parts.dist, parts.device)  # all ranks stop at the same step
    try:
        while st.epoch < cfg.train.epochs:
            batches = epoch_stream(parts)
            t0 = time.perf_counter()  # wall time is right on CUDA too: the epoch ends with a sync
            done = train_epoch(parts.supernet, parts.sampler, parts.optimizer, parts.scheduler, batches,
                               parts.gens["arch"], parts.partial, steps=parts.steps_per_epoch,
                               grad_clip=cfg.train.grad_clip, feedback=feedback, shard=shard, constraint=allowed,
                               should_stop=should_stop, on_step=on_step,
                               sync_every=parts.accel.sync_every, role=cfg.sampler.role)
            if not done:
                _interrupt(parts, session)
            _finish_epoch(parts, session, t0, allowed)
    finally:
        bar.close()


def _interrupt(parts: Parts, session: Session) -> None:
    """Checkpoint mid-epoch (the data stream is replayed from the epoch start on resume) and raise."""
    data_now = parts.gens["data"].get_state()
    parts.step_in_epoch = int(parts.partial["i"])
    try:
        session.interrupt()
    finally:
        parts.gens["data"].set_state(data_now)


def _finish_epoch(parts: Parts, session: Session, t0: float, allowed: CountedConstraint | None = None) -> None:
    """Retrain the sampler, log the epoch (its time includes the sampler's step) and checkpoint.
    Under hard limits the record has the epoch's rejection sampling (`rejection_accept_rate`,
    `rejection_ms_per_accepted`, counts; after a mid-epoch resume: of the resumed part)."""
    st = parts.state
    stats = epoch_summary(parts.partial)
    sampler_stats = parts.sampler.step()  # retrain the VAE on the top-K, eps += eps_inc
    if parts.feedback_scorer is not None:
        parts.feedback_scorer.refresh()  # a rank ensemble re-scores its reference on the trained-on supernet
    seconds = time.perf_counter() - t0
    record = {"phase": "train", "epoch": st.epoch + 1, "step": st.step, "lr": parts.optimizer.param_groups[0]["lr"],
              **stats, **{f"sampler_{k}": v for k, v in sampler_stats.items()}, "eps": parts.sampler.sampling_eps,
              "seconds": seconds}
    if allowed is not None:
        record.update({f"rejection_{k}": v for k, v in allowed.take().items()})
    st.history.append(record)
    st.epoch += 1
    parts.step_in_epoch, parts.partial = 0, {}
    session.run.log_metrics(record)
    score = stats["score"]  # the feedback's mean: accuracy in %, or a zero-cost score such as synflow's 1e40s
    _log.info("epoch %3d/%d  loss %.4f  train acc %6.2f%%  feedback %s  eps %.3f  vae share %.2f  %5.1fs",
              st.epoch, parts.cfg.train.epochs, stats["loss"], stats["acc"],
              f"{score:6.2f}" if abs(score) < 1e6 or score != score else f"{score:.3e}", record["eps"],
              stats["vae_share"], seconds)
    if allowed is not None:
        _log.info("rejection sampling under the limits: accept rate %.3f, %.3f ms per accepted architecture",
                  record["rejection_accept_rate"], record["rejection_ms_per_accepted"])
    session.save()


def search_stage(parts: Parts, session: Session) -> Any:
    """The SPOS genetic algorithm on the trained supernet; initial population from p(a|z) for
    TNAS-OS. Returns the History of evaluated architectures (fitness = supernet valid acc, %)."""
    cfg, s, run = parts.cfg, parts.cfg.search, session.run
    parts.phase = "search"
    space = parts.supernet.space
    g = stream(cfg.seed, "search")  # fixed: a resumed search replays it
    calib, valid = eval_batches(parts.data.train, parts.data.valid, s.eval_batch_size, s.bn_batches,
                                s.eval_batches, g)
    bar = session.bar(s.budget, len(parts.memo), "search", unit="arch")
    fresh = {"n": 0}

    def on_eval(arch: torch.Tensor, score: float) -> None:
        bar.update(1)
        fresh["n"] += 1
        run.log_archs([{"step": parts.state.step, "phase": "search", "genotype": space.to_genotype(arch),
                        "score": score, "source": "search"}])
        # the memo holds exactly the evaluations so far (this one included): the search's x axis
        run.log_metrics({"phase": "search", "step": len(parts.memo), "fitness": score,
                         "best": max(parts.memo.values())})
        if session.stop:
            session.interrupt()
        if fresh["n"] % s.population == 0:
            session.save()

    def on_generation(generation: int, new: torch.Tensor, every: torch.Tensor) -> None:
        if new.numel():
            run.log_metrics({"phase": "search", "step": int(every.numel()), "generation": generation,
                             "population_best": float(new.max()), "population_mean": float(new.mean()),
                             "parents_mean": float(every.topk(min(s.parents, every.numel())).values.mean())})

    if cfg.search.score == "accuracy":  # the paper's fitness, bit-identical to earlier runs
        evaluator = SupernetEvaluator(parts.supernet, space, calib, valid, memo=parts.memo, on_eval=on_eval)
        parts.evaluator = evaluator
    else:
        parts.scorer = run_scorer(cfg, "search.score", space, parts.data.train, parts.device, supernet=parts.supernet,
                                  init_params=parts.init_params, calib=calib, valid=valid)
        evaluator = MemoScore(space, parts.scorer, memo=parts.memo, on_eval=on_eval)
        parts.evaluator = SupernetEvaluator(parts.supernet, space, calib, valid)  # the report's supernet accuracies
    limits = constraint(parts)
    init = parts.sampler.propose(s.population, g)  # the learned initial population (None: the GA draws its own)
    try:
        history = spos_ga(space, evaluator, s.budget, g, population=s.population, parents=s.parents,
                          mutations=s.mutations, crossovers=s.crossovers, mutate_prob=s.mutate_prob, init=init,
                          constraint=limits, on_generation=on_generation)
    finally:
        bar.close()
    parts.rejection = {} if limits is None else limits.take()  # the GA replays on resume: counts are whole
    return history


def run_search(cfg: RunConfig | None = None, *, resume: str | Path | None = None,
               overrides: dict[str, str] | None = None, progress_bar: bool = True,
               trackers: Sequence[Tracker] = ()) -> tuple[dict[str, Any], Path]:
    """Run a search of any registered strategy (or resume its run directory) through the run
    skeleton. Returns (result, run directory).

    Args:
        cfg: the resolved config of a new run; None when resuming.
        resume: a run directory to continue from its last checkpoint (its saved config is used).
        overrides: with `resume`, changes to the settings read after training
            (`tnas.run.resume.RESUMABLE_KEYS`), e.g. {"search.budget": "200"}.
        progress_bar: show tqdm bars (log lines are routed around them).
        trackers: your own `tnas.run.track.Tracker`s, given the run's params and scalars (besides
            TensorBoard and the MLflow / W&B trackers that `track.*` asks for).
    Raises:
        TnasError: bad config, data or run directory. Interrupted: Ctrl-C, once the checkpoint is written.
    """
    ck = None
    if resume is not None:
        path, tree, ck = open_run(resume, "search")
        cfg = resume_overrides(config_from_dict(ck["config"]), overrides, path, tree, validate_config)
    assert cfg is not None
    return run_job(STRATEGIES.get(cfg.strategy), cfg, checkpoint=ck, resume=resume, progress_bar=progress_bar,
                   trackers=trackers)
