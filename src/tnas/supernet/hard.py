"""Single-path forward with one-hot op weights that carry gradients (GDAS, TNAS-G).

`NB201Supernet.forward_mixed` computes every non-zero op of every edge, even when the weights
are one-hot: 4 of 5 ops per edge would be computed only to be multiplied by 0. A hard
(straight-through) Gumbel sample needs only the chosen op, but its loss must still reach the
weight entry of that op. `forward_hard` runs the fast single path of `NB201Supernet.forward`
(live edges only, shared ReLUs) and multiplies each chosen op's output by its weight entry,
whose value is 1: the output is that of the single path, and d loss / d w[d, k] is the inner
product of the upstream gradient with the op's output, the same as in the mixed forward.

Entries of ops that are not run get gradient 0 here. In the mixed forward a zero-weight op
would get d loss / d w = <grad, op(x)> != 0, but GDAS's estimator is defined on the sampled path
only (its hard weights multiply only the chosen op, Dong & Yang 2019), and the straight-through
term passes the chosen entry's gradient on to every logit of that decision through the softmax.
Dead edges ('none', or reading an all-zero node, or not reaching the output) contribute nothing
to the output, so their gradient is 0 in both forwards.
"""
from __future__ import annotations

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.supernet.cell import run_cell


class _Scaled:
    """An op whose output is multiplied by a scalar weight (duck-types the op for `run_cell`)."""

    __slots__ = ("op", "w")

    def __init__(self, op: nn.Module, w: Tensor) -> None:
        self.op, self.w = op, w

    def __call__(self, x: Tensor) -> Tensor:
        return self.op(x) * self.w

    def forward_relu(self, x_relu: Tensor) -> Tensor:
        return self.op.forward_relu(x_relu) * self.w


def forward_hard(supernet: nn.Module, x: Tensor, weights: Tensor) -> Tensor:
    """Logits [B, num_classes] of the single path argmax(weights), scaled by the chosen weights.

    Args:
        supernet: an `NB201Supernet` (or any supernet with its `plan`, `stem`, `cells` and head).
        x: images [B, in_channels, H, W].
        weights: float [D, K], one-hot in value (e.g. `gumbel_softmax_st`); gradients flow to the
            chosen entries. Values other than 1 at the chosen entries scale that op's output.
    """
    D, K = supernet.space.num_decisions, supernet.space.max_choices
    if not weights.is_floating_point() or tuple(weights.shape) != (D, K):
        raise TnasError(f"forward_hard needs float one-hot weights of shape [{D}, {K}], got "
                        f"{weights.dtype} {tuple(weights.shape)}.")
    arch = weights.detach().argmax(-1).cpu()
    choice, plan = supernet.plan(arch)
    chosen = weights[range(D), list(choice)]  # [D], value ~1, differentiable
    h = supernet.stem(supernet._layout(x))
    for cell, is_cell in zip(supernet.cells, supernet.is_cell_block):
        if is_cell:
            ops = [_Scaled(edge[k], chosen[d]) for d, (edge, k) in enumerate(zip(cell.edges, choice))]
            h = run_cell(h, plan, ops, supernet.num_nodes)  # type: ignore[arg-type]
        else:
            h = cell(h)
    return supernet._head(h)
