"""The DARTS search network (Liu et al., ICLR 2019, `cnn/model_search.py`) as a tnas supernet.

Macro skeleton: stem 3x3 conv with 3C channels + BN; 3N+2 cells, where cells N and 2N+1 (1/3
and 2/3 of the depth) are reduction cells that halve the resolution and double the channels;
global average pool and a linear classifier. Cell k reads the outputs of cells k-2 and k-1,
preprocessed to C_k channels by a 1x1 ReLUConvBN (a FactorizedReduce for k-2 when cell k-1
reduced), and outputs the concatenation of its nodes 2..5 (4 C_k channels). All cells of one
type share the same searched cell (`tnas.space.darts`).

Every edge (input j -> node i) holds all 8 ops with BN affine=False, pooling followed by a BN
(DARTS's MixedOp); the edges from the two cell inputs of a reduction cell have stride 2.

- `forward(x, arch long [D])`: single path, only the two chosen ops per node are run.
- `forward(x, weights float [D, K])`: the DARTS continuous relaxation. A node's output
  expectation under the factorised distribution over its input pair and its two ops is
  sum_j sum_o c[j, o] op_o(s_j) with c[j, o] = P(j is the pair's first input) w_a[o] +
  P(j is the second input) w_b[o]; so each edge op is run once (DARTS's cost), and ops with a
  zero coefficient (and every 'none' op) are skipped.
- `extract(arch)`: the single path as a stand-alone module (`DARTSPath`) holding copies of the
  chosen ops' inherited weights and BN statistics (what `tnas export` saves of a search run).
- `forward_hard(x, weights)`: the argmax path, each chosen op's output multiplied by (chosen pair
  entry * chosen op entry), value 1, so gradients reach both decisions (GDAS / TNAS-G; see
  `tnas.supernet.hard` for the NB201 version and why unchosen entries get none).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops import BNConfig, FactorizedReduce, ReLUConvBN
from tnas.ops.darts import DARTS_OPS, make_darts_op
from tnas.space import SearchSpace, get_space
from tnas.space.darts import CELLS, LAYOUT, NUM_NODES, CellNodes, DARTSSpace, node_pairs

STEM_MULTIPLIER = 3


@dataclass(frozen=True)
class CellSpec:
    """Channels and type of one cell in the macro skeleton."""

    C_pp: int  # channels of the cell's input from two cells back
    C_p: int  # channels of the previous cell's output
    C: int  # channels of each node of this cell (its output has 4 C)
    reduction: bool
    reduction_prev: bool


def macro_layout(C: int, N: int) -> list[CellSpec]:
    """The 3N+2 cells of a DARTS network with C initial channels (reductions at N and 2N+1)."""
    if C < 1 or N < 1:
        raise TnasError(f"DARTS network sizes must be positive, got C={C}, N={N} (N = normal cells per stage).")
    layers = 3 * N + 2
    c_pp = c_p = STEM_MULTIPLIER * C
    c, red_prev, out = C, False, []
    for i in range(layers):
        red = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if red else c
        out.append(CellSpec(c_pp, c_p, c, red, red_prev))
        red_prev, c_pp, c_p = red, c_p, NUM_NODES * c
    return out


def preprocess(spec: CellSpec, affine: bool) -> tuple[nn.Module, nn.Module]:
    """The cell's input adapters: (for s0, for s1)."""
    bn = BNConfig(affine)
    p0 = FactorizedReduce(spec.C_pp, spec.C, 2, bn) if spec.reduction_prev else ReLUConvBN(spec.C_pp, spec.C, 1, 1, bn)
    return p0, ReLUConvBN(spec.C_p, spec.C, 1, 1, bn)


class _SearchCell(nn.Module):
    """A cell with every op on every edge: edges[i][j][o] is op o on input j -> node i+2."""

    def __init__(self, spec: CellSpec) -> None:
        super().__init__()
        self.reduction = spec.reduction
        self.preprocess0, self.preprocess1 = preprocess(spec, affine=False)
        self.edges = nn.ModuleList(
            nn.ModuleList(
                nn.ModuleList(
                    make_darts_op(op, spec.C, 2 if spec.reduction and j < 2 else 1, False, search=True)
                    for op in DARTS_OPS
                )
                for j in range(i + 2)
            )
            for i in range(NUM_NODES)
        )

    def forward_path(self, s0: Tensor, s1: Tensor, nodes: CellNodes, scales: list[tuple[Tensor, Tensor]] | None) -> Tensor:
        """Single path; `scales[i]` multiply node i's two op outputs (forward_hard)."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i, ((oa, a), (ob, b)) in enumerate(nodes):
            ya, yb = self.edges[i][a][oa](states[a]), self.edges[i][b][ob](states[b])
            if scales is not None:
                ya, yb = ya * scales[i][0], yb * scales[i][1]
            states.append(ya + yb)
        return torch.cat(states[2:], dim=1)

    def forward_mixed(self, s0: Tensor, s1: Tensor, coefs: list[Tensor], live: list[list[tuple[int, int]]]) -> Tensor:
        """Mixed; coefs[i] float [i+2, 8] per edge and op, live[i] the (j, o) to compute."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(NUM_NODES):
            acc: Tensor | None = None
            for j, o in live[i]:
                y = coefs[i][j, o] * self.edges[i][j][o](states[j])
                acc = y if acc is None else acc + y
            states.append(self.edges[i][0][0](states[0]) if acc is None else acc)  # [0][0]: 'none', zeros
        return torch.cat(states[2:], dim=1)


class DARTSSupernet(nn.Module):
    """Weight-sharing DARTS search network over `tnas.space.darts` (see the module docstring).

    Args:
        space: the DARTS space (default `get_space('darts')`).
        C: initial channels (DARTS search: 16).
        N: normal cells per stage; 3N+2 cells in all (DARTS search: N=2, 8 cells).
        num_classes: classifier outputs.
        in_channels: image channels.
        channels_last: run on NHWC activations; None = on CPU only.
    """

    _version = 1

    def __init__(self, space: SearchSpace | None = None, C: int = 16, N: int = 2, num_classes: int = 10,
                 in_channels: int = 3, channels_last: bool | None = None) -> None:
        super().__init__()
        self.space = space if space is not None else get_space("darts")
        if not isinstance(self.space, DARTSSpace):
            raise TnasError(f"DARTSSupernet needs the DARTS space (get_space('darts')), got space '{self.space.name}'.")
        self.C, self.N, self.num_classes, self.in_channels = C, N, num_classes, in_channels
        self.channels_last = channels_last
        specs = macro_layout(C, N)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, STEM_MULTIPLIER * C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(STEM_MULTIPLIER * C))
        self.cells = nn.ModuleList(_SearchCell(s) for s in specs)
        self.classifier = nn.Linear(NUM_NODES * specs[-1].C, num_classes)
        # first[i] / second[i]: float [pairs, i+2], one-hot of each pair's lower / upper input.
        for i in range(NUM_NODES):
            pairs = torch.tensor(node_pairs(i))
            self.register_buffer(f"_first{i}", nn.functional.one_hot(pairs[:, 0], i + 2).float(), persistent=False)
            self.register_buffer(f"_second{i}", nn.functional.one_hot(pairs[:, 1], i + 2).float(), persistent=False)

    def _run(self, x: Tensor, cell_forward: Callable[[_SearchCell, int, Tensor, Tensor], Tensor]) -> Tensor:
        """Stem, cells (`cell_forward(cell, cell type 0/1, s0, s1)`), head: logits [B, num_classes]."""
        # On CPU, NHWC is ~3x faster here (depthwise and 1x1 convs; C=16, N=2, 32x32, batch 64).
        nhwc = x.device.type == "cpu" if self.channels_last is None else self.channels_last
        x = x.contiguous(memory_format=torch.channels_last) if nhwc else x
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell_forward(cell, int(cell.reduction), s0, s1)
        return self.classifier(s1.mean((2, 3)))

    def forward(self, x: Tensor, arch: Tensor) -> Tensor:
        """Logits [B, num_classes] of images x [B, in_channels, H, W] (H, W divisible by 4).

        Args:
            arch: long [D], one path (the fast branch); or float [D, K] weights -> `forward_mixed`.
        """
        if arch.is_floating_point():
            return self.forward_mixed(x, arch)
        cells = self.space.cells(arch.cpu())
        return self._run(x, lambda cell, t, s0, s1: cell.forward_path(s0, s1, cells[t], None))

    def _check_weights(self, weights: Tensor, what: str) -> None:
        D, K = self.space.num_decisions, self.space.max_choices
        if not weights.is_floating_point() or tuple(weights.shape) != (D, K):
            raise TnasError(f"{what} needs float weights of shape [{D}, {K}] (space 'darts'), got "
                            f"{weights.dtype} {tuple(weights.shape)}.")

    def coefficients(self, weights: Tensor) -> list[list[Tensor]]:
        """Per cell type and node i, the edge-op coefficients c float [i+2, 8] (module docstring)."""
        self._check_weights(weights, "The mixed forward")
        out = []
        for c in range(len(CELLS)):
            nodes = []
            for i, (dp, da, db) in enumerate(LAYOUT[c]):
                wa, wb = weights[da, : len(DARTS_OPS)], weights[db, : len(DARTS_OPS)]
                if dp is None:  # node 2 always reads (0, 1)
                    nodes.append(torch.stack([wa, wb]))
                    continue
                p = weights[dp, : len(node_pairs(i))]
                pa = p @ getattr(self, f"_first{i}").to(weights.dtype)  # [i+2] P(j is the first input)
                pb = p @ getattr(self, f"_second{i}").to(weights.dtype)
                nodes.append(pa[:, None] * wa[None, :] + pb[:, None] * wb[None, :])
            out.append(nodes)
        return out

    def forward_mixed(self, x: Tensor, weights: Tensor) -> Tensor:
        """DARTS continuous relaxation; weights float [D, K] (rows: probabilities, padding 0).
        Returns logits [B, num_classes]; gradients flow to `weights`."""
        coefs = self.coefficients(weights)
        # one device->host copy decides which (edge, op) pairs to run
        flat = torch.cat([c for cell in coefs for c in cell]).detach().ne(0).cpu()
        flat[:, DARTS_OPS.index("none")] = False  # w * 0 = 0 and no gradient: skip
        live, row = [], 0
        for cell in coefs:
            nodes = []
            for c in cell:
                nodes.append([tuple(jo) for jo in flat[row: row + c.shape[0]].nonzero().tolist()])
                row += c.shape[0]
            live.append(nodes)
        return self._run(x, lambda cell, t, s0, s1: cell.forward_mixed(s0, s1, coefs[t], live[t]))

    def forward_hard(self, x: Tensor, weights: Tensor) -> Tensor:
        """The argmax path of one-hot `weights` float [D, K] (straight-through values); each chosen
        op output is scaled by chosen pair entry * chosen op entry. Returns logits [B, num_classes]."""
        self._check_weights(weights, "forward_hard")
        arch = weights.detach().argmax(-1).cpu()
        cells = self.space.cells(arch)
        chosen = weights[torch.arange(len(arch), device=weights.device), arch.to(weights.device)]  # [D]
        scales = []
        for c in range(len(CELLS)):
            node_scales = []
            for dp, da, db in LAYOUT[c]:
                p = chosen[dp] if dp is not None else 1.0
                node_scales.append((chosen[da] * p, chosen[db] * p))
            scales.append(node_scales)
        return self._run(x, lambda cell, t, s0, s1: cell.forward_path(s0, s1, cells[t], scales[t]))

    def extract(self, arch: Tensor) -> "DARTSPath":
        """The single path `arch` long [D] as a stand-alone module with copies of this supernet's
        (inherited) weights and BN statistics; it computes exactly `self(x, arch)`."""
        return DARTSPath(self, arch)


class _PathCell(nn.Module):
    """One cell of a `DARTSPath`: the search cell's preprocessing and its two chosen ops per node."""

    def __init__(self, cell: _SearchCell, nodes: CellNodes) -> None:
        super().__init__()
        self.reduction = cell.reduction
        self.preprocess0, self.preprocess1 = copy.deepcopy(cell.preprocess0), copy.deepcopy(cell.preprocess1)
        self.inputs = tuple((a, b) for (_, a), (_, b) in nodes)
        # ops[2i], ops[2i+1]: node i+2's ops on inputs inputs[i] (the two inputs differ: distinct edges)
        self.ops = nn.ModuleList(copy.deepcopy(cell.edges[i][j][o]) for i, node in enumerate(nodes) for o, j in node)

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i, (a, b) in enumerate(self.inputs):  # same order of operations as _SearchCell.forward_path
            states.append(self.ops[2 * i](states[a]) + self.ops[2 * i + 1](states[b]))
        return torch.cat(states[2:], dim=1)


class DARTSPath(nn.Module):
    """One architecture cut out of a `DARTSSupernet` (its `extract`): stem, the 3N+2 cells with only
    their chosen ops, classifier; search-network ops (BN affine=False, running stats as recalibrated).

    Input x [B, in_channels, H, W] (H, W divisible by 4) -> logits [B, num_classes]. Its state_dict
    keys depend only on (C, N, arch), so `build_supernet(space, size).extract(arch)` rebuilds the
    module a saved state_dict loads into.
    """

    def __init__(self, supernet: DARTSSupernet, arch: Tensor) -> None:
        super().__init__()
        normal, reduce = supernet.space.cells(arch.detach().cpu())
        self.channels_last = supernet.channels_last
        self.stem = copy.deepcopy(supernet.stem)
        self.cells = nn.ModuleList(_PathCell(c, reduce if c.reduction else normal) for c in supernet.cells)
        self.classifier = copy.deepcopy(supernet.classifier)

    def forward(self, x: Tensor) -> Tensor:
        nhwc = x.device.type == "cpu" if self.channels_last is None else self.channels_last  # as the supernet
        x = x.contiguous(memory_format=torch.channels_last) if nhwc else x
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(s1.mean((2, 3)))
