"""The learned sampler's role in one-shot supernet training (issue 23; docs/sampler.md).

TNAS's eq. 11 lets the VAE steer which paths the supernet trains. The one-shot study found that
this concentrates training on the paths the VAE already likes, and the supernet then overrates
them. So the role is a choice (`sampler.role`):

| role | training paths | the learned sampler |
|---|---|---|
| `steer` | Gamma = (1 - eps) U + eps p(a|z) (eq. 11, the paper) | learns from feedback, seeds the GA |
| `seed` | U (eq. 11 with eps = 0 for training) | learns from feedback, seeds the GA (eq. 10's initial population) |
| `reject` | U restricted to the paths the VAE does not reject; the rejected share of U rises with eps | learns which paths to avoid, seeds the GA |
| `steer-unbiased` | Gamma, each step's loss weighted by U(a) / Gamma(a) | as steer; the supernet's expected loss is uniform training's |

`training_draw` is the one place that turns (role, sampler) into the next training path.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from tnas.sampler.base import Draw
from tnas.sampler.rejection import rejection_sample

ROLES = ("steer", "seed", "reject", "steer-unbiased")
# roles whose training draws use eps (seed trains uniformly: eps only matters to the others)
USES_EPS = ("steer", "reject", "steer-unbiased")
MAX_REJECTIONS = 10_000


def training_draw(role: str, sampler, generator: torch.Generator,
                  constraint: Callable[[Tensor], Tensor] | None = None) -> Draw:
    """One training path [1, D] for `role`, within `constraint` (ok(archs) -> bool [n]) if given.

    steer / steer-unbiased draw from the sampler (rejection-sampled into the constraint); seed and
    reject draw uniformly, reject also refusing the paths `sampler.rejects`. Raises TnasError when
    MAX_REJECTIONS draws in a row are refused (the constraint or the rejection leave nothing)."""
    space = sampler.space
    learned = [torch.zeros(1, dtype=torch.bool)]

    def draw(k: int) -> Tensor:
        if role in ("seed", "reject"):
            return space.sample_uniform(k, generator)
        d = sampler.draw(k, generator)
        learned[0] = d.learned
        return d.archs

    def allowed(archs: Tensor) -> Tensor:  # role reject: within the limits and not rejected by the VAE
        ok = torch.ones(archs.shape[0], dtype=torch.bool) if constraint is None else constraint(archs)
        return ok & ~sampler.rejects(archs)

    # the limits' own constraint object when nothing else refuses draws (it counts the rejection sampling)
    check = allowed if role == "reject" else constraint
    archs = rejection_sample(draw, 1, batch=1, constraint=check, max_idle=MAX_REJECTIONS).archs
    if not archs.shape[0]:
        from tnas.errors import TnasError

        raise TnasError(
            f"{MAX_REJECTIONS} sampled architectures in a row were refused (the hard limits search.max_params_M / "
            f"max_flops_M{' or the rejecting VAE' if role == 'reject' else ''}): almost nothing in the space is "
            "left. Loosen the limits or drop them (=null), or lower sampler.eps_max for sampler.role=reject.")
    weight = torch.ones(1, dtype=torch.float64)
    if role == "steer-unbiased":
        gamma = sampler.probability(archs)
        weight = (1.0 / space.size) / gamma  # U(a) / Gamma(a): importance weight towards uniform training
    return Draw(archs, learned[0][:1] if role in ("steer", "steer-unbiased") else torch.zeros(1, dtype=torch.bool),
                weight)
