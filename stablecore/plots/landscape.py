r"""Figures of loss landscapes :math:`(\alpha, \beta) \mapsto \mathcal L(\theta + \alpha\delta + \beta\eta)`
along filter-normalised directions (Li et al. 2018): 1-D lines, contours, surfaces and side-by-side
panels; a NaN / ±inf loss is drawn as a gap and counted in the title."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import TEMPLATE, palette_color

__all__ = ["landscape_1d_plot", "landscape_contour_plot", "landscape_panels_plot", "landscape_surface_plot"]


def _gaps(values: object) -> object:
    """``values`` as float64 with every NaN / ±inf set to NaN: plotly draws a gap there (never a clipped
    or interpolated value)."""
    array = np.array(values, dtype=float)
    array[~np.isfinite(array)] = np.nan
    return array


def _gaps_title(title: str, bad: int) -> str:
    """``title``, plus the number ``bad`` of drawn grid points with a non-finite loss when there are some."""
    if not bad:
        return title
    return f"{title} ({bad} grid point{'s' if bad > 1 else ''} with a NaN/inf loss: gaps)"


def _landscape_z(landscape: object, log: bool, zmax: float | None) -> tuple[object, object]:
    """The 2-D landscape and its loss as plotly's ``z[row = beta, column = alpha]`` (clipped, log10); a
    NaN / ±inf loss is NaN (a gap), set before clipping so that +inf never becomes ``zmax``."""
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
        color = palette_color(k)
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
    fig.update_layout(title=_gaps_title(title, bad), template=TEMPLATE)
    return fig


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
    fig.update_layout(title=_gaps_title(title, land.n_nonfinite), template=TEMPLATE)
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
        title=_gaps_title(title, land.n_nonfinite), template=TEMPLATE,
        scene={"xaxis_title": "α", "yaxis_title": "β", "zaxis_title": label},
    )  # fmt: skip
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
    fig.update_layout(title=_gaps_title(title, bad), template=TEMPLATE)
    return fig
