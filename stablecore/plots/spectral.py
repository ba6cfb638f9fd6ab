r"""Figures of spectral norms and Lipschitz bounds: Gram vs power iteration, conv-norm bounds vs the exact
norm, per-layer norms, the looseness of :math:`\prod_l\|W_l\|` vs :math:`\|\prod_l W_l\|` (Virmaux & Scaman
2018), and a network's certified (upper) vs empirical (lower) bounds (Delattre et al. 2023)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import KIND_COLORS, TEMPLATE, palette_color, require

__all__ = [
    "bound_comparison_plot",
    "bound_gap_plot",
    "convergence_plot",
    "jacobian_norm_plot",
    "layer_bounds_plot",
    "layer_norms_plot",
    "looseness_by_init_plot",
    "looseness_plot",
    "power_iteration_plot",
    "zero_padding_plot",
]


def _positive(values: pd.Series) -> pd.Series:
    """``|values|`` with zeros and non-finite entries as NaN (they have no place on a log axis)."""
    out = pd.to_numeric(values, errors="coerce").abs()
    return out.where((out > 0) & (out < float("inf")))


def _method_label(method: str, n_iter: object) -> str:
    return f"{method} T={int(n_iter)}" if method == "gram" and pd.notna(n_iter) else method


def convergence_plot(df: pd.DataFrame, *, title: str = "Gram vs power iteration") -> go.Figure:
    r"""Relative error :math:`|\hat\sigma - \sigma_1|/\sigma_1` vs iterations (left) and vs cumulative
    time (right), log axes; one line per (matrix shape, method) in each panel.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.dense_convergence` output (columns
            ``shape, method, iteration, rel_error, time_ms``; rows without a time are left out on the right).
        title: figure title.
    """
    require(df, ("shape", "method", "iteration", "rel_error", "time_ms"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("error vs iterations", "error vs time"))
    for (shape, method), group in df.groupby(["shape", "method"], sort=True):
        name = f"{method} ({shape})"
        err = _positive(group["rel_error"])
        fig.add_trace(
            go.Scatter(x=group["iteration"], y=err, mode="lines", name=name, legendgroup=name), row=1, col=1
        )
        timed = group["time_ms"].notna()
        fig.add_trace(
            go.Scatter(
                x=group.loc[timed, "time_ms"],
                y=err[timed],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="iteration", type="log", row=1, col=1)
    fig.update_xaxes(title_text="time (ms)", type="log", row=1, col=2)
    fig.update_yaxes(title_text="relative error", type="log", exponentformat="power")
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def bound_comparison_plot(df: pd.DataFrame, *, title: str = "Conv norm bounds vs exact") -> go.Figure:
    """Relative gap ``|value/exact − 1|`` (left, log axis; exact methods omitted) and median time (right,
    log axis) per method, grouped by case; one bar trace per method and panel.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.circular_conv_comparison` output (columns
            ``case, method, n_iter, kind, rel_gap, time_ms``).
        title: figure title.
    """
    require(df, ("case", "method", "n_iter", "kind", "rel_gap", "time_ms"))
    labels = [_method_label(m, n) for m, n in zip(df["method"], df["n_iter"])]
    frame = df.assign(_label=labels)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("|bound / exact − 1|", "median time (ms)"))
    for label, group in frame.groupby("_label", sort=False):
        kind = str(group["kind"].iloc[0])
        if kind != "exact":
            fig.add_trace(
                go.Bar(x=group["case"], y=_positive(group["rel_gap"]), name=label, legendgroup=label),
                row=1,
                col=1,
            )
        fig.add_trace(
            go.Bar(
                x=group["case"],
                y=group["time_ms"],
                name=label,
                legendgroup=label,
                showlegend=kind == "exact",
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_layout(title=title, template=TEMPLATE, barmode="group", legend_title_text="method")
    return fig


def zero_padding_plot(df: pd.DataFrame, *, title: str = "Zero padding: bounds and exact norm") -> go.Figure:
    """One panel per case: every method's value as a bar coloured by its kind (exact, upper or lower bound,
    estimate), with the exact norm as a dashed line where it is known; one bar trace per case.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.zero_vs_circular` output (columns
            ``case, method, n_iter, value, kind, exact``).
        title: figure title.
    """
    require(df, ("case", "method", "n_iter", "value", "kind", "exact"))
    cases = list(dict.fromkeys(df["case"]))
    fig = make_subplots(rows=1, cols=len(cases), subplot_titles=cases)
    for i, case in enumerate(cases, start=1):
        group = df[df["case"] == case]
        labels = [
            f"{m} T={int(n)}" if m in ("norm2toep", "gram") else m
            for m, n in zip(group["method"], group["n_iter"])
        ]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=group["value"],
                marker_color=[KIND_COLORS.get(k, "#7f7f7f") for k in group["kind"]],
                customdata=group["kind"],
                hovertemplate="%{x}: %{y:.4g} (%{customdata})<extra></extra>",
                name=case,
                showlegend=False,
            ),
            row=1,
            col=i,
        )
        exact = group["exact"].dropna()
        if not exact.empty:
            fig.add_hline(y=float(exact.iloc[0]), line_dash="dash", line_color="black", row=1, col=i)
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def bound_gap_plot(
    df: pd.DataFrame, *, title: str = "Lipschitz bound vs empirical lower bounds"
) -> go.Figure:
    """Horizontal bars (log axis) of the network's certified bounds and empirical lower bounds; one trace
    per kind, so the gap between the ``upper_bound`` and ``lower_bound`` bars is visible at a glance.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.network_bound_vs_empirical` output (columns
            ``quantity, value, kind``).
        title: figure title.
    """
    require(df, ("quantity", "value", "kind"))
    fig = go.Figure()
    for kind, group in df.groupby("kind", sort=False):
        fig.add_trace(
            go.Bar(
                x=group["value"],
                y=group["quantity"],
                orientation="h",
                name=str(kind),
                marker_color=KIND_COLORS.get(str(kind), "#7f7f7f"),
            )
        )
    fig.update_xaxes(type="log", title_text="Lipschitz constant (ℓ2)")
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="kind")
    return fig


def looseness_plot(df: pd.DataFrame, *, title: str = "Product of layer norms vs true norm") -> go.Figure:
    r"""Left: :math:`\prod_l\|W_l\|` and :math:`\|\prod_l W_l\|` vs depth; right: their ratio; log y axes
    (three traces).

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.deep_linear_looseness` output (columns
            ``depth, product_exact, true_norm, ratio``).
        title: figure title.
    """
    require(df, ("depth", "product_exact", "true_norm", "ratio"))
    frame = df.sort_values("depth")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("norms", "product / true norm"))
    fig.add_trace(
        go.Scatter(
            x=frame["depth"], y=frame["product_exact"], mode="lines+markers", name="∏ ‖W_l‖ (upper bound)"
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=frame["depth"], y=frame["true_norm"], mode="lines+markers", name="‖∏ W_l‖ (exact)"),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(x=frame["depth"], y=frame["ratio"], mode="lines+markers", name="ratio"), row=1, col=2
    )
    fig.update_xaxes(title_text="depth")
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def looseness_by_init_plot(
    df: pd.DataFrame, *, title: str = "Product of layer norms vs norm of the product"
) -> go.Figure:
    r"""Left: :math:`\prod_l\|W_l\|_2` (dashed) and :math:`\|\prod_l W_l\|_2` (solid) vs depth; right: their
    ratio; one colour per initialisation, log axes (three traces per initialisation).

    Args:
        df: :func:`~stablecore.chapters.ch01_background.deep_linear_looseness` output (columns ``init, depth,
            product_exact, true_norm, ratio``).
        title: figure title.
    """
    require(df, ("init", "depth", "product_exact", "true_norm", "ratio"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("norms", "product of norms / norm of product"))
    for k, (init, group) in enumerate(df.groupby("init", sort=False)):
        g = group.sort_values("depth")
        color = palette_color(k)
        fig.add_trace(
            go.Scatter(x=g["depth"], y=g["product_exact"], mode="lines+markers", name=f"{init}: ∏ ‖W_l‖",
                       line={"color": color, "dash": "dash"}, legendgroup=str(init)),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=g["depth"], y=g["true_norm"], mode="lines+markers", name=f"{init}: ‖∏ W_l‖",
                       line={"color": color}, legendgroup=str(init)),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=g["depth"], y=g["ratio"], mode="lines+markers", name=f"{init}: ratio",
                       line={"color": color}, legendgroup=str(init), showlegend=False),
            row=1, col=2,
        )  # fmt: skip
    fig.update_xaxes(title_text="depth L", type="log")
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def layer_bounds_plot(df: pd.DataFrame, *, title: str = "Layer-wise bounds (ResNet-18 shapes)") -> go.Figure:
    """Per-layer value (left) and time (right, log axis) for every method, layers in network order (rows
    with ``layer == "product"`` are left out); two traces per method.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.resnet18_shapes` output (columns
            ``layer, method, value, time_ms``).
        title: figure title.
    """
    require(df, ("layer", "method", "value", "time_ms"))
    frame = df[df["layer"] != "product"]
    if frame.empty:
        raise ValueError("df has no per-layer rows (only 'product' rows)")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("spectral norm bound", "time (ms)"))
    for method, group in frame.groupby("method", sort=False):
        fig.add_trace(
            go.Scatter(
                x=group["layer"], y=group["value"], mode="lines+markers", name=str(method), legendgroup=method
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=group["layer"],
                y=group["time_ms"],
                mode="lines+markers",
                name=str(method),
                legendgroup=method,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_xaxes(tickangle=-60)
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="method")
    return fig


_METHOD_COLORS = {
    "gram": KIND_COLORS["upper_bound"],
    "power": KIND_COLORS["lower_bound"],
    "exact": KIND_COLORS["exact"],
}


def layer_norms_plot(table: pd.DataFrame, *, title: str = "Per-layer spectral norms") -> go.Figure:
    """Bars of each layer's norm per method (``gram`` upper bound, ``power`` lower bound, ``exact``),
    log axis, one trace per method; layers whose value is 1 for every method (activations) are left out.

    Args:
        table: :func:`stablecore.explore.spectral.layer_norms` output (``module, method, value, kind``).
    """
    require(table, ("module", "method", "value", "kind"), "table")
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
    fig.update_layout(barmode="group", title=title, template=TEMPLATE)
    return fig


def power_iteration_plot(
    df: pd.DataFrame, *, title: str = "Power iteration vs Gram bound for CPL normalisation"
) -> go.Figure:
    """Left: during training, the power-iteration estimate σ̂/σ₁ (solid) and the Gram bound ρ/σ₁
    (dotted) per layer; middle: the Lipschitz constant of the reference CPL layer per layer; right:
    σ̂/σ₁ on random matrices per shape, one box per number of power steps, and the Gram ratio.
    Traces: 3 per training layer, one box per iteration count, one Gram box (panels without rows
    are left empty). The dashed line marks 1.

    Args:
        df: :func:`~stablecore.chapters.ch03_lipschitz_layers.power_iteration_gap` output (columns
            ``setting, shape, layer, step, n_iter, pi_ratio, gram_ratio, ref_lipschitz``).
        title: figure title.
    """
    require(df, ("setting", "shape", "layer", "step", "n_iter", "pi_ratio", "gram_ratio", "ref_lipschitz"))
    fig = make_subplots(
        rows=1, cols=3,
        subplot_titles=("training: estimate / σ₁", "training: Lipschitz const. of the layer",
                        "random W: estimate / σ₁"),
    )  # fmt: skip
    train = df[df["setting"] == "training"].sort_values("step")
    for j, (layer, group) in enumerate(train.groupby("layer", sort=True)):
        color = palette_color(j)
        name = f"layer {layer}"
        fig.add_trace(
            go.Scatter(x=group["step"], y=group["pi_ratio"], mode="lines", name=f"{name}: power (1 step)",
                       legendgroup=name, line={"color": color}),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=group["step"], y=group["gram_ratio"], mode="lines", name=f"{name}: Gram",
                       legendgroup=name, line={"color": color, "dash": "dot"}),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=group["step"], y=group["ref_lipschitz"], mode="lines", name=name, legendgroup=name,
                       showlegend=False, line={"color": color}),
            row=1, col=2,
        )  # fmt: skip
    rand = df[df["setting"] == "random"]
    for n_iter, group in rand.groupby("n_iter", sort=True):
        fig.add_trace(
            go.Box(x=group["shape"], y=group["pi_ratio"], name=f"power, {int(n_iter)} step(s)"), row=1, col=3
        )
    if not rand.empty:
        first = rand[rand["n_iter"] == rand["n_iter"].min()]
        fig.add_trace(go.Box(x=first["shape"], y=first["gram_ratio"], name="Gram bound"), row=1, col=3)
    for c in (1, 2, 3):
        fig.add_hline(y=1.0, line_dash="dash", line_color="black", row=1, col=c)
    fig.update_xaxes(title_text="training step", row=1, col=1)
    fig.update_xaxes(title_text="training step", row=1, col=2)
    fig.update_xaxes(title_text="shape", row=1, col=3)
    fig.update_layout(title=title, template=TEMPLATE, boxmode="group")
    return fig


def jacobian_norm_plot(
    df: pd.DataFrame, *, title: str = "Jacobian norms of random Lipschitz layers"
) -> go.Figure:
    """Histogram of :math:`\\|J_h(x)\\|_2` per layer type (one trace each), with the guaranteed constant
    1 as a dashed line: every value must stay left of it.

    Args:
        df: :func:`~stablecore.chapters.ch03_lipschitz_layers.jacobian_check` output (columns
            ``layer, jacobian_norm``).
        title: figure title.
    """
    require(df, ("layer", "jacobian_norm"))
    fig = go.Figure()
    for layer, group in df.groupby("layer", sort=False):
        fig.add_trace(go.Histogram(x=group["jacobian_norm"], name=str(layer), opacity=0.6, nbinsx=40))
    fig.add_vline(x=1.0, line_dash="dash", line_color="black")
    fig.update_xaxes(title_text="‖J(x)‖₂ (lower bounds of the layer's constant)")
    fig.update_layout(title=title, template=TEMPLATE, barmode="overlay", legend_title_text="layer")
    return fig
