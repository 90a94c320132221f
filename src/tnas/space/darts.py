"""The DARTS / NASNet-like cell space (Liu et al., ICLR 2019) as 22 categorical decisions.

A network stacks two cell types, *normal* and *reduce*. A cell has two inputs (nodes 0 and 1: the
outputs of the previous two cells) and 4 intermediate nodes, numbered 2..5 as in DARTS; its
output concatenates nodes 2..5. Node k sums two ops, each applied to one of the earlier nodes
0..k-1, the two inputs being distinct. The 8 ops are `tnas.ops.darts.DARTS_OPS`.

Encoding (normal cell first, then reduce; per cell the nodes 2..5 in order):
- node 2: `<cell>/node2/op_a`, `<cell>/node2/op_b` (8 choices each). Its inputs are always
  (0, 1), so it has no input decision.
- node k = 3, 4, 5: `<cell>/node<k>/inputs` over the C(k, 2) = 3, 6, 10 unordered pairs
  (a, b), a < b < k, written 'a,b' and ordered by b then a: '0,1', '0,2', '1,2', '0,3', ...
  (so node k's pairs are a prefix of node k+1's); then `op_a` (the op on input a, the lower
  index) and `op_b` (the op on input b).
So each cell has 2 + 3 * 3 = 11 decisions, D = 22, K = max 10 choices. Every arch tensor is a
valid cell: distinct inputs and in-range indices hold by construction. The space has
(8^8 * 3 * 6 * 10)^2 ~ 9.1e18 archs, which still fits the int64 keys of `SearchSpace.keys`.

Genotypes are read and written in DARTS's notation,
`Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=[2, 3, 4, 5],
reduce=[...], reduce_concat=[2, 3, 4, 5])`: 8 (op, input) pairs per cell, two per node. The
output is canonical (lower input first per node); the input accepts either order, `range(2, 6)`
for the concat, a missing concat (= [2, 3, 4, 5]), nodes grouped as `[[(op, i), (op, j)], ...]`,
and any whitespace. Parsing is `ast`-based (Python literals only, never eval).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tnas.errors import TnasError, suggest
from tnas.ops.darts import DARTS_OPS
from tnas.space.base import Decision, SearchSpace, genotype_text
from tnas.space.registry import register_space

CELLS: tuple[str, ...] = ("normal", "reduce")
NUM_NODES = 4  # intermediate nodes per cell: 2..5
CONCAT: tuple[int, ...] = tuple(range(2, 2 + NUM_NODES))
PER_CELL = 2 + 3 * (NUM_NODES - 1)  # decisions per cell


def node_pairs(i: int) -> tuple[tuple[int, int], ...]:
    """The unordered input pairs (a, b), a < b, of intermediate node i (0..3 = DARTS node i+2),
    in choice order: by b, then a."""
    return tuple((a, b) for b in range(1, i + 2) for a in range(b))


# LAYOUT[c][i] = (inputs decision or None, op_a decision, op_b decision) of cell c, node i.
LAYOUT: tuple[tuple[tuple[int | None, int, int], ...], ...] = tuple(
    tuple(
        (None, c * PER_CELL, c * PER_CELL + 1) if i == 0
        else (c * PER_CELL + 3 * i - 1, c * PER_CELL + 3 * i, c * PER_CELL + 3 * i + 1)
        for i in range(NUM_NODES)
    )
    for c in range(len(CELLS))
)

# A cell as nodes: per node ((op_a, input_a), (op_b, input_b)) with op and input as indices.
CellNodes = tuple[tuple[tuple[int, int], tuple[int, int]], ...]


def _decisions() -> tuple[Decision, ...]:
    out = []
    for cell in CELLS:
        for i in range(NUM_NODES):
            k = i + 2
            if i > 0:
                out.append(Decision(f"{cell}/node{k}/inputs", tuple(f"{a},{b}" for a, b in node_pairs(i))))
            out += [Decision(f"{cell}/node{k}/op_a", DARTS_OPS), Decision(f"{cell}/node{k}/op_b", DARTS_OPS)]
    return tuple(out)


@dataclass(frozen=True)
class DARTSSpace(SearchSpace):
    """The DARTS cell space with DARTS's `Genotype(...)` notation as its genotype."""

    def cells(self, arch: Tensor) -> tuple[CellNodes, CellNodes]:
        """(normal, reduce) cells of `arch` long [D]: per node ((op_a, in_a), (op_b, in_b)) indices,
        op indices into `DARTS_OPS`, inputs 0..k-1 for node k, in_a < in_b."""
        self.validate(arch)
        if arch.dim() != 1:
            raise TnasError(f"Expected one DARTS architecture, long [{self.num_decisions}]; got shape "
                            f"{tuple(arch.shape)}.")
        x = arch.tolist()
        cells = []
        for c in range(len(CELLS)):
            nodes = []
            for i, (dp, da, db) in enumerate(LAYOUT[c]):
                a, b = (0, 1) if dp is None else node_pairs(i)[x[dp]]
                nodes.append(((x[da], a), (x[db], b)))
            cells.append(tuple(nodes))
        return cells[0], cells[1]

    def to_genotype(self, arch: Tensor) -> str:
        parts = []
        for cell, nodes in zip(CELLS, self.cells(arch)):
            pairs = ", ".join(f"('{DARTS_OPS[o]}', {j})" for node in nodes for o, j in node)
            parts.append(f"{cell}=[{pairs}], {cell}_concat={list(CONCAT)}")
        return f"Genotype({', '.join(parts)})"

    def from_genotype(self, text: str) -> Tensor:
        text = genotype_text(text)  # a DARTS Genotype namedtuple too
        fields = _parse_call(text)
        idx = [0] * self.num_decisions
        for c, cell in enumerate(CELLS):
            _check_concat(fields.get(f"{cell}_concat", list(CONCAT)), cell, text)
            nodes = _node_list(fields[cell], cell, text)
            for i, (first, second) in enumerate(nodes):
                (oa, a), (ob, b) = sorted([first, second], key=lambda p: p[1])
                dp, da, db = LAYOUT[c][i]
                if dp is not None:
                    idx[dp] = node_pairs(i).index((a, b))
                idx[da], idx[db] = DARTS_OPS.index(oa), DARTS_OPS.index(ob)
        return self.encode([d.choices[k] for d, k in zip(self.decisions, idx)])


# ---- genotype parsing (ast, never eval) ---------------------------------------------------------
_FORM = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...8 pairs], normal_concat=[2, 3, 4, 5], "
         "reduce=[...8 pairs], reduce_concat=[2, 3, 4, 5])")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _fail(text: str, msg: str) -> TnasError:
    short = text if len(text) <= 120 else text[:120] + "..."
    return TnasError(f"Malformed DARTS genotype '{short}': {msg} Expected the form {_FORM}.")


def _parse_call(text: str) -> dict[str, Any]:
    """The fields of `Genotype(...)` as Python values (lists, tuples, ranges expanded)."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as e:
        raise _fail(text, f"it is not a Python-literal expression ({e.msg}).") from None
    name = tree.func.id if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) else (
        tree.func.attr if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Attribute) else None)
    if name != "Genotype":
        raise _fail(text, "it is not a call Genotype(...).")
    assert isinstance(tree, ast.Call)
    if len(tree.args) > len(_FIELDS):
        raise _fail(text, f"it has {len(tree.args)} positional fields; a Genotype has {len(_FIELDS)}.")
    fields = dict(zip(_FIELDS, tree.args))
    for kw in tree.keywords:
        if kw.arg not in _FIELDS:
            raise _fail(text, f"unknown field '{kw.arg}'.{suggest(str(kw.arg), _FIELDS)}")
        fields[kw.arg] = kw.value
    for cell in CELLS:
        if cell not in fields:
            raise _fail(text, f"the field '{cell}' is missing.")
    return {k: _literal(v, k, text) for k, v in fields.items()}


def _literal(node: ast.expr, field: str, text: str) -> Any:
    # range(a, b) / range(b) is the only call allowed (DARTS repos write concat that way).
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" \
            and not node.keywords and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args) \
            and 1 <= len(node.args) <= 3:
        return list(range(*[a.value for a in node.args]))  # type: ignore[union-attr]
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise _fail(text, f"the value of '{field}' ({ast.unparse(node)}) is not a Python literal.") from None


def _check_concat(value: Any, cell: str, text: str) -> None:
    if not isinstance(value, (list, tuple)) or list(value) != list(CONCAT):
        raise _fail(text, f"{cell}_concat is {value!r}; this space concatenates all intermediate nodes, "
                          f"{list(CONCAT)} (or range(2, 6)).")


def _node_list(value: Any, cell: str, text: str) -> list[tuple[tuple[str, int], tuple[str, int]]]:
    """Validate a cell's (op, input) pairs; returns them grouped per node."""
    if not isinstance(value, (list, tuple)):
        raise _fail(text, f"'{cell}' is {value!r}; expected a list of (op, input) pairs.")
    flat = list(value)
    if flat and all(isinstance(g, (list, tuple)) and len(g) == 2 and isinstance(g[0], (list, tuple)) for g in flat):
        flat = [p for g in flat for p in g]  # nodes grouped as [[(op, i), (op, j)], ...]
    if len(flat) != 2 * NUM_NODES:
        raise _fail(text, f"the {cell} cell has {len(flat)} (op, input) pairs; expected {2 * NUM_NODES} "
                          f"(two per node for {NUM_NODES} nodes, 2..5).")
    for n, p in enumerate(flat):
        k = 2 + n // 2
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) and type(p[1]) is int):
            raise _fail(text, f"entry {n} of the {cell} cell, {p!r}, is not an (op name, input index) pair.")
        if p[0] not in DARTS_OPS:
            raise _fail(text, f"unknown operation '{p[0]}' in the {cell} cell (node {k}); expected one of: "
                              f"{', '.join(DARTS_OPS)}.{suggest(p[0], DARTS_OPS)}")
        if not 0 <= p[1] < k:
            raise _fail(text, f"input index {p[1]} of {p!r} in the {cell} cell is out of range for node {k}; "
                              f"node {k} reads nodes 0..{k - 1} (0 and 1 are the cell inputs).")
    nodes = [(flat[2 * i], flat[2 * i + 1]) for i in range(NUM_NODES)]
    for i, (first, second) in enumerate(nodes):
        if first[1] == second[1]:
            raise _fail(text, f"node {i + 2} of the {cell} cell takes input {first[1]} twice ({first!r}, "
                              f"{second!r}); its two inputs must be distinct nodes.")
    return nodes  # type: ignore[return-value]


# ---- well-known cells (DARTS repo, cnn/genotypes.py) ---------------------------------------------
# DARTS first-order (V1) and second-order (V2, the paper's 2.76% / 3.3M-param cell).
DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
GENOTYPES: dict[str, str] = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2}


@register_space("darts")
def darts() -> DARTSSpace:
    """The DARTS cell space: normal + reduce cell, 4 nodes each, 8 ops (22 decisions)."""
    return DARTSSpace("darts", _decisions())
