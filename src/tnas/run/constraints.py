"""Hard limits on parameters / FLOPs (the paper's dagger variant) for a one-shot run.

Counted on the space family's standard stand-alone network (`cost_size`); used by supernet
training (rejection sampling), the GA and the pre-flight check, which fails before anything is
trained or written when nothing in the space can meet the limits.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch

from tnas.errors import TnasError
from tnas.sampler.budget import within
from tnas.sampler.rejection import CountedConstraint, rejection_sample
from tnas.supernet.registry import NetSize, arch_cost, final_size, get_family

if TYPE_CHECKING:
    from tnas.run.parts import Parts


def cost_size(parts: Parts) -> NetSize:
    """The network on which parameter / FLOPs limits are counted: the family's standard
    stand-alone network (e.g. NB201 C=16, N=5 at 32x32; DARTS 36 channels, 20 cells) with the
    dataset's classes and channels, unless search.cost_C / cost_N / cost_image_size override it."""
    s, train = parts.cfg.search, parts.data.train
    return final_size(parts.supernet.space, train.num_classes, int(train.shape[0]),
                      C=s.cost_C, N=s.cost_N, image_size=s.cost_image_size)


def constraint(parts: Parts) -> CountedConstraint | None:
    """Hard limits on parameters / FLOPs (the paper's dagger variant), or None. Returns
    ok(archs long [n, D]) -> bool [n], cached per architecture, counting the rejection sampling
    done against it (`CountedConstraint.take`)."""
    s = parts.cfg.search
    if s.max_params_M is None and s.max_flops_M is None:
        return None
    space, size = parts.supernet.space, cost_size(parts)
    cache: dict[int, bool] = {}

    def ok(archs: torch.Tensor) -> torch.Tensor:
        out = []
        for a in archs.reshape(-1, space.num_decisions):
            k = space.key(a)
            if k not in cache:
                params, flops = arch_cost(space, a, size)
                cache[k] = within((params / 1e6, flops / 1e6), s.max_params_M, s.max_flops_M)
            out.append(cache[k])
        return torch.tensor(out, dtype=torch.bool)

    return CountedConstraint(ok)


def rejection_summary(history: list[dict[str, Any]], search: dict[str, Any]) -> dict[str, Any] | None:
    """result.json's 'rejection': the rejection sampling under the hard limits during supernet
    training (summed over the epochs' `rejection_*` records) and in the GA (`search`), each with
    drawn / passed / accepted / seconds, accept_rate and ms_per_accepted; None without limits."""
    rows = [h for h in history if "rejection_drawn" in h]
    if not rows and not search:
        return None
    keys = ("drawn", "passed", "accepted", "seconds")
    train = {k: sum(h[f"rejection_{k}"] for h in rows) for k in keys}
    out = {}
    for name, c in (("train", train), ("search", search)):
        if c:
            out[name] = {**{k: c[k] for k in keys},
                         "accept_rate": c["passed"] / c["drawn"] if c["drawn"] else float("nan"),
                         "ms_per_accepted": 1e3 * c["seconds"] / c["accepted"] if c["accepted"] else float("nan")}
    return out


def check_constraint(parts: Parts) -> None:
    """Fail early (before anything is trained or written) when no architecture can meet the
    hard limits: choice 0 everywhere (the cheapest in the built-in spaces: 'none' / the 3x3
    block), the cheapest choice per decision by cost, and 256 uniform draws (the one rejection
    sampler, `tnas.sampler.rejection`) are tried."""
    ok = constraint(parts)
    if ok is None:
        return
    space = parts.supernet.space
    fixed = torch.cat([torch.zeros(1, space.num_decisions, dtype=torch.long), _cheapest(parts)])

    def uniform(k: int) -> torch.Tensor:
        return space.sample_uniform(k, torch.Generator().manual_seed(0))

    if bool(ok(fixed).any()) or len(rejection_sample(uniform, 1, batch=256, constraint=ok, max_draws=256).archs):
        return
    cands = torch.cat([fixed, uniform(256)])
    s, size = parts.cfg.search, cost_size(parts)
    params, flops = (min(v) for v in zip(*(arch_cost(space, a, size) for a in cands)))
    raise TnasError(
        f"No architecture meets the constraints search.max_params_M={s.max_params_M}, "
        f"search.max_flops_M={s.max_flops_M} (counted on the {space.name} network with C={size.C}, N={size.N} "
        f"at {size.image_size}x{size.image_size}): the cheapest tried has {params / 1e6:.4g}M parameters and "
        f"{flops / 1e6:.4g}M FLOPs. Raise the limits, drop them (=null), or count on another size "
        "(search.cost_C / cost_N / cost_image_size)."
    )


def found_cost(parts: Parts, arch: torch.Tensor) -> dict[str, Any] | None:
    """Parameters and FLOPs (millions) of `arch`'s stand-alone network at `cost_size`, or None
    when the space's family has no cost counter."""
    space = parts.supernet.space
    if get_family(space.name).cost is None:
        return None
    size = cost_size(parts)
    params, flops = arch_cost(space, arch, size)
    return {"params_M": params / 1e6, "flops_M": flops / 1e6, "network": dataclasses.asdict(size)}


def _cheapest(parts: Parts) -> torch.Tensor:
    """long [1, D]: per decision the choice that adds the fewest FLOPs (then params) to choice 0
    elsewhere; a greedy guess at the space's cheapest architecture."""
    space, size = parts.supernet.space, cost_size(parts)
    base = torch.zeros(space.num_decisions, dtype=torch.long)
    best = base.clone()
    for d, k in enumerate(space.num_choices):
        costs = []
        for c in range(k):
            a = base.clone()
            a[d] = c
            p, f = arch_cost(space, a, size)
            costs.append((f, p))
        best[d] = min(range(k), key=costs.__getitem__)
    return best[None]
