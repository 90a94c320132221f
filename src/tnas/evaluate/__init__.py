"""Scoring architectures: the supernet evaluator and BN recalibration it relies on."""
from tnas.evaluate.bn import recalibrate_bn
from tnas.evaluate.supernet import SupernetEvaluator

__all__ = ["SupernetEvaluator", "recalibrate_bn"]
