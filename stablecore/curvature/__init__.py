"""Parameter sensitivity: the loss Hessian (spectrum, trace, density), curvature bounds and regularizers.

See :mod:`stablecore.curvature.operators` for the operator and its BatchNorm/dropout policy.
"""

from stablecore.curvature.operators import BatchSource, HessianOperator, select_parameters

__all__ = ["BatchSource", "HessianOperator", "select_parameters"]
