"""Registry of search spaces: `@register_space("nb201")` on a zero-argument factory."""
from __future__ import annotations

from collections.abc import Callable

from tnas.errors import unknown
from tnas.space.base import SearchSpace

_SPACES: dict[str, Callable[[], SearchSpace]] = {}


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator: register a factory returning a SearchSpace under `name`."""

    def wrap(fn: Callable[[], SearchSpace]) -> Callable[[], SearchSpace]:
        assert name not in _SPACES, f"space '{name}' registered twice"
        _SPACES[name] = fn
        return fn

    return wrap


def get_space(name: str) -> SearchSpace:
    """The registered space `name`; an unknown name raises with the known ones and the closest."""
    if name not in _SPACES:
        raise unknown("search space", name, _SPACES, "Register new spaces with @tnas.register_space.")
    return _SPACES[name]()


def list_spaces() -> list[str]:
    return sorted(_SPACES)
