"""Chapter 3 figures of stablecore.plots: traces per group, disk geometry, refusal of incomplete tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from stablecore import plots


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


def _gap() -> pd.DataFrame:
    rows = []
    for layer in (0, 1):
        for step in (1, 2, 3):
            rows.append({"setting": "training", "shape": "16x16", "layer": layer, "step": step, "n_iter": 1,
                         "pi_ratio": 0.9, "gram_ratio": 1.0, "ref_lipschitz": 1.4})  # fmt: skip
    for shape in ("8x8", "16x16"):
        for n_iter in (1, 5):
            for draw in range(3):
                rows.append(dict(setting="random", shape=shape, layer=pd.NA, step=draw, n_iter=n_iter,
                                 pi_ratio=0.7, gram_ratio=1.0, ref_lipschitz=3.0))  # fmt: skip
    return pd.DataFrame(rows)


def _jacobians() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"layer": np.repeat(["cpl", "sll", "aol"], 10), "jacobian_norm": rng.uniform(0.5, 1.0, 30)}
    )


CASES = [
    (plots.decision_boundary_plot, _boundaries, 2 * 4),  # grid, train points, disks, centres per model
    (plots.offset_tradeoff_plot, _offsets, 1 + 2 * 2),  # clean + (vs offset, trade-off) per radius
    (plots.certified_accuracy_plot, _certified, 3),
    (plots.power_iteration_plot, _gap, 3 * 2 + 2 + 1),  # 3 per layer, a box per n_iter, the Gram box
    (plots.jacobian_norm_plot, _jacobians, 3),
]


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_trace_counts(fn, make, traces) -> None:
    frame = make()
    copy = frame.copy()
    fig = fn(frame)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == traces
    pd.testing.assert_frame_equal(frame, copy)  # input untouched


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_missing_columns_rejected(fn, make, traces) -> None:
    frame = make()
    dropped = frame.columns[-1]
    with pytest.raises(ValueError, match=f"missing columns.*{dropped}"):
        fn(frame.drop(columns=[dropped]))
    with pytest.raises(TypeError, match="DataFrame"):
        fn(frame.to_dict())
    with pytest.raises(ValueError, match="empty"):
        fn(frame.iloc[0:0])


def test_disks_have_the_certified_radius() -> None:
    fig = plots.decision_boundary_plot(_boundaries())
    disks = [t for t in fig.data if t.name == "certified disk"]
    assert len(disks) == 2
    xs, ys = disks[0].x, disks[0].y
    # only the finite, positive radius among the circled points is drawn: one circle around (0, -0.5)
    assert sum(v is None for v in xs) == 1
    pts = np.array([(x, y) for x, y in zip(xs, ys) if x is not None], dtype=float)
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


def test_power_iteration_plot_without_random_rows() -> None:
    frame = _gap()
    fig = plots.power_iteration_plot(frame[frame["setting"] == "training"])
    assert len(fig.data) == 3 * 2
