"""The ShuffleNet-like SPOS block search space (Guo et al., ECCV 2020, section 4.1, table 1).

20 choice layers in 4 stages (repeats 4, 4, 8, 4; the first layer of each stage has stride 2),
each one of 4 blocks: ShuffleNetV2 units with a 3x3, 5x5 or 7x7 depthwise conv, or the
Xception-like unit (`tnas.ops.shufflenet`). 4^20 ~ 1.1e12 architectures. Decision names are
'stage{s}.{i}' (s = 1..4, i = index in the stage).

Genotype: SPOS's list of choice indices, e.g. `[0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1,
3, 2]` (index k = SHUFFLE_BLOCKS[k]: 0 = shufflenet_3x3, 1 = 5x5, 2 = 7x7, 3 = xception_3x3). Input
also accepts the same without brackets (`0,0,3,...`) or block names (`shufflenet_3x3, ...`).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from tnas.errors import TnasError, suggest
from tnas.ops.shufflenet import SHUFFLE_BLOCKS
from tnas.space.base import Decision, SearchSpace, genotype_text
from tnas.space.registry import register_space

STAGE_REPEATS: tuple[int, ...] = (4, 4, 8, 4)
_EXAMPLE = "[0, 0, 3, 1, 1, 1, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 2, 1, 3, 2]"


@dataclass(frozen=True)
class ShuffleNetSpace(SearchSpace):
    """The SPOS space with SPOS's index list as its genotype."""

    def to_genotype(self, arch: Tensor) -> str:
        self.validate(arch)
        if arch.dim() != 1:
            raise TnasError(f"to_genotype takes one architecture, long [{self.num_decisions}]; got {tuple(arch.shape)}.")
        return "[" + ", ".join(str(int(i)) for i in arch.tolist()) + "]"

    def from_genotype(self, text: str) -> Tensor:
        text = genotype_text(text)  # a list of choice indices too
        body = text.strip()
        if body.startswith("[") != body.endswith("]"):
            raise TnasError(f"ShuffleNet genotype '{text}' has unbalanced brackets; write it like {_EXAMPLE}.")
        body = body.strip("[]")
        tokens = [t.strip().strip("'\"") for t in body.split(",")] if body.strip() else []
        if len(tokens) != self.num_decisions:
            raise TnasError(
                f"ShuffleNet genotype '{text}' has {len(tokens)} entries; expected {self.num_decisions} (one per "
                f"choice layer, stages of {'+'.join(map(str, STAGE_REPEATS))}), each a choice index 0..3 or a "
                f"block name ({', '.join(SHUFFLE_BLOCKS)}), e.g. {_EXAMPLE}."
            )
        return self.encode([_parse_token(t, pos, text) for pos, t in enumerate(tokens)])


def _parse_token(token: str, pos: int, text: str) -> str:
    """One genotype entry (an index or a block name) -> block name."""
    if token.lstrip("-").isdigit():
        k = int(token)
        if 0 <= k < len(SHUFFLE_BLOCKS):
            return SHUFFLE_BLOCKS[k]
        raise TnasError(
            f"Choice index {k} at position {pos} of ShuffleNet genotype '{text}' is out of range; expected 0..3 "
            f"({', '.join(f'{i} = {n}' for i, n in enumerate(SHUFFLE_BLOCKS))})."
        )
    if token in SHUFFLE_BLOCKS:
        return token
    raise TnasError(
        f"Unknown ShuffleNet block '{token}' at position {pos} of genotype '{text}'. Expected a choice index 0..3 "
        f"or one of: {', '.join(SHUFFLE_BLOCKS)}.{suggest(token, SHUFFLE_BLOCKS)}"
    )


def layer_names() -> tuple[str, ...]:
    """'stage1.0' ... 'stage4.3': the 20 decision names in network order."""
    return tuple(f"stage{s + 1}.{i}" for s, n in enumerate(STAGE_REPEATS) for i in range(n))


@register_space("shufflenet")
def shufflenet() -> ShuffleNetSpace:
    """SPOS block search space: 20 layers x 4 blocks (4^20 architectures)."""
    return ShuffleNetSpace("shufflenet", tuple(Decision(name, SHUFFLE_BLOCKS) for name in layer_names()))
