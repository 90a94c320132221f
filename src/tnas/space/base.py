"""Search spaces as ordered sequences of categorical decisions.

An architecture (`arch`) is a long tensor of choice indices, shape [D] (or [N, D] for a batch),
where D = `space.num_decisions`. That is the only representation inside the library; strings
(`genotype`) appear only at I/O, through `space.to_genotype` / `space.from_genotype`.
All functions here are pure; every random function takes a `torch.Generator`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from tnas.errors import TnasError, suggest


def genotype_text(genotype: object) -> str:
    """A genotype as text, from a string or the object other NAS code holds: a DARTS `Genotype`
    namedtuple (its repr, `Genotype(normal=[...], normal_concat=..., ...)`), an xautodl /
    NB201 `CellStructure` (its `tostr()`), or a list of choice indices (ShuffleNet / SPOS)."""
    if isinstance(genotype, str):
        return genotype
    if callable(getattr(genotype, "tostr", None)):
        return str(genotype.tostr())
    if isinstance(genotype, tuple) and hasattr(genotype, "_fields"):
        return repr(genotype)
    if isinstance(genotype, (list, tuple)):
        return "[" + ", ".join(str(g) for g in genotype) + "]"
    raise TnasError(f"A genotype must be a string (or a DARTS Genotype namedtuple, an NB201 CellStructure, a list "
                    f"of choice indices); got a {type(genotype).__name__}: {genotype!r:.200}.")


@dataclass(frozen=True)
class Decision:
    """One categorical decision: a name (e.g. an edge '1<-0') and its choices (op names)."""

    name: str
    choices: tuple[str, ...]

    @property
    def num_choices(self) -> int:
        return len(self.choices)


@dataclass(frozen=True)
class SearchSpace:
    """A search space: D named decisions with K_d choices each.

    Subclasses override `to_genotype` / `from_genotype` for a space-specific string format
    (e.g. the NB201 string); the default format is the op names joined by ','.
    """

    name: str
    decisions: tuple[Decision, ...]
    _sizes: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sizes", tuple(d.num_choices for d in self.decisions))

    # ---- sizes -------------------------------------------------------------------------
    @property
    def num_decisions(self) -> int:
        return len(self.decisions)

    @property
    def num_choices(self) -> tuple[int, ...]:
        """K_d for each decision d."""
        return self._sizes

    @property
    def max_choices(self) -> int:
        return max(self._sizes)

    @property
    def size(self) -> int:
        """Number of distinct architectures (prod K_d)."""
        n = 1
        for k in self._sizes:
            n *= k
        return n

    def choice_mask(self) -> Tensor:
        """bool [D, max K]: True where choice k exists for decision d (for padded logits)."""
        ks = torch.tensor(self._sizes)
        return torch.arange(self.max_choices)[None, :] < ks[:, None]

    # ---- conversions -------------------------------------------------------------------
    def encode(self, ops: Sequence[str]) -> Tensor:
        """Op names (one per decision) -> long [D]."""
        if len(ops) != self.num_decisions:
            raise TnasError(
                f"Architecture for space '{self.name}' has {len(ops)} operations; expected "
                f"{self.num_decisions} (one per decision: {', '.join(d.name for d in self.decisions)})."
            )
        idx = []
        for d, op in zip(self.decisions, ops):
            if op not in d.choices:
                raise TnasError(
                    f"Unknown operation '{op}' for decision '{d.name}' of space '{self.name}'. "
                    f"Expected one of: {', '.join(d.choices)}.{suggest(op, d.choices)}"
                )
            idx.append(d.choices.index(op))
        return torch.tensor(idx, dtype=torch.long)

    def decode(self, arch: Tensor) -> tuple[str, ...]:
        """long [D] -> op names."""
        self.validate(arch)
        return tuple(d.choices[int(i)] for d, i in zip(self.decisions, arch.tolist()))

    def to_genotype(self, arch: Tensor) -> str:
        """long [D] -> the space's string form (default: ops joined by ',')."""
        return ",".join(self.decode(arch))

    def from_genotype(self, text: str) -> Tensor:
        """The space's string form -> long [D]."""
        return self.encode([t.strip() for t in genotype_text(text).split(",")])

    def validate(self, arch: Tensor) -> None:
        """Raise TnasError naming the first bad position/value of `arch` (long [D] or [N, D])."""
        if not isinstance(arch, Tensor) or arch.dtype != torch.long:
            raise TnasError(f"An architecture must be a torch.long tensor of choice indices, got {arch!r}.")
        if arch.shape[-1] != self.num_decisions:
            raise TnasError(
                f"Architecture tensor has shape {tuple(arch.shape)}; its last dimension must be "
                f"{self.num_decisions} (the decisions of space '{self.name}')."
            )
        ks = torch.tensor(self._sizes, device=arch.device)
        bad = (arch < 0) | (arch >= ks)
        if bool(bad.any()):
            pos = bad.nonzero()[0].tolist()
            d = pos[-1]
            raise TnasError(
                f"Choice index {int(arch[tuple(pos)])} at decision {d} ('{self.decisions[d].name}') is out of "
                f"range; expected 0..{ks[d].item() - 1}."
            )

    # ---- random functions --------------------------------------------------------------
    def sample_uniform(self, n: int, generator: torch.Generator) -> Tensor:
        """n architectures drawn uniformly: long [n, D]."""
        u = torch.rand(n, self.num_decisions, generator=generator)
        return (u * torch.tensor(self._sizes, dtype=torch.float)).long()

    def mutate(self, arch: Tensor, generator: torch.Generator, prob: float | None = None) -> Tensor:
        """Resample each decision with probability `prob` (default 1/D) to a *different* choice.

        At least one decision always changes, so the child differs from the parent.
        Args:
            arch: long [D] or [N, D].
        Returns:
            long, same shape as `arch`.
        """
        x = arch.reshape(-1, self.num_decisions)
        n, d = x.shape
        prob = 1.0 / d if prob is None else prob
        ks = torch.tensor(self._sizes)
        change = torch.rand(n, d, generator=generator) < prob
        forced = torch.randint(0, d, (n,), generator=generator)
        change[torch.arange(n), forced] = True
        change &= ks[None, :] > 1  # a decision with one choice cannot change
        # shift by 1..K-1 (mod K) gives a uniformly random *other* choice
        shift = 1 + (torch.rand(n, d, generator=generator) * (ks - 1).clamp(min=1)).long()
        out = torch.where(change, (x + shift) % ks, x)
        return out.reshape(arch.shape)

    def crossover(self, a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
        """Uniform crossover: each decision taken from `a` or `b` with probability 1/2. long [..., D]."""
        pick = torch.rand(a.shape, generator=generator) < 0.5
        return torch.where(pick, a, b)

    # ---- helpers -----------------------------------------------------------------------
    def key(self, arch: Tensor) -> int:
        """A unique integer per architecture (mixed-radix number), for dedup and hashing."""
        k = 0
        for i, size in zip(arch.tolist(), self._sizes):
            k = k * size + int(i)
        return k

    def keys(self, archs: Tensor) -> Tensor:
        """Vectorised `key`: long [N, D] -> long [N]."""
        radix = torch.ones(self.num_decisions, dtype=torch.long, device=archs.device)
        for i in range(self.num_decisions - 2, -1, -1):
            radix[i] = radix[i + 1] * self._sizes[i + 1]
        return (archs * radix).sum(-1)

    def from_keys(self, keys: Tensor) -> Tensor:
        """Inverse of `keys`: long [N] -> long [N, D]."""
        out = torch.empty(*keys.shape, self.num_decisions, dtype=torch.long, device=keys.device)
        rest = keys.clone()
        for i in range(self.num_decisions - 1, -1, -1):
            out[..., i] = rest % self._sizes[i]
            rest = rest // self._sizes[i]
        return out
