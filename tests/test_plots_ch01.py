"""Figures of chapter 1: built from small synthetic tables of the experiments' shapes; they draw the given
values (traces checked), leave their input unchanged, and refuse tables that lack a column, naming it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from stablecore import plots


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


def test_looseness_by_init_plot():
    rows = [{"init": init, "depth": d, "product_exact": 2.0**d, "true_norm": t**d, "ratio": (2.0 / t) ** d}
            for init, t in (("uniform", 1.5), ("orthogonal", 2.0)) for d in (4, 1, 2)]  # fmt: skip
    df = pd.DataFrame(rows)
    fig = plots.looseness_by_init_plot(df)
    assert len(fig.data) == 6
    ratio = next(t for t in fig.data if t.name == "uniform: ratio")
    assert list(ratio.x) == [1, 2, 4] and np.allclose(ratio.y, [(2 / 1.5) ** d for d in (1, 2, 4)])
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis.type == "log"
    with pytest.raises(ValueError, match="true_norm"):
        plots.looseness_by_init_plot(df.drop(columns="true_norm"))


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
