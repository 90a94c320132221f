"""ShuffleNet-like SPOS space: genotypes, blocks, supernet forwards, cost counter, budget sampling."""
from __future__ import annotations

import functools

import pytest
import torch

from tnas.errors import TnasError
from tnas.supernet.shufflenet_cost import (
    count_by_hooks,
    network_cost,
    shufflenet_cost,
    shufflenet_costs,
    shufflenet_min_flops,
)
from tnas.ops.shufflenet import (
    SHUFFLE_BLOCKS,
    build_shuffle_block,
    channel_shuffle,
    shuffle_split,
)
from tnas.space import get_space
from tnas.sampler.budget import sample_within_budget
from tnas.supernet import shufflenet_family
from tnas.supernet.registry import NetSize
from tnas.supernet.shufflenet import ShuffleNetSupernet
from tnas.supernet.shufflenet_net import (
    ShuffleNetNetwork,
    shufflenet_v2_layout,
    spos_layout,
    spos_network,
)

SPOS_ARCH = "[0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2]"  # megvii SPOS repo, OneShot/network.py
IMAGENET = NetSize(C=64, N=1, num_classes=1000, in_channels=3, image_size=224)


@pytest.fixture(scope="module")
def space():
    return get_space("shufflenet")


# ---- genotypes ------------------------------------------------------------------------------
def test_genotype_round_trip(space):
    arch = space.from_genotype(SPOS_ARCH)
    assert space.to_genotype(arch) == SPOS_ARCH
    assert space.decisions[0].name == "stage1.0" and space.decisions[-1].name == "stage4.3"
    assert torch.equal(space.from_genotype(SPOS_ARCH.strip("[]")), arch)
    names = ", ".join(SHUFFLE_BLOCKS[k] for k in arch.tolist())
    assert torch.equal(space.from_genotype(names), arch)
    archs = space.sample_uniform(50, torch.Generator().manual_seed(0))
    for a in archs:
        assert torch.equal(space.from_genotype(space.to_genotype(a)), a)


@pytest.mark.parametrize("text, words", [
    ("[0, 1, 2]", ["3 entries", "expected 20"]),
    ("[" + ", ".join(["0"] * 19 + ["4"]) + "]", ["Choice index 4", "position 19", "0..3"]),
    (", ".join(["shufflenet_3x3"] * 19 + ["shufflenet_9x9"]), ["shufflenet_9x9", "position 19", "Did you mean"]),
    ("[0, 0", ["brackets"]),
])
def test_malformed_genotype(space, text, words):
    with pytest.raises(TnasError) as err:
        space.from_genotype(text)
    for w in words:
        assert w in str(err.value)


# ---- blocks ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SHUFFLE_BLOCKS)
@pytest.mark.parametrize("stride", [1, 2])
def test_block_shapes(name, stride):
    c_in, c_out = (8, 8) if stride == 1 else (4, 16)
    block = build_shuffle_block(name, c_in, c_out, stride, affine=False)
    y = block(torch.randn(2, c_in, 9, 9))
    assert y.shape == (2, c_out, 9 if stride == 1 else 5, 9 if stride == 1 else 5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) and m.affine for m in block.modules())


def test_shuffle_split_is_shuffle_then_split():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    a, b = shuffle_split(x)
    assert a.flatten().tolist() == [0, 2, 4, 6] and b.flatten().tolist() == [1, 3, 5, 7]
    y = channel_shuffle(x, 4)  # [4, 2] channel grid transposed
    assert torch.equal(torch.cat([a, b], 1), y)


# ---- cost counter ---------------------------------------------------------------------------
# torchvision's parameter counts and the ShuffleNetV2 paper's FLOPs (Ma et al. 2018, table 8)
@pytest.mark.parametrize("mult, params, mflops", [
    (0.5, 1_366_792, 41), (1.0, 2_278_604, 146), (1.5, 3_503_624, 299), (2.0, 7_393_996, 591)])
def test_shufflenet_v2_published_counts(mult, params, mflops):
    layout = shufflenet_v2_layout(mult)
    blocks = ["shufflenet_3x3"] * layout.num_blocks
    p, f = network_cost(layout, blocks)
    assert p == params
    assert abs(f / 1e6 - mflops) / mflops < 0.02
    with torch.device("meta"):
        net = ShuffleNetNetwork(blocks, layout)
    assert count_by_hooks(net) == (p, f)


def test_analytic_cost_equals_hooks(space):
    archs = space.sample_uniform(3, torch.Generator().manual_seed(1))
    for arch, size in zip(archs, [IMAGENET, NetSize(16, 1, 10, 3, 64), NetSize(40, 1, 100, 1, 96)]):
        with torch.device("meta"):
            net = spos_network(space, arch, size.C, size.num_classes, size.in_channels)
        assert shufflenet_cost(space, arch, size) == count_by_hooks(net, size.in_channels, size.image_size)
    params, flops = shufflenet_costs(space, archs, IMAGENET)
    assert [(int(p), int(f)) for p, f in zip(params, flops)] == [shufflenet_cost(space, a, IMAGENET) for a in archs]


def test_spos_searched_arch_cost(space):
    # SPOS's searched arch at full block width: 318.7M FLOPs, 3.35M params (paper: 319M, 3.3M)
    p, f = shufflenet_cost(space, space.from_genotype(SPOS_ARCH), IMAGENET)
    assert 3.3e6 < p < 3.4e6 and abs(f / 1e6 - 319) < 1


# ---- supernet -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def supernet(space):
    torch.manual_seed(0)
    net = ShuffleNetSupernet(space, C=8, num_classes=5)
    with torch.no_grad():  # non-trivial running stats, so eval mode differs from train mode
        for _ in range(2):
            net(torch.randn(4, 3, 32, 32), space.sample_uniform(1, torch.Generator().manual_seed(_))[0])
    return net.eval()


def test_single_equals_mixed_one_hot(space, supernet):
    x = torch.randn(2, 3, 32, 32)
    arch = space.sample_uniform(1, torch.Generator().manual_seed(3))[0]
    w = torch.nn.functional.one_hot(arch, 4).float()
    with torch.no_grad():
        single, mixed, hard = supernet(x, arch), supernet(x, w), supernet.forward_hard(x, w)
    assert single.shape == (2, 5)
    torch.testing.assert_close(single, mixed)
    torch.testing.assert_close(single, hard)


def test_extract_is_the_path_with_inherited_weights(space, supernet):
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    for arch in space.sample_uniform(3, torch.Generator().manual_seed(6)):
        path = supernet.extract(arch).eval()
        with torch.no_grad():
            assert torch.equal(path(x), supernet(x, arch))  # same weights, same BN statistics, same order
        # the saved weights load into a path cut from a fresh supernet of the same size (tnas export)
        fresh = ShuffleNetSupernet(space, C=8, num_classes=5).extract(arch)
        fresh.load_state_dict(path.state_dict())
        with torch.no_grad():
            assert torch.equal(fresh.eval()(x), supernet(x, arch))
        assert sum(p.numel() for p in path.parameters()) < sum(p.numel() for p in supernet.parameters()) / 2


def test_forward_hard_grads(space, supernet):
    arch = space.sample_uniform(1, torch.Generator().manual_seed(4))[0]
    w = torch.nn.functional.one_hot(arch, 4).float().requires_grad_(True)
    supernet.forward_hard(torch.randn(2, 3, 32, 32), w).square().sum().backward()
    chosen = torch.zeros(20, 4, dtype=torch.bool)
    chosen[torch.arange(20), arch] = True
    assert bool((w.grad[chosen] != 0).all()) and bool((w.grad[~chosen] == 0).all())


def test_supernet_bad_input(space, supernet):
    with pytest.raises(TnasError, match="out of range"):
        supernet(torch.randn(1, 3, 32, 32), torch.full((20,), -1))
    with pytest.raises(TnasError, match=r"\[20, 4\]"):
        supernet(torch.randn(1, 3, 32, 32), torch.rand(20, 3))


def test_family_registered(space):
    fam = shufflenet_family.FAMILY
    arch = space.from_genotype(SPOS_ARCH)
    net = fam.network(space, arch, NetSize(8, 1, 10, 3, 32), {"dropout": 0.0, "auxiliary": False}).eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(TnasError, match="auxiliary"):
        fam.network(space, arch, NetSize(8, 1, 10, 3, 32), {"auxiliary": True})
    assert fam.cost(space, arch, IMAGENET) == shufflenet_cost(space, arch, IMAGENET)
    assert spos_layout(16).widths == (16, 40, 80, 160)


# ---- budget sampling ------------------------------------------------------------------------
def test_budget_sampling(space):
    cost1 = functools.partial(shufflenet_cost, space, size=IMAGENET)  # arch long [20] -> (params, FLOPs)
    limit = 320e6
    archs, stats = sample_within_budget(space, 40, cost=cost1, max_flops=limit,
                                        generator=torch.Generator().manual_seed(0))
    assert archs.shape == (40, 20)
    assert all(cost1(a)[1] <= limit for a in archs)
    assert 0 < stats.rejection_rate < 1 and stats.accepted == 40
    again, _ = sample_within_budget(space, 40, cost=cost1, max_flops=limit, generator=torch.Generator().manual_seed(0))
    assert torch.equal(archs, again)
    lowest = shufflenet_min_flops(space, IMAGENET)
    # the cost is additive over layers, so one coordinate-descent sweep finds the cheapest arch
    best = torch.zeros(20, dtype=torch.long)
    for d in range(20):
        best[d] = min(range(4), key=lambda k: cost1(torch.cat([best[:d], torch.tensor([k]), best[d + 1:]]))[1])
    assert lowest == cost1(best)[1] < 0.95 * cost1(torch.zeros(20, dtype=torch.long))[1]
    with pytest.raises(TnasError, match="No architecture meets"):
        sample_within_budget(space, 1, cost=cost1, max_flops=lowest - 1, generator=torch.Generator(),
                             min_cost=(0, lowest))
    with pytest.raises(TnasError, match=r"among 200 draws"):
        sample_within_budget(space, 1, cost=cost1, max_flops=lowest - 1, generator=torch.Generator(), max_draws=200)


def test_imagenet_preset_flops_limit_binds(space):
    # the paper's 400M accepts every architecture of the space; the preset's limit must reject some
    from tnas.run.config import load_preset

    limit = load_preset("shufflenet-imagenet")["search.max_flops_M"]
    _, flops = shufflenet_costs(space, space.sample_uniform(4000, torch.Generator().manual_seed(0)), IMAGENET)
    accept = float((flops.double() / 1e6 <= limit).double().mean())
    assert 0.3 < accept < 0.8, accept
    assert bool((flops.double() / 1e6 <= 400).all())
