"""Config as data: nested frozen dataclasses, YAML presets and `key=value` overrides.

`apply_overrides(cfg, {"train.epochs": "3"})` converts each value to the field's declared type
and returns a new config; an unknown key raises with the closest valid key. Values are parsed
with `yaml.safe_load` (never `eval`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import yaml

from tnas.errors import TnasError, suggest

T = TypeVar("T")


def flat_keys(cfg: Any, prefix: str = "") -> dict[str, Any]:
    """{'a.b': type} for every leaf field of a (nested) dataclass."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            out.update(flat_keys(value, key + "."))
        else:
            out[key] = hints[f.name]
    return out


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict (YAML-safe) of a dataclass config."""
    return dataclasses.asdict(cfg)


def _convert(key: str, raw: Any, typ: Any) -> Any:
    """Convert `raw` (already YAML-parsed or a Python value) to `typ`, or raise naming the key."""
    origin = typing.get_origin(typ)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(typ)
        if raw is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(key, raw, a)
            except TnasError as e:
                errors.append(str(e))
        raise TnasError(errors[0] if errors else f"Bad value {raw!r} for '{key}'.")
    if origin is typing.Literal:
        allowed = typing.get_args(typ)
        if raw not in allowed:
            raise TnasError(
                f"Bad value {raw!r} for '{key}': expected one of {', '.join(map(str, allowed))}."
                f"{suggest(str(raw), map(str, allowed))}"
            )
        return raw
    if origin in (tuple, list):
        if isinstance(raw, str):
            raw = [yaml.safe_load(p) for p in raw.split(",") if p.strip()]
        if not isinstance(raw, (list, tuple)):
            raise TnasError(f"Bad value {raw!r} for '{key}': expected a comma-separated list.")
        args = typing.get_args(typ)
        inner = args[0] if args else Any
        return origin(_convert(key, r, inner) for r in raw)
    if typ is Any:
        return raw
    if typ is bool:
        if isinstance(raw, bool):
            return raw
        raise TnasError(f"Bad value {raw!r} for '{key}': expected true or false.")
    if typ is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        raise TnasError(f"Bad value {raw!r} for '{key}': expected an integer.")
    if typ is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):  # YAML 1.1 reads '1e-3' (no dot) as a string
            try:
                return float(raw)
            except ValueError:
                pass
        raise TnasError(f"Bad value {raw!r} for '{key}': expected a number.")
    if typ is str:
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise TnasError(f"Bad value {raw!r} for '{key}': expected a string.")
    raise TnasError(f"Cannot set '{key}' of type {typ}.")


def _set(cfg: T, path: list[str], value: Any) -> T:
    head, rest = path[0], path[1:]
    if not rest:
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: _set(getattr(cfg, head), rest, value)})


def apply_overrides(cfg: T, overrides: Mapping[str, Any], *, parse: bool = True) -> T:
    """New config with `overrides` ({'dotted.key': value}) applied, each type-checked.

    Args:
        parse: values are strings from the command line, parsed with yaml.safe_load first.
    """
    keys = flat_keys(cfg)
    sections = {k.rsplit(".", 1)[0] for k in keys if "." in k}
    for key, raw in overrides.items():
        if key not in keys:
            hint = f" '{key}' is a section; set one of its keys, e.g. '{key}.…'." if key in sections else ""
            raise TnasError(
                f"Unknown config key '{key}'.{hint or suggest(key, keys)} Valid keys: {', '.join(sorted(keys))}."
            )
        value = _parse(key, raw, text_ok=keys[key] is str) if parse and isinstance(raw, str) else raw
        if parse and isinstance(raw, str) and keys[key] is str and not isinstance(value, str) and value is not None:
            value = raw  # a string field keeps the literal text (e.g. name=2024)
        cfg = _set(cfg, key.split("."), _convert(key, value, keys[key]))
    return cfg


def _parse(key: str, raw: str, text_ok: bool) -> Any:
    """A command-line value as YAML (numbers, booleans, null, lists), or a clear error; a string
    field (`text_ok`) takes text that is no valid YAML as it is."""
    try:
        return yaml.safe_load(raw)
    except (yaml.YAMLError, ValueError) as e:  # ValueError: an integer of more than 4300 digits
        if text_ok:
            return raw
        problem = getattr(e, "problem", None) or ("too many digits" if isinstance(e, ValueError) else type(e).__name__)
        raise TnasError(f"Bad value {raw!r} for '{key}': it is not a valid YAML value ({problem}). Give a plain "
                        "number, true/false or null, or close the brackets of a list.") from None


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1} (for applying a YAML preset as overrides)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def parse_override_args(items: list[str]) -> dict[str, str]:
    """['a.b=1', 'c=x'] -> {'a.b': '1', 'c': 'x'}; a malformed item raises with the fix."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise TnasError(
                f"Bad override '{item}': expected key=value, e.g. train.epochs=3 or sampler.eps_inc=0.1."
            )
        out[key.strip()] = value.strip()
    return out


def split_preset_args(items: list[str], example: str) -> tuple[str | None, list[str]]:
    """[PRESET] key=value ... -> (preset or None, overrides). `example` (a full command line)
    goes into the error for any other argument."""
    preset, overrides = None, []
    for i, item in enumerate(items):
        if "=" in item:
            overrides.append(item)
        elif i == 0:
            preset = item
        else:
            raise TnasError(f"Unexpected argument '{item}': give at most one preset (first), then key=value "
                            f"overrides, e.g. `{example}`.")
    return preset, overrides
