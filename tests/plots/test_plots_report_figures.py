"""Figures of the report: they draw the given values, refuse wrong tables, and never overstate a bound
between radii."""

import numpy as np
import pandas as pd
import pytest

from stablecore.plots import hessian_summary_plot, robustness_curves_plot


def _curves():
    eps = [0.0, 0.5, 1.0]
    return pd.concat(
        [
            pd.DataFrame(
                {"method": "Lipschitz", "eps": eps, "accuracy": [0.9, 0.4, 0.1], "kind": "lower_bound"}
            ),
            pd.DataFrame({"method": "PGD", "eps": eps, "accuracy": [0.9, 0.7, 0.3], "kind": "upper_bound"}),
        ]
    )


def test_robustness_curves_plot():
    curves = _curves()
    fig = robustness_curves_plot(curves)
    assert [t.name for t in fig.data] == ["Lipschitz [lower_bound]", "PGD [upper_bound]"]
    np.testing.assert_array_equal(fig.data[0].y, [0.9, 0.4, 0.1])
    # a lower bound steps down at the left radius (vh), an upper bound at the right one (hv)
    assert fig.data[0].line.shape == "vh" and fig.data[1].line.shape == "hv"
    assert fig.data[1].line.dash == "dash"
    with pytest.raises(ValueError, match="kind"):
        robustness_curves_plot(curves.drop(columns="kind"))
    with pytest.raises(TypeError, match="curves"):
        robustness_curves_plot([1, 2])


def test_hessian_summary_plot():
    grid = np.linspace(-1, 3, 101)
    dens = np.exp(-0.5 * (grid / 0.05) ** 2) + np.exp(-0.5 * ((grid - 2) / 0.05) ** 2)
    density = pd.DataFrame({"eigenvalue": grid, "density": dens})
    eig = pd.DataFrame({"rank": [1, 2], "eigenvalue": [2.0, 1.5]})
    fig = hessian_summary_plot(eig, density, trace=(10.0, 0.5), floor=1e-6)
    assert len(fig.data) == 2
    drawn = np.asarray(fig.data[0].y)
    assert drawn.min() > 1e-6 * dens.max() and len(drawn) == int((dens > 1e-6 * dens.max()).sum())
    np.testing.assert_array_equal(fig.data[1].y, [2.0, 1.5])
    assert "trace ≈ 10 ± 0.5" in fig.layout.annotations[1].text
    with pytest.raises(ValueError, match="floor"):
        hessian_summary_plot(eig, density, floor=2)
    with pytest.raises(ValueError, match="density"):
        hessian_summary_plot(eig, density.rename(columns={"density": "d"}))
