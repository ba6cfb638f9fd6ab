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


# ------------------------------------------------------------------------------- non-finite losses
def holed(steps: int = 5) -> Landscape:
    """The bowl with a NaN loss at (alphas[0], betas[1]) and +inf at (alphas[-1], betas[2])."""
    land = bowl(steps)
    loss = land.loss.copy()
    loss[0, 1], loss[-1, 2] = np.nan, np.inf
    return Landscape(land.alphas, land.betas, loss, land.accuracy, land.metadata)


def test_1d_plot_draws_nan_and_inf_losses_as_gaps():
    g = landscape_grid((-1, 1), 5)
    loss = np.array([np.inf, 0.75, 0.5, np.nan, -np.inf])
    acc = np.array([np.nan, 0.9, 1.0, np.inf, 0.5])
    fig = plots.landscape_1d_plot(Landscape(g, None, loss, acc, {"dims": 1}), title="t")
    y, y_acc = np.asarray(fig.data[0].y, dtype=float), np.asarray(fig.data[1].y, dtype=float)
    assert np.isnan(y[[0, 3, 4]]).all() and y[1:3].tolist() == [0.75, 0.5]  # no inf reaches plotly
    assert np.isnan(y_acc[[0, 3]]).all() and y_acc[[1, 2, 4]].tolist() == [0.9, 1.0, 0.5]
    assert not fig.data[0].connectgaps
    assert fig.layout.title.text == "t (3 grid points with a NaN/inf loss: gaps)"
    cut = plots.landscape_1d_plot(holed(), title="t")  # the plane's β = 0 column has the inf, not the NaN
    assert np.isnan(np.asarray(cut.data[0].y, dtype=float)[-1])
    assert cut.layout.title.text == "t (1 grid point with a NaN/inf loss: gaps)"
    assert plots.landscape_1d_plot(line(), title="t").layout.title.text == "t"


@pytest.mark.parametrize("zmax", [None, 5.0])
def test_contour_and_surface_gaps_are_nan_not_clipped(zmax):
    land = holed()
    expected = np.minimum(land.loss, np.inf if zmax is None else zmax).T  # plotly's z[beta, alpha]
    expected[1, 0] = expected[2, -1] = np.nan
    for fig in (
        plots.landscape_contour_plot(land, zmax=zmax, title="c"),
        plots.landscape_surface_plot(land, zmax=zmax, title="s"),
    ):
        z = np.asarray(fig.data[0].z, dtype=float)
        np.testing.assert_array_equal(z, expected)  # NaN at both holes; +inf never becomes zmax
        assert fig.data[0].connectgaps is False
        assert fig.layout.title.text.endswith("(2 grid points with a NaN/inf loss: gaps)")
    logged = np.asarray(plots.landscape_contour_plot(land, log=True).data[0].z, dtype=float)
    assert np.isnan(logged[1, 0]) and np.isnan(logged[2, -1]) and np.isfinite(logged).sum() == 23


def test_panels_scale_on_finite_values_and_survive_an_all_nan_plane():
    land = holed()
    dead = Landscape(land.alphas, land.betas, np.full_like(land.loss, np.nan), land.accuracy, {"dims": 2})
    fig = plots.landscape_panels_plot({"holed": land, "dead": dead})
    finite = land.loss[np.isfinite(land.loss)]
    assert fig.data[0].zmin == finite.min() and fig.data[0].zmax == finite.max()
    assert np.isnan(np.asarray(fig.data[2].z, dtype=float)).all()
    assert "(27 grid points with a NaN/inf loss: gaps)" in fig.layout.title.text  # 2 + 25


def _plane(offset: float) -> Landscape:
    grid = np.linspace(-1, 1, 5)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    loss = offset + a**2 + 3 * b**2
    return Landscape(grid, grid.copy(), loss, np.full_like(loss, np.nan), {"dims": 2})


def test_landscape_panels_plot_shares_colour_scale() -> None:
    fig = plots.landscape_panels_plot({"standard": _plane(0.0), "lipschitz": _plane(2.0).to_frame()})
    contours = [t for t in fig.data if isinstance(t, go.Contour)]
    assert len(contours) == 2 and len(fig.data) == 4
    for c in contours:
        assert c.zmin == pytest.approx(0.0) and c.zmax == pytest.approx(2.0 + 1 + 3)
    assert [c.showscale for c in contours] == [False, True]
    # z is plotly's z[row = beta, col = alpha]
    np.testing.assert_allclose(np.asarray(contours[0].z), _plane(0.0).loss.T)
    clipped = plots.landscape_panels_plot({"a": _plane(0.0)}, zmax=1.0)
    assert np.nanmax(np.asarray(clipped.data[0].z)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="landscapes"):
        plots.landscape_panels_plot({})
    one = Landscape(np.linspace(-1, 1, 3), None, np.zeros(3), np.zeros(3), {"dims": 1})
    with pytest.raises(ValueError, match="1-D"):
        plots.landscape_panels_plot({"a": one})
