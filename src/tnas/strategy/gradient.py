"""Gradient-based search steps: DARTS (first and second order), GDAS and TNAS-G (paper sec. 4.3).

Each function here does one search step (one training batch, one validation batch) on a
supernet of any family (`forward(x, weights [D, K])` for DARTS, `forward_hard` for GDAS/TNAS-G)
and returns scalar metrics; the loop, data, checkpointing and reporting belong to the caller (as `tnas.strategy.oneshot` is driven by `tnas.run.search`).

* DARTS (Liu et al. 2019): op weights softmax(alpha) mix every op (`forward_mixed`). First order:
  a weight step on the training batch, then an alpha step on the validation batch. Second order:
  the alpha gradient of the validation loss after one unrolled (virtual) weight step, with the
  Hessian-vector product by finite differences (DARTS eq. 7-8) or exactly (`fd_eps=0`).
* GDAS (Dong & Yang 2019): one op per edge from a hard Gumbel-softmax of alpha at temperature tau
  (`tau_schedule`); only that path runs (`forward_hard`), and its straight-through weights pass
  the loss on to alpha. Weight step on train, alpha step on valid, each with its own sample.
* TNAS-G: the distribution is the VAE decoder, Gamma(a) = p(a|z) (eq. 12). A step draws
  z ~ N(0, I), decodes logits [D, K], draws one hard straight-through Gumbel sample, trains that
  path's weights on the training batch and the decoder on the validation batch; the sampled
  architecture's validation accuracy is observed, and every `refit_every` steps the VAE is refit
  (ELBO, `TNASSampler.step`) on the best architectures observed. See docs/gradient.md.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tnas.checks import checked, validate
from tnas.errors import TnasError
from tnas.sampler.softmax import ArchParameters, gumbel_softmax_st
from tnas.sampler.tnas import TNASSampler
from tnas.sampler.vae import TransformerVAE
from tnas.strategy.oneshot import relative_score
from tnas.strategy.parallel import Parallel, backward_pieces, piece_loss, present_grads, weights_backward

Batch = tuple[Tensor, Tensor]  # (x float [B, C, H, W], y long [B])
_Z_MODES = ("sample", "zero")
_METRICS = ("accuracy", "loss")


class ArchNaNError(TnasError):
    """The architecture parameters became NaN/inf; the run stops and keeps its last good checkpoint."""


@dataclass(frozen=True)
class TNASGConfig:
    """Settings of the TNAS-G step (the sampler's own TNASConfig governs the refit)."""

    decoder_lr: float = checked(3e-4, gt=0, le=10)  # Adam on the decoder, as DARTS/GDAS use for alpha
    decoder_weight_decay: float = checked(1e-3, ge=0, le=1)  # as DARTS/GDAS on alpha
    refit_every: int = checked(100, ge=0, le=10**9)  # steps between ELBO refits on the top-K observed (0 = never)
    z: str = checked("sample", choices=_Z_MODES)  # 'sample': fresh z ~ N(0, I) per step; 'zero': always z = 0
    same_arch: bool = True  # the decoder step scores the architecture the weight step trained
    metric: str = checked("accuracy", choices=_METRICS)  # what `observe` gets: valid batch accuracy (%) or -loss
    baseline_decay: float = checked(0.98, ge=0, lt=1)  # EMA baseline of observed scores (as in one-shot training)

    def validate(self) -> None:
        """Raise TnasError naming the first bad field (see `tnas.checks`)."""
        validate(self, "gradient.tnas_g.")


# ---- shared pieces -----------------------------------------------------------------------
@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """No weight gradients inside: an architecture step then skips the convs' weight backward."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _weight_step(supernet: nn.Module, w_opt: torch.optim.Optimizer, forward: Callable[[Tensor], Tensor],
                 batch: Batch, grad_clip: float, par: Parallel) -> tuple[float, float]:
    """One supernet weight update on the global `batch` (this rank's pieces, gradients summed over
    ranks); returns (loss, accuracy %)."""
    w_opt.zero_grad(set_to_none=True)
    out = backward_pieces(forward, batch, par, lambda: present_grads(supernet), "training")
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(supernet.parameters(), grad_clip)
    w_opt.step()
    return out


def _check_finite(params: list[Tensor], what: str) -> None:
    if not all(bool(torch.isfinite(p).all()) for p in params):
        raise ArchNaNError(
            f"The {what} became NaN or infinite. The run stopped; its last good checkpoint is kept. Lower "
            "the architecture learning rate (or tighten grad_clip), then resume or restart."
        )


# ---- DARTS --------------------------------------------------------------------------------
def darts_step(supernet: nn.Module, alpha: ArchParameters, w_opt: torch.optim.Optimizer,
               a_opt: torch.optim.Optimizer, train_batch: Batch, valid_batch: Batch, *, order: int = 1,
               grad_clip: float = 5.0, xi: float | None = None, fd_eps: float = 0.01,
               par: Parallel = Parallel()) -> dict[str, float]:
    """One DARTS step: alpha on `valid_batch`, weights on `train_batch` (mixed-op forward).

    Args:
        alpha: the architecture parameters; a_opt optimises `alpha.parameters()`.
        w_opt: SGD over the supernet weights (its lr, momentum and weight decay define the
            virtual step of the second order).
        order: 1 (DARTS-V1: weight step, then alpha step) or 2 (DARTS-V2: alpha step through one
            unrolled weight step, then the weight step, as in the DARTS code).
        grad_clip: max gradient norm of the weight step (0 = none); DARTS uses 5.
        xi: learning rate of the virtual step (second order); None = w_opt's current lr.
        fd_eps: second order: norm of the weight perturbation of the finite-difference Hessian-vector
            product (DARTS: 0.01); 0 = the exact product by double backpropagation (docs/gradient.md).
        par: this process's pieces of the global batches and the sum over processes.
    Returns:
        'loss', 'acc' (training batch, %), 'valid_loss', 'valid_acc' (validation batch, %).
    """
    if fd_eps < 0:
        raise TnasError(f"DARTS fd_eps = {fd_eps}; expected >= 0 (0 = exact Hessian-vector product, DARTS uses 0.01).")
    if order not in (1, 2):
        raise TnasError(f"DARTS order must be 1 (first order, DARTS-V1) or 2 (second order, DARTS-V2), got {order}.")
    _check_finite(alpha.parameters(), "architecture parameters alpha")
    supernet.train()
    out: dict[str, float] = {}
    if order == 2:
        out.update(_darts_alpha_step_2nd(supernet, alpha, w_opt, a_opt, train_batch, valid_batch,
                                         w_opt.param_groups[0]["lr"] if xi is None else xi, fd_eps, par))
    w = alpha.weights(mode="darts").detach()
    out["loss"], out["acc"] = _weight_step(supernet, w_opt, lambda x: supernet(x, w), train_batch, grad_clip, par)
    if order == 1:
        a_opt.zero_grad(set_to_none=True)
        with _frozen(supernet):
            out["valid_loss"], out["valid_acc"] = weights_backward(alpha.weights(mode="darts"), supernet,
                                                                   valid_batch, par)
        a_opt.step()
    _check_finite(alpha.parameters(), "architecture parameters alpha")
    return out


def _virtual_step(params: list[Tensor], grads: list[Tensor | None], w_opt: torch.optim.Optimizer,
                  xi: float) -> None:
    """w <- w - xi * (momentum * buffer + grad + weight_decay * w), in place (DARTS's unrolled model)."""
    group = w_opt.param_groups[0]
    wd, mom = group.get("weight_decay", 0.0), group.get("momentum", 0.0)
    with torch.no_grad():
        for p, g in zip(params, grads):
            d = wd * p if g is None else g + wd * p
            buf = w_opt.state.get(p, {}).get("momentum_buffer")
            if buf is not None and mom:
                d = d + mom * buf
            p.sub_(xi * d)


def _take_grads(params: list[Tensor]) -> list[Tensor | None]:
    """The parameters' `.grad` (None where unused), which are cleared."""
    grads = [p.grad for p in params]
    for p in params:
        p.grad = None
    return grads


def _darts_alpha_step_2nd(supernet: nn.Module, alpha: ArchParameters, w_opt: torch.optim.Optimizer,
                          a_opt: torch.optim.Optimizer, train: Batch, valid: Batch, xi: float,
                          fd_eps: float = 0.01, par: Parallel = Parallel()) -> dict[str, float]:
    """alpha step with grad = dL_val(w', a)/da - xi * H v, w' = w - xi * dL_tr(w, a)/dw (one virtual
    SGD step), v = dL_val(w', a)/dw', H v = d/da <dL_tr(w, a)/dw, v> (DARTS eq. 7-8; `_mixed_hvp`).
    Every gradient is over the global batch (summed over pieces and ranks, `par`). The weights and
    BN buffers are restored afterwards: only alpha changes."""
    params = [p for p in supernet.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    saved_buffers = [b.detach().clone() for b in supernet.buffers()]
    a = alpha.alpha
    _take_grads(params)
    w_fixed = alpha.weights().detach()
    backward_pieces(lambda x: supernet(x, w_fixed), train, par, lambda: present_grads(params), "training")
    _virtual_step(params, _take_grads(params), w_opt, xi)
    a.grad = None
    valid_loss, valid_acc = weights_backward(alpha.weights(), supernet, valid, par,
                                             also=lambda: present_grads(params))
    g_alpha = torch.zeros_like(a) if a.grad is None else a.grad
    g_w = [torch.zeros_like(p) if g is None else g for p, g in zip(params, _take_grads(params))]
    hvp = _mixed_hvp(supernet, alpha, params, saved, g_w, train, fd_eps, par)  # d/da <dL_tr(w, a)/dw, g_w>
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
        for b, s in zip(supernet.buffers(), saved_buffers):
            b.copy_(s)
    a_opt.zero_grad(set_to_none=True)
    a.grad = g_alpha - xi * hvp
    a_opt.step()
    return {"valid_loss": valid_loss, "valid_acc": valid_acc}


def _alpha_grad(supernet: nn.Module, alpha: ArchParameters, batch: Batch, par: Parallel) -> Tensor:
    """dL(w, a)/da float [D, K] over the global batch at the current weights (no weight gradients)."""
    a = alpha.alpha
    a.grad = None
    with _frozen(supernet):
        weights_backward(alpha.weights(), supernet, batch, par, "training")
    g = torch.zeros_like(a) if a.grad is None else a.grad
    a.grad = None
    return g


def _mixed_hvp(supernet: nn.Module, alpha: ArchParameters, params: list[Tensor], w: list[Tensor],
               v: list[Tensor], train: Batch, fd_eps: float, par: Parallel) -> Tensor:
    """d/da <dL_tr(w, a)/dw, v>, float [D, K]: central differences of dL_tr/da at w +- r v with
    r = fd_eps / ||v|| (DARTS), or exactly by double backpropagation when fd_eps == 0.
    Leaves `params` at some point near w (the caller restores them)."""
    if fd_eps == 0:
        with torch.no_grad():
            for p, s in zip(params, w):
                p.copy_(s)
        wa = alpha.weights()
        leaf, acc = wa.detach().requires_grad_(True), torch.zeros_like(wa)
        for x, y in par.pieces(train):  # per piece: d/dw_a <dL_piece/dw, v>, summed
            g = torch.autograd.grad(piece_loss(supernet(x, leaf), y, train[1].numel(), par), params,
                                    create_graph=True, allow_unused=True)
            dot = sum((gi * vi).sum() for gi, vi in zip(g, v) if gi is not None)
            acc += torch.autograd.grad(dot, leaf)[0]
        par.sum([acc])
        return torch.autograd.grad(wa, alpha.alpha, acc)[0]
    r = fd_eps / torch.sqrt(sum((vi * vi).sum() for vi in v)).clamp_min(1e-12)
    sides = []
    for sign in (1.0, -1.0):
        with torch.no_grad():
            for p, s, vi in zip(params, w, v):
                p.copy_(s + sign * r * vi)
        sides.append(_alpha_grad(supernet, alpha, train, par))
    return (sides[0] - sides[1]) / (2 * r)


# ---- GDAS ---------------------------------------------------------------------------------
def gdas_step(supernet: nn.Module, alpha: ArchParameters, w_opt: torch.optim.Optimizer,
              a_opt: torch.optim.Optimizer, train_batch: Batch, valid_batch: Batch, *,
              generator: torch.Generator, tau: float, grad_clip: float = 5.0,
              par: Parallel = Parallel()) -> dict[str, float]:
    """One GDAS step: weights on a sampled path (train batch), then alpha on another (valid batch).

    Args:
        generator: CPU generator for the two Gumbel draws (the same on every rank).
        tau: Gumbel-softmax temperature (`tau_schedule`: 10 -> 0.1 over the run).
        par: this process's pieces of the global batches and the sum over processes.
    Returns:
        'loss', 'acc', 'valid_loss', 'valid_acc' (%, batch statistics), 'tau'.
    """
    _check_finite(alpha.parameters(), "architecture parameters alpha")
    supernet.train()
    w = alpha.weights(generator, "gdas", tau).detach()
    loss, acc = _weight_step(supernet, w_opt, lambda x: supernet.forward_hard(x, w), train_batch, grad_clip, par)
    a_opt.zero_grad(set_to_none=True)
    with _frozen(supernet):
        vloss, vacc = weights_backward(alpha.weights(generator, "gdas", tau), supernet.forward_hard, valid_batch, par)
    a_opt.step()
    _check_finite(alpha.parameters(), "architecture parameters alpha")
    return {"loss": loss, "acc": acc, "valid_loss": vloss, "valid_acc": vacc, "tau": tau}


# ---- TNAS-G -------------------------------------------------------------------------------
def decoder_parameters(vae: TransformerVAE) -> list[nn.Parameter]:
    """The parameters of p(a|z): everything the decoder path `vae.decode` uses (not the encoder)."""
    mods = (vae.from_z, vae.decoder, vae.dec_norm)
    return [vae.dec_pos, vae.head_w, vae.head_b, *(p for m in mods for p in m.parameters())]


def decoder_optimizer(sampler: TNASSampler, cfg: TNASGConfig) -> torch.optim.Optimizer:
    """Adam over the decoder parameters, separate from the sampler's ELBO optimizer."""
    return torch.optim.Adam(decoder_parameters(sampler.vae), lr=cfg.decoder_lr, betas=(0.5, 0.999),
                            weight_decay=cfg.decoder_weight_decay)


def decoder_logits(vae: TransformerVAE, generator: torch.Generator, z_mode: str = "sample") -> Tensor:
    """Logits float [D, K] of p(a|z) for one z (drawn on the CPU from `generator`, or 0); differentiable."""
    z = torch.randn(1, vae.latent_dim, generator=generator) if z_mode == "sample" else torch.zeros(1, vae.latent_dim)
    return vae.decode(z.to(vae.head_w.device))[0]


@torch.no_grad()
def decoder_marginals(vae: TransformerVAE, n: int, generator: torch.Generator) -> Tensor:
    """Monte-Carlo marginal p(a_d = k) = E_z p(a_d = k | z) over n draws z ~ N(0, I): float [D, K]."""
    return vae.marginals(n, generator)


def tnas_g_step(supernet: nn.Module, sampler: TNASSampler, w_opt: torch.optim.Optimizer,
                d_opt: torch.optim.Optimizer, train_batch: Batch, valid_batch: Batch, *, generator: torch.Generator,
                tau: float, step: int, cfg: TNASGConfig, baseline: dict[str, float] | None = None,
                grad_clip: float = 5.0, par: Parallel = Parallel(),
                score_fn: Callable[[Tensor], float] | None = None) -> dict[str, Any]:
    """One TNAS-G step (see the module docstring and docs/gradient.md).

    Args:
        sampler: its VAE decoder is the distribution; it observes the sampled architectures and
            is refit (ELBO on its top-K) when (step + 1) % cfg.refit_every == 0.
        d_opt: `decoder_optimizer(sampler, cfg)`.
        generator: CPU generator for z and the Gumbel noise.
        tau: Gumbel-softmax temperature (`tau_schedule`).
        step: index of this step in the run (0-based), for the refit schedule.
        baseline: EMA state (updated in place, checkpoint it); observed scores are relative to it.
        par: this process's pieces of the global batches and the sum over processes; the observed
            score is the global batch's, so every rank's sampler sees the same feedback.
        score_fn: scores the path for `observe` instead of cfg.metric on the valid batch (arch long
            [D] -> float; sampler.feedback_score = angle, a zero-cost proxy, ...).
    Returns:
        'loss', 'acc', 'valid_loss', 'valid_acc', 'score' (observed, raw), 'tau', 'arch' (long [D],
        the path scored on the valid batch), 'refit' (the sampler's step() metrics, or None).
    """
    vae = sampler.vae
    params = [p for g in d_opt.param_groups for p in g["params"]]
    _check_finite(params, "VAE decoder parameters")
    vae.eval()  # the decoder is used as a distribution (dropout, if any, off)
    supernet.train()
    w_soft = gumbel_softmax_st(decoder_logits(vae, generator, cfg.z), tau, generator)
    w = w_soft.detach()
    loss, acc = _weight_step(supernet, w_opt, lambda x: supernet.forward_hard(x, w), train_batch, grad_clip, par)
    if not cfg.same_arch:
        w_soft = gumbel_softmax_st(decoder_logits(vae, generator, cfg.z), tau, generator)
    d_opt.zero_grad(set_to_none=True)
    with _frozen(supernet):
        vloss, vacc = weights_backward(w_soft, supernet.forward_hard, valid_batch, par)
    d_opt.step()
    _check_finite(params, "VAE decoder parameters")
    arch = w_soft.detach().argmax(-1).cpu()
    score = float(score_fn(arch)) if score_fn is not None else (vacc if cfg.metric == "accuracy" else -vloss)
    sampler.observe(arch[None], torch.tensor([relative_score(score, baseline, cfg.baseline_decay)]))
    refit = None
    if cfg.refit_every and (step + 1) % cfg.refit_every == 0:
        refit = sampler.step()
        _check_finite(params, "VAE decoder parameters (after the ELBO refit)")
    return {"loss": loss, "acc": acc, "valid_loss": vloss, "valid_acc": vacc, "score": score,
            "tau": tau, "arch": arch, "refit": refit}


# ---- deriving the final cell ------------------------------------------------------------
@torch.no_grad()
def derive_mode(vae: TransformerVAE) -> Tensor:
    """argmax_a p(a | z = 0): the decoder's most likely cell at the prior's mode, long [D]."""
    return vae.modes(torch.zeros(1, vae.latent_dim))[0]


@torch.no_grad()
def derive_best_of(vae: TransformerVAE, evaluator: Callable[[Tensor], Tensor], n: int,
                   generator: torch.Generator) -> tuple[Tensor, float, Tensor, Tensor]:
    """The best by `evaluator` of the per-z modes argmax_a p(a|z) for z = 0 and n draws z ~ N(0, I).

    Args:
        evaluator: long [N, D] -> scores float [N], higher is better (e.g. `SupernetEvaluator`).
        n: number of latent draws (the distinct candidates are usually fewer).
    Returns:
        (best arch long [D], its score, distinct candidates long [M, D], their scores float [M]).
    """
    if n < 0:
        raise TnasError(f"derive_best_of needs n >= 0 latent draws, got {n}.")
    cands = torch.unique(vae.prior_modes(n, generator), dim=0)
    scores = evaluator(cands).to(torch.float64).reshape(-1)
    best = int(torch.argmax(scores))
    if math.isnan(float(scores[best])):
        raise TnasError("derive_best_of: the evaluator returned NaN scores; cannot pick a best architecture.")
    return cands[best], float(scores[best]), cands, scores
