"""The SPOS weight-sharing supernet of the ShuffleNet-like space (Guo et al. 2020).

Every one of the 20 choice layers holds the 4 candidate blocks (`tnas.ops.shufflenet`, BN
affine=False with running stats, recalibrated per architecture before evaluation); stem, last
conv and classifier are shared by all paths (affine BN, as in the stand-alone network). Layout
and width scaling: `tnas.supernet.shufflenet_net.spos_layout` (C = 64 is SPOS; N is ignored).
There is no dropout in the supernet (SPOS's supernet training has none either).

`extract(arch)` cuts one path out as a stand-alone module (`ShuffleNetPath`) with copies of the
inherited weights and BN statistics (what `tnas export` saves of a search run).

Three forwards (the supernet contract, docs/spaces.md):
- `forward(x, arch long [20])`: the single path, one block per layer (SPOS / TNAS-OS hot path).
- `forward(x, weights float [20, 4])`: the DARTS-style mixed forward, sum_k w[d, k] * block_k(h).
- `forward_hard(x, weights [20, 4])`: only the argmax block per layer, its output multiplied by
  its (straight-through, value 1) weight so d loss / d w reaches the chosen entries (GDAS, TNAS-G).
"""
from __future__ import annotations

import copy

from torch import Tensor, nn

from tnas.errors import TnasError
from tnas.ops.shufflenet import build_shuffle_block
from tnas.space import SearchSpace, get_space
from tnas.supernet.shufflenet_net import last_layers, spos_layout, stem_layers


class ShuffleNetSupernet(nn.Module):
    """SPOS supernet.

    Args:
        space: the 'shufflenet' space (20 decisions over its 4 blocks); default get_space('shufflenet').
        C: first-stage width (64 = SPOS; all widths scale by C / 64).
        num_classes, in_channels: classifier outputs / image channels.
    Input x [B, in_channels, H, W] (H, W >= 32) -> logits [B, num_classes].
    """

    def __init__(self, space: SearchSpace | None = None, C: int = 64, num_classes: int = 1000,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.space = space if space is not None else get_space("shufflenet")
        layout = spos_layout(C)
        specs = layout.blocks()
        if self.space.num_decisions != len(specs):
            raise TnasError(f"Space '{self.space.name}' has {self.space.num_decisions} decisions; the ShuffleNet "
                            f"supernet needs {len(specs)} (one per choice layer), e.g. get_space('shufflenet').")
        self.layout = layout
        self.stem = stem_layers(in_channels, layout.stem, True, layout.maxpool)
        self.layers = nn.ModuleList(
            nn.ModuleList(build_shuffle_block(name, c_in, c_out, stride, affine=False) for name in d.choices)
            for d, (c_in, c_out, stride, _) in zip(self.space.decisions, specs)
        )
        self.last = last_layers(layout.widths[-1], layout.last, True)
        self.classifier = nn.Linear(layout.last, num_classes, bias=False)
        self._num_choices = tuple(len(layer) for layer in self.layers)

    def forward(self, x: Tensor, arch: Tensor) -> Tensor:
        """Logits [B, num_classes] of the single path `arch` long [D], or of the mixed forward when
        `arch` is float weights [D, K] (see `forward_mixed`)."""
        if arch.is_floating_point():
            return self.forward_mixed(x, arch)
        if arch.dim() != 1 or arch.numel() != len(self.layers):
            raise TnasError(f"forward takes one architecture, long [{len(self.layers)}]; got {tuple(arch.shape)}.")
        choices = arch.tolist()
        # cheap guard: a negative index would silently pick a block from the end
        if min(choices) < 0 or any(k >= n for k, n in zip(choices, self._num_choices)):
            self.space.validate(arch)
        h = self.stem(x)
        for layer, k in zip(self.layers, choices):
            h = layer[k](h)
        return self.classifier(self.last(h))

    def _check_weights(self, weights: Tensor, what: str) -> None:
        D, K = self.space.num_decisions, self.space.max_choices
        if not weights.is_floating_point() or tuple(weights.shape) != (D, K):
            raise TnasError(f"{what} needs float weights of shape [{D}, {K}] (one row of block weights per "
                            f"layer), got {weights.dtype} {tuple(weights.shape)}.")

    def forward_mixed(self, x: Tensor, weights: Tensor) -> Tensor:
        """DARTS relaxation: every layer outputs sum_k weights[d, k] * block_k(h); logits [B, classes].

        Args:
            x: images [B, in_channels, H, W].
            weights: float [D, K], rows are probabilities over the blocks of each layer.
        """
        self._check_weights(weights, "The mixed forward")
        h = self.stem(x)
        for d, layer in enumerate(self.layers):
            w = weights[d]
            out = layer[0](h) * w[0]
            for k in range(1, len(layer)):
                out = out + layer[k](h) * w[k]
            h = out
        return self.classifier(self.last(h))

    def forward_hard(self, x: Tensor, weights: Tensor) -> Tensor:
        """Single path argmax(weights) with each chosen block's output scaled by its weight entry.

        Args:
            x: images [B, in_channels, H, W].
            weights: float [D, K] one-hot in value (e.g. straight-through Gumbel); gradients flow to
                the chosen entries only (as in `tnas.supernet.hard`).
        Returns:
            logits [B, num_classes].
        """
        self._check_weights(weights, "forward_hard")
        choices = weights.detach().argmax(-1).tolist()
        h = self.stem(x)
        for d, (layer, k) in enumerate(zip(self.layers, choices)):
            h = layer[k](h) * weights[d, k]
        return self.classifier(self.last(h))

    def extract(self, arch: Tensor) -> "ShuffleNetPath":
        """The single path `arch` long [20] as a stand-alone module with copies of this supernet's
        (inherited) weights and BN statistics; it computes exactly `self(x, arch)`."""
        self.space.validate(arch)
        if arch.dim() != 1:
            raise TnasError(f"extract takes one architecture, long [{len(self.layers)}]; got {tuple(arch.shape)}.")
        return ShuffleNetPath(self, arch)


class ShuffleNetPath(nn.Module):
    """One architecture cut out of a `ShuffleNetSupernet`: stem, the chosen block of each of the 20
    layers (BN affine=False, running stats as recalibrated), last conv, classifier; no dropout.

    Input x [B, in_channels, H, W] (H, W >= 32) -> logits [B, num_classes]. Its state_dict keys
    depend only on (C, arch), so `build_supernet(space, size).extract(arch)` rebuilds the module
    a saved state_dict loads into.
    """

    def __init__(self, supernet: ShuffleNetSupernet, arch: Tensor) -> None:
        super().__init__()
        self.stem = copy.deepcopy(supernet.stem)
        self.features = nn.Sequential(*(copy.deepcopy(layer[k]) for layer, k in zip(supernet.layers, arch.tolist())))
        self.last = copy.deepcopy(supernet.last)
        self.classifier = copy.deepcopy(supernet.classifier)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.last(self.features(self.stem(x))))
