"""Spectral-norm and Lipschitz-bound figures of stablecore.plots: traces per group, log axes, the values
drawn, and refusal of incomplete tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from figure_checks import check_table_refusals, check_trace_count

from stablecore import plots
from stablecore.plots import layer_norms_plot


def _dense() -> pd.DataFrame:
    rows = []
    for shape in ("30x20", "50x40"):
        for method, sign in (("gram", 1.0), ("power", -1.0)):
            for it in range(1, 6):
                rows.append(
                    {
                        "shape": shape,
                        "method": method,
                        "iteration": it,
                        "rel_error": sign * 10.0**-it if it < 5 else 0.0,
                        "time_ms": float(it) if it in (1, 4) else math.nan,
                    }
                )
    return pd.DataFrame(rows)


def _circular() -> pd.DataFrame:
    rows = []
    for case in ("c4x4_k3_n6", "c8x8_k3_n8"):
        for method, n_iter, kind, gap in (
            ("exact", 0, "exact", 0.0),
            ("gram", 3, "upper_bound", 1e-2),
            ("gram", 6, "upper_bound", 1e-9),
            ("power", 10, "lower_bound", -1e-3),
        ):
            rows.append(
                {
                    "case": case,
                    "method": method,
                    "n_iter": n_iter,
                    "kind": kind,
                    "rel_gap": gap,
                    "time_ms": 1.0,
                }
            )
    return pd.DataFrame(rows)


def _zero() -> pd.DataFrame:
    rows = []
    for case, exact in (("c4x3_k3_n8", 9.0), ("c64x64_k5_n12", math.nan)):
        for method, n_iter, kind, value in (
            ("power", 30, "lower_bound", 8.9),
            ("norm2toep", 1, "upper_bound", 13.0),
            ("norm2toep", 2, "upper_bound", 11.0),
            ("gram", 6, "upper_bound", 9.4),
        ):
            rows.append(
                {
                    "case": case,
                    "method": method,
                    "n_iter": n_iter,
                    "kind": kind,
                    "value": value,
                    "exact": exact,
                }
            )
    return pd.DataFrame(rows)


def _network() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quantity": ["bound_gram", "bound_exact_layers", "max_jacobian_norm", "max_logit_gradient"],
            "value": [250.0, 210.0, 28.0, 16.0],
            "kind": ["upper_bound", "upper_bound", "lower_bound", "lower_bound"],
        }
    )


def _linear() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "depth": [1, 5, 20],
            "product_exact": [1.0, 1.2, 5.0],
            "true_norm": [1.0, 0.1, 1e-5],
            "ratio": [1, 12, 5e5],
        }
    )


def _regularized() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "r": [0.0, 0.1, 1.0],
            "test_accuracy": [0.94, 0.9, 0.55],
            "bound": [250, 40, 2.5],
            "lower_bound": [28, 12, 1],
        }
    )


def _resnet() -> pd.DataFrame:
    rows = [
        {"layer": layer, "method": method, "value": value, "time_ms": 1.0}
        for layer in ("conv1", "layer1.0.conv1", "layer1.0.conv2")
        for method, value in (("gram", 2.9), ("power", 2.8), ("lipgrid", 5.0))
    ]
    rows += [
        {"layer": "product", "method": m, "value": 30.0, "time_ms": 3.0} for m in ("gram", "power", "lipgrid")
    ]
    return pd.DataFrame(rows)


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
    (plots.convergence_plot, _dense, 8),  # (shape, method) groups × 2 panels
    (plots.bound_comparison_plot, _circular, 3 + 4),  # gap bars (non-exact methods) + time bars (all)
    (plots.zero_padding_plot, _zero, 2),  # one bar trace per case
    (plots.bound_gap_plot, _network, 2),  # one trace per kind
    (plots.looseness_plot, _linear, 3),
    (plots.regularization_plot, _regularized, 3),
    (plots.layer_bounds_plot, _resnet, 6),  # methods × 2 panels, product rows left out
    (plots.power_iteration_plot, _gap, 3 * 2 + 2 + 1),  # 3 per layer, a box per n_iter, the Gram box
    (plots.jacobian_norm_plot, _jacobians, 3),
]


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_trace_counts(fn, make, traces) -> None:
    check_trace_count(fn, make, traces)


@pytest.mark.parametrize("fn, make, traces", CASES, ids=[c[0].__name__ for c in CASES])
def test_missing_columns_rejected(fn, make, traces) -> None:
    check_table_refusals(fn, make)


def test_convergence_plot_log_axes_and_timed_points() -> None:
    fig = plots.convergence_plot(_dense())
    assert fig.layout.yaxis.type == "log" and fig.layout.xaxis2.type == "log"
    right = [t for t in fig.data if t.xaxis == "x2"]
    assert all(len(t.x) == 2 for t in right)  # only the two timed iterations
    left = fig.data[0]
    assert math.isnan(left.y[-1])  # a zero error has no place on a log axis


def test_bound_comparison_labels_gram_iterations() -> None:
    fig = plots.bound_comparison_plot(_circular())
    names = {t.name for t in fig.data}
    assert {"gram T=3", "gram T=6", "power", "exact"} == names
    gap_names = {t.name for t in fig.data if t.xaxis == "x"}
    assert "exact" not in gap_names


def test_zero_padding_exact_line_only_where_known() -> None:
    fig = plots.zero_padding_plot(_zero())
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].y0 == 9.0


def test_layer_bounds_plot_leaves_out_products() -> None:
    fig = plots.layer_bounds_plot(_resnet())
    assert all("product" not in list(t.x) for t in fig.data)
    only_products = _resnet().query("layer == 'product'")
    with pytest.raises(ValueError, match="per-layer"):
        plots.layer_bounds_plot(only_products)


def test_power_iteration_plot_without_random_rows() -> None:
    frame = _gap()
    fig = plots.power_iteration_plot(frame[frame["setting"] == "training"])
    assert len(fig.data) == 3 * 2


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
