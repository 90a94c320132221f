"""Candidate operations as small nn.Modules (timm-`layers` style) and their registry."""
from tnas.ops.registry import BNConfig, build_op, list_ops, register_op
from tnas.ops.nb201 import (  # noqa: F401  (fills the registry)
    AvgPool3x3,
    FactorizedReduce,
    Identity,
    ReLUConvBN,
    ResNetBasicBlock,
    Zero,
)

__all__ = [
    "BNConfig", "build_op", "list_ops", "register_op",
    "AvgPool3x3", "FactorizedReduce", "Identity", "ReLUConvBN", "ResNetBasicBlock", "Zero",
]
