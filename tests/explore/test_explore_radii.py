"""Per-point radii against independent oracles: the exact distance to a linear decision boundary,
Smooth.certify with the same generators, and a direct count for certified accuracy."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stablecore.explore import (
    certified_curves,
    decision_grid,
    grid_axes,
    lipschitz_margin_radii,
    smoothing_radii,
)
from stablecore.models import build_model
from stablecore.smoothing import Smooth, example_generator


def _linear_model(seed: int = 0) -> nn.Module:
    """Normalize(0, 1) -> Linear(2, 2) in float64: the body is the identity (L = 1, exact)."""
    model = build_model("mlp", input_shape=(2,), num_classes=2, hidden=(), seed=seed).double()
    with torch.no_grad():
        model.head.weight.copy_(torch.tensor([[1.5, -0.5], [-0.5, 1.0]]))
        model.head.bias.copy_(torch.tensor([0.2, -0.1]))
    return model.eval()


def _distance(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Exact ℓ2 distance of each point to the hyperplane f_0 = f_1 (float64)."""
    w = model.head.weight.detach().double()
    b = model.head.bias.detach().double()
    dw, db = w[0] - w[1], b[0] - b[1]
    return (torch.abs(x.double() @ dw + db) / torch.linalg.vector_norm(dw)).numpy()


@pytest.fixture
def points():
    g = torch.Generator().manual_seed(3)
    return torch.randn(40, 2, generator=g) * 1.5


def test_lipschitz_radius_is_the_distance_to_a_linear_boundary(points):
    model = _linear_model()
    table = lipschitz_margin_radii(model, points)  # labels = predictions: the radius of the decision region
    assert table.attrs["certificate"] == "pairwise"
    np.testing.assert_allclose(table["radius"], _distance(model, points), rtol=1e-6)
    assert (table["radius"] <= _distance(model, points)).all()  # rounded down, never overstated
    np.testing.assert_allclose(table[["x0", "x1"]].to_numpy(), points.double().numpy())


def test_misclassified_points_get_radius_zero(points):
    model = _linear_model()
    wrong = 1 - model(points.double()).argmax(1)
    table = lipschitz_margin_radii(model, points, wrong)
    assert (table["radius"] == 0).all() and not table["correct"].any()


def test_grid_axes_have_equal_steps(points):
    a0, a1 = grid_axes(points, size=31, pad=0.25)
    assert len(a0) == len(a1) == 31
    assert math.isclose(a0[1] - a0[0], a1[1] - a1[0], rel_tol=1e-12)
    assert a0[0] <= points[:, 0].min() - 0.25 + 1e-9 and a1[-1] >= points[:, 1].max() + 0.25 - 1e-9


def test_decision_grid_predicts_and_certifies_every_node(points):
    model = _linear_model()
    grid = decision_grid(model, points, size=12)
    assert len(grid) == 144 and list(grid.columns) == ["x0", "x1", "prediction", "margin", "radius"]
    x = torch.tensor(grid[["x0", "x1"]].to_numpy(), dtype=torch.float32).double()
    assert (grid["prediction"].to_numpy() == model(x).argmax(1).numpy()).all()
    np.testing.assert_allclose(grid["radius"], _distance(model, x), rtol=1e-5, atol=1e-6)


def test_cohen_radii_equal_smooth_certify(points):
    model = _linear_model()
    labels = model(points.double()).argmax(1)
    table = smoothing_radii(
        model, points[:8], labels[:8], sigma=0.5, n0=20, n=300, alpha=0.01, seed=7, lvm=False
    )
    smooth = Smooth(model, 2, 0.5)
    for i in range(8):
        cert = smooth.certify(points[i], 20, 300, 0.01, batch_size=300, generator=example_generator(7, i))
        assert table.loc[i, "prediction_cohen"] == cert.prediction
        assert table.loc[i, "radius_cohen"] == cert.radius
        assert table.loc[i, "p_lower_cohen"] == cert.p_lower


def test_smoothing_radii_never_exceed_the_true_distance(points):
    # The smoothed classifier of a linear binary classifier (hard votes or a softmax/sparsemax score) has
    # the same decision boundary, so every sound radius is at most the distance to the hyperplane.
    model = _linear_model()
    labels = model(points.double()).argmax(1)
    table = smoothing_radii(model, points, labels, sigma=0.5, n0=32, n=500, alpha=0.001, seed=1)
    dist = _distance(model, points)
    assert (table["radius_cohen"].to_numpy() <= dist + 1e-12).all()
    assert (table["radius_lvm"].to_numpy() <= dist + 1e-12).all()
    certified = table["prediction_cohen"] != -1
    assert (table.loc[certified, "prediction_cohen"] == labels.numpy()[certified]).all()
    assert (table["radius_cohen"] > 0).sum() > 10 and (table["radius_lvm"] > 0).sum() > 10


def test_smoothing_radii_are_seeded(points):
    model = _linear_model()
    labels = model(points[:5].double()).argmax(1)
    a = smoothing_radii(model, points[:5], labels, sigma=0.3, n=200, seed=2, lvm=False)
    b = smoothing_radii(model, points[:5], labels, sigma=0.3, n=200, seed=2, lvm=False)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("kwargs, name", [({"sigma": 0.0}, "sigma"), ({"sigma": 1.0, "n": 0}, "n"),
                                          ({"sigma": 1.0, "alpha": 1.5}, "alpha")])  # fmt: skip
def test_smoothing_radii_validate(points, kwargs, name):
    with pytest.raises(ValueError, match=name):
        smoothing_radii(_linear_model(), points[:2], torch.tensor([0, 1]), **kwargs)


def test_certified_curves_count_correct_points_above_eps():
    table = pd.DataFrame(
        {
            "radius_lipschitz": [0.0, 0.2, 0.5, math.inf],
            "correct": [False, True, True, True],
            "radius_cohen": [0.1, 0.0, 0.3, 0.05],
            "correct_cohen": [True, False, True, True],
        }
    )
    curves = certified_curves(table, [0.0, 0.1, 0.4])
    lip = curves[curves["family"] == "Lipschitz margin"]["certified_accuracy"].tolist()
    cohen = curves[curves["family"] == "Cohen RS"]["certified_accuracy"].tolist()
    assert lip == [0.75, 0.75, 0.5] and cohen == [0.75, 0.5, 0.0]  # radius exactly 0.1 counts at 0.1
    assert set(curves["family"]) == {"Lipschitz margin", "Cohen RS"}
    with pytest.raises(ValueError, match="radius columns"):
        certified_curves(pd.DataFrame({"x": [1]}))
