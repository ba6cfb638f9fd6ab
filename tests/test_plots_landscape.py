"""Loss-landscape figures of stablecore.plots: traces and axes from a Landscape or its table, overlays,
clipping and log scale, the model marked at the origin, refusal of wrong inputs."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from stablecore import plots
from stablecore.landscape import Landscape, landscape_grid


def bowl(steps: int = 11) -> Landscape:
    """A synthetic quadratic bowl ``1 + a² + 4 b²`` with accuracy falling away from the centre."""
    g = landscape_grid((-1, 1), steps)
    a, b = np.meshgrid(g, g, indexing="ij")
    loss = 1.0 + a**2 + 4 * b**2
    return Landscape(g, g.copy(), loss, np.exp(-loss + 1), {"dims": 2, "directions": "random"})


def line(scale: float = 1.0, nan_accuracy: bool = False) -> Landscape:
    g = landscape_grid((-1, 1), 21)
    acc = np.full_like(g, np.nan) if nan_accuracy else 1 - 0.1 * g**2
    return Landscape(g, None, 0.5 + scale * g**2, acc, {"dims": 1, "directions": "random"})


def test_1d_plot_loss_and_accuracy_axes():
    land = line()
    fig = plots.landscape_1d_plot(land, title="t")
    assert isinstance(fig, go.Figure) and fig.layout.title.text == "t"
    assert [tr.name for tr in fig.data] == ["loss", "loss (accuracy)"]
    np.testing.assert_array_equal(fig.data[0].x, land.alphas)
    np.testing.assert_array_equal(fig.data[0].y, land.loss)
    assert fig.data[1].yaxis == "y2" and fig.data[1].line.dash == "dot"
    no_acc = plots.landscape_1d_plot(line(nan_accuracy=True), log=True)
    assert len(no_acc.data) == 1 and no_acc.layout.yaxis.type == "log"


def test_1d_plot_overlays_and_cuts_a_plane_at_beta_zero():
    fig = plots.landscape_1d_plot({"standard": line(1.0), "lipschitz": line(0.2)}, accuracy=False)
    assert [tr.name for tr in fig.data] == ["standard", "lipschitz"]
    assert fig.data[0].line.color != fig.data[1].line.color
    plane = bowl()
    cut = plots.landscape_1d_plot(plane)
    np.testing.assert_allclose(cut.data[0].y, 1.0 + plane.alphas**2)
    ts = np.array([0.0, 0.5, 1.0])
    interp = Landscape(ts, None, np.ones(3), np.ones(3), {"directions": "interpolation"})
    assert "θ_a" in plots.landscape_1d_plot(interp).layout.xaxis.title.text


def test_contour_plot_orientation_marker_and_trajectory():
    land = bowl()
    fig = plots.landscape_contour_plot(land, trajectory=[[0.5, 0.5], [0.2, 0.1], [0.0, 0.0]])
    contour = fig.data[0]
    assert isinstance(contour, go.Contour)
    z = np.asarray(contour.z)
    # plotly's z is [beta, alpha]: along a row alpha varies, the loss grows by a², not 4 b²
    j = int(np.flatnonzero(land.betas == 0.0)[0])
    np.testing.assert_allclose(z[j], 1.0 + land.alphas**2)
    names = [tr.name for tr in fig.data]
    assert names == ["loss", "trajectory", "model"]
    assert list(fig.data[2].x) == [0.0] and list(fig.data[2].y) == [0.0]
    clipped = plots.landscape_contour_plot(land, zmax=2.0, log=True)
    assert np.nanmax(np.asarray(clipped.data[0].z)) == pytest.approx(np.log10(2.0))
    with pytest.raises(ValueError, match="trajectory"):
        plots.landscape_contour_plot(land, trajectory=[1.0, 2.0])


def test_surface_plot_from_landscape_or_table():
    land = bowl()
    frame = land.to_frame()
    copy = frame.copy()
    for source in (land, frame):
        fig = plots.landscape_surface_plot(source, zmax=3.0)
        surface = fig.data[0]
        assert isinstance(surface, go.Surface)
        assert np.asarray(surface.z).shape == (len(land.betas), len(land.alphas))
        assert np.max(np.asarray(surface.z)) == pytest.approx(3.0)
        assert fig.data[1].name == "model" and list(fig.data[1].z) == [pytest.approx(1.0)]
        assert fig.layout.scene.zaxis.title.text == "loss"
    assert frame.equals(copy)  # input unchanged


def test_landscape_plots_refuse_wrong_inputs():
    with pytest.raises(ValueError, match="1-D"):
        plots.landscape_contour_plot(line())
    with pytest.raises(ValueError, match="1-D"):
        plots.landscape_surface_plot(line())
    with pytest.raises(TypeError, match="landscape"):
        plots.landscape_1d_plot([1, 2, 3])
    with pytest.raises(ValueError, match="column"):
        plots.landscape_contour_plot(bowl().to_frame().drop(columns="loss"))
    with pytest.raises(ValueError, match="empty"):
        plots.landscape_1d_plot({})
    assert {"landscape_1d_plot", "landscape_contour_plot", "landscape_surface_plot"} <= set(plots.__all__)
