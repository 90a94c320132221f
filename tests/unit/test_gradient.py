"""Gradient-based search pieces: mixed/hard forwards, alpha, Gumbel, tau schedule, DARTS/GDAS/TNAS-G steps."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tnas.data import load_dataset
from tnas.errors import TnasError
from tnas.sampler.softmax import (
    ArchParameters, categorical_entropy, gumbel_softmax_st, tau_schedule, uniform_entropy,
)
from tnas.sampler.tnas import TNASConfig, TNASSampler
from tnas.space import get_space
from tnas.evaluate import SupernetEvaluator
from tnas.strategy.gradient import (
    TNASGConfig, _darts_alpha_step_2nd, darts_step, decoder_marginals, decoder_optimizer, decoder_parameters, derive_best_of,
    derive_mode, gdas_step, tnas_g_step,
)
from tnas.supernet import NB201Supernet
from tnas.supernet.hard import forward_hard

SPACE = get_space("nb201")
# Node 1 <- none, so the edges reading node 1 carry dead signal; node 2 only feeds a 'none' edge.
DEAD = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits")


def _net(seed: int = 0) -> NB201Supernet:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return NB201Supernet(SPACE, C=4, N=1, num_classes=10, in_channels=1)


def _opts(net: NB201Supernet, params: list[torch.Tensor]) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    w_opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(params, lr=3e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    return w_opt, a_opt


def _archs() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    return [SPACE.from_genotype(DEAD), *SPACE.sample_uniform(8, g)]


# ---- forwards ------------------------------------------------------------------------------
def test_mixed_and_hard_forward_equal_single_path_for_one_hot_weights(data) -> None:
    net = _net().train()  # train-mode BN: dead-signal convs output exactly 0 in every forward
    x, _ = data.train.random_batch(16, torch.Generator().manual_seed(0))
    for arch in _archs():
        one_hot = F.one_hot(arch, SPACE.max_choices).float()
        single = net(x, arch)
        torch.testing.assert_close(net(x, one_hot), single, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(forward_hard(net, x, one_hot), single, rtol=0, atol=0)


def test_hard_forward_gradient_matches_mixed_at_the_chosen_ops(data) -> None:
    net = _net().train()
    x, y = data.train.random_batch(16, torch.Generator().manual_seed(1))
    for arch in _archs():
        grads = []
        for fwd in (net.forward_mixed, lambda x_, w_: forward_hard(net, x_, w_)):
            w = F.one_hot(arch, SPACE.max_choices).float().requires_grad_(True)
            F.cross_entropy(fwd(x, w), y).backward()
            grads.append(w.grad[torch.arange(6), arch])
        torch.testing.assert_close(grads[1], grads[0], rtol=1e-4, atol=1e-6)
        assert grads[1].abs().sum() > 0  # some edge is live in each of these cells


# ---- alpha, Gumbel, schedule ---------------------------------------------------------------
def test_gumbel_st_is_one_hot_and_carries_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 5, generator=g).requires_grad_(True)
    w = gumbel_softmax_st(logits, 1.0, g)
    assert torch.allclose(w.sum(-1), torch.ones(6)) and torch.allclose(w.max(-1).values, torch.ones(6))
    assert int((w.detach() > 0.5).sum()) == 6
    (w * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # low temperature follows the logits: the argmax of strongly peaked logits is always drawn
    peaked = torch.full((6, 5), -20.0).scatter(1, torch.full((6, 1), 3), 20.0)
    assert torch.equal(gumbel_softmax_st(peaked, 0.1, g).argmax(-1), torch.full((6,), 3))
    with pytest.raises(TnasError, match="tau"):
        gumbel_softmax_st(logits, 0.0, g)


def test_tau_schedule_linear_from_max_to_min() -> None:
    vals = [tau_schedule(s, 100) for s in (0, 33, 99, 150)]
    assert vals[0] == 10.0 and vals[2] == pytest.approx(0.1) and vals[3] == pytest.approx(0.1)
    assert vals[1] == pytest.approx(10.0 - 9.9 * 33 / 99)
    assert tau_schedule(0, 1) == pytest.approx(0.1)
    with pytest.raises(TnasError, match="tau_min"):
        tau_schedule(0, 10, tau_max=1.0, tau_min=2.0)


def test_arch_parameters_weights_derive_entropy_and_state() -> None:
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(alpha.weights(mode="darts").sum(-1), torch.ones(6))
    ent = alpha.entropy()
    assert ent.shape == (6,) and torch.allclose(ent, uniform_entropy(SPACE), atol=1e-4)
    assert torch.allclose(uniform_entropy(SPACE), torch.full((6,), math.log(5)))
    with torch.no_grad():
        alpha.alpha[:, 2] += 5.0
    arch = alpha.derive()
    SPACE.validate(arch)
    assert arch.dtype == torch.long and torch.equal(arch, torch.full((6,), 2))
    assert (alpha.entropy() < 0.5).all()
    assert torch.allclose(categorical_entropy(torch.eye(5)), torch.zeros(5))
    assert alpha.sample(7, generator=torch.Generator().manual_seed(1)).shape == (7, 6)
    other = ArchParameters(SPACE, generator=torch.Generator().manual_seed(9))
    other.load_state_dict(alpha.state_dict())
    assert torch.equal(other.alpha, alpha.alpha)
    with pytest.raises(TnasError, match="version"):
        other.load_state_dict({**alpha.state_dict(), "version": 99})
    with pytest.raises(TnasError, match="gdas"):
        alpha.weights(mode="gdass")


# ---- steps on real digits -------------------------------------------------------------------
def _batches(data, seed: int, n: int):
    g = torch.Generator().manual_seed(seed)
    return [(data.train.random_batch(32, g), data.valid.random_batch(32, g)) for _ in range(n)]


@pytest.mark.parametrize("order", [1, 2])
def test_darts_steps_move_alpha_and_keep_weights_finite(data, order: int) -> None:
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    w_opt, a_opt = _opts(net, alpha.parameters())
    before = alpha.alpha.detach().clone()
    for train, valid in _batches(data, order, 3):
        out = darts_step(net, alpha, w_opt, a_opt, train, valid, order=order)
        assert all(math.isfinite(v) for v in out.values())
    assert not torch.allclose(alpha.alpha, before)
    assert all(torch.isfinite(p).all() for p in net.parameters())
    with pytest.raises(TnasError, match="order"):
        darts_step(net, alpha, w_opt, a_opt, train, valid, order=3)


def test_darts_second_order_restores_weights_before_its_weight_step(data) -> None:
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    _, a_opt = _opts(net, alpha.parameters())
    frozen_w = torch.optim.SGD(net.parameters(), lr=0.0)  # lr 0: only the alpha step can change anything
    state = {k: v.clone() for k, v in net.state_dict().items()}
    (train, valid), = _batches(data, 7, 1)
    darts_step(net, alpha, frozen_w, a_opt, train, valid, order=2, xi=0.025)
    for k, v in net.state_dict().items():
        if "running" not in k and "num_batches" not in k:  # the weight step's forward updates BN stats
            assert torch.equal(v, state[k]), k


def test_gdas_steps_reach_alpha(data) -> None:
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    w_opt, a_opt = _opts(net, alpha.parameters())
    g = torch.Generator().manual_seed(3)
    before = alpha.alpha.detach().clone()
    for i, (train, valid) in enumerate(_batches(data, 3, 4)):
        out = gdas_step(net, alpha, w_opt, a_opt, train, valid, generator=g, tau=tau_schedule(i, 4))
        assert all(math.isfinite(v) for v in out.values())
        assert alpha.alpha.grad is not None and alpha.alpha.grad.abs().sum() > 0
    assert not torch.allclose(alpha.alpha, before)


def test_tnas_g_steps_reach_decoder_refit_and_derive(data) -> None:
    net = _net()
    sampler = TNASSampler(SPACE, TNASConfig(min_observations=3, train_steps=5), seed=1)
    cfg = TNASGConfig(refit_every=3, decoder_lr=1e-2)
    d_opt = decoder_optimizer(sampler, cfg)
    w_opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    dec = decoder_parameters(sampler.vae)
    enc_before = sampler.vae.to_stats.weight.detach().clone()
    before = [p.detach().clone() for p in dec]
    g, baseline = torch.Generator().manual_seed(4), {}
    outs = []
    for i, (tr, va) in enumerate(_batches(data, 4, 3)):
        outs.append(tnas_g_step(net, sampler, w_opt, d_opt, tr, va, generator=g, tau=5.0, step=i, cfg=cfg,
                                baseline=baseline))
        if i == 0:  # the validation loss reached the decoder (and only the decoder) before any refit
            assert outs[0]["refit"] is None and sampler.vae.head_w.grad.abs().sum() > 0
            assert sampler.vae.from_z.weight.grad.abs().sum() > 0 and sampler.vae.to_stats.weight.grad is None
    assert outs[2]["refit"] is not None and outs[2]["refit"]["trained"] == 1.0  # ELBO refit at step 3
    assert not torch.equal(sampler.vae.to_stats.weight, enc_before)  # the refit trains the encoder too
    assert all(not torch.equal(p, b) for p, b in zip(dec, before) if p.numel() > 1)
    assert sampler.num_observed >= 1 and "ema" in baseline
    assert all(math.isfinite(o["loss"]) and math.isfinite(o["valid_loss"]) for o in outs)
    SPACE.validate(derive_mode(sampler.vae))
    marg = decoder_marginals(sampler.vae, 32, torch.Generator().manual_seed(0))
    assert marg.shape == (6, 5) and torch.allclose(marg.sum(-1), torch.ones(6), atol=1e-5)
    # best-of: the supernet's favourite (BN-recalibrated valid accuracy) among the decoded modes
    gv = torch.Generator().manual_seed(0)
    ev = SupernetEvaluator(net, SPACE, [data.train.random_batch(64, gv)[0]], [data.valid.random_batch(64, gv)])
    arch, score, cands, scores = derive_best_of(sampler.vae, ev, 8, torch.Generator().manual_seed(0))
    assert score == scores.max() and (cands == arch).all(-1).any() and len(cands) == len(torch.unique(cands, dim=0))
    with pytest.raises(TnasError, match="z"):
        TNASGConfig(z="mean").validate()


def _gdas_and_tnas_g_run(data) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    w_opt, a_opt = _opts(net, alpha.parameters())
    sampler = TNASSampler(SPACE, TNASConfig(min_observations=2, train_steps=3), seed=1)
    cfg = TNASGConfig(refit_every=2)
    d_opt, g = decoder_optimizer(sampler, cfg), torch.Generator().manual_seed(2)
    archs = []
    for i, (tr, va) in enumerate(_batches(data, 2, 2)):
        gdas_step(net, alpha, w_opt, a_opt, tr, va, generator=g, tau=1.0)
        archs.append(tnas_g_step(net, sampler, w_opt, d_opt, tr, va, generator=g, tau=1.0, step=i, cfg=cfg)["arch"])
    return alpha.alpha.detach().clone(), sampler.vae.head_w.detach().clone(), archs


def test_same_seed_same_result(data) -> None:
    a1, h1, archs1 = _gdas_and_tnas_g_run(data)
    a2, h2, archs2 = _gdas_and_tnas_g_run(data)
    assert torch.equal(a1, a2) and torch.equal(h1, h2)
    assert all(torch.equal(x, y) for x, y in zip(archs1, archs2))


def test_nan_alpha_stops_before_touching_the_weights(data) -> None:
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    w_opt, a_opt = _opts(net, alpha.parameters())
    with torch.no_grad():
        alpha.alpha[2, 1] = float("nan")
    state = {k: v.clone() for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    (tr, va), = _batches(data, 0, 1)
    for step in (lambda: gdas_step(net, alpha, w_opt, a_opt, tr, va, generator=torch.Generator(), tau=1.0),
                 lambda: darts_step(net, alpha, w_opt, a_opt, tr, va)):
        with pytest.raises(TnasError, match="checkpoint is kept"):
            step()
    assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())


def test_gdas_and_tnas_g_survive_a_sampled_cell_with_no_live_path(data) -> None:
    # alpha and the decoder put all mass on 'none': the cell outputs zeros, no gradient reaches them
    net = _net()
    alpha = ArchParameters(SPACE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alpha.alpha[:, 0] = 50.0
    w_opt, a_opt = _opts(net, alpha.parameters())
    (tr, va), = _batches(data, 0, 1)
    out = gdas_step(net, alpha, w_opt, a_opt, tr, va, generator=torch.Generator().manual_seed(0), tau=0.1)
    assert math.isfinite(out["valid_loss"]) and alpha.alpha.grad is None
    sampler = TNASSampler(SPACE, seed=1)
    with torch.no_grad():
        sampler.vae.head_b[:, 0] = 1e3
    cfg = TNASGConfig()
    out = tnas_g_step(net, sampler, w_opt, decoder_optimizer(sampler, cfg), tr, va,
                      generator=torch.Generator().manual_seed(0), tau=0.1, step=0, cfg=cfg)
    assert torch.equal(out["arch"], torch.zeros(6, dtype=torch.long)) and sampler.vae.head_b.grad is None


def test_darts_second_order_gradient_matches_exact_unrolled_gradient(data) -> None:
    # d/da L_val(w - xi * dL_train(w, a)/dw, a) by double backprop vs the finite-difference step
    net = _net().double()
    alpha = ArchParameters(SPACE, init_std=0.5, generator=torch.Generator().manual_seed(0))
    alpha.alpha.data = alpha.alpha.data.double()
    (tr, va), = _batches(data, 11, 1)
    tr, va = (tr[0].double(), tr[1]), (va[0].double(), va[1])
    xi, a = 0.5, alpha.alpha
    names = [n for n, _ in net.named_parameters()]
    params = list(net.parameters())
    g_w = torch.autograd.grad(F.cross_entropy(net(tr[0], torch.softmax(a, -1)), tr[1]), params, create_graph=True)
    unrolled = {n: p - xi * g for n, p, g in zip(names, params, g_w)}
    logits = torch.func.functional_call(net, unrolled, (va[0], torch.softmax(a, -1)))
    exact = torch.autograd.grad(F.cross_entropy(logits, va[1]), a)[0]
    net.zero_grad(set_to_none=True)
    w_opt = torch.optim.SGD(net.parameters(), lr=xi)  # no momentum / weight decay: a plain virtual step
    a_opt = torch.optim.SGD([a], lr=0.0)
    # a tiny perturbation in float64 checks the formula, not the approximation: in this C=4 net the
    # gradient w.r.t. alpha jumps (ReLU kinks) within 1e-6 of w, so larger steps (DARTS: 0.01) are
    # off by O(1) here (docs/gradient.md); 1e-7 stays on the smooth side
    for fd_eps in (1e-7, 0.0):  # finite differences, exact double backprop
        _darts_alpha_step_2nd(net, alpha, w_opt, a_opt, tr, va, xi, fd_eps=fd_eps)
        torch.testing.assert_close(a.grad, exact, rtol=1e-5, atol=1e-7)
    first_order = torch.autograd.grad(  # the implicit term matters: V2 differs from V1 here
        F.cross_entropy(torch.func.functional_call(net, {n: u.detach() for n, u in unrolled.items()},
                                                   (va[0], torch.softmax(a, -1))), va[1]), a)[0]
    assert (first_order - exact).abs().max() > 1e-3 * exact.abs().max()
