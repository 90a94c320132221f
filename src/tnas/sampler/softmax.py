"""Independent categorical architecture parameters: DARTS (softmax(alpha)) and GDAS (Gumbel).

`ArchParameters` holds alpha float [D, K] (one logit per decision and choice). DARTS mixes every
op with weights softmax(alpha); GDAS draws one op per decision with a hard Gumbel-softmax whose
straight-through estimator lets the loss of that single path reach alpha (Dong & Yang, CVPR 2019).
`gumbel_softmax_st` and `categorical_entropy` are shared with TNAS-G (`tnas.strategy.gradient`),
whose logits come from the VAE decoder instead of a free parameter.

Shapes: D = space.num_decisions, K = space.max_choices; choices that do not exist at a decision
(spaces with unequal K_d) get logit -inf, so they have probability 0 and are never drawn.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from tnas.errors import TnasError, unknown
from tnas.sampler.base import check_state
from tnas.space.base import SearchSpace

_VERSION = 1
MODES = ("darts", "gdas")


def gumbel_softmax_st(logits: Tensor, tau: float, generator: torch.Generator) -> Tensor:
    """Hard Gumbel-softmax sample with straight-through gradients.

    The forward value is one-hot (argmax of logits + Gumbel noise); the backward pass uses the
    gradient of softmax((logits + g) / tau), as in GDAS: hard - soft.detach() + soft.

    Args:
        logits: float [D, K] (-inf where a choice does not exist).
        tau: temperature > 0; small tau makes the soft relaxation (and its gradient) sharper.
        generator: CPU generator for the Gumbel noise (drawn on the CPU, then moved, so a seed
            gives the same draws on any device).
    Returns:
        float [D, K]: exactly one entry per row has value 1 (up to rounding), the rest 0; it
        carries gradients to `logits`.
    """
    if not tau > 0:
        raise TnasError(f"Gumbel-softmax temperature must be > 0, got tau={tau}.")
    u = torch.rand(logits.shape, generator=generator).clamp_(1e-10, 1.0 - 1e-7).to(logits.device)
    gumbel = -torch.log(-torch.log(u))
    soft = torch.softmax((logits + gumbel) / tau, dim=-1)
    index = soft.detach().argmax(-1, keepdim=True)
    hard = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    return hard - soft.detach() + soft


def categorical_entropy(probs: Tensor) -> Tensor:
    """Entropy in nats of each row of probs float [..., K] -> float [...] (0 * log 0 = 0)."""
    logp = torch.log(probs.clamp_min(1e-30))
    return -(probs * logp).sum(-1)


def tau_schedule(step: int, total_steps: int, tau_max: float = 10.0, tau_min: float = 0.1) -> float:
    """GDAS temperature: linear from tau_max at step 0 to tau_min at step total_steps - 1.

    GDAS (Dong & Yang 2019, sec. 4) anneals tau linearly from 10 to 0.1 over the search epochs;
    we interpolate per step so short CPU runs anneal smoothly. Steps past the end stay at tau_min.
    """
    if total_steps < 1 or step < 0:
        raise TnasError(f"tau_schedule needs total_steps >= 1 and step >= 0, got step={step}, total_steps={total_steps}.")
    if not 0 < tau_min <= tau_max:
        raise TnasError(f"tau_schedule needs 0 < tau_min <= tau_max, got tau_min={tau_min}, tau_max={tau_max}.")
    if total_steps == 1:
        return float(tau_min)
    left = 1.0 - min(step, total_steps - 1) / (total_steps - 1)  # 1 at the start, 0 at the end
    return float(tau_min + (tau_max - tau_min) * left)


class ArchParameters:
    """alpha float [D, K] as one `nn.Parameter`, with the DARTS and GDAS op weights derived from it.

    Args:
        space: the search space (D decisions, K_d choices each).
        init_std: alpha starts as init_std * N(0, 1) (DARTS and GDAS use 1e-3: near-uniform).
        generator: CPU generator for the initial values (same seed -> same alpha).
        device: where alpha lives.
    """

    def __init__(self, space: SearchSpace, init_std: float = 1e-3, generator: torch.Generator | None = None,
                 device: str | torch.device = "cpu") -> None:
        if init_std < 0:
            raise TnasError(f"ArchParameters init_std = {init_std}; expected a standard deviation >= 0.")
        self.space = space
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        shape = (space.num_decisions, space.max_choices)
        init = init_std * torch.randn(shape, generator=gen)
        self.alpha = nn.Parameter(init.to(device))
        self.mask = space.choice_mask().to(self.alpha.device)  # bool [D, K]

    def parameters(self) -> list[nn.Parameter]:
        """[alpha], for an optimizer (DARTS: Adam(lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3))."""
        return [self.alpha]

    @property
    def device(self) -> torch.device:
        return self.alpha.device

    def logits(self) -> Tensor:
        """alpha with -inf where a choice does not exist: float [D, K], differentiable."""
        return self.alpha.masked_fill(~self.mask, float("-inf"))

    def weights(self, generator: torch.Generator | None = None, mode: str = "darts", tau: float = 1.0) -> Tensor:
        """Op weights float [D, K] for `NB201Supernet.forward` (they carry gradients to alpha).

        Args:
            generator: required for 'gdas' (Gumbel noise); unused by 'darts'.
            mode: 'darts' -> softmax(alpha) (rows sum to 1, every op mixed); 'gdas' -> a hard
                one-hot Gumbel-softmax sample with straight-through gradients at temperature tau.
            tau: GDAS temperature (`tau_schedule`).
        """
        if mode == "darts":
            return torch.softmax(self.logits(), dim=-1)
        if mode == "gdas":
            if generator is None:
                raise TnasError("ArchParameters.weights(mode='gdas') needs a torch.Generator for the Gumbel noise.")
            return gumbel_softmax_st(self.logits(), tau, generator)
        raise unknown("architecture weight mode", mode, MODES)

    @torch.no_grad()
    def probs(self) -> Tensor:
        """softmax(alpha): the probability of each op per decision, float [D, K] (no gradient)."""
        return torch.softmax(self.logits(), dim=-1)

    def entropy(self) -> Tensor:
        """Entropy (nats) of each decision's distribution, float [D]; log K_d when uniform."""
        return categorical_entropy(self.probs())

    # the gradient strategies' distribution protocol (TNASSampler has the same three methods)
    def distribution_parameters(self) -> list[nn.Parameter]:
        """What the architecture optimiser updates: [alpha]."""
        return self.parameters()

    def marginals(self, n: int, generator: torch.Generator) -> Tensor:
        """p(a_d = k), float [D, K] on the CPU: softmax(alpha) exactly (`n` and `generator` unused)."""
        return self.probs().cpu()

    def derive_candidates(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """The final cell's candidates by derivation: {'argmax': long [1, D]} (`n`, `generator` unused)."""
        return {"argmax": self.derive()[None]}

    @torch.no_grad()
    def derive(self) -> Tensor:
        """The final cell: argmax of alpha per decision, long [D] (on the CPU)."""
        self._check_finite()
        return self.logits().argmax(-1).cpu()

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator) -> Tensor:
        """n architectures drawn from softmax(alpha), long [n, D] (e.g. a search-stage population)."""
        if n < 0:
            raise TnasError(f"Cannot sample n={n} architectures; n must be >= 0.")
        self._check_finite()
        if n == 0:  # torch.multinomial refuses zero samples
            return torch.empty(0, self.space.num_decisions, dtype=torch.long)
        probs = self.probs().cpu()
        return torch.multinomial(probs, n, replacement=True, generator=generator).T.contiguous()

    def _check_finite(self) -> None:
        # not in `weights` (the training hot path): a sync per step on a GPU; the gradient steps
        # check alpha after each update instead (tnas.strategy.gradient)
        if not bool(torch.isfinite(self.alpha).all()):
            raise TnasError("The architecture parameters alpha hold NaN or infinite values, so there is no "
                            "distribution to sample or derive from. Load a state saved before the search diverged, "
                            "or lower gradient.arch_lr and search again.")

    # ---- state ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"version": _VERSION, "kind": "softmax", "space": self.space.name,
                "alpha": self.alpha.detach().cpu().clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(state, "softmax", _VERSION, "ArchParameters")
        shape = tuple(self.alpha.shape)
        if state["space"] != self.space.name or tuple(state["alpha"].shape) != shape:
            raise TnasError(
                f"These architecture parameters were saved for space '{state['space']}' with alpha of shape "
                f"{tuple(state['alpha'].shape)}; this object has space '{self.space.name}' and shape {shape}. "
                f"Build ArchParameters with get_space('{state['space']}')."
            )
        if not bool(torch.isfinite(state["alpha"]).all()):
            raise TnasError("This state's alpha holds NaN or infinite values (saved after the search diverged?); "
                            "load a state saved before that.")
        with torch.no_grad():
            self.alpha.copy_(state["alpha"].to(self.alpha.device))


def uniform_entropy(space: SearchSpace) -> Tensor:
    """log K_d per decision, float [D]: the maximum entropy (for normalising plots)."""
    return torch.tensor([math.log(k) for k in space.num_choices])
