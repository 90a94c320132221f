"""Registry of search spaces: `@register_space("nb201")` on a zero-argument factory."""
from __future__ import annotations

from collections.abc import Callable

from tnas.registry import Registry
from tnas.space.base import SearchSpace

SPACES: Registry[Callable[[], SearchSpace]] = Registry("search space", "Register new spaces with @tnas.register_space.")


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Decorator: register a factory returning a SearchSpace under `name`."""
    return SPACES.register(name)


def get_space(name: str) -> SearchSpace:
    """The registered space `name`; an unknown name raises with the known ones and the closest."""
    return SPACES.get(name)()


def list_spaces() -> list[str]:
    return SPACES.names()
