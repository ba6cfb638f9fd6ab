r"""Figures of certified robustness: decision regions with certified disks :math:`B(x, r(x))`, the
certified accuracy :math:`\mathrm{CA}(r) = \frac1n\#\{i : \hat y_i = y_i,\ r_i \ge r\}` (Cohen et al. 2019)
beside attacks (upper bounds of the robust accuracy), radius histograms and the loss-offset trade-off."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import FILLS, TEMPLATE, palette_color, require

__all__ = [
    "certified_accuracy_plot",
    "decision_boundary_plot",
    "example_close_up_plot",
    "offset_tradeoff_plot",
    "radii_plot",
    "radius_histogram_plot",
    "robustness_curves_plot",
    "sensitivity_plot",
]


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


def _class_colorscale(k: int) -> list[list[object]]:
    """A discrete plotly colour scale mapping the classes ``0 .. k-1`` (``k >= 2``) to their light fills."""
    return [[i / (k - 1), FILLS[i % len(FILLS)]] for i in range(k)]


_REGION_HOVER = "class %{z}<br>radius %{customdata[0]:.3g}<br>margin %{customdata[1]:.3g}<extra></extra>"


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
    require(df, ("model", "part", "x0", "x1", "label", "prediction", "radius", "circle", "lipschitz",
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
    scale = _class_colorscale(k)
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
        colors = [palette_color(int(c)) for c in train["label"]]
        fig.add_trace(
            go.Scatter(
                x=train["x0"], y=train["x1"], mode="markers", name="training points",
                marker={"size": 4, "color": colors, "opacity": 0.6}, showlegend=i == 0,
                legendgroup="train",
            ),
            row=row, col=col,
        )  # fmt: skip
        marked = group[(group["part"] == "test") & group["circle"].astype(bool)]
        cx, cy = _disk_outlines(marked["x0"], marked["x1"], marked["radius"])
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
    fig.update_layout(title=title, template=TEMPLATE, height=380 * nrows)
    return fig


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
    require(grid, ("x0", "x1", "prediction", "margin", "radius"), "grid")
    require(points, ("x0", "x1", "label", radius_column), "points")
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
    scale = _class_colorscale(k)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=xs, y=ys, z=z, colorscale=scale, zmin=0, zmax=k - 1, showscale=False, customdata=custom,
            name="regions",
            hovertemplate=_REGION_HOVER,
        )
    )  # fmt: skip
    if train is not None:
        require(train, ("x0", "x1", "label"), "train")
        fig.add_trace(
            go.Scatter(
                x=train["x0"], y=train["x1"], mode="markers", name="training points", hoverinfo="skip",
                marker={"size": 4, "opacity": 0.5,
                        "color": [palette_color(int(c)) for c in train["label"]]},
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
                    "color": [palette_color(int(c)) for c in points["label"]]},
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
    fig.update_layout(title=title, template=TEMPLATE, height=560, legend={"orientation": "h", "y": -0.12})
    return fig


def radius_histogram_plot(
    table: pd.DataFrame, columns: Mapping[str, str], *, title: str = "Certified radii (test points)"
) -> go.Figure:
    """Overlaid histograms of the radii in ``columns`` (``{label: column}``), one trace per label;
    infinite radii are left out, abstentions / misclassified points count at radius 0."""
    if not isinstance(columns, Mapping) or not columns:
        raise ValueError("columns must be a non-empty mapping {label: column}")
    require(table, list(columns.values()), "table")
    fig = go.Figure()
    for label, column in columns.items():
        r = pd.to_numeric(table[column], errors="coerce")
        r = r[np.isfinite(r)]
        fig.add_trace(go.Histogram(x=r, name=str(label), opacity=0.6, nbinsx=30))
    fig.update_layout(
        barmode="overlay", title=title, template=TEMPLATE, xaxis_title="radius", yaxis_title="points"
    )
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
    require(df, ("family", "eps", "certified_accuracy"))
    fig = go.Figure()
    for family, group in df.sort_values("eps").groupby("family", sort=False):
        fig.add_trace(
            go.Scatter(x=group["eps"], y=group["certified_accuracy"], mode="lines+markers", name=str(family))
        )
    if reported is not None:
        require(reported, ("label", "eps", "value"), "reported")
        for label, group in reported.groupby("label", sort=False):
            fig.add_trace(
                go.Scatter(
                    x=group["eps"], y=group["value"], mode="markers", name=f"{label} (reported)",
                    marker={"symbol": "diamond-open", "size": 10},
                )
            )  # fmt: skip
    fig.update_xaxes(title_text="ℓ2 radius ε")
    fig.update_yaxes(title_text="certified accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="network")
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
    require(df, ("offset", "eps", "certified_accuracy", "clean_accuracy"))
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
        color = palette_color(j)
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
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


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
    require(curves, ("method", "eps", "accuracy", "kind"), "curves")
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
                    "color": palette_color(i),
                },
            )
        )
    fig.update_xaxes(title_text="ℓ2 radius ε (input space)")
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02])
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="method [kind]")
    return fig


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
    require(df, ("model", "perturbation", "method", "scale", "accuracy"))
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("input: x + δ, ‖δ‖₂ = ε", "parameters: θ + ρ·d (filter-normalised d)")
    )
    models = list(dict.fromkeys(df["model"]))
    for (model, pert, method), group in df.groupby(["model", "perturbation", "method"], sort=False):
        color = palette_color(models.index(model))
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
    fig.update_layout(title=title, template=TEMPLATE)
    return fig


def _as_image(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(shape)


def example_close_up_plot(example: object, *, image_shape: tuple[int, int] | None = None) -> go.Figure:
    r"""One example up close (:func:`stablecore.explore.example_close_up`): the input, the closest PGD
    adversarial and the noisy draws as grey images (same colour range, ``[0, 1]`` clipped for display),
    each titled with the base classifier's prediction, and the logits as bars (the label's bar and the
    runner-up's coloured). The title gives the margin, the Lipschitz-margin radius (a certificate of the
    base classifier), the PGD distance (an upper bound on the distance to the boundary) and the smoothing
    radius (a certificate of the smoothed classifier, with probability 1 − α).

    Args:
        example: an :class:`~stablecore.explore.ExampleCloseUp`.
        image_shape: (height, width) of a flat input (e.g. ``(8, 8)`` for digits); default: the input's own
            2-D shape (channels first with one channel), or a square if its size is a perfect square.

    Raises:
        TypeError: ``example`` lacks the fields of an ExampleCloseUp. ValueError: no image shape fits.
    """
    needed = ("image", "label", "prediction", "logits", "margin", "runner_up", "lipschitz_radius",
              "adversarial", "adversarial_distance", "adversarial_prediction", "smoothing_radius",
              "smoothing_prediction", "sigma", "noisy_draws", "noisy_predictions")  # fmt: skip
    missing = [f for f in needed if not hasattr(example, f)]
    if missing:
        raise TypeError(f"example must be an ExampleCloseUp; missing fields {missing}")
    image = np.asarray(example.image, dtype=float)
    size = image.size
    if image_shape is None:
        squeezed = image.squeeze()
        if squeezed.ndim == 2:
            image_shape = squeezed.shape
        elif round(math.isqrt(size)) ** 2 == size:
            image_shape = (math.isqrt(size), math.isqrt(size))
        else:
            raise ValueError(f"image_shape is needed for an input of shape {image.shape}")
    h, w = (int(v) for v in image_shape)
    if h * w != size:
        raise ValueError(f"image_shape {image_shape} does not hold an input of {size} values")
    panels = [(_as_image(image, (h, w)), f"input · label {example.label} · pred {example.prediction}")]
    if example.adversarial is not None:
        panels.append((
            _as_image(example.adversarial, (h, w)),
            f"PGD ‖δ‖₂={example.adversarial_distance:.3g} · pred {example.adversarial_prediction}",
        ))  # fmt: skip
    for draw, pred in zip(example.noisy_draws, example.noisy_predictions, strict=True):
        panels.append((_as_image(draw, (h, w)), f"x + σε · pred {int(pred)}"))
    cols = len(panels) + 1
    fig = make_subplots(rows=1, cols=cols, subplot_titles=[t for _, t in panels] + ["logits f(x)"])
    for i, (img, _) in enumerate(panels, start=1):
        fig.add_trace(
            go.Heatmap(z=np.clip(img, 0.0, 1.0), zmin=0.0, zmax=1.0, colorscale="gray_r", showscale=False,
                       hovertemplate="row %{y}, col %{x}: %{z:.2f}<extra></extra>"),
            row=1, col=i,
        )  # fmt: skip
        fig.update_yaxes(autorange="reversed", scaleanchor=f"x{i if i > 1 else ''}", showticklabels=False,
                         row=1, col=i)  # fmt: skip
        fig.update_xaxes(showticklabels=False, row=1, col=i)
    logits = np.asarray(example.logits, dtype=float)
    colors = [palette_color(7)] * len(logits)
    colors[example.runner_up] = palette_color(1)
    colors[example.label] = palette_color(0)
    fig.add_trace(go.Bar(x=list(range(len(logits))), y=logits, marker_color=colors, showlegend=False,
                         hovertemplate="class %{x}: %{y:.3g}<extra></extra>"), row=1, col=cols)  # fmt: skip
    fig.update_xaxes(title_text="class", dtick=1, row=1, col=cols)
    parts = [f"margin {example.margin:.3g}"]
    if example.lipschitz_radius == example.lipschitz_radius:  # not NaN
        parts.append(f"Lipschitz radius {example.lipschitz_radius:.3g}")
    parts.append(f"PGD distance {example.adversarial_distance:.3g}")
    if example.sigma is not None:
        smoothed = "abstain" if example.smoothing_prediction < 0 else f"class {example.smoothing_prediction}"
        parts.append(f"smoothing (σ={example.sigma:g}) {smoothed}, radius {example.smoothing_radius:.3g}")
    fig.update_layout(template=TEMPLATE, title=" · ".join(parts), height=300, width=max(600, 190 * cols),
                      margin={"t": 90})  # fmt: skip
    return fig
