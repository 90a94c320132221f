"""Scoring architectures: the supernet evaluator and BN recalibration it relies on; the fixed
evaluation batches; how well a supernet ranks cells (Kendall tau, the stratified tau set)."""
from tnas.evaluate.batches import eval_batches, fixed_batches
from tnas.evaluate.bn import recalibrate_bn
from tnas.evaluate.ranking import (
    TauSet, cell_kind, kendall_tau, kendall_taus, random_cells, stratified_cells, supernet_taus,
)
from tnas.evaluate.supernet import SupernetEvaluator

__all__ = ["SupernetEvaluator", "TauSet", "cell_kind", "eval_batches", "fixed_batches", "kendall_tau",
           "kendall_taus", "random_cells", "recalibrate_bn", "stratified_cells", "supernet_taus"]
