"""NAS-Bench-201 cell space: 6 edges x 5 ops (Dong & Yang, ICLR 2020).

A cell is a DAG on 4 nodes (0 = input, 3 = output); edge j->i carries one op. The decisions are
the 6 edges in the official string order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, which is also
the column order `op_0to1 ... op_2to3` of the NB201 table. The official string
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` is read and written byte for byte. The official index
0..15624 is a permutation only the benchmark table knows: see `tnas.bench.NB201Table`.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from tnas.errors import TnasError, suggest
from tnas.space.base import Decision, SearchSpace, genotype_text
from tnas.space.registry import register_space

# Official NB201 op order; the code of an op is its position here.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
# (target node, source node) for each decision, in official string order.
NB201_EDGES: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(1, NUM_NODES) for j in range(i))

_FORMAT = "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|"


@dataclass(frozen=True)
class NB201Space(SearchSpace):
    """The NB201 space with the official string format as its genotype."""

    def to_genotype(self, arch: Tensor) -> str:
        ops = self.decode(arch)
        nodes, k = [], 0
        for i in range(1, NUM_NODES):
            nodes.append("|" + "|".join(f"{ops[k + j]}~{j}" for j in range(i)) + "|")
            k += i
        return "+".join(nodes)

    def from_genotype(self, text: str) -> Tensor:
        text = genotype_text(text).strip()  # an xautodl CellStructure too
        groups = text.split("+")
        if len(groups) != NUM_NODES - 1:
            raise TnasError(
                f"NB201 architecture '{text}' has {len(groups)} node group(s) separated by '+'; expected "
                f"{NUM_NODES - 1}, in the form {_FORMAT} (e.g. the ResNet cell "
                "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|)."
            )
        ops: list[str] = []
        for node, group in enumerate(groups, start=1):
            if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
                raise TnasError(
                    f"NB201 node {node} group '{group}' in '{text}' must start and end with '|'; "
                    f"expected the form {_FORMAT}."
                )
            edges = group[1:-1].split("|")
            if len(edges) != node:
                raise TnasError(
                    f"NB201 node {node} in '{text}' has {len(edges)} incoming edge(s) ('{group}'); expected "
                    f"{node} (edges from nodes 0..{node - 1}), in the form {_FORMAT}."
                )
            for j, edge in enumerate(edges):
                ops.append(_parse_edge(edge, node, j, text))
        return self.encode(ops)


def _parse_edge(edge: str, node: int, j: int, text: str) -> str:
    op, sep, src = edge.partition("~")
    if not sep:
        raise TnasError(
            f"NB201 edge '{edge}' (into node {node}) in '{text}' has no '~'; expected 'op~{j}'."
        )
    if src != str(j):
        raise TnasError(
            f"NB201 edge '{edge}' in '{text}' comes from node '{src}'; edge {j + 1} into node {node} must come "
            f"from node {j} ('{op}~{j}'), in the form {_FORMAT}."
        )
    if op not in NB201_OPS:
        raise TnasError(
            f"Unknown NB201 operation '{op}' in edge '{edge}' of '{text}'. Expected one of: "
            f"{', '.join(NB201_OPS)}.{suggest(op, NB201_OPS)}"
        )
    return op


@register_space("nb201")
def nb201() -> NB201Space:
    """NAS-Bench-201: 6 edges, each one of 5 ops (15,625 cells)."""
    return NB201Space("nb201", tuple(Decision(f"{i}<-{j}", NB201_OPS) for i, j in NB201_EDGES))
