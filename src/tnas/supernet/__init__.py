"""Weight-sharing supernets built from a search space, and stand-alone networks of one cell.

Importing the package fills the family registry (`tnas.supernet.registry`), one module per space.
"""
from tnas.supernet import darts_family, nb201_family, shufflenet_family  # noqa: F401  (fill the registry)
from tnas.supernet.nb201 import SEARCH_BN, NB201Network, NB201Supernet
from tnas.supernet.plan import CellPlan, make_plan

__all__ = ["SEARCH_BN", "NB201Network", "NB201Supernet", "CellPlan", "make_plan"]
