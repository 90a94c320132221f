"""`TNASConfig.supernet_training(epochs=N)` warns when the loop it is given would barely leave
uniform sampling (issue 25, item 5), and its numbers hold for a real sampler."""
from __future__ import annotations

import warnings

import pytest
import torch

import tnas
from tnas.sampler import TNASConfig, TNASSampler


def test_a_short_loop_is_warned_with_the_eps_inc_that_fits() -> None:
    with pytest.warns(UserWarning, match=r"eps is at most 0\.10 after 10 step\(\) calls.*eps_inc=0\.05"):
        TNASConfig.supernet_training(epochs=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        assert TNASConfig.supernet_training() == TNASConfig.supernet_training(epochs=250)
        fitted = TNASConfig.supernet_training(epochs=10, eps_inc=0.05)
    assert fitted.eps_inc == 0.05 and fitted.top_k == 100


def test_the_warned_bound_holds_for_a_real_sampler() -> None:
    space = tnas.get_space("nb201")
    with pytest.warns(UserWarning):
        cfg = TNASConfig.supernet_training(epochs=6, min_observations=8, train_steps=2)
    sampler, g = TNASSampler(space, cfg, seed=0), torch.Generator().manual_seed(0)
    for _ in range(6):
        archs = sampler.sample(16, generator=g)
        sampler.observe(archs, torch.rand(16, generator=g))
        sampler.step()
    assert sampler.trained and 0 < sampler.sampling_eps <= 0.06 + 1e-9  # what the warning said: at most 0.06
