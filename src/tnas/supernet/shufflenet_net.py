"""Macro layout of ShuffleNet-like networks and the stand-alone network of one SPOS architecture.

SPOS layout (Guo et al. 2020, table 1; megvii's `ShuffleNetV2_OneShot`): stem conv3x3 stride 2
(16 ch) + BN + ReLU; 4 stages of choice blocks (repeats 4, 4, 8, 4; widths 64, 160, 320, 640;
the first block of each stage has stride 2); conv1x1 to 1024 + BN + ReLU; global average pool;
dropout 0.1; linear (no bias). SPOS has *no* max-pool after the stem (the first stage runs at
112x112 for a 224 input): that is what gives its ~320M FLOPs. ShuffleNetV2 (Ma et al. 2018) is
the same skeleton with a 3x3 max-pool after the stem, 3 stages and a stride-2 projection branch of
C_out / 2 channels; `shufflenet_v2_layout` builds it from the same blocks, to validate the FLOPs
and parameter counter against published figures (`tnas.supernet.shufflenet_cost`).

Width scaling: `spos_layout(C)` scales every width (stem, stages, last conv) by C / 64 and rounds
to an even number >= 2 (the stride-1 channel split needs even widths); C = 64 is SPOS. NetSize.N
is ignored by this family: the 20 choice layers are fixed by the space.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops.shufflenet import build_shuffle_block
from tnas.space import SearchSpace


@dataclass(frozen=True)
class ShuffleLayout:
    """Widths and options of a ShuffleNet-like network (channel counts, not multipliers).

    Attributes:
        stem: stem conv output channels.
        widths: output channels of each stage.
        repeats: blocks per stage (the first one has stride 2).
        last: channels of the final 1x1 conv.
        maxpool: a 3x3 stride-2 max-pool after the stem (ShuffleNetV2 yes, SPOS no).
        proj_half: stride-2 projection branch outputs C_out // 2 (ShuffleNetV2) instead of C_in (SPOS).
        fc_bias: bias of the classifier (ShuffleNetV2 yes, SPOS no).
    """

    stem: int = 16
    widths: tuple[int, ...] = (64, 160, 320, 640)
    repeats: tuple[int, ...] = (4, 4, 8, 4)
    last: int = 1024
    maxpool: bool = False
    proj_half: bool = False
    fc_bias: bool = False

    def blocks(self) -> list[tuple[int, int, int, int]]:
        """(C_in, C_out, stride, proj_out) of every block, in network order."""
        out, c_in = [], self.stem
        for width, n in zip(self.widths, self.repeats):
            for i in range(n):
                stride = 2 if i == 0 else 1
                proj = (width // 2 if self.proj_half else c_in) if stride == 2 else 0
                out.append((c_in, width, stride, proj))
                c_in = width
        return out

    @property
    def num_blocks(self) -> int:
        return sum(self.repeats)


def _even(x: float) -> int:
    return max(2, 2 * round(x / 2))


def spos_layout(C: int = 64) -> ShuffleLayout:
    """SPOS's layout with all widths scaled by C / 64 (rounded to even numbers; C = 64 is SPOS)."""
    if C < 1:
        raise TnasError(f"ShuffleNet width C = {C}; expected a positive first-stage width (64 = SPOS).")
    s = C / 64
    return ShuffleLayout(stem=_even(16 * s), widths=tuple(_even(w * s) for w in (64, 160, 320, 640)),
                         last=_even(1024 * s))


# ShuffleNetV2 widths (stem, stages, last) per multiplier: Ma et al. 2018, table 5.
_V2_WIDTHS = {0.5: (24, (48, 96, 192), 1024), 1.0: (24, (116, 232, 464), 1024),
              1.5: (24, (176, 352, 704), 1024), 2.0: (24, (244, 488, 976), 2048)}


def shufflenet_v2_layout(multiplier: float) -> ShuffleLayout:
    """The standard ShuffleNetV2 (0.5x, 1.0x, 1.5x, 2.0x) as a layout (for counter validation)."""
    if multiplier not in _V2_WIDTHS:
        raise TnasError(f"ShuffleNetV2 multiplier {multiplier}; expected one of {sorted(_V2_WIDTHS)}.")
    stem, widths, last = _V2_WIDTHS[multiplier]
    return ShuffleLayout(stem, widths, (4, 8, 4), last, maxpool=True, proj_half=True, fc_bias=True)


def stem_layers(in_channels: int, stem: int, affine: bool, maxpool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 3, 2, 1, bias=False),
                               nn.BatchNorm2d(stem, affine=affine), nn.ReLU(inplace=True)]
    if maxpool:
        layers.append(nn.MaxPool2d(3, 2, 1))
    return nn.Sequential(*layers)


def last_layers(c_in: int, last: int, affine: bool) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, last, 1, 1, 0, bias=False), nn.BatchNorm2d(last, affine=affine),
                         nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(1))


class ShuffleNetNetwork(nn.Module):
    """Stand-alone ShuffleNet-like network of fixed blocks (affine BN), for training from scratch.

    Args:
        blocks: one block name (SHUFFLE_BLOCKS) per layer of `layout`.
        layout: the macro layout (default SPOS at C = 64).
        num_classes, in_channels: classifier outputs / image channels.
        dropout: before the classifier (SPOS: 0.1).
        mids: main-branch width per block (default C_out // 2); SPOS's channel search sets these.
    Input [B, in_channels, H, W] -> logits [B, num_classes]; H, W >= 32 (5 stride-2 steps).
    """

    def __init__(self, blocks: Sequence[str], layout: ShuffleLayout | None = None, num_classes: int = 1000,
                 in_channels: int = 3, dropout: float = 0.1, mids: Sequence[int] | None = None) -> None:
        super().__init__()
        layout = layout or spos_layout()
        specs = layout.blocks()
        if len(blocks) != len(specs) or (mids is not None and len(mids) != len(specs)):
            raise TnasError(f"ShuffleNetNetwork needs {len(specs)} blocks (and mids) for its layout; got "
                            f"{len(blocks)} blocks.")
        self.layout = layout
        self.stem = stem_layers(in_channels, layout.stem, True, layout.maxpool)
        self.features = nn.Sequential(*(
            build_shuffle_block(name, c_in, c_out, stride, True, None if mids is None else mids[i], proj or None)
            for i, (name, (c_in, c_out, stride, proj)) in enumerate(zip(blocks, specs))
        ))
        self.last = last_layers(layout.widths[-1], layout.last, True)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(layout.last, num_classes, bias=layout.fc_bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.last(self.features(self.stem(x)))))


def spos_network(space: SearchSpace, arch: Tensor, C: int = 64, num_classes: int = 1000, in_channels: int = 3,
                 dropout: float = 0.1) -> ShuffleNetNetwork:
    """The stand-alone SPOS network of `arch` long [20] at width C (64 = SPOS)."""
    space.validate(arch)
    if arch.dim() != 1:
        raise TnasError(f"A network is built from one architecture, long [{space.num_decisions}]; got {tuple(arch.shape)}.")
    # the space's own choice names (as the supernet and the cost table use), not SHUFFLE_BLOCKS' order
    return ShuffleNetNetwork(space.decode(arch), spos_layout(C), num_classes, in_channels, dropout)
