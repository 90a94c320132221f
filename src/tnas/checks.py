"""Declarative value checks for the config dataclasses (issue 10).

A field declares what it allows where it is defined:

    epochs: int = checked(6, ge=1, le=100_000)
    z: str = checked("sample", choices=("sample", "zero"))

and `validate(cfg)` walks a (nested) dataclass once: every declared range or choice set (NaN and
infinity are never allowed in a float), then each class's `cross_checks()`, the rules between
fields. The error names the dotted key, the value, what is allowed and the fix. `resolve_config`
and `resolve_train_config` call it before any data is loaded or anything is trained.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from tnas.errors import TnasError, suggest

SEED_MAX = 2**32 - 1  # run seeds; each random stream is hashed from (seed, name), `tnas.seeds`


@dataclasses.dataclass(frozen=True)
class Rule:
    """Allowed values of one field: bounds (`ge` <= v <= `le`, `gt` < v < `lt`) or `choices`."""

    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None
    choices: tuple[str, ...] | None = None

    def allows(self, v: Any) -> bool:
        if self.choices is not None:
            return v in self.choices
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return ((self.ge is None or v >= self.ge) and (self.le is None or v <= self.le)
                and (self.gt is None or v > self.gt) and (self.lt is None or v < self.lt))

    def describe(self, integer: bool) -> str:
        """'one of a, b', 'an integer in [1, 100]', 'a finite number in (0, 10]', 'an integer >= 0'."""
        if self.choices is not None:
            return f"one of {', '.join(self.choices)}"
        kind = "an integer" if integer else "a finite number"
        low = (f"[{_num(self.ge)}" if self.ge is not None else f"({_num(self.gt)}" if self.gt is not None else None)
        high = (f"{_num(self.le)}]" if self.le is not None else f"{_num(self.lt)})" if self.lt is not None else None)
        if low and high:
            return f"{kind} in {low}, {high}"
        if low:
            return f"{kind} {'>=' if low[0] == '[' else '>'} {low[1:]}"
        return f"{kind} {'<=' if high[-1] == ']' else '<'} {high[:-1]}" if high else kind


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else f"{x:,}".replace(",", "_") if abs(x) >= 100_000 else str(x)


def checked(default: Any, *, ge: float | None = None, le: float | None = None, gt: float | None = None,
            lt: float | None = None, choices: Sequence[str] | None = None) -> Any:
    """A dataclass field with a default and the values `validate` allows (None always passes
    for an optional field)."""
    rule = Rule(ge, le, gt, lt, tuple(choices) if choices is not None else None)
    return dataclasses.field(default=default, metadata={"rule": rule})


class Cross(NamedTuple):
    """One rule between fields, as returned by a config class's `cross_checks()`."""

    ok: bool
    key: str  # the field to change (relative to the class)
    value: Any
    expected: str  # what is allowed, in words


def bad_value(key: str, value: Any, expected: str, hint: str = "") -> TnasError:
    """The standard error for a config value outside what its key allows."""
    return TnasError(f"Bad value {value!r} for '{key}': expected {expected}.{hint} Set it with {key}=... "
                     "(or drop the override to keep the default).")


def rules(cls: type) -> dict[str, Rule]:
    """{field name: Rule} of the fields of dataclass `cls` that declare one."""
    return {f.name: f.metadata["rule"] for f in dataclasses.fields(cls) if "rule" in f.metadata}


def validate(cfg: Any, prefix: str = "") -> None:
    """Check every declared field rule and `cross_checks()` of `cfg` and its nested dataclasses.

    Raises:
        TnasError: for the first bad value, naming `prefix + key`, the value and what is allowed.
    """
    declared = rules(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            validate(value, f"{prefix}{f.name}.")
        elif f.name in declared and value is not None and not declared[f.name].allows(value):
            rule = declared[f.name]
            hint = suggest(str(value), rule.choices) if rule.choices else ""
            raise bad_value(prefix + f.name, value, rule.describe(str(f.type).startswith("int")), hint)
    for c in getattr(cfg, "cross_checks", lambda: ())():
        if not c.ok:
            raise bad_value(prefix + c.key, c.value, c.expected)
