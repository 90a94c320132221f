"""Sampler roles (issue 23): what each role trains on, the VAE's rejection and importance weights."""
from __future__ import annotations

import pytest
import torch

import tnas
from tnas.errors import TnasError
from tnas.run.config import resolve_config
from tnas.sampler import TNASConfig, TNASSampler, UniformSampler
from tnas.sampler.roles import ROLES, training_draw
from tnas.sampler.tnas import REJECT_MAX

SPACE = tnas.get_space("nb201")


def _trained(eps: float) -> TNASSampler:
    s = TNASSampler(SPACE, TNASConfig(eps0=eps, eps_inc=0.0, eps_max=1.0, min_observations=5, skip_seen=False), seed=0)
    a = SPACE.sample_uniform(300, torch.Generator().manual_seed(1))
    s.observe(a, -(a[:, 0] + a[:, 1]).double())  # the best paths have op 0 on the first two edges
    for _ in range(4):
        s.step()
    return s


def test_steer_draws_exactly_what_the_sampler_samples() -> None:
    s = _trained(0.5)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(20):
        d = training_draw("steer", s, g1)
        archs, learned = s.sample(1, generator=g2, return_sources=True)
        assert torch.equal(d.archs, archs) and bool(d.learned[0]) == bool(learned[0]) and float(d.weight[0]) == 1.0


def test_seed_trains_uniformly_and_proposes_from_the_vae() -> None:
    s = _trained(0.9)
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    for _ in range(10):
        d = training_draw("seed", s, g1)
        assert torch.equal(d.archs, SPACE.sample_uniform(1, g2)) and not bool(d.learned[0])
    assert s.propose(5, torch.Generator().manual_seed(0)).shape == (5, SPACE.num_decisions)
    assert UniformSampler(SPACE).propose(5, torch.Generator()) is None  # the GA draws its own


@pytest.mark.parametrize("eps", [0.3, 0.95])
def test_reject_refuses_about_eps_of_uniform_draws(eps: float) -> None:
    s = _trained(eps)
    share = float(s.rejects(SPACE.sample_uniform(4000, torch.Generator().manual_seed(5))).double().mean())
    assert abs(share - min(eps, REJECT_MAX)) < 0.05
    g = torch.Generator().manual_seed(6)
    drawn = torch.cat([training_draw("reject", s, g).archs for _ in range(50)])
    assert not bool(s.rejects(drawn).any())  # training never sees a rejected path
    fresh = TNASSampler(SPACE, TNASConfig(eps0=0.5), seed=0)
    assert not bool(fresh.rejects(SPACE.sample_uniform(100, g)).any())  # untrained: nothing rejected


def test_steer_unbiased_weights_are_uniform_over_gamma() -> None:
    s = _trained(0.6)
    gamma = s.probability(SPACE.from_keys(torch.arange(SPACE.size)))
    assert float(gamma.sum()) == pytest.approx(1.0, abs=1e-6)  # Gamma is a distribution over the space
    g = torch.Generator().manual_seed(7)
    for _ in range(10):
        d = training_draw("steer-unbiased", s, g)
        assert float(d.weight[0]) == pytest.approx(1.0 / SPACE.size / float(s.probability(d.archs)[0]))
        assert 0 < float(d.weight[0]) <= 1 / (1 - 0.6) + 1e-9
    assert torch.allclose(UniformSampler(SPACE).probability(d.archs), torch.tensor([1.0 / SPACE.size],
                                                                                   dtype=torch.float64))


@pytest.mark.parametrize("sets, needle", [
    ({"sampler.role": "bogus"}, "Unknown sampler.role 'bogus'"),
    ({"strategy": "gdas", "sampler.role": "reject"}, "gradient strategy"),
    ({"strategy": "spos", "sampler.role": "seed"}, "strategy=spos"),
    ({"sampler.name": "uniform", "sampler.role": "reject"}, "learns nothing"),
    ({"sampler.role": "seed", "sampler.eps_inc": "0.1"}, "eps is ignored"),
    ({"sampler.name": "bogus"}, "Unknown sampler 'bogus'"),
])
def test_bad_role_settings(sets: dict, needle: str) -> None:
    with pytest.raises(TnasError, match=needle):
        resolve_config(None, sets)


def test_every_role_is_accepted_for_tnas_os() -> None:
    for role in ROLES:
        assert resolve_config(None, {"sampler.role": role}).sampler.role == role
