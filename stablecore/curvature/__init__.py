"""Parameter sensitivity: the loss Hessian (spectrum, trace, density), curvature bounds and regularizers.

See :mod:`stablecore.curvature.operators` for the operator and its BatchNorm/dropout policy.
"""

from stablecore.curvature.bounds import input_hessian_bound, parameter_hessian_bounds
from stablecore.curvature.lanczos import (
    ConvergenceError,
    ConvergenceWarning,
    EigenResult,
    SpectralDensity,
    hessian_density,
    hessian_eigenvalues,
    lanczos,
    smooth_density,
)
from stablecore.curvature.operators import BatchSource, HessianOperator, loss_reduction, select_parameters
from stablecore.curvature.regularizers import (
    SAM,
    ActivationDecay,
    GradientNormPenalty,
    HessianBoundPenalty,
    HutchinsonTracePenalty,
    NoiseInjection,
    WeightDecay,
    build_regularizer,
)
from stablecore.curvature.trace import TraceEstimate, hessian_trace, probe_generator

__all__ = [
    "SAM",
    "ActivationDecay",
    "BatchSource",
    "ConvergenceError",
    "ConvergenceWarning",
    "EigenResult",
    "GradientNormPenalty",
    "HessianBoundPenalty",
    "HessianOperator",
    "HutchinsonTracePenalty",
    "NoiseInjection",
    "SpectralDensity",
    "TraceEstimate",
    "WeightDecay",
    "build_regularizer",
    "hessian_density",
    "hessian_eigenvalues",
    "hessian_trace",
    "input_hessian_bound",
    "lanczos",
    "loss_reduction",
    "parameter_hessian_bounds",
    "probe_generator",
    "select_parameters",
    "smooth_density",
]
