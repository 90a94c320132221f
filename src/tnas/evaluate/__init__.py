"""Scoring architectures: the supernet evaluator and BN recalibration it relies on; how well a
supernet ranks cells (the stratified Kendall-tau set)."""
from tnas.evaluate.bn import recalibrate_bn
from tnas.evaluate.ranking import TauSet, cell_kind, kendall_tau, kendall_taus, random_cells, stratified_cells
from tnas.evaluate.supernet import SupernetEvaluator

__all__ = ["SupernetEvaluator", "TauSet", "cell_kind", "kendall_tau", "kendall_taus", "random_cells",
           "recalibrate_bn", "stratified_cells"]
