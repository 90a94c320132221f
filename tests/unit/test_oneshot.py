"""One-shot pieces: sampler-driven training step, eps schedule, constraints, held-out scoring."""
from __future__ import annotations

import math

import pytest
import torch

from tnas.errors import TnasError
from tnas.run.config import resolve_config
from tnas.run.constraints import check_constraint, constraint
from tnas.run.search import build
from tnas.sampler.rejection import rejection_sample
from tnas.evaluate import SupernetEvaluator
from tnas.strategy.oneshot import Feedback, epoch_summary, score_batch, train_epoch

TINY = {"supernet.C": "4", "train.batch_size": "32", "sampler.min_observations": "4", "sampler.train_steps": "5",
        "sampler.eps0": "0.0", "sampler.eps_inc": "0.25", "sampler.eps_max": "0.75"}


@pytest.fixture(scope="module")
def parts():
    return build(resolve_config(None, TINY))


def _epoch(parts, steps: int = 6) -> dict[str, float]:
    g = parts.gens
    batches = iter(parts.data.train.batches(32, generator=g["data"], augment=True))
    progress: dict[str, float] = {}
    feedback = Feedback(lambda: parts.data.valid.random_batch(32, g["valid"]), every=1, metric="accuracy")
    train_epoch(parts.supernet, parts.sampler, parts.optimizer, parts.scheduler, batches, g["arch"], progress,
                steps=steps, grad_clip=5.0, feedback=feedback)
    return epoch_summary(progress)


def test_training_observes_and_eps_schedule(parts) -> None:
    eps = []
    for _ in range(5):
        stats = _epoch(parts)
        assert math.isfinite(stats["loss"]) and 0 <= stats["score"] <= 100
        parts.sampler.step()
        eps.append(parts.sampler.sampling_eps)
    # eps rises by eps_inc per step() from eps0, capped at eps_max
    assert eps == pytest.approx([0.25, 0.5, 0.75, 0.75, 0.75])
    assert parts.sampler.num_observed >= 4
    # with eps = 0.75 about three quarters of the steps use VAE samples
    shares = [_epoch(parts, 20)["vae_share"] for _ in range(3)]
    assert 0.5 < sum(shares) / 3 < 0.95


def test_score_and_evaluator_deterministic(parts) -> None:
    space = parts.supernet.space
    x, y = parts.data.valid.random_batch(64, torch.Generator().manual_seed(0))
    arch = space.sample_uniform(1, torch.Generator().manual_seed(1))[0]
    assert 0 <= score_batch(parts.supernet, arch, x, y, "accuracy") <= 100
    assert score_batch(parts.supernet, arch, x, y, "loss") < 0
    calib = [parts.data.train.random_batch(64, torch.Generator().manual_seed(2))[0]]
    ev = SupernetEvaluator(parts.supernet, space, calib, [(x, y)])
    archs = space.sample_uniform(3, torch.Generator().manual_seed(3))
    first = ev(archs)
    ev.memo.clear()
    assert torch.equal(first, ev(archs))


def test_constraints(parts) -> None:
    cfg = resolve_config(None, {**TINY, "search.max_params_M": "0.008", "search.cost_C": "4", "search.cost_N": "1"})
    p = build(cfg)
    ok = constraint(p)
    space = p.supernet.space
    archs = space.sample_uniform(64, torch.Generator().manual_seed(0))
    allowed = ok(archs)
    assert allowed.any() and not allowed.all()  # the limit splits the space
    none = space.encode(["none"] * 6)[None]
    conv = space.encode(["nor_conv_3x3"] * 6)[None]
    assert ok(none).item() and not ok(conv).item()
    check_constraint(p)  # satisfiable: no error
    impossible = build(resolve_config(None, {**TINY, "search.max_flops_M": "0.00001", "search.cost_C": "4", "search.cost_N": "1"}))
    with pytest.raises(TnasError, match="No architecture meets"):
        check_constraint(impossible)


def test_rejection_sampling_is_counted(parts) -> None:
    cfg = resolve_config(None, {**TINY, "search.max_params_M": "0.008", "search.cost_C": "4", "search.cost_N": "1"})
    ok = constraint(build(cfg))
    space = parts.supernet.space
    g = torch.Generator().manual_seed(0)
    got = rejection_sample(lambda k: space.sample_uniform(k, g), 20, batch=8, constraint=ok).archs
    stats = ok.take()
    # the same draws again, checked by hand with the uncounted limit
    g.manual_seed(0)
    draws = torch.cat([space.sample_uniform(8, g) for _ in range(stats["drawn"] // 8)])
    assert stats["drawn"] == len(draws) and stats["passed"] == int(ok.ok(draws).sum()) >= 20
    assert stats["accepted"] == len(got) == 20 and stats["accept_rate"] == stats["passed"] / stats["drawn"]
    assert 0 < stats["accept_rate"] < 1 and stats["ms_per_accepted"] == pytest.approx(1e3 * stats["seconds"] / 20)
    empty = ok.take()  # taking resets the counts
    assert empty["drawn"] == empty["accepted"] == 0 and math.isnan(empty["accept_rate"])
