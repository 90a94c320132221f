"""Weight-sharing supernets built from a search space, and stand-alone networks of one cell."""
from tnas.supernet.nb201 import SEARCH_BN, NB201Network, NB201Supernet
from tnas.supernet.plan import CellPlan, make_plan

__all__ = ["SEARCH_BN", "NB201Network", "NB201Supernet", "CellPlan", "make_plan"]
