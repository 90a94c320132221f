"""Search spaces: ordered categorical decisions, pure conversions, registry."""
from tnas.space.base import Decision, SearchSpace
from tnas.space.registry import get_space, list_spaces, register_space
from tnas.space import nb201 as _nb201  # noqa: F401  (fills the registry)
from tnas.space import darts as _darts  # noqa: F401
from tnas.space import shufflenet as _shufflenet  # noqa: F401

__all__ = ["Decision", "SearchSpace", "get_space", "list_spaces", "register_space"]
