"""Property tests: every sampler survives long random sequences of sample / observe / step /
state_dict on random small spaces (issue 14: the sampler as a library, in any state): spaces of one
architecture (every decision with one choice) and exhausted spaces, equal scores, observe before
sample, resume from state_dict mid-run; NaN / inf scores are a clear error. The gradient
distributions (alpha, the TNAS-G decoder) get the same treatment with gradient steps."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnas.errors import TnasError
from tnas.sampler import TNASConfig, TNASSampler, UniformSampler
from tnas.sampler.softmax import ArchParameters, gumbel_softmax_st, uniform_entropy
from tnas.sampler.vae import VAEConfig
from tnas.space import Decision, SearchSpace
from tnas.strategy.gradient import (
    TNASGConfig, decoder_logits, decoder_marginals, decoder_optimizer, decoder_parameters, derive_mode,
)

SMALL_VAE = VAEConfig(d_model=8, nhead=1, dim_feedforward=16, latent_dim=2)


@st.composite
def spaces(draw) -> SearchSpace:
    choices = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    return SearchSpace("prop", tuple(Decision(f"d{i}", tuple(f"c{j}" for j in range(k)))
                                     for i, k in enumerate(choices)))


def _samplers(space: SearchSpace, skip_seen: bool) -> list:
    cfg = TNASConfig(top_k=4, train_steps=2, batch_size=4, min_observations=2, eps0=0.5, eps_inc=0.3,
                     max_retries=2, skip_seen=skip_seen, vae=SMALL_VAE)
    return [UniformSampler(space), TNASSampler(space, cfg, seed=1)]


OPS = st.lists(st.tuples(st.sampled_from(["sample", "observe", "observe_equal", "step", "reload"]),
                         st.integers(0, 12)), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), ops=OPS, skip_seen=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_random_sequences_never_crash_and_stay_valid(space, ops, skip_seen, seed):
    g = torch.Generator().manual_seed(seed)
    for sampler in _samplers(space, skip_seen):
        for op, n in ops:
            if op == "sample":
                out = sampler.sample(n, generator=g)
                assert out.shape == (n, space.num_decisions) and out.dtype == torch.long
                space.validate(out)  # every row a valid architecture, even in an exhausted space
            elif op in ("observe", "observe_equal"):
                archs = space.sample_uniform(n, g)
                scores = torch.full((n,), 0.5) if op == "observe_equal" else torch.rand(n, generator=g)
                sampler.observe(archs, scores)
            elif op == "step":
                stats = sampler.step()
                # NaN marks "not trained yet" (too few observations); nothing else may be non-finite
                assert not any(math.isinf(v) for v in stats.values() if isinstance(v, float))
            else:  # resume mid-run: the reloaded sampler continues exactly
                state = sampler.state_dict()
                fresh = type(sampler)(space) if isinstance(sampler, UniformSampler) else \
                    TNASSampler(space, sampler.config, seed=99)
                fresh.load_state_dict(state)
                a = sampler.sample(3, generator=torch.Generator().manual_seed(n))
                b = fresh.sample(3, generator=torch.Generator().manual_seed(n))
                assert torch.equal(a, b)
                sampler = fresh


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores_are_a_clear_error(bad):
    space = SearchSpace("prop", (Decision("a", ("x", "y")), Decision("b", ("x", "y", "z"))))
    for sampler in _samplers(space, True):
        with pytest.raises(TnasError, match="finite"):
            sampler.observe(torch.zeros(1, 2, dtype=torch.long), torch.tensor([bad]))


# ---- the gradient distributions (DARTS / GDAS alpha, the TNAS-G decoder) ------------------------
# They learn from gradients through a supernet, not from observe(): what they share with the
# protocol is sample / state_dict / load_state_dict, plus derive and the op weights. The sequences
# below drive them with gradient steps on random losses (what a search does to them) in between.
GRAD_OPS = st.lists(st.tuples(st.sampled_from(["sample", "darts_step", "gdas_step", "derive", "reload"]),
                              st.integers(0, 12), st.floats(0.05, 10.0)), min_size=1, max_size=12)


def _check_weights(space: SearchSpace, w: torch.Tensor, hard: bool) -> None:
    mask = space.choice_mask()
    assert w.shape == mask.shape and bool(torch.isfinite(w).all())
    assert bool((w[~mask] == 0).all())  # choices a decision does not have get no weight
    assert torch.allclose(w.sum(-1), torch.ones(space.num_decisions), atol=1e-5)
    if hard:  # one-hot in value
        assert bool(((w == 0) | ((w - 1).abs() < 1e-5)).all())


def _grad_step(params: list[torch.Tensor], opt: torch.optim.Optimizer, w: torch.Tensor, g: torch.Generator) -> None:
    target = torch.randn(w.shape, generator=g)
    opt.zero_grad()
    (w * target).sum().backward()
    opt.step()
    assert all(bool(torch.isfinite(p).all()) for p in params)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), ops=GRAD_OPS, seed=st.integers(0, 2**31 - 1))
def test_arch_parameters_survive_random_gradient_sequences(space, ops, seed):
    g = torch.Generator().manual_seed(seed)
    alpha = ArchParameters(space, init_std=1.0, generator=g)
    opt = torch.optim.Adam(alpha.parameters(), lr=0.5)
    for op, n, tau in ops:
        if op == "sample":
            out = alpha.sample(n, generator=g)
            assert out.shape == (n, space.num_decisions) and out.dtype == torch.long
            space.validate(out)
        elif op in ("darts_step", "gdas_step"):
            w = alpha.weights(g, mode=op[:-5], tau=tau)
            _check_weights(space, w.detach(), hard=op == "gdas_step")
            _grad_step(alpha.parameters(), opt, w, g)
        elif op == "derive":
            space.validate(alpha.derive())
            ent = alpha.entropy()
            assert bool((ent >= -1e-6).all()) and bool((ent <= uniform_entropy(space) + 1e-5).all())
        else:  # resume mid-run: the reloaded parameters continue exactly
            fresh = ArchParameters(space, generator=torch.Generator().manual_seed(n))
            fresh.load_state_dict(alpha.state_dict())
            a = alpha.sample(3, generator=torch.Generator().manual_seed(n))
            assert torch.equal(a, fresh.sample(3, generator=torch.Generator().manual_seed(n)))
            assert torch.equal(alpha.derive(), fresh.derive())


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), ops=GRAD_OPS, seed=st.integers(0, 2**31 - 1))
def test_tnas_g_decoder_survives_random_gradient_sequences(space, ops, seed):
    g = torch.Generator().manual_seed(seed)
    sampler = _samplers(space, skip_seen=False)[1]
    opt = decoder_optimizer(sampler, TNASGConfig())
    for op, n, tau in ops:
        if op == "sample":
            space.validate(sampler.sample(n, generator=g))
        elif op in ("darts_step", "gdas_step"):  # TNAS-G: a straight-through sample of p(a|z)
            w = gumbel_softmax_st(decoder_logits(sampler.vae, g), tau, g)
            _check_weights(space, w.detach(), hard=True)
            _grad_step(decoder_parameters(sampler.vae), opt, w, g)
            sampler.observe(w.detach().argmax(-1)[None], torch.rand(1, generator=g))
        elif op == "derive":
            space.validate(derive_mode(sampler.vae))
            _check_weights(space, decoder_marginals(sampler.vae, 8, g), hard=False)
        else:
            fresh = TNASSampler(space, sampler.config, seed=99)
            fresh.load_state_dict(sampler.state_dict())
            assert torch.equal(derive_mode(sampler.vae), derive_mode(fresh.vae))
            sampler, opt = fresh, decoder_optimizer(fresh, TNASGConfig())


def test_arch_parameters_edge_states_are_clear():
    space = SearchSpace("prop", (Decision("a", ("x",)), Decision("b", ("x", "y", "z"))))
    alpha = ArchParameters(space)
    assert alpha.sample(0, generator=torch.Generator()).shape == (0, 2)
    with pytest.raises(TnasError, match="n=-1"):
        alpha.sample(-1, generator=torch.Generator())
    bad = alpha.state_dict()
    bad["alpha"][1, 0] = float("nan")
    with pytest.raises(TnasError, match="NaN or infinite"):
        alpha.load_state_dict(bad)
    with torch.no_grad():
        alpha.alpha[1, 2] = float("inf")  # diverged in the user's own loop
    for call in (lambda: alpha.sample(2, generator=torch.Generator()), alpha.derive):
        with pytest.raises(TnasError, match="NaN or infinite"):
            call()
