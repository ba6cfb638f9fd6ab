"""Plotly figures of the sensitivity report (:mod:`stablecore.report`) that :mod:`stablecore.plots` lacks.

The report also reuses :func:`stablecore.plots.bound_gap_plot`, :func:`stablecore.plots.hessian_spectrum_plot`
and :func:`stablecore.plots.landscape_contour_plot`.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from stablecore.plots import _require

__all__ = ["robustness_curves_plot"]

_COLORS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e")
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
                line={"shape": "hv", "dash": _DASH.get(kind, "solid"), "color": _COLORS[i % len(_COLORS)]},
            )
        )
    fig.update_xaxes(title_text="ℓ2 radius ε (input space)")
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template="plotly_white", legend_title_text="method [kind]")
    return fig
