"""Certification figures of stablecore.plots: traces per group, the values drawn, disk geometry (round
disks of the certified radius), refusal of incomplete tables; inputs never changed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from figure_checks import check_table_refusals, check_trace_count

from stablecore import plots
from stablecore.plots import radii_plot, radius_histogram_plot


def _boundaries() -> pd.DataFrame:
    rows = []
    for model in ("mlp", "sll"):
        grid = [(x, y) for x in (-1.0, 0.0, 1.0) for y in (-1.0, 0.0, 1.0)]
        for i, (a, b) in enumerate(grid):
            rows.append(dict(model=model, part="grid", index=i, x0=a, x1=b, label=pd.NA,
                             prediction=int(a > 0), radius=0.1, circle=False))  # fmt: skip
        for i in range(4):
            rows.append(dict(model=model, part="train", index=i, x0=0.1 * i, x1=0.2, label=i % 2,
                             prediction=i % 2, radius=0.05, circle=False))  # fmt: skip
        for i, r in enumerate((0.3, 0.0, math.inf, 0.1)):
            rows.append(dict(model=model, part="test", index=i, x0=0.5 * i, x1=-0.5, label=1,
                             prediction=1, radius=r, circle=i != 3))  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["lipschitz"] = frame["model"].map({"mlp": 80.0, "sll": 2.0})
    frame["test_accuracy"] = 0.9
    return frame


def _offsets() -> pd.DataFrame:
    rows = [
        {"offset": o, "eps": e, "certified_accuracy": 0.8 - e + 0.01 * o, "clean_accuracy": 0.95 - 0.02 * o}
        for o in (0.0, 1.0, 2.0)
        for e in (0.1, 0.2)
    ]
    return pd.DataFrame(rows)


def _certified() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"family": f, "eps": e, "certified_accuracy": max(0.0, 0.9 - e * k)}
            for k, f in enumerate(("sll", "cpl", "mlp"), start=1)
            for e in (0.0, 0.5, 1.0)
        ]
    )


CASES = [
    (plots.decision_boundary_plot, _boundaries, 2 * 4),  # grid, train points, disks, centres per model
    (plots.offset_tradeoff_plot, _offsets, 1 + 2 * 2),  # clean + (vs offset, trade-off) per radius
    (plots.certified_accuracy_plot, _certified, 3),
]


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_trace_counts(fn, make, traces) -> None:
    check_trace_count(fn, make, traces)


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_missing_columns_rejected(fn, make, traces) -> None:
    check_table_refusals(fn, make)


def test_disks_have_the_certified_radius() -> None:
    fig = plots.decision_boundary_plot(_boundaries())
    disks = [t for t in fig.data if t.name == "certified disk"]
    assert len(disks) == 2
    xs, ys = disks[0].x, disks[0].y
    # only the finite, positive radius among the circled points is drawn: one circle around (0, -0.5)
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    assert np.isnan(xs).sum() == 1 and np.array_equal(np.isnan(xs), np.isnan(ys))  # one break per circle
    pts = np.stack([xs[~np.isnan(xs)], ys[~np.isnan(ys)]], 1)
    assert np.hypot(pts[:, 0] - 0.0, pts[:, 1] + 0.5) == pytest.approx(0.3)
    centres = next(t for t in fig.data if t.name == "test point (disk centre)")
    assert len(centres.x) == 3
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    assert "L ≤ 80" in fig.layout.annotations[0].text
    with pytest.raises(ValueError, match="cols"):
        plots.decision_boundary_plot(_boundaries(), cols=0)


def test_certified_accuracy_plot_with_reported() -> None:
    reported = pd.DataFrame(
        {"label": ["SLL small", "SLL small"], "eps": [36 / 255, 72 / 255], "value": [0.6, 0.5]}
    )
    fig = plots.certified_accuracy_plot(_certified(), reported=reported)
    assert len(fig.data) == 4 and fig.data[-1].name == "SLL small (reported)"
    with pytest.raises(ValueError, match="reported is missing"):
        plots.certified_accuracy_plot(_certified(), reported=reported.drop(columns=["value"]))


def _sensitivity() -> pd.DataFrame:
    rows = []
    for model in ("mlp", "sll"):
        for method, pert in (("random_noise", "input"), ("pgd", "input"), ("certified", "input"),
                             ("random_direction", "parameter")):  # fmt: skip
            for scale in (0.2, 0.0, 0.1):
                acc = 1.0 - scale * (2 if model == "mlp" else 1) * (1 + len(method) / 10)
                rows.append(
                    {"model": model, "perturbation": pert, "method": method, "scale": scale, "accuracy": acc}
                )
    return pd.DataFrame(rows)


def test_sensitivity_plot():
    df = _sensitivity()
    before = df.copy()
    fig = plots.sensitivity_plot(df)
    assert isinstance(fig, go.Figure) and len(fig.data) == 8
    pgd = next(t for t in fig.data if t.name == "sll: pgd")
    want = df[(df["model"] == "sll") & (df["method"] == "pgd")].sort_values("scale")
    assert np.allclose(pgd.x, want["scale"]) and np.allclose(pgd.y, want["accuracy"])
    assert pgd.xaxis == "x" and next(t for t in fig.data if t.name == "mlp: random_direction").xaxis == "x2"
    pd.testing.assert_frame_equal(df, before)
    with pytest.raises(ValueError, match="perturbation"):
        plots.sensitivity_plot(df.drop(columns="perturbation"))


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
