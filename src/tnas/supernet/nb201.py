"""The NAS-Bench-201 weight-sharing supernet and the stand-alone network of one cell.

Macro skeleton (Dong & Yang, ICLR 2020): stem conv3x3 + BN; three stages of N cells with C, 2C
and 4C channels, separated by residual reduction blocks (stride 2); BN + ReLU, global average
pool, linear classifier. Spatial sizes must be divisible by 4 (8x8 digits and 32x32 CIFAR are).

`NB201Supernet.forward(x, arch)` runs one sampled path: per edge only the chosen op, and only the
live edges (`tnas.supernet.plan`): 'none' edges and edges whose signal cannot reach the cell
output are not computed at all. That is the training hot path of one-shot search. A float
`weights [D, K]` argument instead routes to `forward_mixed`, the DARTS-style weighted sum over
all ops (issue 4); the single-path branch pays one dtype check for that.

Semantics of dead signal: a node whose inputs are all 'none' is zero, and an op reading a zero
node contributes nothing. NB201's own networks would run e.g. a ReLU-Conv-BN on those zeros,
which is zero in training mode (BN of a constant) but BN's running-mean shift in eval mode; we
treat that path as absent, here and in `NB201Network`, so both agree with each other exactly.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops import BNConfig, ResNetBasicBlock, build_op
from tnas.space import SearchSpace, get_space
from tnas.supernet.cell import cell_edges, op_kind, run_cell
from tnas.supernet.hard import forward_hard
from tnas.supernet.plan import CellPlan, make_plan

# Search-time BN of the candidate ops, as in NB201's supernets: no affine, running stats kept
# (recalibrated before evaluation by tnas.evaluate.bn.recalibrate_bn).
SEARCH_BN = BNConfig(affine=False, track_running_stats=True)


class _NB201Macro(nn.Module):
    """Stem, stages of cells with reduction blocks between them, and the classifier head."""

    def _build(self, C: int, N: int, num_classes: int, in_channels: int, make_cell: Callable[[int], nn.Module]) -> None:
        if min(C, N, num_classes, in_channels) < 1:
            raise TnasError(
                f"NB201 network sizes must be positive, got C={C}, N={N}, num_classes={num_classes}, "
                f"in_channels={in_channels}."
            )
        self.C, self.N, self.num_classes, self.in_channels = C, N, num_classes, in_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        for stage in range(3):
            c = C * 2**stage
            if stage > 0:  # reductions keep NB201's defaults: affine BN, running stats
                cells.append(ResNetBasicBlock(c // 2, c, 2, BNConfig()))
            cells.extend(make_cell(c) for _ in range(N))
        self.cells = nn.ModuleList(cells)
        # is_cell_block[i]: whether cells[i] is a searchable cell (else a reduction block).
        self.is_cell_block = tuple(not isinstance(m, ResNetBasicBlock) for m in cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU())
        self.classifier = nn.Linear(4 * C, num_classes)

    def _layout(self, x: Tensor) -> Tensor:
        # Convolutions keep the memory format of their input, so converting once suffices.
        nhwc = x.device.type == "cpu" if self.channels_last is None else self.channels_last
        return x.contiguous(memory_format=torch.channels_last) if nhwc else x

    def _head(self, h: Tensor) -> Tensor:
        return self.classifier(self.lastact(h).mean((2, 3)))


class NB201Supernet(_NB201Macro):
    """Weight-sharing NB201 supernet: every edge of every cell holds all K candidate ops.

    `state_dict()` is the standard nn.Module one; its metadata carries `_version` (checkpoints
    from an incompatible layout can be detected by the loader).

    Args:
        space: a cell space whose decisions are edges 'i<-j' (default NB201: 6 edges x 5 ops).
        C: channels of the first stage (then 2C, 4C).
        N: cells per stage.
        num_classes: classifier outputs.
        in_channels: image channels (3 for CIFAR, 1 for digits).
        bn: BN settings of the candidate ops (default: affine=False, running stats tracked).
        channels_last: run on NHWC activations (the input is converted); None = on CPU only.
            On CPU, oneDNN's convolutions (backward especially) and the count_include_pad=False
            3x3 average pool are ~1.6x faster in NHWC at C=16 (docs/results/throughput.md); on
            CUDA it is unmeasured, so None keeps cuDNN's default NCHW there.
    """

    _version = 1

    def __init__(
        self, space: SearchSpace | None = None, C: int = 16, N: int = 5, num_classes: int = 10,
        in_channels: int = 3, bn: BNConfig = SEARCH_BN, channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        self.space = space if space is not None else get_space("nb201")
        self.edges, self.num_nodes = cell_edges(self.space)
        self.bn = bn
        self.channels_last = channels_last

        def make_cell(c: int) -> nn.Module:
            cell = nn.Module()
            cell.edges = nn.ModuleList(
                nn.ModuleList(build_op(op, c, c, 1, bn) for op in d.choices) for d in self.space.decisions
            )
            return cell

        self._build(C, N, num_classes, in_channels, make_cell)
        first = next(m for m, is_cell in zip(self.cells, self.is_cell_block) if is_cell)
        # kinds[d][k]: what op k of decision d is; the same in every cell.
        self._kinds = tuple(tuple(op_kind(op) for op in edge) for edge in first.edges)
        self._plans: dict[tuple[int, ...], CellPlan] = {}

    def plan(self, arch: Tensor) -> tuple[tuple[int, ...], CellPlan]:
        """(choice per decision, live-edge plan) for `arch` long [D]; validated and cached."""
        if arch.dim() != 1:
            raise TnasError(
                f"forward takes one architecture, long [{self.space.num_decisions}]; got shape {tuple(arch.shape)}."
            )
        key = tuple(arch.tolist())
        plan = self._plans.get(key)
        if plan is None:
            self.space.validate(arch.cpu())
            kinds = [self._kinds[d][k] for d, k in enumerate(key)]
            plan = self._plans[key] = make_plan(self.edges, kinds, self.num_nodes)
        return key, plan

    def forward(self, x: Tensor, arch: Tensor) -> Tensor:
        """Logits [B, num_classes] of x [B, in_channels, H, W] through one path.

        Args:
            x: images [B, in_channels, H, W], H and W divisible by 4.
            arch: long [D], the chosen op per edge (single path, the fast branch); or float
                [D, K] op weights, which runs `forward_mixed`.
        """
        if arch.is_floating_point():
            return self.forward_mixed(x, arch)
        choice, plan = self.plan(arch)
        h = self.stem(self._layout(x))
        for cell, is_cell in zip(self.cells, self.is_cell_block):
            if is_cell:
                h = run_cell(h, plan, [edge[k] for edge, k in zip(cell.edges, choice)], self.num_nodes)
            else:
                h = cell(h)
        return self._head(h)

    def forward_mixed(self, x: Tensor, weights: Tensor) -> Tensor:
        """DARTS-style forward: every edge outputs sum_k weights[d, k] * op_k(node).

        Args:
            x: images [B, in_channels, H, W].
            weights: float [D, K] (e.g. softmax(alpha)); gradients flow to it.
        Returns:
            logits [B, num_classes].
        """
        D, K = self.space.num_decisions, self.space.max_choices
        if tuple(weights.shape) != (D, K):
            raise TnasError(f"Mixed-op weights must have shape [{D}, {K}], got {tuple(weights.shape)}.")
        h = self.stem(self._layout(x))
        for cell, is_cell in zip(self.cells, self.is_cell_block):
            h = self._mixed_cell(cell, h, weights) if is_cell else cell(h)
        return self._head(h)

    def _mixed_cell(self, cell: nn.Module, x: Tensor, weights: Tensor) -> Tensor:
        nodes = [x]
        for i in range(1, self.num_nodes):
            acc = torch.zeros_like(x)
            for d, (t, j) in enumerate(self.edges):
                if t != i:
                    continue
                for k, op in enumerate(cell.edges[d]):
                    if self._kinds[d][k] != "zero":  # a zero op adds w * 0 = 0 and no gradient
                        acc = acc + weights[d, k] * op(nodes[j])
            nodes.append(acc)
        return nodes[-1]

    def forward_hard(self, x: Tensor, weights: Tensor) -> Tensor:
        """The sampled path of one-hot `weights` float [D, K] with straight-through gradients
        (GDAS / TNAS-G); see `tnas.supernet.hard.forward_hard`."""
        return forward_hard(self, x, weights)

    def angle_pieces(self, arch: Tensor, params: dict[str, Tensor]) -> list[Tensor]:
        """The weight vector of the path `arch` for the `angle` score, from `params` ({name:
        tensor}, this supernet's initial or current parameters), built as ABS's Algorithm 1 (Hu et
        al., ECCV 2020; as RLNAS applies it to NB201): the fixed parts (stem, reduction blocks,
        head) and, per input->output path of the cell DAG and per cell, its edges' weights in
        order, where a 'none' edge cuts the path, 'skip' adds nothing and a 3x3 average pool adds a
        fixed [C, 3, 3] kernel of 1/9 (the same in both weight sets). Ops of other kinds add their
        own parameters. Returns flat tensors (an empty list when every path is cut)."""
        choice = tuple(arch.tolist())
        cell_prefixes = [f"cells.{i}.edges." for i, is_cell in enumerate(self.is_cell_block) if is_cell]
        fixed = [params[n].reshape(-1) for n, _ in self.named_parameters() if not n.startswith(tuple(cell_prefixes))]
        path_pieces: list[Tensor] = []
        open_paths = 0
        for path in _cell_paths(self.edges, self.num_nodes):
            kinds = [self._kinds[d][choice[d]] for d in path]
            if "zero" in kinds:  # 'none' changes the connectivity: the path is gone
                continue
            open_paths += 1
            for i, is_cell in enumerate(self.is_cell_block):
                if not is_cell:
                    continue
                cell = self.cells[i]
                for d, kind in zip(path, kinds):
                    k = choice[d]
                    if kind == "identity":
                        continue
                    if kind == "pool":
                        c = self.C * 2 ** (sum(1 for b in self.is_cell_block[:i] if not b))
                        path_pieces.append(torch.full((c * 9,), 1.0 / 9.0, dtype=torch.float64))
                        continue
                    prefix = f"cells.{i}.edges.{d}.{k}."
                    path_pieces += [params[prefix + n].reshape(-1) for n, _ in cell.edges[d][k].named_parameters()]
        return fixed + path_pieces if open_paths else []  # all paths cut: no network to compare

    def extract(self, arch: Tensor) -> "NB201Network":
        """The stand-alone network of `arch` with this supernet's (inherited) weights and BN stats."""
        net = NB201Network(
            arch, self.C, self.N, self.num_classes, self.in_channels, space=self.space, bn=self.bn,
            channels_last=self.channels_last,
        )
        net.stem.load_state_dict(self.stem.state_dict())
        net.lastact.load_state_dict(self.lastact.state_dict())
        net.classifier.load_state_dict(self.classifier.state_dict())
        for src, dst, is_cell in zip(self.cells, net.cells, self.is_cell_block):
            if not is_cell:
                dst.load_state_dict(src.state_dict())
                continue
            for d, k in enumerate(arch.tolist()):
                dst.edges[d].load_state_dict(src.edges[d][k].state_dict())
        return net.to(next(self.parameters()).device)


class NB201Network(_NB201Macro):
    """Stand-alone NB201 network of one cell: only the chosen op per edge is instantiated.

    Args:
        arch: long [D], the cell (e.g. `space.from_genotype(...)`).
        C, N, num_classes, in_channels: as in `NB201Supernet`.
        space: the cell space (default NB201).
        bn: BN settings of the cell ops (default affine, as for training from scratch).
        channels_last: run on NHWC activations; None = on CPU only (see `NB201Supernet`).
        device: where to create the parameters (e.g. 'cuda'; 'meta' for shapes only).
    """

    def __init__(
        self, arch: Tensor, C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3,
        space: SearchSpace | None = None, bn: BNConfig = BNConfig(), channels_last: bool | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.space = space if space is not None else get_space("nb201")
        self.space.validate(arch)
        if arch.dim() != 1:
            raise TnasError(
                f"NB201Network takes one architecture, long [{self.space.num_decisions}]; got shape {tuple(arch.shape)}."
            )
        self.arch = arch.detach().cpu().clone()
        self.edges, self.num_nodes = cell_edges(self.space)
        names = self.space.decode(self.arch)

        def make_cell(c: int) -> nn.Module:
            cell = nn.Module()
            cell.edges = nn.ModuleList(build_op(op, c, c, 1, bn) for op in names)
            return cell

        with torch.device(device) if device is not None else contextlib.nullcontext():
            self._build(C, N, num_classes, in_channels, make_cell)
        first = next(m for m, is_cell in zip(self.cells, self.is_cell_block) if is_cell)
        self._plan = make_plan(self.edges, [op_kind(op) for op in first.edges], self.num_nodes)

    def forward(self, x: Tensor) -> Tensor:
        """Logits [B, num_classes] of images x [B, in_channels, H, W]."""
        h = self.stem(self._layout(x))
        for cell, is_cell in zip(self.cells, self.is_cell_block):
            h = run_cell(h, self._plan, list(cell.edges), self.num_nodes) if is_cell else cell(h)
        return self._head(h)


def _cell_paths(edges: tuple[tuple[int, int], ...], num_nodes: int) -> list[tuple[int, ...]]:
    """Every input->output path of a cell DAG as the decision indices of its edges, in order
    (NB201: 0->3, 0->1->3, 0->2->3, 0->1->2->3)."""
    out: list[tuple[int, ...]] = []

    def walk(node: int, taken: tuple[int, ...]) -> None:
        if node == num_nodes - 1:
            out.append(taken)
            return
        for d, (target, source) in enumerate(edges):
            if source == node:
                walk(target, taken + (d,))

    walk(0, ())
    return out
