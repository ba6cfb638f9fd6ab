"""Plotly figures of the sensitivity report (:mod:`stablecore.report`) that :mod:`stablecore.plots` lacks.

The report also reuses :func:`stablecore.plots.bound_gap_plot` and
:func:`stablecore.plots.landscape_contour_plot`.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots import _require

__all__ = ["hessian_summary_plot", "robustness_curves_plot"]

_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e")
# between two radii a certified accuracy (lower bound) is drawn at the larger radius's value and an attack's
# (upper bound) at the smaller one's: the drawn step never claims more than was measured
_SHAPE = {"lower_bound": "vh", "upper_bound": "hv"}
_DASH = {"lower_bound": "solid", "upper_bound": "dash", "exact": "solid", "estimate": "dot"}


def robustness_curves_plot(
    curves: pd.DataFrame, *, title: str = "Certified accuracy (lower bound) vs PGD accuracy (upper bound)"
) -> go.Figure:
    """Accuracy vs ℓ2 radius, one line per ``method``: certified accuracies (``lower_bound`` of the robust
    accuracy, solid) and the accuracy under attack (``upper_bound``, dashed); the true robust accuracy
    lies between the highest solid and the lowest dashed line. One trace per method.

    Args:
        curves: :attr:`~stablecore.report.SensitivityReport.curves` (columns ``method, eps, accuracy,
            kind``).
        title: figure title.
    """
    _require(curves, ("method", "eps", "accuracy", "kind"), "curves")
    fig = go.Figure()
    for i, (method, group) in enumerate(curves.sort_values("eps").groupby("method", sort=False)):
        kind = str(group["kind"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=group["eps"],
                y=group["accuracy"],
                mode="lines+markers",
                name=f"{method} [{kind}]",
                line={
                    "shape": _SHAPE.get(kind, "linear"),
                    "dash": _DASH.get(kind, "solid"),
                    "color": _COLORS[i % len(_COLORS)],
                },
            )
        )
    fig.update_xaxes(title_text="ℓ2 radius ε (input space)")
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template="plotly_white", legend_title_text="method [kind]")
    return fig


def hessian_summary_plot(
    eigenvalues: pd.DataFrame,
    density: pd.DataFrame,
    *,
    trace: tuple[float, float] | None = None,
    floor: float = 1e-8,
    title: str = "Hessian of the training loss (estimates)",
) -> go.Figure:
    r"""Left: the SLQ spectral density (log axis, values below ``floor`` × its maximum left out: the
    Gaussian smoothing's tails are not information). Right: the top eigenvalues by rank (Lanczos), with
    the trace estimate ± one standard error in the panel title. Traces: one density, one eigenvalue trace.

    Args:
        eigenvalues: :meth:`~stablecore.curvature.EigenResult.to_frame` (columns ``rank, eigenvalue``).
        density: :meth:`~stablecore.curvature.SpectralDensity.to_frame` (columns ``eigenvalue, density``).
        trace: ``(mean, stderr)`` of a trace estimate, or None.
        floor: relative cut of the density's log axis, in (0, 1).
        title: figure title.
    """
    _require(eigenvalues, ("rank", "eigenvalue"), "eigenvalues")
    _require(density, ("eigenvalue", "density"), "density")
    if not (isinstance(floor, (int, float)) and 0 < floor < 1):
        raise ValueError(f"floor must be in (0, 1), got {floor!r}")
    right = "top eigenvalues (Lanczos)"
    if trace is not None:
        right += f"; trace ≈ {trace[0]:.4g} ± {trace[1]:.2g}"
    fig = make_subplots(rows=1, cols=2, subplot_titles=("spectral density (SLQ)", right))
    dens = density.sort_values("eigenvalue")
    top = float(dens["density"].max())
    dens = dens[dens["density"] > floor * top] if top > 0 else dens
    fig.add_trace(
        go.Scatter(x=dens["eigenvalue"], y=dens["density"], mode="lines", name="density"), row=1, col=1
    )
    eig = eigenvalues.sort_values("rank")
    fig.add_trace(
        go.Scatter(x=eig["rank"], y=eig["eigenvalue"], mode="markers+lines", name="eigenvalues"), row=1, col=2
    )
    fig.update_yaxes(type="log", title_text="density", row=1, col=1)
    fig.update_xaxes(title_text="eigenvalue", row=1, col=1)
    fig.update_xaxes(title_text="rank", dtick=1, row=1, col=2)
    fig.update_yaxes(title_text="eigenvalue", row=1, col=2)
    fig.update_layout(title=title, template="plotly_white", showlegend=False)
    return fig
