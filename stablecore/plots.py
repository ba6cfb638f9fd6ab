"""Plotly figures shared by notebooks, dashboard and reports. Each function returns a ``Figure``.

Every function takes a tidy DataFrame (as returned by :mod:`stablecore.chapters`), checks that the columns
it draws are present (``ValueError`` naming the missing ones) and never changes its input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "bound_comparison_plot",
    "bound_gap_plot",
    "certified_accuracy_plot",
    "convergence_plot",
    "decision_boundary_plot",
    "jacobian_norm_plot",
    "layer_bounds_plot",
    "looseness_plot",
    "offset_tradeoff_plot",
    "power_iteration_plot",
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


# ----------------------------------------------------------------------------------- chapter 3 figures
_CLASS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
_CLASS_FILLS = ("#c6dbef", "#fcbba1", "#c7e9c0", "#dadaeb", "#fdd0a2", "#d9c2b8", "#f7c8e4", "#d9d9d9")


def _circles(x0: pd.Series, x1: pd.Series, radius: pd.Series, n: int = 64) -> tuple[list, list]:
    """Coordinates of circles of the given radii (finite and > 0) as one line broken by ``None``."""
    xs: list = []
    ys: list = []
    angles = [2 * math.pi * i / n for i in range(n + 1)]
    for cx, cy, r in zip(x0, x1, radius):
        if not (r > 0 and math.isfinite(r)):
            continue
        xs += [cx + r * math.cos(a) for a in angles] + [None]
        ys += [cy + r * math.sin(a) for a in angles] + [None]
    return xs, ys


def decision_boundary_plot(
    df: pd.DataFrame, *, title: str = "Decision regions and certified ℓ2 disks", cols: int = 3
) -> go.Figure:
    """One panel per model: predicted class on the grid (shaded), training points (coloured by label),
    and the certified disk :math:`B(x, r(x))` of every test point marked ``circle``; four traces per
    model (grid, training points, disks, disk centres), equal axis scales so disks look round.

    Args:
        df: :func:`~stablecore.chapters.ch03_lipschitz_layers.moons_boundaries` output (columns
            ``model, part, x0, x1, label, prediction, radius, circle, lipschitz, test_accuracy``).
        title: figure title.
        cols: panels per row.
    """
    _require(df, ("model", "part", "x0", "x1", "label", "prediction", "radius", "circle", "lipschitz",
                  "test_accuracy"))  # fmt: skip
    if isinstance(cols, bool) or not isinstance(cols, int) or cols < 1:
        raise ValueError(f"cols must be an int >= 1, got {cols!r}")
    models = list(dict.fromkeys(df["model"]))
    ncols = min(cols, len(models))
    nrows = -(-len(models) // ncols)
    titles = []
    for model in models:
        first = df[df["model"] == model].iloc[0]
        titles.append(f"{model}: acc {first['test_accuracy']:.2f}, L ≤ {first['lipschitz']:.3g}")
    fig = make_subplots(rows=nrows, cols=ncols, subplot_titles=titles, horizontal_spacing=0.05)
    k = int(pd.to_numeric(df["prediction"], errors="coerce").max()) + 1
    k = max(k, 2)
    fills = [_CLASS_FILLS[i % len(_CLASS_FILLS)] for i in range(k)]
    scale = [[i / (k - 1), c] for i, c in enumerate(fills)]
    for i, model in enumerate(models):
        row, col = i // ncols + 1, i % ncols + 1
        group = df[df["model"] == model]
        grid = group[group["part"] == "grid"]
        fig.add_trace(
            go.Heatmap(
                x=grid["x0"], y=grid["x1"], z=grid["prediction"], colorscale=scale, zmin=0, zmax=k - 1,
                showscale=False, customdata=grid["radius"], name=f"{model} regions",
                hovertemplate="class %{z}<br>radius %{customdata:.3g}<extra></extra>",
            ),
            row=row, col=col,
        )  # fmt: skip
        train = group[group["part"] == "train"]
        colors = [_CLASS_COLORS[int(c) % len(_CLASS_COLORS)] for c in train["label"]]
        fig.add_trace(
            go.Scatter(
                x=train["x0"], y=train["x1"], mode="markers", name="training points",
                marker={"size": 4, "color": colors, "opacity": 0.6}, showlegend=i == 0,
                legendgroup="train",
            ),
            row=row, col=col,
        )  # fmt: skip
        marked = group[(group["part"] == "test") & group["circle"].astype(bool)]
        cx, cy = _circles(marked["x0"], marked["x1"], marked["radius"])
        fig.add_trace(
            go.Scatter(
                x=cx, y=cy, mode="lines", line={"color": "black", "width": 1}, name="certified disk",
                showlegend=i == 0, legendgroup="disk", hoverinfo="skip",
            ),
            row=row, col=col,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=marked["x0"], y=marked["x1"], mode="markers", name="test point (disk centre)",
                marker={"size": 7, "symbol": "x", "color": "black"}, customdata=marked["radius"],
                hovertemplate="radius %{customdata:.3g}<extra></extra>", showlegend=i == 0,
                legendgroup="centre",
            ),
            row=row, col=col,
        )  # fmt: skip
        suffix = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{suffix}"].update(scaleanchor=f"x{suffix}", scaleratio=1)
    fig.update_layout(title=title, template="plotly_white", height=380 * nrows)
    return fig


def offset_tradeoff_plot(
    df: pd.DataFrame, *, title: str = "Offset of the loss: clean vs certified accuracy"
) -> go.Figure:
    """Left: clean accuracy and certified accuracy at each radius vs the loss offset; right: the
    trade-off, certified vs clean accuracy, one line per radius, points labelled by offset
    (``1 + 2·#radii`` traces).

    Args:
        df: :func:`~stablecore.chapters.ch03_lipschitz_layers.offset_tradeoff` output (columns
            ``offset, eps, certified_accuracy, clean_accuracy``).
        title: figure title.
    """
    _require(df, ("offset", "eps", "certified_accuracy", "clean_accuracy"))
    frame = df.sort_values(["eps", "offset"])
    clean = frame.drop_duplicates("offset").sort_values("offset")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy vs offset", "certified vs clean accuracy"))
    fig.add_trace(
        go.Scatter(
            x=clean["offset"], y=clean["clean_accuracy"], mode="lines+markers", name="clean accuracy",
            line={"color": "black", "dash": "dash"},
        ),
        row=1, col=1,
    )  # fmt: skip
    for j, (eps, group) in enumerate(frame.groupby("eps", sort=True)):
        color = _CLASS_COLORS[j % len(_CLASS_COLORS)]
        name = f"certified at ε={eps:g}"
        fig.add_trace(
            go.Scatter(
                x=group["offset"], y=group["certified_accuracy"], mode="lines+markers", name=name,
                legendgroup=name, line={"color": color},
            ),
            row=1, col=1,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=group["clean_accuracy"], y=group["certified_accuracy"], mode="lines+markers+text",
                text=[f"{o:g}" for o in group["offset"]], textposition="top center", name=name,
                legendgroup=name, showlegend=False, line={"color": color},
            ),
            row=1, col=2,
        )  # fmt: skip
    fig.update_xaxes(title_text="offset", row=1, col=1)
    fig.update_xaxes(title_text="clean accuracy", row=1, col=2)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="certified accuracy", row=1, col=2)
    fig.update_layout(title=title, template="plotly_white")
    return fig


def certified_accuracy_plot(
    df: pd.DataFrame, *, title: str = "Certified accuracy vs radius", reported: pd.DataFrame | None = None
) -> go.Figure:
    """Certified accuracy (correct and certified radius > ε) vs ε, one line per family; with
    ``reported`` (columns ``label, eps, value`` as a fraction), one more marker trace per label.

    Args:
        df: :func:`~stablecore.chapters.ch03_lipschitz_layers.digits_certified` or
            :func:`~stablecore.chapters.ch03_lipschitz_layers.cifar10_certified` output (columns
            ``family, eps, certified_accuracy``).
        title: figure title.
        reported: optional published values to overlay.
    """
    _require(df, ("family", "eps", "certified_accuracy"))
    fig = go.Figure()
    for family, group in df.sort_values("eps").groupby("family", sort=False):
        fig.add_trace(
            go.Scatter(x=group["eps"], y=group["certified_accuracy"], mode="lines+markers", name=str(family))
        )
    if reported is not None:
        _require(reported, ("label", "eps", "value"), "reported")
        for label, group in reported.groupby("label", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=group["eps"], y=group["value"], mode="markers", name=f"{label} (reported)",
                    marker={"symbol": "diamond-open", "size": 10},
                )
            )  # fmt: skip
    fig.update_xaxes(title_text="ℓ2 radius ε")
    fig.update_yaxes(title_text="certified accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template="plotly_white", legend_title_text="network")
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
    _require(df, ("setting", "shape", "layer", "step", "n_iter", "pi_ratio", "gram_ratio", "ref_lipschitz"))
    fig = make_subplots(
        rows=1, cols=3,
        subplot_titles=("training: estimate / σ₁", "training: Lipschitz const. of the layer",
                        "random W: estimate / σ₁"),
    )  # fmt: skip
    train = df[df["setting"] == "training"].sort_values("step")
    for j, (layer, group) in enumerate(train.groupby("layer", sort=True)):
        color = _CLASS_COLORS[j % len(_CLASS_COLORS)]
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
    fig.update_layout(title=title, template="plotly_white", boxmode="group")
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
    _require(df, ("layer", "jacobian_norm"))
    fig = go.Figure()
    for layer, group in df.groupby("layer", sort=False):
        fig.add_trace(go.Histogram(x=group["jacobian_norm"], name=str(layer), opacity=0.6, nbinsx=40))
    fig.add_vline(x=1.0, line_dash="dash", line_color="black")
    fig.update_xaxes(title_text="‖J(x)‖₂ (lower bounds of the layer's constant)")
    fig.update_layout(title=title, template="plotly_white", barmode="overlay", legend_title_text="layer")
    return fig


# ----------------------------------------------------------------------------------- loss landscapes
__all__ += ["landscape_1d_plot", "landscape_contour_plot", "landscape_surface_plot"]

_LANDSCAPE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _gaps(values: object) -> object:
    """``values`` as float64 with every NaN / ±inf set to NaN: plotly draws a gap there (never a clipped
    or interpolated value)."""
    import numpy as np

    array = np.array(values, dtype=float)
    array[~np.isfinite(array)] = np.nan
    return array


def _gaps_title(title: str, bad: int) -> str:
    """``title``, plus the number ``bad`` of drawn grid points with a non-finite loss when there are some."""
    if not bad:
        return title
    return f"{title} ({bad} grid point{'s' if bad > 1 else ''} with a NaN/inf loss: gaps)"


def landscape_1d_plot(
    landscape: object,
    *,
    title: str = "Loss along a direction",
    accuracy: bool = True,
    log: bool = False,
) -> go.Figure:
    r"""Loss :math:`\alpha \mapsto \mathcal L(\theta + \alpha\delta)` (left axis) and accuracy (right axis,
    dotted) of one or several 1-D slices (Goodfellow et al. 2015; Li et al. 2018, Fig. 2); the model
    sits at :math:`\alpha = 0` (dashed line). A 2-D landscape is cut along :math:`\beta = 0`. A NaN or
    ±inf loss (or accuracy) is a gap in its line, and the title says how many points have one.

    Args:
        landscape: a :class:`~stablecore.landscape.Landscape`, its ``to_frame()`` table, or a dict
            ``{label: landscape}`` drawn on the same axes (e.g. standard vs Lipschitz vs regularised).
        title: figure title.
        accuracy: draw the accuracy too (skipped where it is NaN, e.g. a regression loss).
        log: logarithmic loss axis.
    """
    import numpy as np

    from stablecore.landscape import as_landscape

    pairs = landscape.items() if isinstance(landscape, dict) else [("loss", landscape)]
    items = [(str(label), as_landscape(obj, f"landscape[{label!r}]")) for label, obj in pairs]
    if not items:
        raise ValueError("landscape is an empty dict")
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    bad = 0
    for k, (label, land) in enumerate(items):
        if land.betas is None:
            loss, acc, done = land.loss, land.accuracy, land.evaluated
        else:
            j = int(np.argmin(np.abs(land.betas)))
            loss, acc, done = land.loss[:, j], land.accuracy[:, j], land.evaluated[:, j]
        bad += int((done & ~np.isfinite(loss)).sum())
        loss, acc = _gaps(loss), _gaps(acc)
        color = _LANDSCAPE_COLORS[k % len(_LANDSCAPE_COLORS)]
        fig.add_trace(
            go.Scatter(x=land.alphas, y=loss, mode="lines", name=label, line={"color": color},
                       legendgroup=label),
            secondary_y=False,
        )  # fmt: skip
        if accuracy and np.isfinite(acc).any():
            fig.add_trace(
                go.Scatter(x=land.alphas, y=acc, mode="lines", name=f"{label} (accuracy)", legendgroup=label,
                           line={"color": color, "dash": "dot"}),
                secondary_y=True,
            )  # fmt: skip
    fig.add_vline(x=0.0, line_dash="dash", line_color="gray")
    interpolation = items[0][1].metadata.get("directions") == "interpolation"
    fig.update_xaxes(title_text="t (θ_a → θ_b)" if interpolation else "α")
    fig.update_yaxes(title_text="loss", type="log" if log else "linear", secondary_y=False)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], secondary_y=True)
    fig.update_layout(title=_gaps_title(title, bad), template="plotly_white")
    return fig


def _landscape_z(landscape: object, log: bool, zmax: float | None) -> tuple[object, object]:
    """The 2-D landscape and its loss as plotly's ``z[row = beta, column = alpha]`` (clipped, log10); a
    NaN / ±inf loss is NaN (a gap), set before clipping so that +inf never becomes ``zmax``."""
    import numpy as np

    from stablecore.landscape import as_landscape

    land = as_landscape(landscape)
    if land.betas is None:
        raise ValueError("landscape is a 1-D slice; a contour or surface needs a 2-D landscape (slice_2d)")
    z = _gaps(land.loss)
    if zmax is not None:
        z = np.minimum(z, float(zmax))
    if log:
        z = np.log10(np.where(z > 0, z, np.nan))
    return land, z.T


def landscape_contour_plot(
    landscape: object,
    *,
    title: str = "Loss landscape (contours)",
    log: bool = False,
    zmax: float | None = None,
    ncontours: int = 30,
    trajectory: object = None,
) -> go.Figure:
    r"""Contours of :math:`(\alpha, \beta) \mapsto \mathcal L(\theta + \alpha\delta + \beta\eta)`
    (Li et al. 2018, Fig. 1), the model marked at the origin; a NaN / ±inf loss is a gap (not filled in),
    counted in the title.

    Args:
        landscape: a 2-D :class:`~stablecore.landscape.Landscape` or its ``to_frame()`` table.
        title: figure title.
        log: contour :math:`\log_{10}` of the loss.
        zmax: clip the loss at this value first (the edges of a plane can dwarf the basin).
        ncontours: number of contour levels.
        trajectory: optional ``(m, 2)`` coordinates drawn as a path (e.g.
            :attr:`~stablecore.landscape.TrajectoryPCA.coordinates`).
    """
    import numpy as np

    land, z = _landscape_z(landscape, log, zmax)
    fig = go.Figure(
        go.Contour(
            x=land.alphas, y=land.betas, z=z, ncontours=int(ncontours), colorscale="Viridis",
            contours={"showlabels": True}, colorbar={"title": {"text": "log10 loss" if log else "loss"}},
            name="loss", connectgaps=False,
        )
    )  # fmt: skip
    if trajectory is not None:
        path = np.asarray(trajectory, dtype=float)
        if path.ndim != 2 or path.shape[1] != 2:
            raise ValueError(f"trajectory must have shape (m, 2), got {path.shape}")
        fig.add_trace(
            go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name="trajectory",
                       line={"color": "white"}, marker={"size": 5})
        )  # fmt: skip
    fig.add_trace(
        go.Scatter(x=[0.0], y=[0.0], mode="markers", name="model",
                   marker={"symbol": "x", "size": 10, "color": "red"})
    )  # fmt: skip
    fig.update_xaxes(title_text="α")
    fig.update_yaxes(title_text="β", scaleanchor="x", scaleratio=1)
    fig.update_layout(title=_gaps_title(title, land.n_nonfinite), template="plotly_white")
    return fig


def landscape_surface_plot(
    landscape: object,
    *,
    title: str = "Loss landscape (surface)",
    log: bool = False,
    zmax: float | None = None,
) -> go.Figure:
    r"""3-D surface of :math:`(\alpha, \beta) \mapsto \mathcal L(\theta + \alpha\delta + \beta\eta)`
    (Li et al. 2018), the model marked at the origin; a NaN / ±inf loss is a hole in the surface,
    counted in the title.

    Args:
        landscape: a 2-D :class:`~stablecore.landscape.Landscape` or its ``to_frame()`` table.
        title: figure title.
        log: draw :math:`\log_{10}` of the loss.
        zmax: clip the loss at this value first.
    """
    import numpy as np

    land, z = _landscape_z(landscape, log, zmax)
    fig = go.Figure(
        go.Surface(x=land.alphas, y=land.betas, z=z, colorscale="Viridis", name="loss", connectgaps=False)
    )
    i, j = int(np.argmin(np.abs(land.alphas))), int(np.argmin(np.abs(land.betas)))
    fig.add_trace(
        go.Scatter3d(x=[land.alphas[i]], y=[land.betas[j]], z=[z[j, i]], mode="markers", name="model",
                     marker={"symbol": "x", "size": 5, "color": "red"})
    )  # fmt: skip
    label = "log10 loss" if log else "loss"
    fig.update_layout(
        title=_gaps_title(title, land.n_nonfinite), template="plotly_white",
        scene={"xaxis_title": "α", "yaxis_title": "β", "zaxis_title": label},
    )  # fmt: skip
    return fig


# ----------------------------------------------------------------------------------- chapter 4: curvature
__all__ += ["hessian_spectrum_plot", "landscape_panels_plot", "regularizer_comparison_plot"]

_STAGE_COLORS = {"init": "#7f7f7f", "trained": "#1f77b4"}


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
    _require(df, ("stage", "epoch", "quantity", "which", "rank", "x", "value", "stderr"))
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


def landscape_panels_plot(
    landscapes: dict,
    *,
    title: str = "Loss landscapes (filter-normalised random plane)",
    zmax: float | None = None,
    log: bool = False,
    ncontours: int = 25,
) -> go.Figure:
    r"""Side-by-side contour plots of several 2-D landscapes on one colour scale (e.g. standard vs
    Lipschitz vs curvature-regularised), each model marked at its origin. One contour and one marker
    trace per landscape. A NaN / ±inf loss is a gap, counted in the title; the colour scale spans the
    finite values.

    Args:
        landscapes: ``{label: landscape}`` with 2-D :class:`~stablecore.landscape.Landscape`\ s or their
            ``to_frame()`` tables.
        title: figure title.
        zmax: clip every loss at this value first (default: no clipping).
        log: contour :math:`\log_{10}` of the loss.
        ncontours: contour levels.
    """
    import numpy as np

    if not isinstance(landscapes, dict) or not landscapes:
        raise ValueError("landscapes must be a non-empty dict {label: 2-D landscape}")
    items = [(str(k), *_landscape_z(v, log, zmax)) for k, v in landscapes.items()]
    finite = np.concatenate([z[np.isfinite(z)] for _, _, z in items])
    zmin, ztop = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    fig = make_subplots(rows=1, cols=len(items), subplot_titles=[label for label, _, _ in items])
    for c, (label, land, z) in enumerate(items, start=1):
        fig.add_trace(
            go.Contour(x=land.alphas, y=land.betas, z=z, zmin=zmin, zmax=ztop, ncontours=int(ncontours),
                       colorscale="Viridis", showscale=c == len(items), name=label, connectgaps=False,
                       colorbar={"title": {"text": "log10 loss" if log else "loss"}}),
            row=1, col=c,
        )  # fmt: skip
        fig.add_trace(
            go.Scatter(x=[0.0], y=[0.0], mode="markers", name=f"{label}: model", showlegend=False,
                       marker={"symbol": "x", "size": 9, "color": "red"}),
            row=1, col=c,
        )  # fmt: skip
        fig.update_xaxes(title_text="α", row=1, col=c)
    fig.update_yaxes(title_text="β", row=1, col=1)
    bad = sum(land.n_nonfinite for _, land, _ in items)
    fig.update_layout(title=_gaps_title(title, bad), template="plotly_white")
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
    _require(df, ("regularizer", "seed", *(m for m, _ in _COMPARISON_PANELS)))
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


# ----------------------------------------------------------------------------------- chapters 5 and 6
__all__ += [
    "bound_width_plot",
    "certified_curves_plot",
    "counter_example_plot",
    "lipschitz_radii_plot",
    "simplex_tradeoff_plot",
    "smoothed_boundary_plot",
    "smoothed_lipschitz_plot",
]

_RS_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")


def _need(table: object, columns: Sequence[str], name: str) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}")
    if table.empty:
        raise ValueError(f"{name} is empty")
    return table


def smoothed_boundary_plot(
    table: pd.DataFrame,
    *,
    value: str = "p_vote",
    points: tuple[object, object] | None = None,
    title: str = "Smoothed class-1 probability as σ grows",
) -> go.Figure:
    """One heatmap panel per σ of ``ch05.smoothed_boundaries`` (``value``: ``p_vote`` or ``p_soft``) with the
    decision boundary (level 1/2) as a contour; ``points`` = (x (N, 2), y (N,)) overlays data."""
    _need(table, ("sigma", "x1", "x2", value), "table")
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
    fig.update_layout(title=title, template="plotly_white", height=330)
    return fig


def smoothed_lipschitz_plot(
    table: pd.DataFrame, *, title: str = "Lipschitz constant of the smoothed base"
) -> go.Figure:
    """``ch05.weierstrass_lipschitz``: L(f̃) vs the base L (log axes), a panel per σ, a line per formula."""
    _need(table, ("sigma", "L", "quantity", "value"), "table")
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
                    line={"color": _RS_COLORS[k % 8], "dash": dash},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(type="log", title_text="base L", row=1, col=c)
        fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(title=title, template="plotly_white", height=380)
    return fig


def simplex_tradeoff_plot(summary: pd.DataFrame, *, title: str = "Variance–margin trade-off") -> go.Figure:
    """``ch05.maps_summary``: mean margin vs mean variance of the top score, one line per (model, map) through
    its temperatures (labelled), and mean certified radius vs temperature."""
    _need(summary, ("model", "map", "temperature", "margin", "variance", "mean_radius"), "summary")
    fig = make_subplots(rows=1, cols=2, subplot_titles=["margin vs variance", "mean certified radius vs T"])
    for k, ((m, mp), d) in enumerate(summary.groupby(["model", "map"], sort=False)):
        d = d.sort_values("temperature")
        name, color = f"{m} / {mp}", _RS_COLORS[k % 8]
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
    fig.update_layout(title=title, template="plotly_white", height=420)
    return fig


def bound_width_plot(table: pd.DataFrame, *, title: str = "Width of one-sided lower bounds") -> go.Figure:
    """``ch05.bernstein_vs_clopper_pearson``: width vs n (log-log), one panel per p, one line per (bound,
    variance)."""
    _need(table, ("n", "p", "variance", "bound", "width"), "table")
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
                    line={"color": _RS_COLORS[k % 8], "dash": None if v == "varvotes" else "dash"},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(type="log", title_text="n", row=1, col=c)
        fig.update_yaxes(type="log", row=1, col=c)
    fig.update_layout(title=title, template="plotly_white", height=380)
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
    _need(table, [x, y, color] + ([facet] if facet else []), "table")
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
                    line={"shape": "hv", "color": _RS_COLORS[k % 8]},
                ),
                row=1,
                col=c,
            )
        fig.update_xaxes(title_text=x, row=1, col=c)
        fig.update_yaxes(title_text=y, range=[0, 1.02], row=1, col=c)
    fig.update_layout(title=title, template="plotly_white", height=400)
    return fig


def lipschitz_radii_plot(table: pd.DataFrame, *, sigma: float = 0.5, title: str | None = None) -> go.Figure:
    """``ch06.lipschitz_radii`` at one σ: radius vs base L (log), one panel per p; Cohen's radius dashed."""
    _need(table, ("sigma", "L", "p", "radius", "value"), "table")
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
                    line={"color": _RS_COLORS[k], "dash": "dot" if r == "ramp_distance" else None},
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
        template="plotly_white",
        height=380,
    )
    return fig


def counter_example_plot(
    table: pd.DataFrame, *, title: str = "Exact coverage of top-2 intervals"
) -> go.Figure:
    """``ch06.counter_example``: coverage per (case, method, event) as bars, the target 1 − α as a line."""
    _need(table, ("p", "n", "method", "event", "coverage", "target"), "table")
    fig = go.Figure()
    cases = [f"p={p}, n={n}" for p, n in zip(table["p"], table["n"])]
    for k, (key, d) in enumerate(table.assign(case=cases).groupby(["method", "event"], sort=False)):
        fig.add_trace(
            go.Bar(
                x=d["case"], y=d["coverage"], name=f"{key[0]}: {key[1][:40]}…", marker_color=_RS_COLORS[k % 8]
            )
        )
    fig.add_hline(
        y=float(table["target"].iloc[0]), line={"color": "black", "dash": "dash"}, annotation_text="1 − α"
    )
    fig.update_layout(
        title=title, barmode="group", template="plotly_white", yaxis={"range": [0.85, 1.0]}, height=400
    )
    return fig


# ----------------------------------------------------------------------------------- chapter 1: background
__all__ += ["curvature_slice_plot", "looseness_by_init_plot", "sensitivity_plot"]

_SENSITIVITY_DASH = {"random_noise": "dot", "pgd": "dash", "certified": "solid", "random_direction": "solid"}


def sensitivity_plot(
    df: pd.DataFrame, *, title: str = "Sensitivity to input and parameter perturbations"
) -> go.Figure:
    """Left: accuracy vs the input perturbation's ℓ2 norm ε (random noise dotted, PGD dashed, certified
    solid); right: accuracy vs the relative size ρ of a random parameter perturbation; one colour per model
    (one trace per model and method).

    Args:
        df: :func:`~stablecore.chapters.ch01_background.moons_sensitivity` output (columns ``model,
            perturbation, method, scale, accuracy``).
        title: figure title.
    """
    _require(df, ("model", "perturbation", "method", "scale", "accuracy"))
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("input: x + δ, ‖δ‖₂ = ε", "parameters: θ + ρ·d (filter-normalised d)")
    )
    models = list(dict.fromkeys(df["model"]))
    for (model, pert, method), group in df.groupby(["model", "perturbation", "method"], sort=False):
        color = _CLASS_COLORS[models.index(model) % len(_CLASS_COLORS)]
        g = group.sort_values("scale")
        fig.add_trace(
            go.Scatter(
                x=g["scale"], y=g["accuracy"], mode="lines+markers", name=f"{model}: {method}",
                line={"color": color, "dash": _SENSITIVITY_DASH.get(str(method), "solid")},
            ),
            row=1, col=1 if pert == "input" else 2,
        )  # fmt: skip
    fig.update_xaxes(title_text="ε", row=1, col=1)
    fig.update_xaxes(title_text="ρ", row=1, col=2)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template="plotly_white")
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
    _require(df, ("init", "depth", "product_exact", "true_norm", "ratio"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=("norms", "product of norms / norm of product"))
    for k, (init, group) in enumerate(df.groupby("init", sort=False)):
        g = group.sort_values("depth")
        color = _CLASS_COLORS[k % len(_CLASS_COLORS)]
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
    fig.update_layout(title=title, template="plotly_white")
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
    _require(df, ("model", "direction", "alpha", "loss", "quadratic", "curvature"))
    models = list(dict.fromkeys(df["model"]))
    directions = list(dict.fromkeys(df["direction"]))
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=[str(m) for m in models])
    for c, model in enumerate(models, start=1):
        for k, direction in enumerate(directions):
            g = df[(df["model"] == model) & (df["direction"] == direction)].sort_values("alpha")
            if g.empty:
                continue
            color = _LANDSCAPE_COLORS[k % len(_LANDSCAPE_COLORS)]
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
    fig.update_layout(title=title, template="plotly_white")
    return fig
