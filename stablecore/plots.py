"""Plotly figures shared by notebooks, dashboard and reports. Each function returns a ``Figure``.

Every function takes a tidy DataFrame (as returned by :mod:`stablecore.chapters`), checks that the columns
it draws are present (``ValueError`` naming the missing ones) and never changes its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "bound_comparison_plot",
    "bound_gap_plot",
    "convergence_plot",
    "layer_bounds_plot",
    "looseness_plot",
    "regularization_plot",
    "training_curves",
    "zero_padding_plot",
]

_KIND_COLORS = {
    "exact": "#2ca02c",
    "upper_bound": "#1f77b4",
    "lower_bound": "#d62728",
    "estimate": "#7f7f7f",
}


def training_curves(
    history: pd.DataFrame, *, metrics: Sequence[str] | None = None, title: str = "Training"
) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch from a Trainer history / ``metrics`` table.

    Args:
        history: one row per epoch with an ``epoch`` column and ``*_loss`` / ``*_accuracy`` columns.
        metrics: columns to draw (default: every ``*_loss`` and ``*_accuracy`` column present).
        title: figure title.
    """
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    if "epoch" not in history.columns:
        raise ValueError("history must have an 'epoch' column")
    if metrics is None:
        metrics = [c for c in history.columns if c.endswith("_loss") or c.endswith("_accuracy")]
    missing = [m for m in metrics if m not in history.columns]
    if missing:
        raise ValueError(f"metrics not in history: {missing}; available: {list(history.columns)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for name in metrics:
        col = 2 if name.endswith("accuracy") else 1
        fig.add_trace(
            go.Scatter(x=history["epoch"], y=history[name], mode="lines+markers", name=name), row=1, col=col
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(title=title, template="plotly_white", legend_title_text="metric")
    return fig


# ----------------------------------------------------------------------------------- chapter 2 figures
def _require(frame: pd.DataFrame, columns: Sequence[str], name: str = "df") -> None:
    """Raise ``TypeError`` unless ``frame`` is a DataFrame and ``ValueError`` naming missing columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{name} is empty")


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
    _require(df, ("shape", "method", "iteration", "rel_error", "time_ms"))
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


def bound_comparison_plot(df: pd.DataFrame, *, title: str = "Conv norm bounds vs exact") -> go.Figure:
    """Relative gap ``|value/exact − 1|`` (left, log axis; exact methods omitted) and median time (right,
    log axis) per method, grouped by case; one bar trace per method and panel.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.circular_conv_comparison` output (columns
            ``case, method, n_iter, kind, rel_gap, time_ms``).
        title: figure title.
    """
    _require(df, ("case", "method", "n_iter", "kind", "rel_gap", "time_ms"))
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
    fig.update_layout(title=title, template="plotly_white", barmode="group", legend_title_text="method")
    return fig


def zero_padding_plot(df: pd.DataFrame, *, title: str = "Zero padding: bounds and exact norm") -> go.Figure:
    """One panel per case: every method's value as a bar coloured by its kind (exact, upper or lower bound,
    estimate), with the exact norm as a dashed line where it is known; one bar trace per case.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.zero_vs_circular` output (columns
            ``case, method, n_iter, value, kind, exact``).
        title: figure title.
    """
    _require(df, ("case", "method", "n_iter", "value", "kind", "exact"))
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
                marker_color=[_KIND_COLORS.get(k, "#7f7f7f") for k in group["kind"]],
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
    fig.update_layout(title=title, template="plotly_white")
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
    _require(df, ("quantity", "value", "kind"))
    fig = go.Figure()
    for kind, group in df.groupby("kind", sort=False):
        fig.add_trace(
            go.Bar(
                x=group["value"],
                y=group["quantity"],
                orientation="h",
                name=str(kind),
                marker_color=_KIND_COLORS.get(str(kind), "#7f7f7f"),
            )
        )
    fig.update_xaxes(type="log", title_text="Lipschitz constant (ℓ2)")
    fig.update_layout(title=title, template="plotly_white", legend_title_text="kind")
    return fig


def looseness_plot(df: pd.DataFrame, *, title: str = "Product of layer norms vs true norm") -> go.Figure:
    r"""Left: :math:`\prod_l\|W_l\|` and :math:`\|\prod_l W_l\|` vs depth; right: their ratio; log y axes
    (three traces).

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.deep_linear_looseness` output (columns
            ``depth, product_exact, true_norm, ratio``).
        title: figure title.
    """
    _require(df, ("depth", "product_exact", "true_norm", "ratio"))
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


def regularization_plot(df: pd.DataFrame, *, title: str = "Lipschitz penalty strength r") -> go.Figure:
    """Left: test accuracy per penalty strength ``r``; right: the network's upper bound and empirical lower
    bound per ``r`` (log axis); three traces, ``r`` as categories (``r = 0`` is the baseline).

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.lipschitz_regularized_training` output
            (columns ``r, test_accuracy, bound, lower_bound``).
        title: figure title.
    """
    _require(df, ("r", "test_accuracy", "bound", "lower_bound"))
    x = [f"r={r:g}" for r in df["r"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy", "Lipschitz constant"))
    fig.add_trace(go.Bar(x=x, y=df["test_accuracy"], name="test accuracy"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=x, y=df["bound"], mode="lines+markers", name="upper bound (Gram)"), row=1, col=2
    )
    fig.add_trace(
        go.Scatter(x=x, y=df["lower_bound"], mode="lines+markers", name="lower bound (max ‖J‖)"), row=1, col=2
    )
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def layer_bounds_plot(df: pd.DataFrame, *, title: str = "Layer-wise bounds (ResNet-18 shapes)") -> go.Figure:
    """Per-layer value (left) and time (right, log axis) for every method, layers in network order (rows
    with ``layer == "product"`` are left out); two traces per method.

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.resnet18_shapes` output (columns
            ``layer, method, value, time_ms``).
        title: figure title.
    """
    _require(df, ("layer", "method", "value", "time_ms"))
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
    fig.update_layout(title=title, template="plotly_white", legend_title_text="method")
    return fig
