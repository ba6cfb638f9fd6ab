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


# ----------------------------------------------------------------------------------- loss landscapes
__all__ += ["landscape_1d_plot", "landscape_contour_plot", "landscape_surface_plot"]

_LANDSCAPE_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def landscape_1d_plot(
    landscape: object,
    *,
    title: str = "Loss along a direction",
    accuracy: bool = True,
    log: bool = False,
) -> go.Figure:
    r"""Loss :math:`\alpha \mapsto \mathcal L(\theta + \alpha\delta)` (left axis) and accuracy (right axis,
    dotted) of one or several 1-D slices (Goodfellow et al. 2015; Li et al. 2018, Fig. 2); the model
    sits at :math:`\alpha = 0` (dashed line). A 2-D landscape is cut along :math:`\beta = 0`.

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
    for k, (label, land) in enumerate(items):
        if land.betas is None:
            loss, acc = land.loss, land.accuracy
        else:
            j = int(np.argmin(np.abs(land.betas)))
            loss, acc = land.loss[:, j], land.accuracy[:, j]
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


def _landscape_z(landscape: object, log: bool, zmax: float | None) -> tuple[object, object]:
    """The 2-D landscape and its loss as plotly's ``z[row = beta, column = alpha]`` (clipped, log10)."""
    import numpy as np

    from stablecore.landscape import as_landscape

    land = as_landscape(landscape)
    if land.betas is None:
        raise ValueError("landscape is a 1-D slice; a contour or surface needs a 2-D landscape (slice_2d)")
    z = np.asarray(land.loss, dtype=float)
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
    (Li et al. 2018, Fig. 1), the model marked at the origin.

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
            name="loss",
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
    fig.update_layout(title=title, template="plotly_white")
    return fig


def landscape_surface_plot(
    landscape: object,
    *,
    title: str = "Loss landscape (surface)",
    log: bool = False,
    zmax: float | None = None,
) -> go.Figure:
    r"""3-D surface of :math:`(\alpha, \beta) \mapsto \mathcal L(\theta + \alpha\delta + \beta\eta)`
    (Li et al. 2018), the model marked at the origin.

    Args:
        landscape: a 2-D :class:`~stablecore.landscape.Landscape` or its ``to_frame()`` table.
        title: figure title.
        log: draw :math:`\log_{10}` of the loss.
        zmax: clip the loss at this value first.
    """
    import numpy as np

    land, z = _landscape_z(landscape, log, zmax)
    fig = go.Figure(go.Surface(x=land.alphas, y=land.betas, z=z, colorscale="Viridis", name="loss"))
    i, j = int(np.argmin(np.abs(land.alphas))), int(np.argmin(np.abs(land.betas)))
    fig.add_trace(
        go.Scatter3d(x=[land.alphas[i]], y=[land.betas[j]], z=[z[j, i]], mode="markers", name="model",
                     marker={"symbol": "x", "size": 5, "color": "red"})
    )  # fmt: skip
    label = "log10 loss" if log else "loss"
    fig.update_layout(
        title=title, template="plotly_white",
        scene={"xaxis_title": "α", "yaxis_title": "β", "zaxis_title": label},
    )  # fmt: skip
    return fig
