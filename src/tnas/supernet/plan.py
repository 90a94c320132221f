"""Execution plans for a cell DAG: which edges of a sampled architecture actually matter.

A cell has nodes 0..M-1 (0 = input, M-1 = output) and edges (i <- j), j < i. An edge matters
when its op is not 'zero', its source node is not identically zero, and its target node reaches
the output through such edges. Everything else is skipped in the forward pass: a 'none' edge
adds nothing; an edge that reads a node whose inputs are all 'none' would transform zeros
(dead signal); an edge into a node that no live edge reads cannot change the output. Skipping
dead edges leaves the output unchanged (up to BN on an all-zero input, see `NB201Supernet`) and
means the optimizer never touches weights that received no gradient signal.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# One live edge: (source node j, decision index d, op kind).
LiveEdge = tuple[int, int, str]


@dataclass(frozen=True)
class CellPlan:
    """The live part of one cell for one architecture.

    Attributes:
        nodes: (target node i, its live input edges) for each live node, in topological order.
        zero_output: True when no input reaches the output; the cell then returns zeros.
        relu_sources: source nodes read by two or more 'conv' edges; their ReLU is computed once.
    """

    nodes: tuple[tuple[int, tuple[LiveEdge, ...]], ...]
    zero_output: bool
    relu_sources: frozenset[int]


def make_plan(edges: Sequence[tuple[int, int]], kinds: Sequence[str], num_nodes: int) -> CellPlan:
    """Plan the forward pass of one cell.

    Args:
        edges: (target i, source j) per decision, j < i, in decision order.
        kinds: the `kind` of the chosen op per decision ('zero', 'identity', 'conv', 'pool', ...).
        num_nodes: M; node 0 is the input and node M-1 the output.
    """
    out = num_nodes - 1
    nonzero = [True] + [False] * out
    for i in range(1, num_nodes):  # forward pass: which nodes carry signal
        nonzero[i] = any(t == i and kinds[d] != "zero" and nonzero[s] for d, (t, s) in enumerate(edges))
    useful = [False] * out + [True]
    for j in range(out - 1, -1, -1):  # backward pass: which nodes reach the output
        useful[j] = any(
            s == j and kinds[d] != "zero" and useful[t] and nonzero[t] for d, (t, s) in enumerate(edges)
        )
    if not nonzero[out]:
        return CellPlan((), True, frozenset())
    nodes = []
    for i in range(1, num_nodes):
        if not (nonzero[i] and useful[i]):
            continue
        live = tuple((s, d, kinds[d]) for d, (t, s) in enumerate(edges) if t == i and kinds[d] != "zero" and nonzero[s])
        nodes.append((i, live))
    conv_reads = [s for _, live in nodes for s, _, kind in live if kind == "conv"]
    shared = frozenset(s for s in set(conv_reads) if conv_reads.count(s) > 1)
    return CellPlan(tuple(nodes), False, shared)
