"""Curvature figures of stablecore.plots: traces per stage/model/metric, the data they draw (means and stds
recomputed here), quadratic models, refusal of incomplete tables; inputs never changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from stablecore import plots


def _spectrum() -> pd.DataFrame:
    rows = []
    for stage, scale in (("init", 1.0), ("trained", 3.0)):
        for which, sign in (("LA", 1), ("SA", -1)):
            for r in (1, 2, 3):
                epoch = 0 if stage == "init" else 5
                rows.append(dict(stage=stage, epoch=epoch, quantity="eigenvalue", which=which, rank=r,
                                 x=np.nan, value=sign * scale / r, stderr=1e-6))  # fmt: skip
        for x in np.linspace(-1, 3, 20):
            rows.append(dict(stage=stage, epoch=0, quantity="density", which=None, rank=pd.NA, x=x,
                             value=np.exp(-x * x / scale), stderr=np.nan))  # fmt: skip
    for epoch in (0, 2, 4):
        rows.append(dict(stage="training", epoch=epoch, quantity="lambda_max", which="LA", rank=1, x=np.nan,
                         value=1.0 + epoch, stderr=np.nan))  # fmt: skip
        rows.append(dict(stage="training", epoch=epoch, quantity="trace", which=None, rank=pd.NA, x=np.nan,
                         value=10.0 + epoch, stderr=0.5))  # fmt: skip
    return pd.DataFrame(rows)


def _comparison() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = [
        dict(regularizer=reg, seed=s, test_accuracy=rng.uniform(0.9, 1), lambda_max=rng.uniform(1, 3),
             trace=rng.uniform(5, 20), flatness=rng.uniform(0, 0.1), seconds_per_epoch=rng.uniform(0.1, 0.5))
        for reg in ("none", "sam", "hessian_bound")
        for s in range(3)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_hessian_spectrum_plot_traces_and_values() -> None:
    df = _spectrum()
    before = df.copy()
    fig = plots.hessian_spectrum_plot(df)
    pd.testing.assert_frame_equal(df, before)
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == [
        "init: density", "init: LA", "init: SA", "trained: density", "trained: LA", "trained: SA", "λ_max",
        "trace (± s.e.)",
    ]  # fmt: skip
    la = next(t for t in fig.data if t.name == "trained: LA")
    np.testing.assert_allclose(la.y, [3.0, 1.5, 1.0])
    tr = next(t for t in fig.data if t.name.startswith("trace"))
    np.testing.assert_allclose(tr.y, [10.0, 12.0, 14.0])
    np.testing.assert_allclose(tr.error_y.array, [0.5, 0.5, 0.5])
    assert fig.layout.yaxis.type == "log"
    # without tracking rows: no λ_max / trace traces
    assert len(plots.hessian_spectrum_plot(df[df["stage"] != "training"]).data) == 6
    with pytest.raises(ValueError, match="quantity"):
        plots.hessian_spectrum_plot(df.drop(columns=["quantity"]))


def test_regularizer_comparison_plot_means_and_stds() -> None:
    df = _comparison()
    before = df.copy()
    fig = plots.regularizer_comparison_plot(df)
    pd.testing.assert_frame_equal(df, before)
    assert len(fig.data) == 2 * 5
    means = [t for t in fig.data if t.name == "mean ± std"]
    for trace, metric in zip(
        means, ("test_accuracy", "lambda_max", "trace", "flatness", "seconds_per_epoch")
    ):
        assert list(trace.x) == ["none", "sam", "hessian_bound"]
        for reg, m, s in zip(trace.x, trace.y, trace.error_y.array):
            values = df.loc[df["regularizer"] == reg, metric].to_numpy()
            assert m == pytest.approx(values.mean())
            assert s == pytest.approx(values.std(ddof=1))
    with pytest.raises(ValueError, match="flatness"):
        plots.regularizer_comparison_plot(df.drop(columns=["flatness"]))


def test_curvature_slice_plot():
    a = np.linspace(-1, 1, 5)
    rows = []
    for model in ("mlp", "sll"):
        for direction, c in (("hessian", 2.0), ("random", 0.1)):
            for x in a:
                rows.append({"model": model, "direction": direction, "alpha": x, "loss": 0.3 + c * x**2,
                             "quadratic": 0.3 + 0.5 * c * x**2, "curvature": c})  # fmt: skip
    df = pd.DataFrame(rows)
    fig = plots.curvature_slice_plot(df)
    assert len(fig.data) == 8
    first = fig.data[0]
    assert "hessian" in first.name and "2" in first.name
    assert np.allclose(first.y, 0.3 + 2.0 * a**2) and np.allclose(fig.data[1].y, 0.3 + a**2)
    assert fig.data[-1].xaxis == "x2"
    with pytest.raises(ValueError, match="quadratic"):
        plots.curvature_slice_plot(df.drop(columns="quadratic"))
