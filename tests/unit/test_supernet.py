"""NB201 ops, supernet, stand-alone network, cost counts and BN recalibration."""
from __future__ import annotations

import csv

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tnas.errors import TnasError
from tnas.evaluate.bn import recalibrate_bn
from tnas.supernet.nb201_cost import count_flops, count_params
from tnas.ops import BNConfig, build_op, list_ops
from tnas.space import get_space
from tnas.space.nb201 import NB201_EDGES, NB201_OPS
from tnas.supernet import NB201Network, NB201Supernet, make_plan

SPACE = get_space("nb201")
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
# Node 2 feeds only a 'none' edge: its two input convs are dead. Node 1 <- none: edges from it are dead.
DEAD = "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"


def arch_of(genotype: str) -> torch.Tensor:
    return SPACE.from_genotype(genotype)


def every_op_archs() -> list[torch.Tensor]:
    """Each edge set to each op (the other edges skip_connect): 6 x 5 archs."""
    out = []
    for d in range(6):
        for k in range(5):
            a = torch.ones(6, dtype=torch.long)
            a[d] = k
            out.append(a)
    return out


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return (x - 0.5) / 0.5, torch.tensor(d.target)


# ---- ops -----------------------------------------------------------------------------------
def test_op_registry_has_nb201_ops_and_names_unknown_ones() -> None:
    assert set(NB201_OPS) <= set(list_ops())
    with pytest.raises(TnasError, match="nor_conv_3x3"):
        build_op("nor_conv_3x2", 4, 4)


@pytest.mark.parametrize("name", NB201_OPS)
@pytest.mark.parametrize("stride,c_out", [(1, 4), (2, 8)])
def test_op_output_shapes(name: str, stride: int, c_out: int) -> None:
    op = build_op(name, 4, c_out, stride, BNConfig(affine=False))
    y = op(torch.randn(2, 4, 8, 8))
    assert y.shape == (2, c_out, 8 // stride, 8 // stride) and torch.isfinite(y).all()


# ---- supernet forward ----------------------------------------------------------------------
@pytest.mark.parametrize("cin,size", [(1, 8), (3, 32)])
def test_supernet_every_op_and_random_archs(cin: int, size: int) -> None:
    g = torch.Generator().manual_seed(0)
    net = NB201Supernet(C=4, N=1, num_classes=7, in_channels=cin)
    x = torch.randn(3, cin, size, size, generator=g)
    archs = every_op_archs() + list(SPACE.sample_uniform(10, g)) + [torch.zeros(6, dtype=torch.long)]
    for mode in (net.train, net.eval):
        mode()
        for a in archs:
            y = net(x, a)
            assert y.shape == (3, 7) and torch.isfinite(y).all(), SPACE.to_genotype(a)


def test_supernet_default_size_and_mixed_shapes() -> None:
    net = NB201Supernet()  # C=16, N=5, 10 classes, RGB
    assert sum(isinstance(m, NB201Supernet) for m in net.modules()) == 1 and len(net.cells) == 17
    x = torch.randn(2, 3, 32, 32)
    assert net(x, arch_of(RESNET)).shape == (2, 10)
    assert net(x, torch.softmax(torch.randn(6, 5), -1)).shape == (2, 10)


def test_bad_arch_and_weights_raise() -> None:
    net = NB201Supernet(C=4, N=1)
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(TnasError, match="out of range"):
        net(x, torch.tensor([0, 1, 2, 3, 4, 5]))
    with pytest.raises(TnasError, match="shape"):
        net(x, torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(TnasError, match=r"\[6, 5\]"):
        net(x, torch.rand(6, 4))


def test_plan_skips_none_and_dead_edges() -> None:
    kinds = {0: "zero", 1: "identity", 2: "conv", 3: "conv", 4: "pool"}
    plan = make_plan(NB201_EDGES, [kinds[int(k)] for k in arch_of(DEAD)], 4)
    live = {d for _, edges in plan.nodes for _, d, _ in edges}
    assert live == {3} and not plan.zero_output  # only 3<-0 (conv) reaches the output
    assert make_plan(NB201_EDGES, ["zero"] * 6, 4).zero_output
    assert make_plan(NB201_EDGES, ["conv"] * 6, 4).relu_sources == frozenset({0, 1})  # node 2 feeds one conv


@pytest.mark.parametrize("channels_last", [True, False])
def test_single_path_equals_standalone_network(channels_last: bool) -> None:
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)  # module initialisation uses the global RNG (tests only)
    net = NB201Supernet(C=4, N=2, in_channels=3, channels_last=channels_last)
    x = torch.randn(8, 3, 16, 16, generator=g)
    archs = [arch_of(RESNET), arch_of(DEAD), torch.full((6,), 3, dtype=torch.long)] + list(SPACE.sample_uniform(5, g))
    for a in archs:  # populate running stats along several paths
        net(x, a)
    for a in archs:
        sub = net.extract(a)
        assert isinstance(sub, NB201Network) and count_params(sub) < count_params(net)
        for train in (False, True):
            net.train(train), sub.train(train)
            torch.testing.assert_close(net(x, a), sub(x), rtol=1e-5, atol=1e-5)


def test_mixed_forward_with_one_hot_weights_equals_single_path() -> None:
    g = torch.Generator().manual_seed(2)
    net = NB201Supernet(C=4, N=1, in_channels=1).train()
    x = torch.randn(4, 1, 8, 8, generator=g)
    for a in [arch_of(RESNET), arch_of(DEAD)] + list(SPACE.sample_uniform(4, g)):
        one_hot = F.one_hot(a, 5).float()
        torch.testing.assert_close(net(x, one_hot), net(x, a), rtol=1e-5, atol=1e-5)


def test_backward_reaches_only_the_chosen_live_ops() -> None:
    net = NB201Supernet(C=4, N=1, in_channels=1)
    a = arch_of(DEAD)
    F.cross_entropy(net(torch.randn(4, 1, 8, 8), a), torch.tensor([0, 1, 2, 3])).backward()
    _, plan = net.plan(a)
    live = {d for _, edges in plan.nodes for _, d, _ in edges}
    for cell, is_cell in zip(net.cells, net.is_cell_block):
        if not is_cell:
            continue
        for d, edge in enumerate(cell.edges):
            for k, op in enumerate(edge):
                for p in op.parameters():
                    assert (p.grad is not None) == (k == int(a[d]) and d in live), (d, k)
    assert all(p.grad is not None for p in net.stem.parameters())


# ---- costs against the NB201 table ---------------------------------------------------------
@pytest.fixture(scope="module")
def table(nb201_csv) -> list[dict[str, str]]:
    with open(nb201_csv, newline="") as f:
        return list(csv.DictReader(f))


def _row_arch(row: dict[str, str]) -> torch.Tensor:
    return torch.tensor([int(row[f"op_{j}to{i}"]) for i, j in NB201_EDGES])


def _matches(row: dict[str, str]) -> bool:
    # The table stores float32 values (e.g. 153.27296 for 153272970 MACs): compare to 2 ulp.
    p, f = float(row["c10_params_M"]), float(row["c10_flops_M"])
    a = _row_arch(row)
    return abs(count_params(a) / 1e6 - p) <= 2.4e-7 * p and abs(count_flops(a) / 1e6 - f) <= 2.4e-7 * f


def test_costs_match_table_for_known_cells(table: list[dict[str, str]]) -> None:
    rows = {int(r["index"]): r for r in table}
    resnet = rows[11472]
    assert resnet["arch_str"] == RESNET
    assert count_params(arch_of(RESNET)) == 559386 and count_flops(arch_of(RESNET)) == 78561930
    for index in (0, 1, 11472, 5000, 9999, 15624):
        assert _matches(rows[index]), rows[index]["arch_str"]


def test_costs_match_whole_table_but_for_its_inconsistent_rows(table: list[dict[str, str]]) -> None:
    bad = [r for r in table if not _matches(r)]
    # 150 rows of the Syne Tune cost columns count one conv more or fewer than the cell has;
    # e.g. index 3113 has one nor_conv_3x3 but its c10_params_M is that of two.
    assert len(bad) <= 150, len(bad)
    row = next(r for r in table if r["index"] == "3113")
    assert list(_row_arch(row)).count(3) == 1 and float(row["c10_params_M"]) * 1e6 > count_params(_row_arch(row)) + 2e5


def test_analytic_flops_equal_hooked_forward_count() -> None:
    for genotype, cin, size, classes in [(RESNET, 3, 32, 10), (DEAD, 1, 8, 10), (RESNET, 3, 16, 120)]:
        a = arch_of(genotype.replace("none", "avg_pool_3x3"))  # no dead edge: every conv runs
        net = NB201Network(a, C=8, N=2, num_classes=classes, in_channels=cin)
        macs = []

        def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            w = m.weight
            macs.append(out[0].numel() * w[0].numel() + (out.shape[-1] if isinstance(m, nn.Linear) else 0))

        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.register_forward_hook(hook)
        net.eval()(torch.randn(1, cin, size, size))
        assert sum(macs) == count_flops(a, C=8, N=2, num_classes=classes, in_channels=cin, input_size=size)
        assert count_params(net) == count_params(a, C=8, N=2, num_classes=classes, in_channels=cin)
    with pytest.raises(TnasError, match="multiples of 4"):
        count_flops(a, input_size=30)


# ---- BN recalibration ----------------------------------------------------------------------
def _train_briefly(net: NB201Supernet, x: torch.Tensor, y: torch.Tensor, g: torch.Generator, steps: int = 20) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        opt.zero_grad()
        F.cross_entropy(net(x[idx], SPACE.sample_uniform(1, g)[0]), y[idx]).backward()
        opt.step()


def test_recalibrate_bn_is_deterministic_and_local(digits: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = digits
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    net = NB201Supernet(C=4, N=1, in_channels=1)
    _train_briefly(net, x[:1200], y[:1200], g)
    a = arch_of("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|")
    batches = [x[i : i + 100] for i in range(0, 500, 100)]
    chosen_bn, other_bn = net.cells[0].edges[0][3].bn, net.cells[0].edges[0][2].bn
    before_chosen, before_other = chosen_bn.running_mean.clone(), other_bn.running_mean.clone()

    def accuracy() -> float:
        with torch.no_grad():
            return (net(x[1200:], a).argmax(1) == y[1200:]).float().mean().item()

    recalibrate_bn(net, a, batches, num_batches=5)
    assert not net.training and chosen_bn.momentum == 0.1 and int(chosen_bn.num_batches_tracked) == 5
    assert not torch.allclose(chosen_bn.running_mean, before_chosen)
    torch.testing.assert_close(other_bn.running_mean, before_other, rtol=0, atol=0)  # unused op untouched
    stats, acc = chosen_bn.running_var.clone(), accuracy()
    net.train()(x[:64], a)  # disturb the running stats, then recalibrate again
    recalibrate_bn(net, a, iter(batches), num_batches=5)
    torch.testing.assert_close(chosen_bn.running_var, stats, rtol=0, atol=0)
    assert accuracy() == acc
    # the stats are the average over the batches: the first BN (stem) sees the images directly
    stem_bn, stem_conv = net.stem[1], net.stem[0]
    with torch.no_grad():
        means = torch.stack([stem_conv(b).mean((0, 2, 3)) for b in batches]).mean(0)
    torch.testing.assert_close(stem_bn.running_mean, means, rtol=1e-4, atol=1e-5)
    with pytest.raises(TnasError, match="no batches"):
        recalibrate_bn(net, a, [], num_batches=1)


# ---- device --------------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_backward_and_recalibration() -> None:
    dev = torch.device("cuda")
    net = NB201Supernet(C=4, N=1).to(dev)
    a = arch_of(RESNET)
    x = torch.randn(8, 3, 32, 32, device=dev)
    out = net(x, a)
    assert out.device.type == "cuda"
    out.sum().backward()
    assert net.stem[0].weight.grad.device.type == "cuda"
    recalibrate_bn(net, a, [torch.randn(8, 3, 32, 32)], num_batches=1)  # CPU batches are moved
    assert net.stem[1].running_mean.device.type == "cuda"
    sub = net.extract(a)
    torch.testing.assert_close(sub(x), net(x, a), rtol=1e-4, atol=1e-4)


def test_standalone_network_equals_nb201_reference_when_xautodl_is_installed() -> None:
    """Our NB201Network computes NB201's own TinyNetwork (xautodl, when installed) with the same
    weights, for cells without dead edges (where both run exactly the same ops)."""
    xmodels = pytest.importorskip("xautodl.models.cell_infers.tiny_network")
    from xautodl.models.cell_searchs import CellStructure

    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 3, 16, 16, generator=g)
    for genotype in [RESNET.replace("none", "avg_pool_3x3"),
                     "|nor_conv_1x1~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"]:
        ours = NB201Network(arch_of(genotype), C=4, N=1, num_classes=5)
        ref = xmodels.TinyNetwork(4, 1, CellStructure.str2structure(genotype), 5)
        theirs, mine = ref.state_dict(), ours.state_dict()
        assert [v.shape for v in theirs.values()] == [v.shape for v in mine.values()]
        ref.load_state_dict(dict(zip(theirs, mine.values())))  # same tensor order, other names
        for train in (True, False):
            ours.train(train), ref.train(train)
            torch.testing.assert_close(ours(x), ref(x)[1], rtol=1e-5, atol=1e-5)
