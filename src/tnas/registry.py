"""One registry mechanism for every name -> object table of tnas.

Spaces, network families, operations, samplers, query searches and datasets each keep one
`Registry`: entries are added by decorator (`@REG.register("name")`) or call
(`REG.add("name", obj)`), looked up with `REG.get(name)` (an unknown name raises `TnasError`
with the known names, the closest match and the fix), and listed with `REG.names()`. The
contract tests in tests/unit/test_registries.py are parametrised over these listings, so a new
entry is tested by being registered. Registries are filled at import time by the package that
owns them (the package's `__init__` imports its built-in modules), never lazily.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from tnas.errors import TnasError, unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> objects of one kind.

    Args:
        kind: what an entry is, for error messages ('search space', 'dataset', ...).
        fix: the sentence an unknown-name error ends with (how to add or pick one).
        replace: whether registering a taken name replaces the entry (True for families, which
            users re-register while developing) or is a programming error (False).
    """

    def __init__(self, kind: str, fix: str = "", *, replace: bool = False) -> None:
        self.kind, self.fix, self.replace = kind, fix, replace
        self._entries: dict[str, T] = {}

    def add(self, name: str, obj: T) -> T:
        """Register `obj` under `name` and return it."""
        if not isinstance(name, str) or not name:
            raise TnasError(f"A {self.kind} is registered under a non-empty string name, got {name!r}.")
        assert self.replace or name not in self._entries, f"{self.kind} '{name}' registered twice"
        self._entries[name] = obj
        return obj

    def register(self, *names: str) -> Callable[[T], T]:
        """Decorator: register the decorated object under each of `names` (aliases share it)."""

        def wrap(obj: T) -> T:
            for name in names:
                self.add(name, obj)
            return obj

        return wrap

    def get(self, name: str) -> T:
        """The entry `name`; an unknown name raises TnasError naming the known ones and the fix."""
        if name not in self._entries:
            raise unknown(self.kind, name, self._entries, self.fix)
        return self._entries[name]

    __getitem__ = get

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        """Names in registration order."""
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._entries)})"
