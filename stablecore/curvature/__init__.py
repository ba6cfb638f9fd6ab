"""Parameter sensitivity: the loss Hessian (spectrum, trace, density), curvature bounds and regularizers.

See :mod:`stablecore.curvature.operators` for the operator and its BatchNorm/dropout policy.
"""

from stablecore.curvature.lanczos import (
    EigenResult,
    SpectralDensity,
    hessian_density,
    hessian_eigenvalues,
    lanczos,
    smooth_density,
)
from stablecore.curvature.operators import BatchSource, HessianOperator, select_parameters
from stablecore.curvature.trace import TraceEstimate, hessian_trace, probe_generator

__all__ = [
    "BatchSource",
    "EigenResult",
    "HessianOperator",
    "SpectralDensity",
    "TraceEstimate",
    "hessian_density",
    "hessian_eigenvalues",
    "hessian_trace",
    "lanczos",
    "probe_generator",
    "select_parameters",
    "smooth_density",
]
