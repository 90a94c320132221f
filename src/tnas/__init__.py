"""tnas: neural architecture search with a learned (transformer-VAE) architecture sampler.

Importing the package fills the registries (spaces, samplers), timm-style. `tnas.load_network`
(the found network of a run directory) is imported on first use: it needs the run, data and
training layers, which `import tnas` alone should not load.
"""
from __future__ import annotations

from typing import Any

from tnas.errors import TnasError
from tnas.space import SearchSpace, Decision, get_space, list_spaces, register_space
from tnas.supernet.registry import Family, NetSize, get_family, list_families, register_family
from tnas.version import __version__

__all__ = ["TnasError", "SearchSpace", "Decision", "get_space", "list_spaces", "register_space", "Family", "NetSize",
           "get_family", "list_families", "register_family", "load_network", "__version__"]


def __getattr__(name: str) -> Any:  # PEP 562: heavy entry points on first use
    if name == "load_network":
        from tnas.export import load_network

        return load_network
    raise AttributeError(f"module 'tnas' has no attribute '{name}'")
