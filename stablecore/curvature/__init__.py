"""Parameter sensitivity: curvature operators (loss Hessian, generalised Gauss–Newton, any SciPy or
curvlinops operator), their spectrum, trace and density, curvature bounds and regularizers.

Operator first: build a :class:`LinearOperator` (:class:`HessianOperator`, :class:`GGNOperator`,
:func:`as_operator` of a SciPy / curvlinops operator) and pass it to :func:`eigenvalues`, :func:`trace` or
:func:`density`; :func:`hessian_eigenvalues`, :func:`hessian_trace` and :func:`hessian_density` do both for
the loss Hessian. See :mod:`stablecore.curvature.operators` for the protocol and the BatchNorm/dropout
policy.
"""

from stablecore.curvature.bounds import input_hessian_bound, parameter_hessian_bounds
from stablecore.curvature.callbacks import CurvatureTracker
from stablecore.curvature.lanczos import (
    ConvergenceError,
    ConvergenceWarning,
    EigenResult,
    SpectralDensity,
    density,
    eigenvalues,
    hessian_density,
    hessian_eigenvalues,
    lanczos,
    smooth_density,
)
from stablecore.curvature.operators import (
    BatchSource,
    GGNOperator,
    HessianOperator,
    LinearOperator,
    ScipyOperator,
    as_operator,
    loss_reduction,
    select_parameters,
)
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
from stablecore.curvature.trace import TraceEstimate, hessian_trace, probe_generator, trace

__all__ = [
    "SAM",
    "ActivationDecay",
    "BatchSource",
    "ConvergenceError",
    "ConvergenceWarning",
    "CurvatureTracker",
    "EigenResult",
    "GGNOperator",
    "GradientNormPenalty",
    "HessianBoundPenalty",
    "HessianOperator",
    "HutchinsonTracePenalty",
    "LinearOperator",
    "NoiseInjection",
    "ScipyOperator",
    "SpectralDensity",
    "TraceEstimate",
    "WeightDecay",
    "as_operator",
    "build_regularizer",
    "density",
    "eigenvalues",
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
    "trace",
]
