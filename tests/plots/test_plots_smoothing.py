"""Figures of chapters 5 and 6: built from small synthetic tables of the experiments' shapes; they draw the
given values (traces checked), and refuse wrong tables naming the argument."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from stablecore import plots
from stablecore.chapters import ch05_lvm_rs as ch05
from stablecore.chapters import ch06_bridging_rs as ch06

CFG5 = ch05.Ch05Config.quick(lipschitz_values=(0.5, 5.0), lipschitz_sigmas=(0.25, 0.5), bound_ns=(10, 100))
CFG6 = ch06.Ch06Config.quick(radii_ps=(0.7, 0.9), radii_ls=(1.0, 10.0), radii_sigmas=(0.5,))


def test_smoothed_boundary_plot():
    g = np.linspace(0, 1, 3)
    rows = [
        {"sigma": s, "x1": a, "x2": b, "p_vote": a, "p_soft": b} for s in (0.0, 0.5) for a in g for b in g
    ]
    fig = plots.smoothed_boundary_plot(pd.DataFrame(rows), points=([[0.1, 0.2]], [1]))
    assert isinstance(fig, go.Figure)
    heat = [t for t in fig.data if isinstance(t, go.Heatmap)]
    assert len(heat) == 2 and np.allclose(np.asarray(heat[0].z)[0], g)
    with pytest.raises(ValueError, match="value"):
        plots.smoothed_boundary_plot(pd.DataFrame(rows), value="x1")
    with pytest.raises(ValueError, match="table"):
        plots.smoothed_boundary_plot(pd.DataFrame({"sigma": [0.1]}))


def test_smoothed_lipschitz_plot():
    df = ch05.weierstrass_lipschitz(CFG5)
    fig = plots.smoothed_lipschitz_plot(df)
    tight = [t for t in fig.data if t.name == "tight"]
    assert len(tight) == 2
    want = df[(df["quantity"] == "tight") & (df["sigma"] == 0.25) & ~df["id"].str.contains("ramp_L2")]
    assert np.allclose(tight[0].y, want.sort_values("L")["value"])


def test_bound_width_plot():
    df = ch05.bernstein_vs_clopper_pearson(CFG5)
    fig = plots.bound_width_plot(df)
    assert len(fig.data) == len(CFG5.bound_ps) * (4 + 3 * len(CFG5.bound_variances))
    with pytest.raises(TypeError, match="table"):
        plots.bound_width_plot("nope")


def test_simplex_tradeoff_plot():
    summary = pd.DataFrame(
        {"model": ["mlp"] * 3, "map": ["softmax", "softmax", "hardmax"], "temperature": [0.5, 2.0, 0.0],
         "margin": [0.9, 0.5, 0.95], "variance": [0.03, 0.01, 0.04], "mean_radius": [0.4, 0.2, 0.45]}
    )  # fmt: skip
    fig = plots.simplex_tradeoff_plot(summary)
    assert list(fig.data[0].y) == [0.9, 0.5]
    with pytest.raises(ValueError, match="summary"):
        plots.simplex_tradeoff_plot(summary.drop(columns="margin"))


def test_certified_curves_plot_and_facets():
    curve = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "radius": [0.0, 0.5, 0.0, 0.5],
            "certified_accuracy": [0.9, 0.4, 0.8, 0.5],
            "src": ["x", "x", "y", "y"],
        }
    )
    fig = plots.certified_curves_plot(curve)
    assert [list(t.y) for t in fig.data] == [[0.9, 0.4], [0.8, 0.5]]
    assert len(plots.certified_curves_plot(curve, facet="src").data) == 2
    with pytest.raises(ValueError, match="empty"):
        plots.certified_curves_plot(curve.iloc[:0])


def test_lipschitz_radii_and_counter_example_plots():
    radii = ch06.lipschitz_aware_radii(CFG6)
    fig = plots.lipschitz_radii_plot(radii, sigma=0.5)
    ode = [t for t in fig.data if t.name == "ode"]
    assert len(ode) == 2
    with pytest.raises(ValueError, match="sigma"):
        plots.lipschitz_radii_plot(radii, sigma=0.3)
    counter = ch06.counter_example(CFG6)
    fig = plots.counter_example_plot(counter)
    assert sum(len(t.y) for t in fig.data) == len(counter)
