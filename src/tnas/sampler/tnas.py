"""The TNAS sampler: Gamma_t = (1 - eps) * U(a) + eps * p_theta(a|z), learned online (eq. 1, 11).

`observe()` accumulates (architecture, metric) pairs, `step()` retrains the transformer VAE
(warm-started) on the top-K architectures so far and advances eps, `sample()` draws from the
mixture. Shapes: D = space.num_decisions; architectures are long [N, D]; scores float [N],
higher is better. See docs/sampler.md for the choices the paper leaves open and measured costs.
"""
from __future__ import annotations

import copy
import logging
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from tnas.checks import checked, validate
from tnas.errors import TnasError
from tnas.sampler.base import SAMPLERS, Draw, SamplerBase, check_feedback, check_state
from tnas.sampler.rejection import novel
from tnas.sampler.vae import TransformerVAE, VAEConfig
from tnas.seeds import stream_seed
from tnas.space.base import SearchSpace

logger = logging.getLogger(__name__)
_VERSION = 1
_REFERENCE = 256  # uniform reference paths (reject) and prior draws z (probability); fixed per sampler seed
REJECT_MAX = 0.9  # role reject: at most this share of uniform draws is rejected (coverage is the point)
_WEIGHTINGS = ("none", "rank")
_REPEATS = ("best", "mean")


@dataclass
class TNASConfig:
    """Online-learning and sampling settings of the TNAS sampler (defaults tuned on NB201,
    see docs/sampler.md)."""

    top_k: int = checked(10, ge=1, le=1_000_000)  # the VAE is retrained on the K best architectures observed so far
    train_steps: int = checked(20, ge=1, le=100_000)  # Adam steps per `step()` (warm start, so few are needed)
    batch_size: int = checked(64, ge=1, le=1_000_000)  # minibatch drawn (without replacement) from the top-K per step
    eps0: float = checked(0.5, ge=0, le=1)  # after k trainings eps = min(eps_max, eps0 + k * eps_inc); 0 before the first
    eps_inc: float = checked(0.2, ge=0, le=1)  # eps += eps_inc after every training `step()` (paper's eps_inc)
    eps_max: float = checked(1.0, ge=0, le=1)
    temperature: float = checked(1.0, ge=0, le=100)  # softmax temperature of p(a|z) (< 1 exploits, > 1 explores; 0 = argmax)
    skip_seen: bool = True  # `sample` rejects observed architectures and in-batch repeats
    max_retries: int = checked(16, ge=0, le=1000)  # rejection rounds before falling back (see `TNASSampler.sample`)
    retry_heat: float = checked(0.25, ge=0, le=100)  # retry r samples p(a|z) at temperature * (1 + retry_heat * r)
    min_observations: int = checked(10, ge=1, le=1_000_000)  # `step()` does not train (and eps stays 0) before this many
    weighting: str = checked("rank", choices=_WEIGHTINGS)  # per-example loss weights over the top-K: 'none' or 'rank'
    rank_kappa: float = checked(0.1, gt=0, le=1e6)  # 'rank': w_i ~ 1 / (kappa * K + rank_i), rank_i = 0 for the best
    local_frac: float = checked(0.0, ge=0, le=1)  # share of VAE rows with z ~ q(z|a) of a top arch instead of N(0, I)
    local_k: int = checked(3, ge=1, le=1_000_000)  # ... of one of the local_k best observed architectures
    # how a repeatedly observed architecture is scored: 'best' (its best score; right for exact or
    # query evaluators) or 'mean' (the mean of its scores, shrunk towards the mean of all scores by
    # `repeat_prior` pseudo-observations). With a noisy evaluator, 'best' is the maximum of n noisy
    # draws and grows with n, so the paths sampled most (the VAE's own) look best: rich-get-richer
    repeats: str = checked("best", choices=_REPEATS)
    repeat_prior: float = checked(0.0, ge=0, le=1e6)  # 'mean': pseudo-count at the mean of all scores
    # what the run's training loop scores each sampled path by for `observe` (tnas.evaluate.score; the
    # sampler itself only sees the numbers): accuracy = the paper's held-out batch accuracy (or
    # train.metric), loss, angle, a zero-cost proxy, or a rank ensemble of angle / zero-cost scores
    feedback_score: str = "accuracy"
    # which sampler a one-shot run uses (tnas.sampler.SAMPLERS): auto = tnas for strategy=tnas-os,
    # uniform for spos; and its role there (tnas.sampler.roles, docs/sampler.md): steer (eq. 11),
    # seed (training stays uniform, the sampler seeds the GA), reject, steer-unbiased
    name: str = "auto"
    role: str = "steer"
    vae: VAEConfig = field(default_factory=VAEConfig)

    def validate(self) -> None:
        """Raise TnasError naming the first bad field (see `tnas.checks`)."""
        validate(self, "sampler.")

    @classmethod
    def query_search(cls) -> TNASConfig:
        """For searches that query a benchmark or train each candidate (`tnas_loop`, `tnas bench
        sampler`): exploit early (eps0 0.5, eps_inc 0.2), a sharp top-10, never repeat an
        architecture (skip_seen). These are the dataclass defaults (docs/sampler.md)."""
        return cls()

    @classmethod
    def supernet_training(cls, epochs: int | None = None, **changes: Any) -> TNASConfig:
        """For sampling paths while training a supernet (TNAS-OS; the `nb201-cifar10` preset's
        values): start uniform (eps0 0) and move slowly to at most 80 % VAE samples (eps_inc
        0.01 per `step()`, i.e. per epoch), retrain on a broad top-100 with mild rank weighting
        once 100 paths are scored, and allow repeats: a path is trained many times.

        Args:
            epochs: the `step()` calls your loop will make; when eps stays below 0.2 for all of
                them (the loop samples almost uniformly: 0.01 per step suits ~250 epochs), a
                UserWarning says so and which eps_inc fits.
            changes: fields to set instead of these values, e.g. `eps_inc=0.1`.
        """
        cfg = cls(**{**dict(eps0=0.0, eps_inc=0.01, eps_max=0.8, top_k=100, rank_kappa=0.5, skip_seen=False,
                            min_observations=100), **changes})
        if epochs is not None:
            _warn_if_nearly_uniform(cfg, int(epochs))
        return cfg


def _warn_if_nearly_uniform(cfg: TNASConfig, epochs: int) -> None:
    """Warn when eps after `epochs` training steps (an upper bound: no step trains before
    `min_observations` scores) leaves most paths uniform (issue 25)."""
    reached = min(cfg.eps_max, cfg.eps0 + max(0, epochs) * cfg.eps_inc)
    if reached >= 0.2:
        return
    target = min(0.5, cfg.eps_max)
    fit = max(0.0, target - cfg.eps0) / max(1, epochs)
    warnings.warn(f"TNASConfig.supernet_training(epochs={epochs}): eps is at most {reached:.2f} after {epochs} "
                  f"step() calls (eps0 {cfg.eps0}, eps_inc {cfg.eps_inc} per step), so at least {1 - reached:.0%} "
                  "of the paths stay uniform and the learned sampler barely acts. For a loop this short pass "
                  f"eps_inc={fit:.3g}: TNASConfig.supernet_training(epochs={epochs}, eps_inc={fit:.3g}) reaches eps "
                  f"{target:.2f} by the last step; or train for more epochs.", UserWarning, stacklevel=3)


class TNASSampler(SamplerBase):
    """The learned architecture distribution of TNAS.

    Args:
        space: any SearchSpace; the VAE sees only tokens and the choice count per position.
        config: see TNASConfig.
        seed: seeds the internal generator used by `step()` (minibatches, reparameterisation
            noise, dropout) and the VAE's initial weights; saved in `state_dict`.
        device: where the VAE lives; random draws are always made on the CPU with the caller's
            generator and moved, so a seed gives the same samples on any device.
    """

    def __init__(self, space: SearchSpace, config: TNASConfig | None = None, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        self.space = space
        self.config = cfg = copy.deepcopy(config) if config is not None else TNASConfig()
        cfg.validate()
        self.device = torch.device(device)
        self._gen = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):  # init weights from our seed, not the global RNG
            torch.manual_seed(int(seed))
            self.vae = TransformerVAE(space, cfg.vae).to(self.device)
        self.optimizer = torch.optim.Adam(self.vae.parameters(), lr=cfg.vae.lr,
                                          weight_decay=cfg.vae.weight_decay, foreach=True)
        self._keys: list[int] = []  # observation order, one entry per distinct architecture
        self._scores: list[float] = []  # best score per architecture
        self._sums: list[float] = []  # sum and count of its scores ('mean' repeats)
        self._counts: list[int] = []
        self._total = [0.0, 0]  # sum and count of every score observed (the shrinkage target)
        self._index: dict[int, int] = {}  # key -> position in _keys
        self.eps = cfg.eps0
        self.trained = False
        self.num_steps = 0
        self.last_sources: Tensor = torch.zeros(0, dtype=torch.bool)
        # the fixed reference draws of `rejects` and `probability` (a stream of their own: sampling
        # and training draw nothing from it)
        self._ref_seed = stream_seed(int(seed), "sampler-reference")
        self._reject_at, self._reject_cut = -1, -math.inf

    # ---- feedback ---------------------------------------------------------------------
    def observe(self, archs: Tensor, scores: Tensor) -> None:
        """Record evaluated architectures. A repeated architecture keeps its *best* score
        (`repeats='best'`: a noisy evaluator then errs optimistic) or the shrunk mean of its
        scores (`repeats='mean'`); either way the top-K never holds duplicates.

        Args:
            archs: long [N, D] (or [D]).
            scores: float [N] (or scalar), higher is better.
        """
        archs, scores = check_feedback(self.space, archs, scores)
        for k, s in zip(self.space.keys(archs).tolist(), scores.tolist()):
            i = self._index.get(k)
            self._total[0] += s
            self._total[1] += 1
            if i is None:
                self._index[k] = len(self._keys)
                self._keys.append(k)
                self._scores.append(s)
                self._sums.append(s)
                self._counts.append(1)
                continue
            self._sums[i] += s
            self._counts[i] += 1
            if s > self._scores[i]:
                self._scores[i] = s

    @property
    def feedback_affects_sample(self) -> bool:
        """Whether `observe` changes what `sample` draws before the next `step()`: only through
        `skip_seen` (observed archs are redrawn) and `local_frac` (z near the best observed).
        Loops that hand scores over in batches (to avoid a GPU sync per step) flush before every
        draw when True (`tnas.strategy.oneshot.train_epoch`)."""
        return self.config.skip_seen or self.config.local_frac > 0

    @property
    def num_observed(self) -> int:
        return len(self._keys)

    def observed(self) -> tuple[Tensor, Tensor]:
        """All distinct observed architectures (long [M, D]) and their scores (float [M])."""
        keys = torch.tensor(self._keys, dtype=torch.long)
        if self.config.repeats == "best":
            return self.space.from_keys(keys), torch.tensor(self._scores, dtype=torch.float64)
        sums = torch.tensor(self._sums, dtype=torch.float64)
        counts = torch.tensor(self._counts, dtype=torch.float64)
        c = self.config.repeat_prior
        prior = self._total[0] / self._total[1] if self._total[1] else 0.0
        return self.space.from_keys(keys), (sums + c * prior) / (counts + c)

    def top_k(self, k: int | None = None) -> tuple[Tensor, Tensor]:
        """The k best observations (ties: the earliest first): long [k, D], float [k]."""
        archs, scores = self.observed()
        order = torch.sort(-scores, stable=True).indices[: (k or self.config.top_k)]
        return archs[order], scores[order]

    # ---- learning ---------------------------------------------------------------------
    def _weights(self, n: int) -> Tensor | None:
        if self.config.weighting == "none":
            return None
        # rank weighting (Tripp et al. 2020): the best architectures dominate the loss without
        # letting one outlier score take all of it, and it is invariant to the metric's scale
        ranks = torch.arange(n, dtype=torch.float32)
        return 1.0 / (self.config.rank_kappa * n + ranks)

    def step(self) -> dict[str, float]:
        """Retrain the VAE (warm start) on the top-K, then eps = min(eps_max, eps + eps_inc).

        Before `min_observations` architectures were observed nothing is trained and eps is not
        advanced (an untrained decoder is no useful half of the mixture).
        Returns:
            'loss', 'recon', 'kl' (mean over the last 5 Adam steps, nats), 'eps' (after the
            update), 'topk_mean' (mean score of the training set), 'trained' (0/1), 'seconds'.
        """
        t0 = time.perf_counter()
        cfg = self.config
        if self.num_observed < cfg.min_observations:
            return {"loss": float("nan"), "recon": float("nan"), "kl": float("nan"), "eps": self.sampling_eps,
                    "topk_mean": float("nan"), "trained": 0.0, "seconds": time.perf_counter() - t0}
        archs, scores = self.top_k()
        parts = self._train(archs.to(self.device), self._weights(archs.shape[0]))
        self.trained = True
        self.num_steps += 1
        self.eps = min(cfg.eps_max, self.eps + cfg.eps_inc)
        out = {**parts, "eps": self.sampling_eps, "topk_mean": float(scores.mean()), "trained": 1.0,
               "seconds": time.perf_counter() - t0}
        logger.debug("tnas step %d: %s", self.num_steps, out)
        return out

    def _train(self, archs: Tensor, weights: Tensor | None) -> dict[str, float]:
        cfg, n = self.config, archs.shape[0]
        self.vae.train()
        hist: list[Tensor] = []
        # dropout draws from the global RNG: seed a forked copy from our generator so step()
        # is reproducible and the caller's global RNG is untouched
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(torch.randint(2**62, (1,), generator=self._gen)))
            for _ in range(cfg.train_steps):
                idx = torch.randperm(n, generator=self._gen)[: cfg.batch_size]
                noise = torch.randn(len(idx), self.vae.latent_dim, generator=self._gen).to(self.device)
                w = None if weights is None else weights[idx].to(self.device)
                parts = self.vae.loss(archs[idx.to(self.device)], noise, w)
                self.optimizer.zero_grad(set_to_none=True)
                parts["loss"].backward()
                self.optimizer.step()
                hist.append(torch.stack([parts["loss"], parts["recon"], parts["kl"]]).detach())
        self.vae.eval()
        if not hist:
            return {"loss": float("nan"), "recon": float("nan"), "kl": float("nan")}
        m = torch.stack(hist[-5:]).mean(0).tolist()
        return {"loss": m[0], "recon": m[1], "kl": m[2]}

    # ---- the run's protocol (tnas.sampler.base.SamplerBase) ---------------------------------
    def draw(self, n: int, generator: torch.Generator) -> Draw:
        """n training draws from Gamma (`sample`), with which rows came from the VAE."""
        archs, learned = self.sample(n, generator=generator, return_sources=True)
        return Draw(archs, learned, torch.ones(n, dtype=torch.float64))

    def propose(self, n: int, generator: torch.Generator) -> Tensor | None:
        """n draws from p(a|z) once the VAE is trained (the search stage's initial population), else None."""
        return self.sample_vae(n, generator) if self.trained else None

    @torch.no_grad()
    def elbo(self, archs: Tensor) -> Tensor:
        """The VAE's evidence lower bound of each architecture at the posterior mean, log p(a | z = mu(a))
        - KL(q(z|a) || N(0, I)) (nats, float64 [n]): how typical the VAE finds a path."""
        archs = archs.reshape(-1, self.space.num_decisions).to(self.device)
        self.vae.eval()
        mu, logvar = self.vae.encode(archs)
        logp = torch.log_softmax(self.vae.decode(mu), -1).gather(-1, archs[..., None]).squeeze(-1).sum(-1)
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(-1)
        return (logp - kl).double().cpu()

    def rejects(self, archs: Tensor) -> Tensor:
        """True for each architecture whose ELBO is below the eps-quantile (at most REJECT_MAX) of a
        fixed uniform reference sample: with the VAE trained on the best paths, about a share eps of
        uniform draws, the least like them, is rejected, and the rest of the space keeps being trained
        uniformly. Nothing is rejected before the VAE's first training."""
        n = archs.reshape(-1, self.space.num_decisions).shape[0]
        if not self.trained or self.sampling_eps <= 0:
            return torch.zeros(n, dtype=torch.bool)
        if self._reject_at != self.num_steps:  # a new VAE or eps: re-cut the reference sample
            ref = self.space.sample_uniform(_REFERENCE, torch.Generator().manual_seed(self._ref_seed))
            self._reject_cut = float(torch.quantile(self.elbo(ref), min(self.sampling_eps, REJECT_MAX)))
            self._reject_at = self.num_steps
        return self.elbo(archs) < self._reject_cut

    @torch.no_grad()
    def probability(self, archs: Tensor) -> Tensor:
        """Gamma(a) = (1 - eps) / |space| + eps * p(a), p(a) = E_z p(a|z) over a fixed set of
        `_REFERENCE` prior draws z (float64 [n]); used to weight training steps by U(a) / Gamma(a)."""
        archs = archs.reshape(-1, self.space.num_decisions)
        uniform = 1.0 / self.space.size
        e = self.sampling_eps
        if not self.trained or e <= 0:
            return torch.full((archs.shape[0],), uniform, dtype=torch.float64)
        z = torch.randn(_REFERENCE, self.vae.latent_dim, generator=torch.Generator().manual_seed(self._ref_seed))
        self.vae.eval()
        t = max(self.config.temperature, 1e-6)
        logp = torch.log_softmax(self.vae.decode(z.to(self.device)) / t, -1).double().cpu()  # [M, D, K]
        d = torch.arange(self.space.num_decisions)
        per = logp[:, d[None, :], archs.cpu()].sum(-1)  # [M, n]: log p(a | z_m) = sum_d log p(a_d | z_m)
        p = torch.exp(torch.logsumexp(per, 0) - math.log(_REFERENCE))
        return (1 - e) * uniform + e * p

    # ---- sampling ---------------------------------------------------------------------
    @property
    def sampling_eps(self) -> float:
        """The eps `sample()` uses by default: 0 until the VAE has been trained once."""
        return self.eps if self.trained else 0.0

    # the gradient strategies' distribution protocol (TNAS-G: the decoder p(a|z) is the distribution;
    # ArchParameters has the same three methods)
    def distribution_parameters(self) -> list[torch.nn.Parameter]:
        """What the architecture optimiser updates: the VAE's parameters."""
        return list(self.vae.parameters())

    def marginals(self, n: int, generator: torch.Generator) -> Tensor:
        """E_z p(a_d = k | z) over n draws z ~ N(0, I): float [D, K] on the CPU."""
        return self.vae.marginals(n, generator)

    def derive_candidates(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """The final cell's candidates: {'mode': argmax p(a | z = 0) long [1, D], 'best-of': the distinct
        per-z modes for z = 0 and n draws z ~ N(0, I), long [M, D]} (the best of them is picked by score)."""
        modes = self.vae.prior_modes(n, generator)
        return {"mode": modes[:1], "best-of": torch.unique(modes, dim=0)}

    def sample_vae(self, n: int, generator: torch.Generator, temperature: float | None = None,
                   local_frac: float | None = None) -> Tensor:
        """n draws from p(a|z): long [n, D] (no dedup).

        z ~ N(0, I) (eq. 11), except that a share `local_frac` (default config.local_frac) of the
        rows draws z from the posterior q(z|a) of one of the `local_k` best observed
        architectures: decoding there proposes the best cells' neighbours (see docs/sampler.md).
        """
        t = self.config.temperature if temperature is None else temperature
        frac = self.config.local_frac if local_frac is None else local_frac
        z = torch.randn(n, self.vae.latent_dim, generator=generator)
        u = torch.rand(n, self.space.num_decisions, generator=generator)
        self.vae.eval()
        if frac > 0 and self.num_observed:
            local = torch.rand(n, generator=generator) < frac
            top, _ = self.top_k(self.config.local_k)
            pick = torch.randint(0, top.shape[0], (n,), generator=generator)
            with torch.no_grad():
                mu, logvar = self.vae.encode(top.to(self.device))
            post = (mu.cpu()[pick] + z * torch.exp(0.5 * logvar.cpu()[pick]))
            z = torch.where(local[:, None], post, z)
        return self.vae.sample(z.to(self.device), u.to(self.device), t).cpu()

    def sample(self, n: int, *, generator: torch.Generator, temperature: float | None = None,
               exclude: Tensor | None = None, eps: float | None = None,
               return_sources: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """n architectures from Gamma = (1 - eps) * U(a) + eps * p(a|z), z ~ N(0, I).

        Each row independently comes from the VAE with probability eps. With `skip_seen` (config)
        a row equal to an observed architecture, to a row of `exclude`, or to an earlier row of
        this batch is redrawn from the *same* source, up to `max_retries` rounds; rows still
        rejected are then redrawn uniformly (always novel unless the space is nearly exhausted),
        and as a last resort drawn from the list of unused architectures when the space is small
        enough to enumerate (<= 2**20); otherwise the repeat is kept.
        Args:
            n: number of rows.
            generator: CPU generator for every random draw (same generator state -> same rows).
            temperature: overrides config.temperature for p(a|z).
            exclude: long [M, D] architectures to avoid besides the observed ones.
            eps: overrides the current mixing weight.
            return_sources: also return bool [n], True where the row came from the VAE (rows that
                fell back to uniform draws count as uniform).
        Returns:
            long [n, D] (and bool [n]); the sources are also kept in `self.last_sources`.
        """
        if n < 0:
            raise TnasError(f"Cannot sample n={n} architectures; n must be >= 0.")
        e = self.sampling_eps if eps is None else float(eps)
        if not 0.0 <= e <= 1.0:
            raise TnasError(f"sample() got eps={e}; expected a probability in [0, 1].")
        from_vae = torch.rand(n, generator=generator) < e
        out = self._draw(from_vae, generator, temperature)
        if self.config.skip_seen:
            out = self._dedup(out, from_vae, generator, temperature, exclude)
        self.last_sources = from_vae
        return (out, from_vae) if return_sources else out

    def _draw(self, from_vae: Tensor, generator: torch.Generator, temperature: float | None) -> Tensor:
        n = from_vae.shape[0]
        out = self.space.sample_uniform(n, generator)
        m = int(from_vae.sum())
        if m:
            out[from_vae] = self.sample_vae(m, generator, temperature)
        return out

    def _dedup(self, out: Tensor, from_vae: Tensor, generator: torch.Generator,
               temperature: float | None, exclude: Tensor | None) -> Tensor:
        seen = set(self._keys)
        if exclude is not None and exclude.numel():
            seen.update(self.space.keys(exclude.reshape(-1, self.space.num_decisions).cpu()).tolist())
        bad = torch.nonzero(~novel(self.space, out, seen)).flatten().tolist()
        t0 = self.config.temperature if temperature is None else temperature
        for attempt in range(self.config.max_retries + 2):
            if not bad:
                return out
            rows = torch.tensor(bad)
            # retries keep each row's source; the last two rounds fall back to uniform draws
            if attempt >= self.config.max_retries:
                from_vae[rows] = False  # the row is now a uniform draw: report it as one
            src = from_vae[rows]
            # a VAE row that keeps hitting seen archs means p(a|z) is concentrated on an explored
            # mode: widen it step by step (explore *around* the mode) instead of jumping to uniform
            t = max(t0, 0.1) * (1.0 + self.config.retry_heat * (attempt + 1))
            out[rows] = self._draw(src, generator, t)
            bad = rows[~novel(self.space, out[rows], seen)].tolist()
        if bad and self.space.size <= 2**20:
            free = torch.tensor(sorted(set(range(self.space.size)) - seen), dtype=torch.long)
            pick = free[torch.randperm(len(free), generator=generator)[: len(bad)]]
            if len(pick):
                out[torch.tensor(bad[: len(pick)], dtype=torch.long)] = self.space.from_keys(pick)
            if len(pick) < len(bad):  # the space is exhausted: the rest repeat seen archs (no crash)
                logger.info("all %d architectures of '%s' are seen; %d of %d samples repeat seen ones",
                            self.space.size, self.space.name, len(bad) - len(pick), len(out))
        return out

    # ---- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue identically: weights, optimizer, observations, eps, RNG."""
        return {
            "version": _VERSION, "kind": "tnas", "space": self.space.name, "config": asdict(self.config),
            "vae": {k: v.cpu() for k, v in self.vae.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "keys": torch.tensor(self._keys, dtype=torch.long),
            "scores": torch.tensor(self._scores, dtype=torch.float64),
            "sums": torch.tensor(self._sums, dtype=torch.float64),
            "counts": torch.tensor(self._counts, dtype=torch.long),
            "total": torch.tensor(self._total, dtype=torch.float64),
            "eps": self.eps, "trained": self.trained, "num_steps": self.num_steps,
            "generator": self._gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(state, "tnas", _VERSION, "a TNASSampler")
        if state["space"] != self.space.name:
            raise TnasError(
                f"This TNAS state was saved for space '{state['space']}', not '{self.space.name}'; build the "
                f"sampler with get_space('{state['space']}')."
            )
        saved_vae = state.get("config", {}).get("vae")
        if saved_vae is not None and saved_vae != asdict(self.config.vae):
            raise TnasError(
                f"This TNAS state was saved with VAE config {saved_vae}, but this sampler has "
                f"{asdict(self.config.vae)}; build the sampler with TNASConfig(vae=VAEConfig(**saved)) "
                "using the saved state's state['config']['vae']."
            )
        self.vae.load_state_dict(state["vae"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._keys = [int(k) for k in state["keys"].tolist()]
        self._scores = [float(s) for s in state["scores"].tolist()]
        # states saved before 'mean' repeats existed: every architecture counts as seen once
        self._sums = [float(s) for s in state.get("sums", state["scores"]).tolist()]
        self._counts = [int(c) for c in state.get("counts", torch.ones(len(self._keys))).tolist()]
        total = state.get("total")
        self._total = ([float(total[0]), int(total[1])] if total is not None
                       else [sum(self._sums), sum(self._counts)])
        self._index = {k: i for i, k in enumerate(self._keys)}
        self.eps, self.trained, self.num_steps = float(state["eps"]), bool(state["trained"]), int(state["num_steps"])
        self._gen.set_state(state["generator"])


SAMPLERS.add("tnas", lambda space, *, seed=0, config=None, device="cpu": TNASSampler(space, config, seed, device))
