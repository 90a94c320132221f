"""DARTS cell space: encoding, genotype I/O, ops, supernet forwards, stand-alone network, cost."""
from __future__ import annotations

import itertools

import pytest
import torch

from tnas.errors import TnasError
from tnas.ops.darts import DARTS_OPS, make_darts_op
from tnas.sampler import TNASConfig, TNASSampler
from tnas.space import get_space
from tnas.space.darts import CELLS, DARTS_V1, DARTS_V2, GENOTYPES, LAYOUT, node_pairs
from tnas.supernet.darts import DARTSSupernet
from tnas.supernet.cost import module_cost
from tnas.supernet.darts_cost import darts_cost
from tnas.supernet.darts_family import DARTS_FAMILY
from tnas.supernet.darts_network import DARTSNetwork
from tnas.supernet.registry import NetSize

SPACE = get_space("darts")


def test_encoding_sizes_and_layout() -> None:
    assert SPACE.num_decisions == 22 and SPACE.max_choices == 10
    assert SPACE.num_choices[:11] == (8, 8, 3, 8, 8, 6, 8, 8, 10, 8, 8)
    assert SPACE.decisions[2].name == "normal/node3/inputs" and SPACE.decisions[2].choices == ("0,1", "0,2", "1,2")
    # every decision is used exactly once by the layout
    used = sorted(d for c in LAYOUT for node in c for d in node if d is not None)
    assert used == list(range(22))
    assert SPACE.size == (8**8 * 3 * 6 * 10) ** 2 < 2**63  # int64 keys still work
    archs = SPACE.sample_uniform(50, torch.Generator().manual_seed(0))
    assert torch.equal(SPACE.from_keys(SPACE.keys(archs)), archs)


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_known_genotypes_round_trip(name: str) -> None:
    arch = SPACE.from_genotype(GENOTYPES[name])
    text = SPACE.to_genotype(arch)
    assert torch.equal(SPACE.from_genotype(text), arch) and SPACE.to_genotype(SPACE.from_genotype(text)) == text
    # the published cells list some nodes with the higher input first; output is canonical
    normal, _ = SPACE.cells(arch)
    assert all(a < b for (_, a), (_, b) in normal)


def test_darts_v2_reads_as_published() -> None:
    normal, reduce = SPACE.cells(SPACE.from_genotype(DARTS_V2))
    op = DARTS_OPS.index
    assert normal[2] == ((op("skip_connect"), 0), (op("sep_conv_3x3"), 1))
    assert normal[3] == ((op("skip_connect"), 0), (op("dil_conv_3x3"), 2))
    assert reduce[1] == ((op("max_pool_3x3"), 1), (op("skip_connect"), 2))


def test_random_archs_round_trip_and_notation_variants() -> None:
    archs = SPACE.sample_uniform(200, torch.Generator().manual_seed(1))
    for a in archs:
        assert torch.equal(SPACE.from_genotype(SPACE.to_genotype(a)), a)
    a = SPACE.from_genotype(DARTS_V1)
    variant = DARTS_V1.replace("[2, 3, 4, 5]", "range(2, 6)").replace(", ", " ,\n  ").replace("'", '"')
    assert torch.equal(SPACE.from_genotype("  " + variant + "\n"), a)
    grouped = "Genotype(normal=[[('sep_conv_3x3', 1), ('sep_conv_3x3', 0)], [('skip_connect', 0), ('sep_conv_3x3', 1)], " \
              "[('skip_connect', 0), ('sep_conv_3x3', 1)], [('sep_conv_3x3', 0), ('skip_connect', 2)]], " \
              "reduce=" + DARTS_V1.split("reduce=")[1]
    assert torch.equal(SPACE.from_genotype(grouped), a)


_V2_NORMAL = "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), " \
             "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)"


@pytest.mark.parametrize("bad, needle", [
    (DARTS_V2.replace("'dil_conv_3x3'", "'dil_conv_3x4'"), "'dil_conv_3x4'"),  # unknown op ...
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)"), "input index 5"),  # node 5 reads 0..4
    (DARTS_V2.replace("('skip_connect', 0), ('dil_conv_3x3', 2)", "('skip_connect', 2), ('dil_conv_3x3', 2)"),
     "input 2 twice"),
    (DARTS_V2.replace(", ('skip_connect', 0), ('dil_conv_3x3', 2)]", "]"), "has 6 (op, input) pairs"),
    (DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3, 4]"), "[2, 3, 4]"),
    (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=range(2, 7)"), "[2, 3, 4, 5, 6]"),
    (DARTS_V2.replace("Genotype(", "Genotype(("), "not a Python-literal"),
    ("Genotyp(normal=[])", "not a call Genotype"),
    (DARTS_V2.replace("normal_concat", "normal_cat"), "'normal_cat'"),
    (f"Genotype(normal=[{_V2_NORMAL}], normal_concat=[2, 3, 4, 5])", "'reduce' is missing"),
    (DARTS_V2.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', __import__('os'))", 1), "not a Python literal"),
    (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', '2')"), "('dil_conv_3x3', '2')"),
])
def test_malformed_genotypes_name_the_bad_value(bad: str, needle: str) -> None:
    with pytest.raises(TnasError) as e:
        SPACE.from_genotype(bad)
    assert needle in str(e.value)
    if "3x4" in bad:
        assert "Did you mean 'dil_conv_3x3'?" in str(e.value)


@pytest.mark.parametrize("name, stride", list(itertools.product(DARTS_OPS, (1, 2))))
def test_every_op_output_shape(name: str, stride: int) -> None:
    for search in (False, True):
        op = make_darts_op(name, 6, stride, affine=not search, search=search)
        for h in (8, 7):  # odd sizes too
            y = op(torch.randn(2, 6, h, h))
            assert y.shape == (2, 6, -(-h // stride), -(-h // stride))
    with pytest.raises(TnasError, match="sep_conv_3x3"):
        make_darts_op("sep_conv3x3", 6, 1, True)


def test_mixed_coefficients_equal_brute_force_expectation() -> None:
    net = DARTSSupernet(SPACE, C=2, N=1)
    w = torch.rand(22, 10) * SPACE.choice_mask()
    w = w / w.sum(-1, keepdim=True)
    coefs = net.coefficients(w)
    for c in range(len(CELLS)):
        for i, (dp, da, db) in enumerate(LAYOUT[c]):
            ref = torch.zeros(i + 2, 8)
            for k, (a, b) in enumerate(node_pairs(i)):
                p = 1.0 if dp is None else w[dp, k]
                ref[a] += p * w[da, :8]
                ref[b] += p * w[db, :8]
            torch.testing.assert_close(coefs[c][i], ref)


@pytest.fixture(scope="module")
def tiny() -> DARTSSupernet:
    torch.manual_seed(0)
    net = DARTSSupernet(SPACE, C=4, N=1, num_classes=10, in_channels=3)
    x = torch.randn(8, 3, 16, 16)
    with torch.no_grad():  # give BN running stats some non-trivial values
        for a in SPACE.sample_uniform(4, torch.Generator().manual_seed(2)):
            net(x, a)
    return net.eval()


def test_single_path_equals_mixed_with_one_hot_weights(tiny: DARTSSupernet) -> None:
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    for a in SPACE.sample_uniform(4, torch.Generator().manual_seed(4)):
        w = torch.zeros(22, 10)
        w[torch.arange(22), a] = 1.0
        with torch.no_grad():
            single, mixed, hard = tiny(x, a), tiny(x, w), tiny.forward_hard(x, w)
        assert single.shape == (3, 10)
        torch.testing.assert_close(mixed, single, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(hard, single, atol=1e-5, rtol=1e-5)


def test_extract_is_the_path_with_inherited_weights(tiny: DARTSSupernet) -> None:
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    for a in SPACE.sample_uniform(3, torch.Generator().manual_seed(6)):
        path = tiny.extract(a).eval()
        with torch.no_grad():
            assert torch.equal(path(x), tiny(x, a))  # same weights, same BN statistics, same order
        # the saved weights load into a path cut from a fresh supernet of the same size (tnas export)
        fresh = DARTSSupernet(SPACE, C=4, N=1, num_classes=10, in_channels=3).extract(a)
        fresh.load_state_dict(path.state_dict())
        with torch.no_grad():
            assert torch.equal(fresh.eval()(x), tiny(x, a))
        assert sum(p.numel() for p in path.parameters()) < sum(p.numel() for p in tiny.parameters()) / 2


def test_forward_hard_grads_reach_chosen_pair_and_op_entries_only(tiny: DARTSSupernet) -> None:
    a = SPACE.from_genotype(DARTS_V2)
    w = torch.zeros(22, 10)
    w[torch.arange(22), a] = 1.0
    w.requires_grad_(True)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    tiny.forward_hard(x, w).logsumexp(-1).sum().backward()
    chosen = torch.zeros(22, 10, dtype=torch.bool)
    chosen[torch.arange(22), a] = True
    assert (w.grad[chosen] != 0).all()  # pair decisions (3 per cell) and op decisions
    assert (w.grad[~chosen] == 0).all()


def test_mixed_forward_gradients_and_bad_weights(tiny: DARTSSupernet) -> None:
    w = (torch.rand(22, 10) * SPACE.choice_mask()).requires_grad_(True)
    x = torch.randn(2, 3, 16, 16)
    tiny(x, w).logsumexp(-1).sum().backward()
    mask = SPACE.choice_mask().clone()
    for d in range(22):  # 'none' entries of op decisions get no gradient (w * 0)
        if SPACE.decisions[d].choices == DARTS_OPS:
            mask[d, 0] = False
    assert (w.grad[mask] != 0).all() and (w.grad[~mask] == 0).all()
    with pytest.raises(TnasError, match=r"\[22, 10\]"):
        tiny(x, torch.rand(22, 8))


def test_tnas_sampler_samples_valid_darts_archs() -> None:
    sampler = TNASSampler(SPACE, TNASConfig(min_observations=8, train_steps=3, top_k=8), seed=0)
    g = torch.Generator().manual_seed(0)
    archs = sampler.sample(16, generator=g)
    SPACE.validate(archs)
    sampler.observe(archs, torch.rand(16, generator=g))
    sampler.step()
    vae = sampler.sample_vae(32, generator=g)
    SPACE.validate(vae)
    assert (vae < torch.tensor(SPACE.num_choices)).all() and len({SPACE.key(a) for a in vae}) > 1


def test_darts_v2_cost_matches_the_paper_and_the_built_network() -> None:
    a = SPACE.from_genotype(DARTS_V2)
    params, macs = darts_cost(SPACE, a, NetSize(C=36, N=6, num_classes=10, image_size=32))
    # DARTS's training log prints "param size = 3.349342MB" (aux head excluded); paper: 3.3M
    assert params == 3_349_342
    assert 520e6 < macs < 535e6  # ~528M MACs, as commonly reported for DARTS-V2 on CIFAR-10
    net = DARTSNetwork(a, 36, 6, auxiliary=True, device="meta")
    assert params == sum(p.numel() for n, p in net.named_parameters() if "auxiliary" not in n)
    net = DARTSNetwork(a, 36, 6, device="meta").eval()
    assert (params, macs) == module_cost(net, (3, 32, 32))  # hooked forward of the whole network
    for b in SPACE.sample_uniform(3, torch.Generator().manual_seed(6)):  # random archs, other size
        size = NetSize(C=8, N=1, num_classes=7, in_channels=1, image_size=16)
        net = DARTSNetwork(b, 8, 1, 7, 1, device="meta").eval()
        assert darts_cost(SPACE, b, size) == module_cost(net, (1, 16, 16))


def test_family_network_options_and_aux_head() -> None:
    a = SPACE.from_genotype(DARTS_V2)
    size = NetSize(C=4, N=1, num_classes=10, image_size=32)
    net = DARTS_FAMILY.network(SPACE, a, size, {"auxiliary": True, "drop_path_prob": 0.2})
    x = torch.randn(2, 3, 32, 32)
    logits, aux = net.train()(x)
    assert logits.shape == aux.shape == (2, 10) and net.drop_path_prob == 0.2
    assert net.eval()(x).shape == (2, 10)
    with pytest.raises(TnasError, match="cutout"):
        DARTS_FAMILY.network(SPACE, a, size, {"cutout": 16})
    assert DARTS_FAMILY.final == {"C": 36, "N": 6, "image_size": 32}
    for side in (16, 24):  # maps of 4x4 / 6x6 at 2/3 depth: the head's 2x2 conv would not fit
        with pytest.raises(TnasError, match="at least 8x8"):
            net.train()(torch.randn(2, 3, side, side))


def test_supernet_single_path_training_on_digits_lowers_the_loss() -> None:
    from tnas.data import load_dataset

    data = load_dataset("digits", image_size=16).train
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    net = DARTS_FAMILY.supernet(SPACE, NetSize(C=4, N=1, num_classes=10, in_channels=1, image_size=16))
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = data.random_batch(64, g)
    archs = SPACE.sample_uniform(2, g)
    losses = []
    for step in range(16):  # a fixed batch and 2 paths: the loss must fall
        loss = torch.nn.functional.cross_entropy(net(x, archs[step % 2]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:2]) / 2, losses
