r"""Figures of the loss's curvature: SLQ spectral density and Lanczos extreme eigenvalues (Ghorbani et
al. 2019), λ_max and the Hutchinson trace along training, 1-D slices beside their quadratic model
:math:`\mathcal L_0 + \alpha g^\top d + \frac12\alpha^2 d^\top H d`, and curvature regularisers."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import COLORS, TEMPLATE, palette_color, require

__all__ = [
    "curvature_slice_plot",
    "hessian_spectrum_plot",
    "hessian_summary_plot",
    "regularizer_comparison_plot",
]

_STAGE_COLORS = {"init": COLORS[7], "trained": COLORS[0]}


def hessian_spectrum_plot(
    df: pd.DataFrame, *, title: str = "Hessian spectrum of the training loss (estimates)"
) -> go.Figure:
    """Left: the SLQ spectral density per stage (``init``, ``trained``; log density axis). Middle: the
    top-k largest (``LA``, filled) and smallest (``SA``, open) eigenvalues by rank per stage. Right: λ_max
    (left axis) and the Hutchinson trace ± one standard error (right axis) against the epoch. Every value
    is an ``estimate``. Traces: one density per stage, two eigenvalue traces per stage, λ_max and trace
    when tracking rows are present.

    Args:
        df: :func:`~stablecore.chapters.ch04_curvature.hessian_spectrum` output (columns ``stage, epoch,
            quantity, which, rank, x, value, stderr``).
        title: figure title.
    """
    require(df, ("stage", "epoch", "quantity", "which", "rank", "x", "value", "stderr"))
    fig = make_subplots(
        rows=1, cols=3, specs=[[{}, {}, {"secondary_y": True}]],
        subplot_titles=("spectral density (SLQ)", "extreme eigenvalues (Lanczos)", "during training"),
    )  # fmt: skip
    for stage in ("init", "trained"):
        part = df[df["stage"] == stage]
        if part.empty:
            continue
        color = _STAGE_COLORS[stage]
        dens = part[part["quantity"] == "density"].sort_values("x")
        fig.add_trace(
            go.Scatter(x=dens["x"], y=dens["value"], mode="lines", name=f"{stage}: density",
                       legendgroup=stage, line={"color": color}),
            row=1, col=1,
        )  # fmt: skip
        eig = part[part["quantity"] == "eigenvalue"]
        for which, symbol in (("LA", "circle"), ("SA", "circle-open")):
            sel = eig[eig["which"] == which].sort_values("rank")
            fig.add_trace(
                go.Scatter(x=sel["rank"], y=sel["value"], mode="markers+lines", name=f"{stage}: {which}",
                           legendgroup=stage, marker={"symbol": symbol, "size": 8, "color": color},
                           line={"color": color, "dash": "dot" if which == "SA" else "solid"}),
                row=1, col=2,
            )  # fmt: skip
    track = df[df["stage"] == "training"].sort_values("epoch")
    lam = track[track["quantity"] == "lambda_max"]
    trace = track[track["quantity"] == "trace"]
    if not lam.empty:
        fig.add_trace(
            go.Scatter(x=lam["epoch"], y=lam["value"], mode="lines+markers", name="λ_max",
                       line={"color": "#d62728"}),
            row=1, col=3, secondary_y=False,
        )  # fmt: skip
    if not trace.empty:
        fig.add_trace(
            go.Scatter(x=trace["epoch"], y=trace["value"], mode="lines+markers", name="trace (± s.e.)",
                       error_y={"type": "data", "array": trace["stderr"].fillna(0.0)},
                       line={"color": "#2ca02c", "dash": "dash"}),
            row=1, col=3, secondary_y=True,
        )  # fmt: skip
    fig.update_yaxes(type="log", title_text="density", row=1, col=1)
    positive = df.loc[(df["quantity"] == "density") & (df["value"] > 0), "value"]
    if not positive.empty:  # Gaussian tails reach 1e-300: show the 8 decades below the peak
        top = float(positive.max())
        floor = max(float(positive.min()), top * 1e-8)
        fig.update_yaxes(range=[math.log10(floor), math.log10(top) + 0.3], row=1, col=1)
    if lam.empty and trace.empty:
        fig.add_annotation(
            text="no tracking along training<br>(no intermediate checkpoints)", showarrow=False,
            xref="x3 domain", yref="y3 domain", x=0.5, y=0.5, font={"color": "#7f7f7f"},
        )  # fmt: skip
    fig.update_xaxes(title_text="eigenvalue", row=1, col=1)
    fig.update_xaxes(title_text="rank", row=1, col=2)
    fig.update_yaxes(title_text="eigenvalue", row=1, col=2)
    fig.update_xaxes(title_text="epoch", row=1, col=3)
    fig.update_yaxes(title_text="λ_max", row=1, col=3, secondary_y=False)
    fig.update_yaxes(title_text="trace", row=1, col=3, secondary_y=True)
    fig.update_layout(title=title, template=TEMPLATE)
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
    require(eigenvalues, ("rank", "eigenvalue"), "eigenvalues")
    require(density, ("eigenvalue", "density"), "density")
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
    fig.update_layout(title=title, template=TEMPLATE, showlegend=False)
    return fig


def curvature_slice_plot(
    df: pd.DataFrame, *, title: str = "Loss along a direction and its quadratic model"
) -> go.Figure:
    r"""One panel per model: the loss :math:`\mathcal L(\theta+\alpha d)` (solid) and its quadratic model
    :math:`\mathcal L_0+\alpha g^\top d+\frac12\alpha^2d^\top Hd` (dotted) along each direction (one colour
    per direction; two traces per model and direction).

    Args:
        df: :func:`~stablecore.chapters.ch01_background.landscape_1d` output (columns ``model, direction,
            alpha, loss, quadratic, curvature``).
        title: figure title.
    """
    require(df, ("model", "direction", "alpha", "loss", "quadratic", "curvature"))
    models = list(dict.fromkeys(df["model"]))
    directions = list(dict.fromkeys(df["direction"]))
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=[str(m) for m in models])
    for c, model in enumerate(models, start=1):
        for k, direction in enumerate(directions):
            g = df[(df["model"] == model) & (df["direction"] == direction)].sort_values("alpha")
            if g.empty:
                continue
            color = palette_color(k)
            curv = float(g["curvature"].iloc[0])
            fig.add_trace(
                go.Scatter(x=g["alpha"], y=g["loss"], mode="lines", name=f"{direction} (dᵀHd = {curv:.3g})",
                           line={"color": color}, legendgroup=f"{model}-{direction}"),
                row=1, col=c,
            )  # fmt: skip
            fig.add_trace(
                go.Scatter(x=g["alpha"], y=g["quadratic"], mode="lines", name=f"{direction}: quadratic model",
                           line={"color": color, "dash": "dot"}, legendgroup=f"{model}-{direction}"),
                row=1, col=c,
            )  # fmt: skip
        fig.update_xaxes(title_text="α", row=1, col=c)
    fig.update_yaxes(title_text="training loss", row=1, col=1)
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


_COMPARISON_PANELS = (
    ("test_accuracy", "test accuracy"),
    ("lambda_max", "λ_max (estimate)"),
    ("trace", "trace (estimate)"),
    ("flatness", "flatness (estimate)"),
    ("seconds_per_epoch", "s / epoch"),
)


def regularizer_comparison_plot(
    df: pd.DataFrame, *, title: str = "Curvature regularisers (reconstruction): seeds and mean ± std"
) -> go.Figure:
    """One panel per metric (test accuracy, λ_max, trace, landscape flatness, seconds per epoch), one
    column of points per regulariser: each seed as a small grey point and the mean ± standard deviation
    over seeds as a marker with an error bar. Traces: two per panel.

    Args:
        df: :func:`~stablecore.chapters.ch04_curvature.regularizer_comparison` output (columns
            ``regularizer, seed`` and the five metrics).
        title: figure title.
    """
    require(df, ("regularizer", "seed", *(m for m, _ in _COMPARISON_PANELS)))
    order = list(dict.fromkeys(df["regularizer"]))
    fig = make_subplots(
        rows=1, cols=len(_COMPARISON_PANELS), subplot_titles=[t for _, t in _COMPARISON_PANELS]
    )
    for c, (metric, label) in enumerate(_COMPARISON_PANELS, start=1):
        stats = df.groupby("regularizer", sort=False)[metric].agg(["mean", "std"]).reindex(order)
        fig.add_trace(
            go.Scatter(x=df["regularizer"], y=df[metric], mode="markers", name="seeds", showlegend=c == 1,
                       legendgroup="seeds", marker={"color": "#bbbbbb", "size": 5}),
            row=1, col=c,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=stats.index, y=stats["mean"], mode="markers", name="mean ± std", showlegend=c == 1,
                       legendgroup="mean", error_y={"type": "data", "array": stats["std"].fillna(0.0)},
                       marker={"color": "#1f77b4", "size": 9, "symbol": "diamond"}),
            row=1, col=c,
        )  # fmt: skip
        fig.update_yaxes(title_text=label, row=1, col=c)
        fig.update_xaxes(categoryorder="array", categoryarray=order, tickangle=-60, row=1, col=c)
    fig.update_layout(title=title, template=TEMPLATE)
    return fig
