"""Scores: what ranks architectures, chosen by name and used everywhere a search compares cells.

`search.score=NAME` is the search stage's fitness (the GA, TNAS-G's best-of derivation, the
zero-cost strategy, `tnas bench`, the NB201 Kendall tau in reports); `sampler.feedback_score=NAME`
is what the learned sampler observes during supernet training. NAME is a registered score or a
rank ensemble `rank:a+b+c` of two or more distinct ones. Higher is better for every score.

| score | needs | what |
|---|---|---|
| accuracy | supernet | accuracy (%) on `search.eval_batches` validation batches after BN recalibration (SPOS) |
| loss | supernet | -cross-entropy on the same batches |
| angle | supernet + its initial weights | ABS / RLNAS: angle (rad) between the path's initial and trained weights |
| naswot, synflow, snip, grad_norm, jacov | the family's stand-alone network | zero-cost proxies at initialisation (`zero_cost.py`) |

A rank ensemble scores an architecture by the mean over its members of the member's (interpolated)
percentile in a fixed reference sample of `search.rank_reference` uniform architectures (stream
'score-reference'): a deterministic function of the architecture (so the GA can memoise it and a
resumed search replays it), in [0, 1], with each member weighted alike whatever its units.
Members that change while the supernet trains (accuracy, loss, angle) have their reference
re-scored by `refresh()` (the training loop calls it once per epoch); zero-cost members are
memoised by architecture.

What a family must provide (docs/spaces.md): the supernet scores need `supernet(x, arch)`; `angle`
needs the run to keep the supernet's initial weights (tnas search does) and uses the supernet's
`angle_pieces(arch, params)` if it defines one (ABS's handling of parameter-free ops, as NB201's
supernet does), else the parameters the path's forward pass uses; zero-cost scores need the
family's `network` builder. A score a family cannot support is a `TnasError` naming both.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tnas.errors import TnasError, suggest
from tnas.evaluate.bn import recalibrate_bn
from tnas.evaluate.zero_cost import ZERO_COST, zero_cost_scores
from tnas.registry import Registry
from tnas.seeds import stream, stream_seed
from tnas.space.base import SearchSpace

RANK_PREFIX = "rank:"


@dataclass(frozen=True)
class ScoreEntry:
    """A registered score: what it needs ('supernet', 'init' = the supernet's initial weights,
    'network' = the family's stand-alone network builder), whether its value changes as the
    supernet trains, and a one-line description for `--help` and docs."""

    needs: frozenset[str]
    dynamic: bool
    description: str


SCORES: Registry[ScoreEntry] = Registry("score", "Known scores are listed by `tnas search --help` (docs/scores.md).")
SCORES.add("accuracy", ScoreEntry(frozenset({"supernet"}), True,
                                  "supernet accuracy (%) on the validation batches after BN recalibration (default)"))
SCORES.add("loss", ScoreEntry(frozenset({"supernet"}), True, "-cross-entropy of the supernet on the same batches"))
SCORES.add("angle", ScoreEntry(frozenset({"supernet", "init"}), True,
                               "angle (rad) between the path's initial and trained weights (ABS, RLNAS)"))
for _name, _what in (("naswot", "log-det of the ReLU-code Hamming kernel (Mellor et al. 2021)"),
                     ("synflow", "synaptic flow of |weights|, BN off, ones input (Tanaka et al. 2020)"),
                     ("snip", "sum |w * dL/dw| on a training batch (Lee et al. 2019)"),
                     ("grad_norm", "sum of per-layer gradient norms on a training batch"),
                     ("jacov", "input-Jacobian correlation score (Mellor et al. 2020)")):
    SCORES.add(_name, ScoreEntry(frozenset({"network"}), False, f"zero-cost: {_what}"))


@dataclass(frozen=True)
class ScoreSpec:
    """A parsed score: one member, or a rank ensemble of two or more distinct members."""

    members: tuple[str, ...]
    ensemble: bool = False

    @property
    def text(self) -> str:
        return RANK_PREFIX + "+".join(self.members) if self.ensemble else self.members[0]

    @property
    def needs(self) -> frozenset[str]:
        return frozenset().union(*(SCORES.get(m).needs for m in self.members))

    @property
    def dynamic(self) -> bool:
        return any(SCORES.get(m).dynamic for m in self.members)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def parse_score(text: str, key: str = "search.score") -> ScoreSpec:
    """`NAME` or `rank:A+B[+...]` -> ScoreSpec; a bad text raises TnasError naming `key`."""
    known = ", ".join(SCORES.names())
    raw = str(text).strip()
    if not raw.startswith(RANK_PREFIX):
        if raw not in SCORES:
            raise TnasError(f"Unknown score {_short(raw)!r} for '{key}'. Expected one of: {known}, or a rank ensemble "
                            f"such as rank:angle+naswot+synflow.{suggest(raw, SCORES.names())} Set it with {key}=NAME.")
        return ScoreSpec((raw,))
    members = tuple(m.strip() for m in raw[len(RANK_PREFIX):].split("+"))
    bad = next((m for m in members if m not in SCORES), None)
    if len(members) < 2 or bad is not None:
        what = f"member {_short(bad)!r} is not a score" if bad is not None else "it has fewer than two members"
        raise TnasError(f"Malformed rank ensemble {_short(raw)!r} for '{key}': {what}. Write rank:A+B[+C...] with two "
                        f"or more distinct scores from: {known} (e.g. {key}=rank:angle+naswot+synflow).")
    repeated = sorted({m for m in members if members.count(m) > 1})
    if repeated:
        distinct = list(dict.fromkeys(members))
        fix = f"{RANK_PREFIX}{'+'.join(distinct)}" if len(distinct) > 1 else distinct[0]
        raise TnasError(f"Rank ensemble {_short(raw)!r} for '{key}' names {repeated[0]!r} more than once; list each "
                        f"member once (e.g. {key}={fix}).")
    return ScoreSpec(members, ensemble=True)


@dataclass
class ScoreInputs:
    """What scores may draw on; a run fills what it has.

    Attributes:
        space: the search space.
        supernet: the trained supernet (`forward(x, arch long [D])`), or None.
        init_params: the supernet's initial parameters {name: tensor} (for `angle`), or None.
        calib: BN-calibration image batches [B, C, H, W] (supernet scores).
        valid: (x, y) validation batches (supernet scores).
        batches: (x, y) training batches for zero-cost proxies (unaugmented).
        network: arch long [D] -> the stand-alone network at initialisation (zero-cost), or None.
        seed: the run seed (initial weights of zero-cost networks, the rank reference).
        reference: architectures in a rank ensemble's reference sample.
        why_no_network: the reason `network` is None, for the error message.
    """

    space: SearchSpace
    supernet: nn.Module | None = None
    init_params: Mapping[str, Tensor] | None = None
    calib: Sequence[Tensor] = ()
    valid: Sequence[tuple[Tensor, Tensor]] = ()
    batches: Sequence[tuple[Tensor, Tensor]] = ()
    network: Callable[[Tensor], nn.Module] | None = None
    seed: int = 0
    reference: int = 64
    why_no_network: str = ""


def check_supported(spec: ScoreSpec, inputs: ScoreInputs, key: str = "search.score") -> None:
    """Raise TnasError when `inputs` lack what a member of `spec` needs."""
    for m in spec.members:
        needs = SCORES.get(m).needs
        if "supernet" in needs and inputs.supernet is None:
            raise TnasError(f"Score {m!r} ({key}={spec.text}) needs a trained supernet, and this run has none "
                            "(strategy=zero-cost). Use a zero-cost score (naswot, synflow, snip, grad_norm, jacov) or "
                            "a one-shot strategy (spos, tnas-os).")
        if "init" in needs and inputs.init_params is None:
            raise TnasError(f"Score 'angle' ({key}={spec.text}) needs the supernet's initial weights, and this run's "
                            "checkpoint holds none (it was written by an older tnas). Start a new run to use angle, or "
                            f"resume with {key}=accuracy (or another score).")
        if "network" in needs and inputs.network is None:
            raise TnasError(f"Zero-cost score {m!r} ({key}={spec.text}) needs the stand-alone network of an "
                            f"architecture, and {inputs.why_no_network or 'none can be built here'}. Register the space's "
                            "family with network=... (tnas.Family), or use a supernet score (accuracy, loss, angle).")


@dataclass
class Scorer:
    """The score `spec` over `inputs`: long [N, D] -> float64 [N] (higher = better).

    Zero-cost members are memoised by architecture (one network build serves every zero-cost
    member of an ensemble); supernet members are recomputed on each call (the caller's memo,
    e.g. the GA's, keeps them for a fixed supernet).
    """

    spec: ScoreSpec
    inputs: ScoreInputs
    key: str = "search.score"  # the config key it came from (named by the support check's errors)
    # zero-cost values by architecture key; Scorers over the same inputs may share one dict
    cache: dict[int, dict[str, float]] = field(default_factory=dict)
    _used: dict[int, list[str]] = field(default_factory=dict)
    _reference: dict[str, Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_supported(self.spec, self.inputs, self.key)

    @property
    def name(self) -> str:
        return self.spec.text

    def __call__(self, archs: Tensor) -> Tensor:
        archs = archs.reshape(-1, self.inputs.space.num_decisions)
        values = self.values(archs)
        if not self.spec.ensemble:
            return values[self.spec.members[0]]
        ref = self.reference()
        return torch.stack([percentile(values[m], ref[m]) for m in self.spec.members]).mean(0)

    def values(self, archs: Tensor) -> dict[str, Tensor]:
        """Each member's raw value for archs long [N, D]: {member: float64 [N]}."""
        rows = [self._one(a) for a in archs.reshape(-1, self.inputs.space.num_decisions)]
        return {m: torch.tensor([r[m] for r in rows], dtype=torch.float64) for m in self.spec.members}

    def reference(self) -> dict[str, Tensor]:
        """Each member's values on the reference sample (computed on first use, see `refresh`)."""
        if not self._reference:
            space = self.inputs.space
            g = stream(self.inputs.seed, "score-reference")
            archs = space.sample_uniform(min(self.inputs.reference, space.size), g)
            self._reference = self.values(archs)
        return self._reference

    def refresh(self) -> None:
        """Forget the reference values of members that change as the supernet trains."""
        if self.spec.ensemble and self.spec.dynamic:
            self._reference = {}

    def _one(self, arch: Tensor) -> dict[str, float]:
        out: dict[str, float] = {}
        members = set(self.spec.members)
        zero_cost = [m for m in self.spec.members if m in ZERO_COST]
        if zero_cost:
            out.update(self._zero_cost(arch, zero_cost))
        if members & {"accuracy", "loss"}:
            acc, loss = supernet_metrics(self.inputs.supernet, arch, self.inputs.calib, self.inputs.valid)
            out.update(accuracy=acc, loss=-loss)
        if "angle" in members:
            out["angle"] = self.angle(arch)
        return out

    def _zero_cost(self, arch: Tensor, names: list[str]) -> dict[str, float]:
        key = self.inputs.space.key(arch)
        known = self.cache.setdefault(key, {})
        missing = [n for n in names if n not in known]
        if missing:
            inputs = self.inputs
            with torch.random.fork_rng(devices=[]):  # the network's initial weights: stream 'zero-cost'
                torch.manual_seed(stream_seed(inputs.seed, "zero-cost"))
                net = inputs.network(arch)
            sums = dict.fromkeys(missing, 0.0)
            for x, y in inputs.batches:
                for n, v in zero_cost_scores(net, x, y, missing).items():
                    sums[n] += v
            known.update({n: v / max(len(inputs.batches), 1) for n, v in sums.items()})
        return {n: known[n] for n in names}

    def angle(self, arch: Tensor) -> float:
        """ABS angle (rad) between the path's initial and current weights; 0 when the path has none."""
        net, init = self.inputs.supernet, self.inputs.init_params
        assert net is not None and init is not None
        now = {n: p.detach() for n, p in net.named_parameters()}
        if hasattr(net, "angle_pieces"):
            a, b = net.angle_pieces(arch, init), net.angle_pieces(arch, now)
        else:
            names = self._path_parameters(arch)
            a, b = [init[n].reshape(-1) for n in names], [now[n].reshape(-1) for n in names]
        return vector_angle(a, b)

    def _path_parameters(self, arch: Tensor) -> list[str]:
        """Names of the supernet parameters the path `arch` uses: those a one-image forward and
        backward reaches (cached per architecture)."""
        key = self.inputs.space.key(arch)
        if key not in self._used:
            net = self.inputs.supernet
            x = self._probe_image()
            net.zero_grad(set_to_none=True)
            was = net.training
            net.eval()
            try:
                net(x, arch.to(x.device)).sum().backward()
                self._used[key] = [n for n, p in net.named_parameters() if p.grad is not None]
            finally:
                net.zero_grad(set_to_none=True)
                net.train(was)
        return self._used[key]

    def _probe_image(self) -> Tensor:
        if self.inputs.calib:
            return self.inputs.calib[0][:1]
        if self.inputs.valid:
            return self.inputs.valid[0][0][:1]
        raise TnasError("Score 'angle' needs one image to find the parameters of a path; the run gave no batches.")


def vector_angle(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    """arccos of the cosine between the concatenations of `a` and `b` (radians, float64); 0 when
    both are empty (a path with no weights at all: ABS scores it as unchanged)."""
    if not a:
        return 0.0
    u = torch.cat([t.reshape(-1).double().cpu() for t in a])
    v = torch.cat([t.reshape(-1).double().cpu() for t in b])
    nu, nv = float(u.norm()), float(v.norm())
    if nu == 0.0 or nv == 0.0:
        return 0.0
    u, v = u / nu, v / nv
    # 2 atan2(|u - v|, |u + v|) is the angle without acos's loss of precision near 0 (exactly 0 for u == v)
    return 2.0 * math.atan2(float((u - v).norm()), float((u + v).norm()))


def percentile(values: Tensor, reference: Tensor) -> Tensor:
    """The percentile (float64 [N] in [0, 1]) of each value in a reference sample, continuous and
    strictly increasing so a search can still tell apart cells better than every reference cell.

    At a reference value it is that value's mid-rank, (count below + count equal / 2) / n; between
    two reference values it interpolates linearly; beyond the extremes it approaches 0 or 1 as
    tanh of the distance in units of the outer decile's spread. NaN and -inf rank lowest.
    """
    r = torch.sort(reference.double().reshape(-1).nan_to_num(nan=-math.inf)).values
    v = values.double().reshape(-1).nan_to_num(nan=-math.inf)
    n = r.numel()
    if n == 0:
        raise TnasError("A rank ensemble needs a non-empty reference sample (search.rank_reference >= 2).")
    mid = ((r[None, :] < r[:, None]).double().sum(1) + 0.5 * (r[None, :] == r[:, None]).double().sum(1)) / n
    hi = max(0, min(n - 2, int(0.9 * n)))  # the top decile's lower edge
    lo = min(n - 1, max(0, n - 1 - hi))
    spread_hi = float(r[-1] - r[hi]) if math.isfinite(float(r[-1] - r[hi])) and r[-1] > r[hi] else 1.0
    spread_lo = float(r[lo] - r[0]) if math.isfinite(float(r[lo] - r[0])) and r[lo] > r[0] else 1.0
    k = torch.searchsorted(r, v, right=True) - 1  # r[k] <= v < r[k + 1]
    kc = k.clamp(0, max(n - 2, 0))
    left, right = r[kc], r[(kc + 1).clamp(max=n - 1)]
    gap = (right - left).where(right > left, torch.ones_like(left))
    frac = ((v - left) / gap).nan_to_num(0.0).clamp(0, 1)
    out = mid[kc] + (mid[(kc + 1).clamp(max=n - 1)] - mid[kc]) * frac
    above = torch.tanh(((v - r[-1]) / spread_hi).clamp(min=0).nan_to_num(0.0))
    below = torch.tanh(((r[0] - v) / spread_lo).clamp(min=0).nan_to_num(1.0))
    out = torch.where(v >= r[-1], mid[-1] + (1 - mid[-1]) * above, out)
    out = torch.where(v < r[0], mid[0] * (1 - below), out)
    return out


@torch.no_grad()
def supernet_metrics(supernet: nn.Module, arch: Tensor, calib: Sequence[Tensor],
                     valid: Sequence[tuple[Tensor, Tensor]]) -> tuple[float, float]:
    """(accuracy %, mean cross-entropy) of the supernet's path `arch` on `valid` after BN
    recalibration on `calib` (one host sync)."""
    recalibrate_bn(supernet, arch, list(calib), len(calib))
    supernet.eval()
    correct, loss, total = 0, 0, 0
    for x, y in valid:
        logits = supernet(x, arch)
        correct = correct + (logits.argmax(1) == y).sum()
        loss = loss + F.cross_entropy(logits.float(), y, reduction="sum")
        total += y.numel()
    values = torch.stack([torch.as_tensor(correct).double(), torch.as_tensor(loss).double()]).tolist()
    return 100.0 * values[0] / max(total, 1), values[1] / max(total, 1)


class MemoScore:
    """A search stage's fitness over any score: memoised by architecture key (`memo`: key ->
    score, checkpointed by the run, so a resumed search replays what it evaluated), with an
    `on_eval(arch, score)` callback per new evaluation. The same interface as `SupernetEvaluator`."""

    def __init__(self, space: SearchSpace, score: Callable[[Tensor], Tensor], memo: dict[int, float] | None = None,
                 on_eval: Callable[[Tensor, float], None] | None = None) -> None:
        self.space, self.score = space, score
        self.memo: dict[int, float] = {} if memo is None else memo
        self.on_eval = on_eval

    def __call__(self, archs: Tensor) -> Tensor:
        """long [N, D] -> float64 [N]."""
        out = []
        for arch in archs.reshape(-1, self.space.num_decisions):
            key = self.space.key(arch)
            if key not in self.memo:
                self.memo[key] = float(self.score(arch[None])[0])
                if self.on_eval is not None:
                    self.on_eval(arch, self.memo[key])
            out.append(self.memo[key])
        return torch.tensor(out, dtype=torch.float64)
