"""tnas: neural architecture search with a learned (transformer-VAE) architecture sampler.

The names below are imported on first use (PEP 562), so `import tnas` -- and with it `tnas --help`,
whose package `tnas.cli` sits inside this one -- does not load torch. Using a name loads its module,
which fills that module's registry (spaces, families) timm-style, as before. `tnas.load_network` (the
found network of a run directory) needs the run, data and training layers.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tnas.errors import TnasError
from tnas.version import __version__

if TYPE_CHECKING:  # for type checkers and IDEs; at run time `__getattr__` imports on first use
    from tnas.export import load_network
    from tnas.space import Decision, SearchSpace, get_space, list_spaces, register_space
    from tnas.supernet.registry import Family, NetSize, get_family, list_families, register_family

__all__ = ["TnasError", "SearchSpace", "Decision", "get_space", "list_spaces", "register_space", "Family", "NetSize",
           "get_family", "list_families", "register_family", "load_network", "__version__"]

_HOME = {**dict.fromkeys(("SearchSpace", "Decision", "get_space", "list_spaces", "register_space"), "tnas.space"),
         **dict.fromkeys(("Family", "NetSize", "get_family", "list_families", "register_family"),
                         "tnas.supernet.registry"),
         "load_network": "tnas.export"}
# subpackages reachable as attributes after a bare `import tnas` (as when this file imported them eagerly)
_SUBPACKAGES = ("space", "supernet")


def __getattr__(name: str) -> Any:  # PEP 562
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"tnas.{name}")
    else:
        raise AttributeError(f"module 'tnas' has no attribute '{name}'")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
