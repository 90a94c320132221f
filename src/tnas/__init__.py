"""tnas: neural architecture search with a learned (transformer-VAE) architecture sampler.

Importing the package fills the registries (spaces, samplers), timm-style.
"""
from __future__ import annotations

__version__ = "0.1.0"

from tnas.errors import TnasError
from tnas.space import SearchSpace, Decision, get_space, list_spaces, register_space
from tnas.supernet.registry import Family, NetSize, get_family, list_families, register_family

__all__ = ["TnasError", "SearchSpace", "Decision", "get_space", "list_spaces", "register_space", "Family", "NetSize",
           "get_family", "list_families", "register_family", "__version__"]
