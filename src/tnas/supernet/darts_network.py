"""The stand-alone network of one DARTS genotype (DARTS `cnn/model.py`, NetworkCIFAR).

Same macro skeleton as the search network (`tnas.supernet.darts.macro_layout`: stem with 3C
channels, 3N+2 cells, reductions at N and 2N+1, global pool, linear), but each cell holds only
its 8 chosen ops, BN is affine, and for training from scratch there are DARTS's two regularisers:
- drop-path: in training mode, each op output except identities is zeroed per sample with
  probability `drop_path_prob` (and the kept ones scaled by 1 / (1 - p)); the trainer sets the
  attribute each epoch. Masks come from `generator` if set, else torch's global RNG (as dropout).
- auxiliary head (optional) on the output of cell 2N+1 (2/3 depth): in training mode `forward`
  then returns (logits, aux_logits). The standard recipe is C=36, N=6 (20 cells), 32x32 images.
"""
from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops.darts import DARTS_OPS, make_darts_op
from tnas.space import SearchSpace, get_space
from tnas.space.darts import NUM_NODES, CellNodes, DARTSSpace
from tnas.supernet.darts import STEM_MULTIPLIER, CellSpec, macro_layout, preprocess
from tnas.supernet.cell import op_kind

NETWORK_OPTIONS = ("auxiliary", "drop_path_prob")


def drop_path(x: Tensor, prob: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each sample of x [B, ...] with probability `prob`, scale the rest by 1/(1-prob)."""
    if prob <= 0.0:
        return x
    dev = generator.device if generator is not None else x.device
    keep = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=dev) >= prob
    return x * keep.to(device=x.device, dtype=x.dtype) / (1.0 - prob)


class EvalCell(nn.Module):
    """One cell of a genotype: ops[2i], ops[2i+1] are node i+2's ops on inputs inputs[i]."""

    def __init__(self, nodes: CellNodes, spec: CellSpec) -> None:
        super().__init__()
        self.preprocess0, self.preprocess1 = preprocess(spec, affine=True)
        self.inputs = tuple((a, b) for (_, a), (_, b) in nodes)
        self.ops = nn.ModuleList(
            make_darts_op(DARTS_OPS[o], spec.C, 2 if spec.reduction and j < 2 else 1, True)
            for node in nodes for o, j in node
        )
        self.reduction = spec.reduction

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float = 0.0,
                generator: torch.Generator | None = None) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i, pair in enumerate(self.inputs):
            out: Tensor | None = None
            for op, j in zip(self.ops[2 * i: 2 * i + 2], pair):
                y = op(states[j])
                if self.training and drop_prob > 0 and op_kind(op) != "identity":
                    y = drop_path(y, drop_prob, generator)
                out = y if out is None else out + y
            states.append(out)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's AuxiliaryHeadCIFAR on the 8x8 maps of a 32x32 input (needs maps >= 8x8: the 5x5/3
    pool must leave 2x2 for the 2x2 conv); the
    final adaptive pool is a no-op at 8x8 and lets larger inputs through."""

    def __init__(self, C: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        if min(x.shape[-2:]) < 8:
            raise TnasError(f"The DARTS auxiliary head needs feature maps of at least 8x8 at 2/3 depth, got "
                            f"{tuple(x.shape[-2:])} (images of {4 * x.shape[-1]} px); use images of >= 32 px or "
                            "train without the auxiliary head.")
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class DARTSNetwork(nn.Module):
    """The stand-alone network of one DARTS architecture.

    Args:
        arch: long [D], the normal and reduce cell (e.g. `space.from_genotype(DARTS_V2)`).
        C: initial channels (DARTS CIFAR-10 evaluation: 36).
        N: normal cells per stage; 3N+2 cells (DARTS: N=6, 20 cells).
        num_classes, in_channels: classifier outputs and image channels.
        auxiliary: build the auxiliary head (used only in training mode).
        drop_path_prob: initial drop-path probability (the trainer updates the attribute).
        space: the DARTS space (default `get_space('darts')`).
        device: where to create the parameters ('meta' for shapes only).
    """

    def __init__(self, arch: Tensor, C: int = 36, N: int = 6, num_classes: int = 10, in_channels: int = 3,
                 auxiliary: bool = False, drop_path_prob: float = 0.0, space: SearchSpace | None = None,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.space = space if space is not None else get_space("darts")
        if not isinstance(self.space, DARTSSpace):
            raise TnasError(f"DARTSNetwork needs the DARTS space (get_space('darts')), got space '{self.space.name}'.")
        self.arch = arch.detach().cpu().clone()
        cells = self.space.cells(self.arch)
        self.drop_path_prob = float(drop_path_prob)
        self.generator: torch.Generator | None = None
        specs = macro_layout(C, N)
        self.aux_index = 2 * len(specs) // 3  # the second reduction cell
        with torch.device(device) if device is not None else contextlib.nullcontext():
            self.stem = nn.Sequential(nn.Conv2d(in_channels, STEM_MULTIPLIER * C, 3, padding=1, bias=False),
                                      nn.BatchNorm2d(STEM_MULTIPLIER * C))
            self.cells = nn.ModuleList(EvalCell(cells[int(s.reduction)], s) for s in specs)
            self.auxiliary_head = AuxiliaryHead(NUM_NODES * specs[self.aux_index].C, num_classes) \
                if auxiliary else None
            self.classifier = nn.Linear(NUM_NODES * specs[-1].C, num_classes)

    def forward(self, x: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """Logits [B, num_classes] of images x [B, in_channels, H, W]; in training mode with the
        auxiliary head, (logits, aux_logits), both [B, num_classes]."""
        aux = None
        s0 = s1 = self.stem(x)
        for k, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob, self.generator)
            if k == self.aux_index and self.auxiliary_head is not None and self.training:
                aux = self.auxiliary_head(s1)
        logits = self.classifier(s1.mean((2, 3)))
        return (logits, aux) if aux is not None else logits


def build_network(space: SearchSpace, arch: Tensor, C: int, N: int, num_classes: int, in_channels: int,
                  options: dict[str, Any]) -> DARTSNetwork:
    """`DARTSNetwork` from the training options {'auxiliary': bool, 'drop_path_prob': float}."""
    extra = sorted(set(options) - set(NETWORK_OPTIONS))
    if extra:
        raise TnasError(f"Unknown DARTS network option(s) {', '.join(extra)}; the DARTS network takes "
                        f"{', '.join(NETWORK_OPTIONS)}.")
    return DARTSNetwork(arch, C, N, num_classes, in_channels, auxiliary=bool(options.get("auxiliary", False)),
                        drop_path_prob=float(options.get("drop_path_prob", 0.0) or 0.0), space=space)
