"""Property tests: every sampler survives long random sequences of sample / observe / step /
state_dict on random small spaces (issue 14: the sampler as a library, in any state)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tnas.errors import TnasError
from tnas.sampler import TNASConfig, TNASSampler, UniformSampler
from tnas.sampler.vae import VAEConfig
from tnas.space import Decision, SearchSpace

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
