"""The run's scores (`search.score`, `sampler.feedback_score`) built from its parts.

`score_inputs` gathers what `tnas.evaluate.score` may draw on: the supernet and its initial
weights, the search stage's BN-calibration and validation batches, zero-cost batches of real
training images (stream 'zero-cost-data') and the family's stand-alone network builder at the
`zero_cost` size. Shared by the one-shot job, the gradient job and the zero-cost job.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from tnas.evaluate.score import Scorer, ScoreInputs, parse_score
from tnas.seeds import stream
from tnas.space import SearchSpace
from tnas.supernet.registry import final_size, get_family


def zero_cost_batches(cfg: Any, train: Any) -> list[tuple[Tensor, Tensor]]:
    """`zero_cost.batches` unaugmented training batches of `zero_cost.batch_size` images (fixed per seed)."""
    z = cfg.zero_cost
    g = stream(cfg.seed, "zero-cost-data")
    return [train.random_batch(z.batch_size, g, augment=False) for _ in range(z.batches)]


def network_builder(cfg: Any, space: SearchSpace, train: Any, device: torch.device) -> tuple[Any, str]:
    """(arch -> stand-alone network at initialisation on `device`, or None; why it is None)."""
    family = get_family(space.name)
    if family.network is None:
        return None, f"the family of space '{space.name}' registers no network builder"
    size = final_size(space, train.num_classes, int(train.shape[0]), C=cfg.zero_cost.C, N=cfg.zero_cost.N,
                      image_size=int(train.shape[-1]))

    def build(arch: Tensor) -> nn.Module:
        return family.network(space, arch.cpu(), size, {}).to(device)

    return build, ""


def score_inputs(cfg: Any, space: SearchSpace, train: Any, device: torch.device, *, supernet: nn.Module | None = None,
                 init_params: dict[str, Tensor] | None = None, calib: Sequence[Tensor] = (),
                 valid: Sequence[tuple[Tensor, Tensor]] = (), needs_network: bool = True) -> ScoreInputs:
    """The ScoreInputs of a run (zero-cost batches and the network builder only when asked for)."""
    build, why = network_builder(cfg, space, train, device) if needs_network else (None, "")
    batches = zero_cost_batches(cfg, train) if needs_network else []
    return ScoreInputs(space, supernet=supernet, init_params=init_params, calib=calib, valid=valid, batches=batches,
                       network=build, seed=cfg.seed, reference=cfg.search.rank_reference, why_no_network=why)


def run_scorer(cfg: Any, key: str, space: SearchSpace, train: Any, device: torch.device, **parts: Any) -> Scorer:
    """The Scorer of config key `key` ('search.score' or 'sampler.feedback_score')."""
    text = cfg.search.score if key == "search.score" else cfg.sampler.feedback_score
    spec = parse_score(text, key)
    inputs = score_inputs(cfg, space, train, device, needs_network="network" in spec.needs, **parts)
    return Scorer(spec, inputs, key)  # checks that the inputs support the score, naming `key`


# the strategies whose learned distribution observes sampler.feedback_score
LEARNING = ("tnas-os", "tnas-g")


def feedback_scorer(parts: Any) -> Scorer | None:
    """The Scorer of `sampler.feedback_score` for a learned sampler (tnas-os, tnas-g), or None when
    the loop's own held-out batch metric serves (accuracy / loss, or a sampler that learns nothing)."""
    cfg = parts.cfg
    if cfg.strategy not in LEARNING or cfg.sampler.feedback_score in ("accuracy", "loss"):
        return None
    probe = parts.data.train.random_batch(2, stream(cfg.seed, "angle-probe"), augment=False)[0]
    return run_scorer(cfg, "sampler.feedback_score", parts.supernet.space, parts.data.train, parts.device,
                      supernet=parts.supernet, init_params=parts.init_params, calib=[probe])


def check_run_scores(parts: Any) -> None:
    """Fail before training when a score the run asks for cannot be computed (e.g. angle on a run
    resumed from a checkpoint that holds no initial weights, a zero-cost score without a network)."""
    from tnas.evaluate.score import check_supported

    cfg, space = parts.cfg, parts.supernet.space
    keys = [("search.score", cfg.search.score)]
    if cfg.strategy in LEARNING:
        keys.append(("sampler.feedback_score", cfg.sampler.feedback_score))
    build, why = network_builder(cfg, space, parts.data.train, parts.device)
    inputs = ScoreInputs(space, supernet=parts.supernet, init_params=parts.init_params, network=build,
                         why_no_network=why)
    for key, text in keys:
        check_supported(parse_score(text, key), inputs, key)
