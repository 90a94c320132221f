"""`tnas search strategy=darts|darts-v2|gdas|tnas-g`: the gradient-based searches end to end.

Each step takes one training batch (supernet weights, SGD with the one-shot run's cosine schedule)
and one validation batch (architecture: alpha for DARTS/GDAS, the VAE decoder for TNAS-G, Adam);
the steps themselves are `tnas.strategy.gradient`. The parts, data, run directory, checkpoint
format and Ctrl-C handling are those of the one-shot pipeline (`tnas.run.search`); the
checkpoint adds the architecture optimizer. It is written at every epoch end and on Ctrl-C, so a
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
from tqdm import tqdm

from tnas import __version__
from tnas.errors import TnasError
from tnas.run.checkpoint import save_checkpoint
from tnas.run.config import RunConfig, config_from_dict
from tnas.run.overrides import flatten, to_dict
from tnas.run.preflight import built
from tnas.run.resume import open_run
from tnas.run.rundir import RunDir, environment
from tnas.run.search import Interrupted, Parts, epoch_stream, _shared_path, _sigint, _StopFlag, build
from tnas.sampler.softmax import ArchParameters, categorical_entropy, tau_schedule
from tnas.sampler.tnas import TNASSampler
from tnas.strategy.gradient import darts_step, decoder_marginals, decoder_optimizer, gdas_step, tnas_g_step

_log = logging.getLogger(__name__)

_VERSION = 1
_SUMS = ("loss", "acc", "valid_loss", "valid_acc", "score")  # per-step metrics averaged per epoch


@dataclasses.dataclass
class GradientRun:
    """The one-shot `Parts` (its `sampler` is the distribution: ArchParameters or TNASSampler)
    plus the architecture optimizer (Adam on alpha, or on the decoder for TNAS-G)."""

    parts: Parts
    arch_optimizer: torch.optim.Optimizer
    seconds: float = 0.0  # search time over all sessions of this run (epochs + derivation), s

    def checkpoint(self) -> dict[str, Any]:
        return {**self.parts.checkpoint(), "gradient": {"version": _VERSION, "seconds": self.seconds,
                                                        "arch_optimizer": self.arch_optimizer.state_dict()}}

    def restore(self, ck: dict[str, Any]) -> None:
        state = ck.get("gradient", {})
        if state.get("version") != _VERSION:
            raise TnasError(
                f"This checkpoint has gradient-search state version {state.get('version')!r}; this tnas reads "
                f"version {_VERSION}. Resume it with the tnas version that wrote it, or start a new run."
            )
        self.parts.restore(ck)
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.seconds = float(state["seconds"])


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


def build_gradient(cfg: RunConfig) -> GradientRun:
    """The one-shot parts for `cfg`, with the gradient strategy's distribution and its optimizer."""
    _warn_unused(cfg)
    parts = build(cfg)
    if parts.dist.world > 1:
        raise TnasError(f"strategy={cfg.strategy} runs in one process; start it without torchrun.")
    space, g = parts.supernet.space, cfg.gradient
    if cfg.strategy == "tnas-g":
        sampler = built(lambda: TNASSampler(space, cfg.sampler, seed=cfg.seed + 1, device=parts.device),
                        "TNAS sampler", "Lower sampler.vae.d_model / dim_feedforward / num_layers.")
        opt = decoder_optimizer(sampler, g.tnas_g)
        parts.sampler = sampler
    else:
        alpha = ArchParameters(space, g.alpha_init_std, generator=torch.Generator().manual_seed(cfg.seed + 1),
                               device=parts.device)
        opt = torch.optim.Adam(alpha.parameters(), lr=g.arch_lr, betas=(0.5, 0.999), weight_decay=g.arch_weight_decay)
        parts.sampler = alpha
    return GradientRun(parts, opt)


def _step(run: GradientRun, train_batch: Any, valid_batch: Any) -> dict[str, Any]:
    """One search step of the configured strategy (weights on train_batch, distribution on valid_batch)."""
    p = run.parts
    cfg, g = p.cfg, p.cfg.gradient
    tau = tau_schedule(p.state.step, cfg.train.epochs * p.steps_per_epoch, g.tau_max, g.tau_min)
    common = {"grad_clip": cfg.train.grad_clip}
    if cfg.strategy in ("darts", "darts-v2"):
        out = darts_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                         order=2 if cfg.strategy == "darts-v2" else 1, fd_eps=g.darts_fd_eps, **common)
    elif cfg.strategy == "gdas":
        out = gdas_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                        generator=p.gens["arch"], tau=tau, **common)
    else:
        out = tnas_g_step(p.supernet, p.sampler, p.optimizer, run.arch_optimizer, train_batch, valid_batch,
                          generator=p.gens["arch"], tau=tau, step=p.state.step, cfg=g.tnas_g,
                          baseline=p.state.baseline, **common)
    p.scheduler.step()
    out["tau"] = tau
    return out


def distribution(run: GradientRun) -> tuple[torch.Tensor, torch.Tensor]:
    """The current architecture distribution: op probabilities float [D, K] and entropy per decision
    float [D] (nats). TNAS-G: the marginal E_z p(a|z) over a fixed set of z draws, so epochs compare."""
    p = run.parts
    if isinstance(p.sampler, TNASSampler):
        z_gen = torch.Generator().manual_seed(p.cfg.seed * 1000 + 9)  # the same z every epoch
        probs = decoder_marginals(p.sampler.vae, p.cfg.gradient.marginal_samples, z_gen)
    else:
        probs = p.sampler.probs().cpu()
    return probs, categorical_entropy(probs)


def _accumulate(run: GradientRun, rd: RunDir, out: dict[str, Any]) -> None:
    p = run.parts
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
        rd.log_archs([{"step": p.state.step, "phase": "train", "genotype": p.supernet.space.to_genotype(out["arch"]),
                       "score": float(out["score"]), "source": "decoder"}])


def _finish_epoch(run: GradientRun, rd: RunDir, seconds: float) -> None:
    p = run.parts
    st, part = p.state, p.partial
    n = max(part.get("i", 0.0), 1.0)
    probs, ent = distribution(run)
    run.seconds += seconds
    record = {"phase": "train", "epoch": st.epoch + 1, "step": st.step, "lr": p.optimizer.param_groups[0]["lr"],
              **{k: part[k] / n for k in _SUMS if k in part}, "tau": part.get("tau", float("nan")),
              "entropy_mean": float(ent.mean()), "entropy": ent.tolist(), "probs": probs.tolist(),
              "seconds": seconds}
    if "refits" in part:
        record.update(refits=int(part["refits"]), refit_loss=part["refit_loss"])
    st.history.append(record)
    st.epoch += 1
    p.step_in_epoch, p.partial = 0, {}
    rd.log_metrics(record)
    _log.info("epoch %3d/%d  loss %.4f  train acc %6.2f%%  valid acc %6.2f%%  tau %.2f  entropy %.3f  %5.1fs",
              st.epoch, p.cfg.train.epochs, record["loss"], record["acc"], record.get("valid_acc", float("nan")),
              record["tau"], record["entropy_mean"], seconds)
    _save(run, rd)


def _save(run: GradientRun, rd: RunDir) -> None:
    if rd.enabled:
        save_checkpoint(rd.path / "ckpt" / "last.pt", run.checkpoint())


def _interrupt(run: GradientRun, rd: RunDir, seconds: float) -> None:
    """Checkpoint mid-epoch (data stream replayed from the epoch start on resume) and raise."""
    p = run.parts
    data_now = p.gens["data"].get_state()
    run.seconds += seconds
    _save(run, rd)
    p.gens["data"].set_state(data_now)
    raise Interrupted(rd.path)


def train(run: GradientRun, rd: RunDir, flag: _StopFlag, progress_bar: bool = True) -> None:
    """Search steps from the checkpointed position to `train.epochs`, checkpointing each epoch."""
    p = run.parts
    cfg, st = p.cfg, p.state
    bar = tqdm(total=cfg.train.epochs * p.steps_per_epoch, initial=st.step, desc=f"search {cfg.strategy}",
               unit="step", disable=not progress_bar, leave=False, dynamic_ncols=True)
    try:
        while st.epoch < cfg.train.epochs:
            batches = epoch_stream(p)
            t0 = time.perf_counter()
            while p.step_in_epoch < p.steps_per_epoch:
                if flag.stop:
                    _interrupt(run, rd, time.perf_counter() - t0)
                valid = p.data.valid.random_batch(cfg.train.batch_size, p.gens["valid"])
                out = _step(run, next(batches), valid)
                st.step += 1
                p.step_in_epoch += 1
                _accumulate(run, rd, out)
                bar.update(1)
            _finish_epoch(run, rd, time.perf_counter() - t0)
    finally:
        bar.close()


def _open(cfg: RunConfig | None, resume: str | Path | None,
          ck: dict[str, Any] | None = None) -> tuple[GradientRun, RunDir]:
    """Build the run (fresh, or restored from `resume`'s last checkpoint `ck`, read here when not
    given) and its directory."""
    if resume is not None and ck is None:
        _, _, ck = open_run(resume, "search")
    if ck is not None:
        cfg = cfg or config_from_dict(ck["config"])
    assert cfg is not None
    run = build_gradient(cfg)
    p = run.parts
    if ck is not None:
        run.restore(ck)
        rd = RunDir(Path(resume), enabled=True)  # type: ignore[arg-type]
        rd.truncate_logs(p.state.step)
    else:
        rd = RunDir(_shared_path(p, cfg), enabled=True)
        rd.write_config(to_dict(cfg), {"tnas_version": __version__, "split": p.data.split_info})
        rd.write_env(environment(p.device))
    return run, rd


def run_gradient_search(cfg: RunConfig | None = None, *, resume: str | Path | None = None,
                        checkpoint: dict[str, Any] | None = None,
                        progress_bar: bool = True) -> tuple[dict[str, Any], Path]:
    """A DARTS, DARTS-V2, GDAS or TNAS-G search (or resume its run directory) end to end.

    Args:
        cfg: the run config (`cfg.strategy` in GRADIENT_STRATEGIES); None when resuming.
        resume: a run directory written by an earlier, interrupted call; its saved config is used.
        checkpoint: its last checkpoint when the caller has read it already (`run_search`).
        progress_bar: show a tqdm bar over the search steps.
    Returns:
        (result dict as written to result.json, run directory).
    Raises:
        TnasError: bad config, or a NaN loss / architecture parameters (the last checkpoint is kept).
        Interrupted: after Ctrl-C, once the checkpoint is written.
    """
    from tnas.run.gradient_report import finish

    run, rd = _open(cfg, resume, checkpoint)
    _log.info("run directory: %s", rd.path)
    if run.parts.phase == "done" and (rd.path / "result.json").exists():
        _log.info("run already finished: %s", rd.path)
        try:
            return json.loads((rd.path / "result.json").read_text()), rd.path
        except (OSError, ValueError):  # unreadable: derive the result again
            _log.warning("%s is unreadable; writing it again", rd.path / "result.json")
    flag = _StopFlag()
    try:
        with _sigint(flag):
            train(run, rd, flag, progress_bar)
            result = finish(run, rd, time.perf_counter())
            _save(run, rd)
    finally:
        rd.close()
    return result, rd.path
