"""Plotly figures of the dashboard (:mod:`stablecore.explore` tables); the dashboard also reuses
:mod:`stablecore.plots` (certified accuracy, landscapes, Hessian spectrum, Gram convergence, training
curves). Each function checks the columns it draws (``ValueError`` naming the missing ones) and never
changes its input.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from stablecore.plots import _CLASS_COLORS, _CLASS_FILLS, _require

__all__ = ["layer_norms_plot", "radii_plot", "radius_histogram_plot"]

_REGION_HOVER = "class %{z}<br>radius %{customdata[0]:.3g}<br>margin %{customdata[1]:.3g}<extra></extra>"
_METHOD_COLORS = {"gram": "#1f77b4", "power": "#d62728", "exact": "#2ca02c"}


def _disk_outlines(
    x0: pd.Series, x1: pd.Series, radius: pd.Series, n: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Outlines of the disks :math:`B((x_0, x_1), r)` of finite radius :math:`r > 0`, as one float32 line
    broken by NaN (``n + 1`` points per circle, the first repeated last, then a NaN).

    NumPy arrays instead of Python lists with ``None`` breaks: plotly validates them without a per-element
    loop and sends them base64-encoded (float32: a quarter of the JSON text of the list), which is most of
    the boundary figure's size; plotly.js breaks a line at a NaN as at a ``null``.
    """
    cx = pd.to_numeric(x0, errors="coerce").to_numpy(float)
    cy = pd.to_numeric(x1, errors="coerce").to_numpy(float)
    r = pd.to_numeric(radius, errors="coerce").to_numpy(float)
    keep = np.isfinite(r) & (r > 0)
    cx, cy, r = cx[keep, None], cy[keep, None], r[keep, None]
    angles = 2 * np.pi * np.arange(n + 1) / n
    gap = np.full((len(r), 1), np.nan)
    xs = np.concatenate([cx + r * np.cos(angles), gap], axis=1).ravel().astype(np.float32)
    ys = np.concatenate([cy + r * np.sin(angles), gap], axis=1).ravel().astype(np.float32)
    return xs, ys


def radii_plot(
    grid: pd.DataFrame,
    points: pd.DataFrame,
    *,
    radius_column: str = "radius",
    train: pd.DataFrame | None = None,
    title: str = "Decision regions and certified ℓ2 disks",
    max_disks: int | None = None,
) -> go.Figure:
    """Decision regions (heatmap of the predicted class on a grid), training points, and the certified
    disk :math:`B(x, r(x))` of every test point, with equal axis scaling so disks are round; hovering a
    test point shows its label, prediction, radius and logit margin, hovering the regions the grid's
    radius and margin. Traces, in order: ``regions``, ``training points`` (when given), ``certified
    disks``, ``test points``.

    Args:
        grid: :func:`stablecore.explore.decision_grid` output (``x0, x1, prediction, margin, radius``).
        points: the test points: ``x0, x1, label`` and ``radius_column`` (``margin`` and ``prediction``
            shown when present).
        radius_column: the column of ``points`` whose radii are drawn.
        train: optional training points (``x0, x1, label``).
        title: figure title.
        max_disks: draw at most this many disks (the first ones); None draws all.
    """
    _require(grid, ("x0", "x1", "prediction", "margin", "radius"), "grid")
    _require(points, ("x0", "x1", "label", radius_column), "points")
    xs = np.unique(grid["x0"].to_numpy(float))
    ys = np.unique(grid["x1"].to_numpy(float))
    if len(xs) * len(ys) != len(grid):
        raise ValueError(
            f"grid must be a full rectangular grid, got {len(grid)} rows for {len(xs)}×{len(ys)}"
        )
    table = grid.sort_values(["x1", "x0"])
    z = table["prediction"].to_numpy().reshape(len(ys), len(xs))
    custom = np.stack(
        [table["radius"].to_numpy(float).reshape(z.shape), table["margin"].to_numpy(float).reshape(z.shape)],
        -1,
    )
    k = max(
        int(pd.to_numeric(grid["prediction"]).max()) + 1, int(pd.to_numeric(points["label"]).max()) + 1, 2
    )
    fills = [_CLASS_FILLS[i % len(_CLASS_FILLS)] for i in range(k)]
    scale = [[i / (k - 1), c] for i, c in enumerate(fills)]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=xs, y=ys, z=z, colorscale=scale, zmin=0, zmax=k - 1, showscale=False, customdata=custom,
            name="regions",
            hovertemplate=_REGION_HOVER,
        )
    )  # fmt: skip
    if train is not None:
        _require(train, ("x0", "x1", "label"), "train")
        fig.add_trace(
            go.Scatter(
                x=train["x0"], y=train["x1"], mode="markers", name="training points", hoverinfo="skip",
                marker={"size": 4, "opacity": 0.5,
                        "color": [_CLASS_COLORS[int(c) % len(_CLASS_COLORS)] for c in train["label"]]},
            )
        )  # fmt: skip
    shown = points if max_disks is None else points.iloc[: int(max_disks)]
    radius = pd.to_numeric(shown[radius_column], errors="coerce")
    cx, cy = _disk_outlines(shown["x0"], shown["x1"], radius)
    fig.add_trace(
        go.Scatter(x=cx, y=cy, mode="lines", line={"color": "black", "width": 1}, name="certified disks",
                   hoverinfo="skip")
    )  # fmt: skip
    margin = points["margin"] if "margin" in points.columns else pd.Series(np.nan, index=points.index)
    pred = points["prediction"] if "prediction" in points.columns else points["label"]
    custom_pts = np.stack(
        [
            points["label"].to_numpy(float),
            pd.to_numeric(pred, errors="coerce").to_numpy(float),
            pd.to_numeric(points[radius_column], errors="coerce").to_numpy(float),
            pd.to_numeric(margin, errors="coerce").to_numpy(float),
        ],
        -1,
    )
    fig.add_trace(
        go.Scatter(
            x=points["x0"], y=points["x1"], mode="markers", name="test points", customdata=custom_pts,
            marker={"size": 7, "line": {"width": 1, "color": "black"},
                    "color": [_CLASS_COLORS[int(c) % len(_CLASS_COLORS)] for c in points["label"]]},
            hovertemplate=(
                "label %{customdata[0]:.0f}, prediction %{customdata[1]:.0f}<br>"
                "radius %{customdata[2]:.4g}<br>margin %{customdata[3]:.4g}<extra></extra>"
            ),
        )
    )  # fmt: skip
    fig.update_xaxes(title_text="x₀", range=[xs[0], xs[-1]], constrain="domain")
    fig.update_yaxes(
        title_text="x₁", range=[ys[0], ys[-1]], scaleanchor="x", scaleratio=1, constrain="domain"
    )
    fig.update_layout(
        title=title, template="plotly_white", height=560, legend={"orientation": "h", "y": -0.12}
    )
    return fig


def radius_histogram_plot(
    table: pd.DataFrame, columns: Mapping[str, str], *, title: str = "Certified radii (test points)"
) -> go.Figure:
    """Overlaid histograms of the radii in ``columns`` (``{label: column}``), one trace per label;
    infinite radii are left out, abstentions / misclassified points count at radius 0."""
    if not isinstance(columns, Mapping) or not columns:
        raise ValueError("columns must be a non-empty mapping {label: column}")
    _require(table, list(columns.values()), "table")
    fig = go.Figure()
    for label, column in columns.items():
        r = pd.to_numeric(table[column], errors="coerce")
        r = r[np.isfinite(r)]
        fig.add_trace(go.Histogram(x=r, name=str(label), opacity=0.6, nbinsx=30))
    fig.update_layout(
        barmode="overlay", title=title, template="plotly_white", xaxis_title="radius", yaxis_title="points"
    )
    return fig


def layer_norms_plot(table: pd.DataFrame, *, title: str = "Per-layer spectral norms") -> go.Figure:
    """Bars of each layer's norm per method (``gram`` upper bound, ``power`` lower bound, ``exact``),
    log axis, one trace per method; layers whose value is 1 for every method (activations) are left out.

    Args:
        table: :func:`stablecore.explore.spectral.layer_norms` output (``module, method, value, kind``).
    """
    _require(table, ("module", "method", "value", "kind"), "table")
    trivial = table.groupby("module", sort=False)["value"].apply(lambda v: bool(np.allclose(v, 1.0)))
    keep = table[~table["module"].map(trivial)]
    fig = go.Figure()
    for method, group in keep.groupby("method", sort=False):
        fig.add_trace(
            go.Bar(
                x=group["module"], y=group["value"], name=str(method), customdata=group["kind"],
                marker_color=_METHOD_COLORS.get(str(method)),
                hovertemplate="%{x}: %{y:.6g} (%{customdata})<extra>" + str(method) + "</extra>",
            )
        )  # fmt: skip
    fig.update_yaxes(type="log", title_text="spectral norm")
    fig.update_xaxes(title_text="layer")
    fig.update_layout(barmode="group", title=title, template="plotly_white")
    return fig
