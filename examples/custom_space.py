"""Your own search space: define the decisions and a supernet, register both, run TNAS-OS.

A space is a list of categorical decisions; an architecture is one choice index per decision
(long [D]). The supernet holds every candidate op and runs the chosen path in
`forward(x, arch)`. Registering a `Family` for the space is all the `tnas search` pipeline needs:
training with the TNAS sampler, the GA search stage, checkpoints, resume, the run directory.
Optionally `forward(x, weights [D, K])` (mixed ops) and `forward_hard` make the gradient
strategies (darts, gdas, tnas-g) work too; this example has both.

    python examples/custom_space.py                      # TNAS-OS on digits, ~1 min on 2 cores
    python examples/custom_space.py strategy=gdas train.epochs=5

Nothing here touches the library; a module like this can live in your own project (import it
before calling `run_search`, also when resuming a run with `--resume`).
"""
from __future__ import annotations

import sys

import torch
from torch import Tensor, nn

import tnas
from tnas.run import resolve_config, run_search
from tnas.run.overrides import parse_override_args

OPS = ("conv_3x3", "conv_5x5", "dw_conv_3x3", "skip")


def chain_space() -> tnas.SearchSpace:
    """Four layers, one op each: 4^4 = 256 architectures."""
    return tnas.SearchSpace("conv-chain", tuple(tnas.Decision(f"layer{i}", OPS) for i in range(4)))


def make_op(name: str, c: int) -> nn.Module:
    # search-time BN without affine parameters, as the built-in supernets (BN is recalibrated per arch)
    bn = nn.BatchNorm2d(c, affine=False)
    if name == "conv_3x3":
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), bn, nn.ReLU())
    if name == "conv_5x5":
        return nn.Sequential(nn.Conv2d(c, c, 5, padding=2, bias=False), bn, nn.ReLU())
    if name == "dw_conv_3x3":
        return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.Conv2d(c, c, 1, bias=False),
                             bn, nn.ReLU())
    return nn.Identity()


class ChainSupernet(nn.Module):
    """stem -> 4 choice layers -> pool -> linear. `space` and the forwards are the contract."""

    def __init__(self, space: tnas.SearchSpace, size: tnas.NetSize) -> None:
        super().__init__()
        self.space = space
        self.stem = nn.Sequential(nn.Conv2d(size.in_channels, size.C, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(size.C), nn.ReLU())
        self.layers = nn.ModuleList(nn.ModuleList(make_op(op, size.C) for op in d.choices) for d in space.decisions)
        self.head = nn.Linear(size.C, size.num_classes)

    def forward(self, x: Tensor, arch: Tensor) -> Tensor:
        """x [B, C_in, H, W]; arch long [D] (one path) or float [D, K] (mixed) -> logits [B, classes]."""
        h = self.stem(x)
        for d, ops in enumerate(self.layers):
            if arch.is_floating_point():  # DARTS-style mixed op: sum_k w[d, k] * op_k(h)
                h = sum(arch[d, k] * op(h) for k, op in enumerate(ops))
            else:
                h = ops[int(arch[d])](h)
        return self.head(h.mean((2, 3)))

    def forward_hard(self, x: Tensor, weights: Tensor) -> Tensor:
        """One-hot weights [D, K] with straight-through gradients (GDAS / TNAS-G): run only the
        chosen op and scale it by its weight (value 1) so the loss reaches the distribution."""
        h = self.stem(x)
        for d, ops in enumerate(self.layers):
            k = int(weights[d].detach().argmax())
            h = ops[k](h) * weights[d, k]
        return self.head(h.mean((2, 3)))


def chain_cost(space: tnas.SearchSpace, arch: Tensor, size: tnas.NetSize) -> tuple[int, int]:
    """(params, multiply-accumulates) of the stand-alone net of `arch` (for search.max_params_M / max_flops_M)."""
    net = ChainSupernet(space, size)
    chosen = [net.layers[d][int(k)] for d, k in enumerate(arch)]
    params = sum(p.numel() for m in (net.stem, net.head, *chosen) for p in m.parameters())
    hw = size.image_size ** 2
    macs = sum(m.weight.numel() * hw for m in net.modules() if isinstance(m, nn.Conv2d)
               and (m in set(net.stem.modules()) or any(m in set(c.modules()) for c in chosen)))
    return params, macs + net.head.weight.numel()


tnas.register_space("conv-chain")(chain_space)
tnas.register_family("conv-chain", tnas.Family(supernet=ChainSupernet, cost=chain_cost,
                                               final={"C": 16, "N": 1, "image_size": 8}))

def main(argv: list[str]) -> int:
    try:
        overrides = parse_override_args(["space=conv-chain", "supernet.C=16", "train.epochs=60",
                                         "search.budget=40", "out=runs", *argv])
        result, path = run_search(resolve_config(None, overrides))
    except tnas.TnasError as e:  # bad key=value etc.: the message says what to fix
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"found {result['genotype']}  supernet test accuracy {result['supernet_test_acc']:.2f}%  run: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
