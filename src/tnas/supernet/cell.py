"""The cell of NB201-style spaces: edges from decision names, op kinds, and running the live edges.

A cell space names each decision 'i<-j' (an edge from node j to node i, j < i). `make_plan`
(`tnas.supernet.plan`) picks the live edges of one architecture; `run_cell` evaluates them, one
ReLU per source node shared by its conv edges. Used by the NB201 supernet and network and by the
hard (straight-through) forward of `tnas.supernet.hard`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.space import SearchSpace
from tnas.supernet.plan import CellPlan


def cell_edges(space: SearchSpace) -> tuple[tuple[tuple[int, int], ...], int]:
    """(target, source) per decision, parsed from decision names 'i<-j', and the node count."""
    edges = []
    for d in space.decisions:
        target, sep, source = d.name.partition("<-")
        if not (sep and target.isdigit() and source.isdigit() and int(source) < int(target)):
            raise TnasError(
                f"Space '{space.name}' decision '{d.name}' is not a cell edge 'i<-j' (j < i); the NB201 "
                "supernet needs a cell space such as get_space('nb201')."
            )
        edges.append((int(target), int(source)))
    return tuple(edges), max(t for t, _ in edges) + 1


def op_kind(op: nn.Module) -> str:
    """The op's `kind` class attribute ('zero' ops are skipped, 'conv' ops share a ReLU);
    ops of other spaces without one are treated as opaque modules."""
    return getattr(type(op), "kind", "other")


def run_cell(x: Tensor, plan: CellPlan, ops: list[nn.Module], num_nodes: int) -> Tensor:
    """Evaluate the live edges of one cell.

    Args:
        x: cell input [B, C, H, W].
        plan: the live edges (`make_plan`).
        ops: the chosen op per decision d.
    Returns:
        The output node [B, C, H, W].
    """
    if plan.zero_output:
        return torch.zeros_like(x)
    nodes: dict[int, Tensor] = {0: x}
    relus: dict[int, Tensor] = {}
    for i, live in plan.nodes:
        acc: Tensor | None = None
        for j, d, kind in live:
            if kind == "conv" and j in plan.relu_sources:
                r = relus.get(j)
                if r is None:  # one ReLU per source node, shared by its conv edges
                    r = relus[j] = F.relu(nodes[j])
                y = ops[d].forward_relu(r)
            else:
                y = ops[d](nodes[j])
            acc = y if acc is None else acc + y
        assert acc is not None
        nodes[i] = acc
    return nodes[num_nodes - 1]
