"""Dashboard figures draw the given values, keep disks round (equal axis scaling) and refuse bad tables."""

import math

import numpy as np
import pandas as pd
import pytest

from stablecore.plots_dashboard import layer_norms_plot, radii_plot, radius_histogram_plot


@pytest.fixture
def grid():
    a = np.linspace(-1, 1, 5)
    g1, g0 = np.meshgrid(a, a, indexing="ij")
    pred = (g0.ravel() > 0).astype(int)
    return pd.DataFrame({"x0": g0.ravel(), "x1": g1.ravel(), "prediction": pred, "margin": np.abs(g0.ravel()),
                         "radius": np.abs(g0.ravel()) / 2})  # fmt: skip


@pytest.fixture
def points():
    return pd.DataFrame(
        {
            "x0": [0.5, -0.5, 0.0],
            "x1": [0.0, 0.5, -0.5],
            "label": [1, 0, 1],
            "prediction": [1, 0, 0],
            "margin": [0.5, 0.5, -0.1],
            "r": [0.25, 0.1, 0.0],
        }
    )


def test_radii_plot_traces_hover_and_round_disks(grid, points):
    train = points[["x0", "x1", "label"]]
    fig = radii_plot(grid, points, radius_column="r", train=train)
    assert [t.name for t in fig.data] == ["regions", "training points", "certified disks", "test points"]
    heat = fig.data[0]
    assert np.asarray(heat.z).shape == (5, 5)
    # z[row = x1, column = x0]: the class is 1 right of x0 = 0
    assert np.asarray(heat.z)[2, 4] == 1 and np.asarray(heat.z)[2, 0] == 0
    assert "radius" in heat.hovertemplate and "margin" in heat.hovertemplate
    pts = fig.data[3]
    assert "radius" in pts.hovertemplate and "margin" in pts.hovertemplate
    np.testing.assert_allclose(np.asarray(pts.customdata)[:, 2], points["r"])
    np.testing.assert_allclose(np.asarray(pts.customdata)[:, 3], points["margin"])
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    # two disks (the zero radius has none), each a closed circle of the right radius around its centre
    disks = fig.data[2]
    xs, ys = np.asarray(disks.x, float), np.asarray(disks.y, float)
    breaks = np.flatnonzero(np.isnan(xs))  # one NaN after each circle (a line break in plotly.js)
    assert len(breaks) == 2 and np.array_equal(np.isnan(ys), np.isnan(xs))
    first = np.stack([xs[: breaks[0]], ys[: breaks[0]]], 1)
    assert np.allclose(np.hypot(first[:, 0] - 0.5, first[:, 1] - 0.0), 0.25, atol=1e-6)  # float32 outline
    assert np.allclose(first[0], first[-1], atol=1e-6)  # closed
    second = np.stack([xs[breaks[0] + 1 : breaks[1]], ys[breaks[0] + 1 : breaks[1]]], 1)
    assert np.allclose(np.hypot(second[:, 0] + 0.5, second[:, 1] - 0.5), 0.1, atol=1e-6)


def test_radii_plot_refuses_bad_tables(grid, points):
    with pytest.raises(ValueError, match="radius"):
        radii_plot(grid, points)  # points have no "radius" column
    with pytest.raises(ValueError, match="rectangular"):
        radii_plot(grid.iloc[:-1], points, radius_column="r")
    with pytest.raises(TypeError):
        radii_plot(grid.to_dict(), points, radius_column="r")


def test_radius_histogram_leaves_out_infinite_radii():
    table = pd.DataFrame({"a": [0.0, 0.5, math.inf], "b": [0.1, 0.2, 0.3]})
    fig = radius_histogram_plot(table, {"Lipschitz": "a", "Cohen": "b"})
    assert [t.name for t in fig.data] == ["Lipschitz", "Cohen"]
    assert list(fig.data[0].x) == [0.0, 0.5] and len(fig.data[1].x) == 3
    with pytest.raises(ValueError, match="columns"):
        radius_histogram_plot(table, {})


def test_layer_norms_plot_skips_unit_layers():
    table = pd.DataFrame(
        {
            "module": ["fc0", "act0", "fc0", "act0"],
            "method": ["gram", "gram", "exact", "exact"],
            "value": [2.0, 1.0, 1.9, 1.0],
            "kind": ["upper_bound", "exact", "exact", "exact"],
        }
    )
    fig = layer_norms_plot(table)
    assert [t.name for t in fig.data] == ["gram", "exact"]
    assert list(fig.data[0].x) == ["fc0"] and list(fig.data[0].y) == [2.0]
    assert fig.layout.yaxis.type == "log"
