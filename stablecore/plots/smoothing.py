r"""Figures of randomized smoothing :math:`g(x) = \arg\max_c P(f(x + \varepsilon) = c)`,
:math:`\varepsilon \sim \mathcal N(0, \sigma^2 I)` (Cohen et al. 2019): smoothed boundaries as σ grows, the
Lipschitz constant of the smoothed classifier, simplex-map trade-offs, widths of one-sided bounds,
certified-accuracy step curves, Lipschitz-aware radii and interval coverage."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import TEMPLATE, palette_color, require

__all__ = [
    "bound_width_plot",
    "certified_curves_plot",
    "counter_example_plot",
    "lipschitz_radii_plot",
    "simplex_tradeoff_plot",
    "smoothed_boundary_plot",
    "smoothed_lipschitz_plot",
]


def smoothed_boundary_plot(
    table: pd.DataFrame,
    *,
    value: str = "p_vote",
    points: tuple[object, object] | None = None,
    title: str = "Smoothed class-1 probability as σ grows",
) -> go.Figure:
    """One heatmap panel per σ of ``ch05.smoothed_boundaries`` (``value``: ``p_vote`` or ``p_soft``) with the
    decision boundary (level 1/2) as a contour; ``points`` = (x (N, 2), y (N,)) overlays data."""
    require(table, ("sigma", "x1", "x2", value), "table")
    if value not in ("p_vote", "p_soft"):
        raise ValueError(f"value must be 'p_vote' or 'p_soft', got {value!r}")
    sigmas = sorted(table["sigma"].unique())
    fig = make_subplots(rows=1, cols=len(sigmas), subplot_titles=[f"σ = {s:g}" for s in sigmas])
    for c, s in enumerate(sigmas, start=1):
        d = table[table["sigma"] == s].pivot(index="x2", columns="x1", values=value)
        fig.add_trace(
            go.Heatmap(
                x=d.columns,
                y=d.index,
                z=d.values,
                zmin=0,
                zmax=1,
                colorscale="RdBu",
                showscale=c == len(sigmas),
                colorbar={"title": value},
            ),
            row=1,
            col=c,
        )
        fig.add_trace(
            go.Contour(
                x=d.columns,
                y=d.index,
                z=d.values,
                contours={"start": 0.5, "end": 0.5, "coloring": "lines"},
                line={"color": "black", "width": 2},
                showscale=False,
                showlegend=False,
            ),
            row=1,
            col=c,
        )
        if points is not None:
            x, y = points
            fig.add_trace(
                go.Scatter(
                    x=[float(v[0]) for v in x],
                    y=[float(v[1]) for v in x],
                    mode="markers",
                    marker={"size": 3, "color": [int(v) for v in y], "colorscale": "Greys"},
                    showlegend=False,
                ),
                row=1,
                col=c,
            )
    fig.update_layout(title=title, template=TEMPLATE, height=330)
    return fig


def smoothed_lipschitz_plot(
    table: pd.DataFrame, *, title: str = "Lipschitz constant of the smoothed base"
) -> go.Figure:
    """``ch05.weierstrass_lipschitz``: L(f̃) vs the base L (log axes), a panel per σ, a line per formula."""
    require(table, ("sigma", "L", "quantity", "value"), "table")
    t = table[~table["id"].str.contains("ramp_L2")] if "id" in table else table
    sigmas = sorted(t["sigma"].unique())
    fig = make_subplots(rows=1, cols=len(sigmas), subplot_titles=[f"σ = {s:g}" for s in sigmas])
    quantities = [
        q
        for q in ("tight", "numeric_ramp", "code_formula", "base", "step_limit", "salman")
        if q in set(t["quantity"])
    ]
    for c, s in enumerate(sigmas, start=1):
        for k, q in enumerate(quantities):
            d = t[(t["sigma"] == s) & (t["quantity"] == q)].sort_values("L")
            dash = (
                "dot" if q == "numeric_ramp" else ("dash" if q in ("step_limit", "salman", "base") else None)
            )
            fig.add_trace(
                go.Scatter(
                    x=d["L"],
                    y=d["value"],
                    name=q,
                    legendgroup=q,
                    showlegend=c == 1,
                    mode="lines+markers",
                    line={"color": palette_color(k), "dash": dash},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(type="log", title_text="base L", row=1, col=c)
        fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(title=title, template=TEMPLATE, height=380)
    return fig


def simplex_tradeoff_plot(summary: pd.DataFrame, *, title: str = "Variance–margin trade-off") -> go.Figure:
    """``ch05.maps_summary``: mean margin vs mean variance of the top score, one line per (model, map) through
    its temperatures (labelled), and mean certified radius vs temperature."""
    require(summary, ("model", "map", "temperature", "margin", "variance", "mean_radius"), "summary")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["margin vs variance", "mean certified radius vs T"])
    for k, ((m, mp), d) in enumerate(summary.groupby(["model", "map"], sort=False)):
        d = d.sort_values("temperature")
        name, color = f"{m} / {mp}", palette_color(k)
        fig.add_trace(
            go.Scatter(
                x=d["variance"],
                y=d["margin"],
                text=[f"T={t:g}" for t in d["temperature"]],
                mode="lines+markers+text",
                textposition="top center",
                name=name,
                legendgroup=name,
                line={"color": color},
            ),
            row=1,
            col=1,
        )
        if mp != "hardmax":
            fig.add_trace(
                go.Scatter(
                    x=d["temperature"],
                    y=d["mean_radius"],
                    mode="lines+markers",
                    name=name,
                    legendgroup=name,
                    showlegend=False,
                    line={"color": color},
                ),
                row=1,
                col=2,
            )
        else:
            fig.add_hline(
                y=float(d["mean_radius"].iloc[0]), line={"color": color, "dash": "dash"}, row=1, col=2
            )
    fig.update_xaxes(title_text="variance of the top score", type="log", row=1, col=1)
    fig.update_yaxes(title_text="margin s̃_A − s̃_B", row=1, col=1)
    fig.update_xaxes(title_text="temperature T", type="log", row=1, col=2)
    fig.update_yaxes(title_text="mean radius (abstain = 0)", row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE, height=420)
    return fig


def bound_width_plot(table: pd.DataFrame, *, title: str = "Width of one-sided lower bounds") -> go.Figure:
    """``ch05.bernstein_vs_clopper_pearson``: width vs n (log-log), one panel per p, one line per (bound,
    variance)."""
    require(table, ("n", "p", "variance", "bound", "width"), "table")
    ps = sorted(table["p"].unique())
    fig = make_subplots(rows=1, cols=len(ps), subplot_titles=[f"p = {p:g}" for p in ps])
    keys = list(dict.fromkeys(zip(table["bound"], table["id"].str.split(".").str[4])))
    for c, p in enumerate(ps, start=1):
        for k, (b, v) in enumerate(keys):
            d = table[(table["p"] == p) & (table["bound"] == b) & (table["id"].str.split(".").str[4] == v)]
            name = f"{b} ({v.removeprefix('var').replace('_', '.')})"
            fig.add_trace(
                go.Scatter(
                    x=d["n"],
                    y=d["width"],
                    name=name,
                    legendgroup=name,
                    showlegend=c == 1,
                    mode="lines+markers",
                    line={"color": palette_color(k), "dash": None if v == "varvotes" else "dash"},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(type="log", title_text="n", row=1, col=c)
        fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(title=title, template=TEMPLATE, height=380)
    return fig


def certified_curves_plot(
    table: pd.DataFrame,
    *,
    x: str = "radius",
    y: str = "certified_accuracy",
    color: str = "method",
    facet: str | None = None,
    title: str = "Certified accuracy vs radius",
) -> go.Figure:
    """Step curves of ``y`` vs ``x``, one per ``color`` value (and one panel per ``facet`` value): for
    ``ch05.certified_curve``, ``ch06.lipschitz_gap`` (x="eps", y="accuracy") and interval curves."""
    require(table, [x, y, color] + ([facet] if facet else []), "table")
    facets = list(dict.fromkeys(table[facet])) if facet else [None]
    fig = make_subplots(rows=1, cols=len(facets), subplot_titles=[str(f) for f in facets] if facet else None)
    names = list(dict.fromkeys(table[color]))
    for c, f in enumerate(facets, start=1):
        sub = table if f is None else table[table[facet] == f]
        for k, m in enumerate(names):
            d = sub[sub[color] == m].sort_values(x)
            if d.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=d[x],
                    y=d[y],
                    name=str(m),
                    legendgroup=str(m),
                    showlegend=c == 1,
                    mode="lines+markers",
                    line={"shape": "hv", "color": palette_color(k)},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(title_text=x, row=1, col=c)
        fig.update_yaxes(title_text=y, range=[0, 1.02], row=1, col=c)
    fig.update_layout(title=title, template=TEMPLATE, height=400)
    return fig


def lipschitz_radii_plot(table: pd.DataFrame, *, sigma: float = 0.5, title: str | None = None) -> go.Figure:
    """``ch06.lipschitz_aware_radii`` at one σ: radius vs base L (log), one panel per p; Cohen's radius
    dashed."""
    require(table, ("sigma", "L", "p", "radius", "value"), "table")
    t = table[(table["sigma"] - sigma).abs() < 1e-12]
    if t.empty:
        raise ValueError(f"sigma={sigma} is not in the table")
    ps = sorted(t["p"].unique())
    fig = make_subplots(rows=1, cols=len(ps), subplot_titles=[f"p̲_A = {p:g}" for p in ps])
    kinds = ("monolip", "multilip", "ode", "ramp_distance")
    for c, p in enumerate(ps, start=1):
        for k, r in enumerate(kinds):
            d = t[(t["p"] == p) & (t["radius"] == r)].sort_values("L")
            fig.add_trace(
                go.Scatter(
                    x=d["L"],
                    y=d["value"],
                    name=r,
                    legendgroup=r,
                    showlegend=c == 1,
                    mode="lines+markers",
                    line={"color": palette_color(k), "dash": "dot" if r == "ramp_distance" else None},
                ),
                row=1,
                col=c,
            )
        cohen = t[(t["p"] == p) & (t["radius"] == "cohen")]["value"]
        if len(cohen):
            fig.add_hline(y=float(cohen.iloc[0]), line={"color": "black", "dash": "dash"}, row=1, col=c)
        fig.update_xaxes(type="log", title_text="L of the base score", row=1, col=c)
    fig.update_layout(
        title=title or f"Lipschitz-aware radii at σ = {sigma:g} (dashed: Cohen)",
        template=TEMPLATE,
        height=380,
    )
    return fig


def counter_example_plot(
    table: pd.DataFrame, *, title: str = "Exact coverage of top-2 intervals"
) -> go.Figure:
    """``ch06.counter_example``: coverage per (case, method, event) as bars, the target 1 − α as a line."""
    require(table, ("p", "n", "method", "event", "coverage", "target"), "table")
    fig = go.Figure()
    cases = [f"p={p}, n={n}" for p, n in zip(table["p"], table["n"])]
    for k, (key, d) in enumerate(table.assign(case=cases).groupby(["method", "event"], sort=False)):
        fig.add_trace(
            go.Bar(
                x=d["case"], y=d["coverage"], name=f"{key[0]}: {key[1][:40]}…", marker_color=palette_color(k)
            )
        )
    fig.add_hline(
        y=float(table["target"].iloc[0]), line={"color": "black", "dash": "dash"}, annotation_text="1 − α"
    )
    fig.update_layout(
        title=title, barmode="group", template=TEMPLATE, yaxis={"range": [0.85, 1.0]}, height=400
    )
    return fig
