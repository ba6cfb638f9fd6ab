"""Plotly figures shared by notebooks, dashboard and reports, one module per topic; each returns a ``Figure``.

Every figure takes a tidy DataFrame (as returned by :mod:`stablecore.chapters`, :mod:`stablecore.explore`
or :mod:`stablecore.report`) or a result object, checks the columns it draws (``ValueError`` naming the
missing ones) and never changes its input.

- :mod:`~stablecore.plots.training`: training curves, Lipschitz-penalised training.
- :mod:`~stablecore.plots.spectral`: Gram / power iteration, conv-norm bounds, per-layer norms, looseness.
- :mod:`~stablecore.plots.certify`: certified disks and accuracy, robustness curves, sensitivity.
- :mod:`~stablecore.plots.curvature`: Hessian spectrum, trace, quadratic models, curvature regularisers.
- :mod:`~stablecore.plots.landscape`: 1-D / 2-D loss landscapes.
- :mod:`~stablecore.plots.smoothing`: randomized smoothing (boundaries, Lipschitz constants, radii, bounds).
"""

from __future__ import annotations

from stablecore.plots.certify import (
    certified_accuracy_plot,
    decision_boundary_plot,
    example_close_up_plot,
    offset_tradeoff_plot,
    radii_plot,
    radius_histogram_plot,
    robustness_curves_plot,
    sensitivity_plot,
)
from stablecore.plots.curvature import (
    curvature_slice_plot,
    hessian_spectrum_plot,
    hessian_summary_plot,
    regularizer_comparison_plot,
)
from stablecore.plots.landscape import (
    landscape_1d_plot,
    landscape_contour_plot,
    landscape_panels_plot,
    landscape_surface_plot,
)
from stablecore.plots.smoothing import (
    bound_width_plot,
    certified_curves_plot,
    counter_example_plot,
    lipschitz_radii_plot,
    simplex_tradeoff_plot,
    smoothed_boundary_plot,
    smoothed_lipschitz_plot,
)
from stablecore.plots.spectral import (
    bound_comparison_plot,
    bound_gap_plot,
    convergence_plot,
    jacobian_norm_plot,
    layer_bounds_plot,
    layer_norms_plot,
    looseness_by_init_plot,
    looseness_plot,
    power_iteration_plot,
    zero_padding_plot,
)
from stablecore.plots.training import regularization_plot, training_curves

__all__ = [
    "bound_comparison_plot",
    "bound_gap_plot",
    "bound_width_plot",
    "certified_accuracy_plot",
    "certified_curves_plot",
    "convergence_plot",
    "counter_example_plot",
    "curvature_slice_plot",
    "decision_boundary_plot",
    "example_close_up_plot",
    "hessian_spectrum_plot",
    "hessian_summary_plot",
    "jacobian_norm_plot",
    "landscape_1d_plot",
    "landscape_contour_plot",
    "landscape_panels_plot",
    "landscape_surface_plot",
    "layer_bounds_plot",
    "layer_norms_plot",
    "lipschitz_radii_plot",
    "looseness_by_init_plot",
    "looseness_plot",
    "offset_tradeoff_plot",
    "power_iteration_plot",
    "radii_plot",
    "radius_histogram_plot",
    "regularization_plot",
    "regularizer_comparison_plot",
    "robustness_curves_plot",
    "sensitivity_plot",
    "simplex_tradeoff_plot",
    "smoothed_boundary_plot",
    "smoothed_lipschitz_plot",
    "training_curves",
    "zero_padding_plot",
]
