"""Scores (issue 22): zero-cost proxies pinned against independent formulas, the angle, rank
ensembles, parsing and the errors of unsupported scores."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import tnas
from tnas.errors import TnasError
from tnas.evaluate.score import (SCORES, MemoScore, Scorer, ScoreInputs, ScoreSpec, parse_score, percentile,
                                 vector_angle)
from tnas.evaluate.zero_cost import ZERO_COST, zero_cost_scores
from tnas.supernet.nb201 import NB201Supernet


def _batch(b: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 1, 4, 4, generator=g), torch.randint(0, 3, (b,), generator=g)


def _relu_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3, bias=False))


def _linear_net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3, bias=False))


def test_naswot_is_the_log_determinant_of_the_hamming_kernel() -> None:
    net, (x, y) = _relu_net(), _batch()
    codes = (net[0](x).reshape(x.shape[0], -1) > 0).numpy().astype(int)
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    expected = np.linalg.slogdet(codes.shape[1] - hamming)[1]  # K_H = N_A - Hamming distance
    assert zero_cost_scores(net, x, y, ["naswot"])["naswot"] == pytest.approx(expected, rel=1e-9)


def test_synflow_of_a_positively_homogeneous_net_is_layers_times_output() -> None:
    # with |w| and an all-ones input every ReLU passes everything, so R = sum(logits) is linear in
    # each layer's weights: sum_w w * dR/dw = R per layer (Euler), synflow = 2 layers x R
    net, (x, y) = _relu_net(), _batch()
    with torch.no_grad():
        absnet = nn.Sequential(*[m for m in _relu_net()]).double()
        for p in absnet.parameters():
            p.abs_()
        R = float(absnet(torch.ones(1, 1, 4, 4, dtype=torch.float64)).sum())
    assert zero_cost_scores(net, x, y, ["synflow"])["synflow"] == pytest.approx(2 * R, rel=1e-9)


def test_snip_and_grad_norm_of_a_linear_classifier_by_hand() -> None:
    net, (x, y) = _linear_net(), _batch()
    X = x.reshape(x.shape[0], -1).double().numpy()
    W = net[1].weight.detach().double().numpy()
    logits = X @ W.T
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(3)[y.numpy()]).T @ X / x.shape[0]  # d mean CE / dW
    out = zero_cost_scores(net, x, y, ["snip", "grad_norm"])
    assert out["snip"] == pytest.approx(np.abs(W * grad).sum(), rel=1e-5)
    assert out["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-5)


def test_jacov_of_a_linear_net_has_identical_jacobians() -> None:
    # d sum(logits) / dx = W^T 1 for every image: the correlation matrix is all ones, eigenvalues B, 0, ..., 0
    net, (x, y) = _linear_net(), _batch(b=5)
    k, B = 1e-5, 5
    expected = -(math.log(B + k) + 1 / (B + k) + (B - 1) * (math.log(k) + 1 / k))
    assert zero_cost_scores(net, x, y, ["jacov"])["jacov"] == pytest.approx(expected, rel=1e-6)


def test_shared_pass_equals_each_proxy_alone_and_leaves_weights() -> None:
    net, (x, y) = _relu_net(), _batch()
    before = [p.detach().clone() for p in net.parameters()]
    names = [n for n in ZERO_COST if n != "synflow"] + ["synflow"]
    together = zero_cost_scores(net, x, y, names)
    for n in names:
        assert zero_cost_scores(net, x, y, [n])[n] == pytest.approx(together[n], rel=1e-6), n
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_naswot_needs_relus() -> None:
    with pytest.raises(TnasError, match="ReLU"):
        zero_cost_scores(_linear_net(), *_batch(), ["naswot"])


@pytest.mark.parametrize("text, match", [
    ("bogus", "Unknown score 'bogus'.*naswot"), ("rank:naswot", "fewer than two"),
    ("rank:naswot+", "member '' is not a score"), ("rank:naswot+bogus", "member 'bogus'"),
    ("rank:naswot+naswot", "more than once.*search.score=naswot"), ("x" * 500, r"\(500 characters\)"),
])
def test_bad_score_texts(text: str, match: str) -> None:
    with pytest.raises(TnasError, match=match):
        parse_score(text)


def test_parse_and_registry() -> None:
    assert parse_score(" naswot ") == ScoreSpec(("naswot",))
    spec = parse_score("rank:angle+naswot+synflow")
    assert spec.ensemble and spec.members == ("angle", "naswot", "synflow") and spec.text == "rank:angle+naswot+synflow"
    assert spec.needs == {"supernet", "init", "network"} and spec.dynamic
    assert set(ZERO_COST) | {"accuracy", "loss", "angle"} == set(SCORES.names())


def test_percentile_is_monotone_bounded_and_mid_rank_on_the_reference() -> None:
    ref = torch.tensor([3.0, 1.0, 2.0, 2.0, 5.0])
    assert torch.allclose(percentile(ref, ref), torch.tensor([0.7, 0.1, 0.4, 0.4, 0.9], dtype=torch.float64))
    v = torch.linspace(-10, 20, 301, dtype=torch.float64)
    p = percentile(v, ref)
    assert bool((p[1:] >= p[:-1]).all()) and float(p.min()) >= 0 and float(p.max()) <= 1
    assert float(percentile(torch.tensor([6.0]), ref)) > 0.9 > float(percentile(torch.tensor([4.9]), ref)) - 0.2
    assert float(percentile(torch.tensor([-math.inf, math.nan]), ref).max()) == 0.0


def test_vector_angle() -> None:
    a = [torch.tensor([1.0, 0.0])]
    assert vector_angle(a, a) == 0.0
    assert vector_angle(a, [torch.tensor([0.0, 2.0])]) == pytest.approx(math.pi / 2)
    assert vector_angle([], []) == 0.0


def _supernet_inputs(net: nn.Module, **kw) -> ScoreInputs:
    init = {n: p.detach().clone() for n, p in net.named_parameters()}
    return ScoreInputs(net.space, supernet=net, init_params=init, calib=[torch.zeros(2, 1, 8, 8)], **kw)


def test_nb201_angle_follows_abs() -> None:
    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1, in_channels=1)
    space = net.space
    scorer = Scorer(parse_score("angle"), _supernet_inputs(net))
    cell = space.from_genotype("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_1x1~1|none~2|")
    assert scorer.angle(cell) == 0.0  # unchanged weights
    params = dict(net.named_parameters())
    none = space.from_genotype("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert net.angle_pieces(none, params) == []  # every path cut
    with torch.no_grad():
        params["cells.0.edges.1.2.conv.weight"].add_(1.0)  # a conv on edge 2<-0, which the cell does not use
    assert scorer.angle(cell) == 0.0
    with torch.no_grad():
        params["cells.0.edges.0.3.conv.weight"].mul_(-1.0).add_(0.3)  # the path's 3x3 conv on edge 1<-0
    assert scorer.angle(cell) > 0.0
    skip = space.from_genotype("|skip_connect~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")
    fixed = [n for n, _ in net.named_parameters() if ".edges." not in n]
    assert len(net.angle_pieces(skip, params)) == len(fixed)  # skip adds nothing: the fixed parts only
    pool = space.from_genotype("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|")
    pieces = net.angle_pieces(pool, params)
    cells = sum(net.is_cell_block)  # one fixed 1/9 kernel per pool edge on the open path, per cell
    assert len(pieces) == len(fixed) + 2 * cells and float(pieces[-1][0]) == pytest.approx(1 / 9)


def test_generic_angle_uses_the_paths_parameters() -> None:
    from tnas.supernet.registry import NetSize, build_supernet

    torch.manual_seed(0)
    space = tnas.get_space("shufflenet")
    net = build_supernet(space, NetSize(C=8, N=1, num_classes=10, in_channels=1, image_size=8))
    assert not hasattr(net, "angle_pieces")
    scorer = Scorer(parse_score("angle"), _supernet_inputs(net))
    arch = space.sample_uniform(1, torch.Generator().manual_seed(0))[0]
    assert scorer.angle(arch) == 0.0
    used = scorer._path_parameters(arch)
    with torch.no_grad():
        dict(net.named_parameters())[used[len(used) // 2]].mul_(-1)
    assert scorer.angle(arch) > 0.0


def test_unsupported_scores_name_the_missing_piece() -> None:
    net = NB201Supernet(C=4, N=1, in_channels=1)
    with pytest.raises(TnasError, match="initial weights"):
        Scorer(parse_score("angle"), ScoreInputs(net.space, supernet=net))
    with pytest.raises(TnasError, match="'naswot'.*network.*no builder here"):
        Scorer(parse_score("rank:angle+naswot"), _supernet_inputs(net, why_no_network="no builder here"))
    with pytest.raises(TnasError, match="needs a trained supernet"):
        Scorer(parse_score("accuracy"), ScoreInputs(net.space))


def test_zero_cost_scorer_is_deterministic_and_shares_its_cache() -> None:
    from tnas.supernet.registry import NetSize, get_family

    space = tnas.get_space("nb201")
    size = NetSize(C=4, N=1, num_classes=3, in_channels=1, image_size=8)
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3

    def inputs() -> ScoreInputs:
        return ScoreInputs(space, batches=[(x, y)], network=lambda a: get_family("nb201").network(space, a, size, {}),
                           seed=3, reference=16)

    archs = space.sample_uniform(5, torch.Generator().manual_seed(1))
    a = Scorer(parse_score("rank:naswot+synflow"), inputs())(archs)
    cache: dict = {}
    b = Scorer(parse_score("rank:naswot+synflow"), inputs(), cache=cache)(archs)
    assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1
    single = Scorer(parse_score("naswot"), inputs(), cache=cache)
    assert torch.equal(single(archs), Scorer(parse_score("naswot"), inputs())(archs))
    seen = []
    memo = MemoScore(space, single, on_eval=lambda arch, s: seen.append(s))
    memo(archs)
    memo(archs)
    assert len(seen) == 5 and len(memo.memo) == len(set(space.keys(archs).tolist()))


@pytest.mark.parametrize("name", SCORES.names())
def test_every_registered_score_scores_nb201(name: str) -> None:
    """Registry contract: each score maps long [N, D] to float64 [N] (finite or -inf), the same twice."""
    from tnas.supernet.registry import NetSize, get_family

    torch.manual_seed(0)
    net = NB201Supernet(C=4, N=1, num_classes=3, in_channels=1)
    space = net.space
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
    size = NetSize(C=4, N=1, num_classes=3, in_channels=1, image_size=8)
    inputs = _supernet_inputs(net, valid=[(x, y)], batches=[(x, y)],
                              network=lambda a: get_family("nb201").network(space, a, size, {}))
    inputs.calib = [x]
    archs = space.sample_uniform(3, torch.Generator().manual_seed(2))
    a, b = Scorer(parse_score(name), inputs)(archs), Scorer(parse_score(name), inputs)(archs)
    assert a.shape == (3,) and a.dtype == torch.float64 and torch.equal(a, b)
    assert not bool(torch.isnan(a).any()) and not bool((a == math.inf).any())


def test_search_help_names_every_score_and_role() -> None:
    from tnas.cli import build_parser
    from tnas.sampler.roles import ROLES

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "search" in a.choices)
    text = " ".join(sub.choices["search"].description.split())
    assert all(name in text for name in SCORES.names()) and all(role in text for role in ROLES)


def test_degenerate_networks_get_finite_lowest_scores() -> None:
    from tnas.supernet.registry import NetSize, get_family

    space = tnas.get_space("nb201")
    size = NetSize(C=4, N=1, num_classes=3, in_channels=1, image_size=8)
    x, y = torch.randn(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
    inputs = ScoreInputs(space, batches=[(x, y)], network=lambda a: get_family("nb201").network(space, a, size, {}))
    dead = space.from_genotype("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    live = space.from_genotype("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    for name in ZERO_COST:
        v = Scorer(parse_score(name), inputs)(torch.stack([dead, live]))
        assert bool(torch.isfinite(v).all()) and float(v[0]) <= float(v[1]), name
