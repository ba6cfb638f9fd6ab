"""One example up close: against closed forms on a linear classifier (exact distance to the boundary,
exact Lipschitz constant), certificates never above the attack's distance on a small MLP, the smoothing
numbers equal to an independent CERTIFY call, bad input refused, and the figure."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from stablecore.explore import ExampleCloseUp, example_close_up
from stablecore.plots import example_close_up_plot
from stablecore.smoothing import Smooth
from stablecore.spectral import lipschitz_bound
from stablecore.types import Bound


def _linear(seed: int = 0, d: int = 4, k: int = 3) -> nn.Linear:
    torch.manual_seed(seed)
    layer = nn.Linear(d, k).double()
    return layer


def test_linear_classifier_against_closed_forms():
    """f(x) = Wx + b: the distance from x to the boundary {f_y = f_j} is (f_y − f_j)/‖w_y − w_j‖,
    minimised over j; L = ‖W‖₂ exactly; the Lipschitz radius M/(√2 L) never exceeds that distance, and
    PGD's bisection (no box) finds it up to the bisection's resolution and PGD's own (1e-4 relative)."""
    model = _linear()
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.randn(4, generator=gen, dtype=torch.float64)
        logits = model(x)
        y = int(logits.argmax())
        w, z = model.weight.detach(), logits.detach()
        true_distance = min(
            float((z[y] - z[j]) / torch.linalg.vector_norm(w[y] - w[j])) for j in range(3) if j != y
        )
        L = float(torch.linalg.matrix_norm(w, 2))
        res = example_close_up(model, x, y, lipschitz=Bound(L, "exact"), clip=None, max_eps=20.0,
                               search_steps=30, pgd_steps=100)  # fmt: skip
        top2 = torch.topk(z, 2).values
        assert res.prediction == y and res.margin == pytest.approx(float(top2[0] - top2[1]), rel=1e-12)
        assert res.lipschitz_radius == pytest.approx(res.margin / (math.sqrt(2) * L), rel=1e-9)
        assert res.lipschitz_radius <= true_distance
        assert true_distance <= res.adversarial_distance <= true_distance * (1 + 1e-4)
        assert res.adversarial_prediction != y
        assert math.isnan(res.smoothing_radius) and res.smoothing_prediction == -2
        assert res.noisy_draws.shape == (0, 4) and res.noisy_predictions.shape == (0,)


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_certificate_never_above_the_attack_distance(seed):
    model = _mlp(seed)
    bound = lipschitz_bound(model, (16,))
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(16, generator=gen)
    y = int(model(x[None]).argmax())
    res = example_close_up(model, x, y, lipschitz=bound, pgd_steps=30, search_steps=10)
    assert res.lipschitz_kind == "upper_bound" and res.lipschitz == bound.value
    assert 0 < res.lipschitz_radius <= res.adversarial_distance
    if res.adversarial is not None:
        adv = torch.as_tensor(res.adversarial, dtype=torch.float32)
        assert int(model(adv[None]).argmax()) == res.adversarial_prediction != y
        assert ((adv >= 0) & (adv <= 1)).all()  # inside the default box


def test_misclassified_example_has_zero_radius_and_distance():
    model = _mlp()
    x = torch.rand(16, generator=torch.Generator().manual_seed(3))
    pred = int(model(x[None]).argmax())
    wrong = (pred + 1) % 3
    res = example_close_up(model, x, wrong, lipschitz=lipschitz_bound(model, (16,)))
    assert res.margin < 0 and res.lipschitz_radius == 0.0 and res.adversarial_distance == 0.0
    assert res.adversarial_prediction == pred


def test_smoothing_numbers_equal_an_independent_certify_call():
    model = _mlp()
    model.train()  # left as it was
    x = torch.rand(16, generator=torch.Generator().manual_seed(4))
    before = [p.detach().clone() for p in model.parameters()]
    res = example_close_up(model, x, 0, sigma=0.3, n0=50, n=400, alpha=0.01, n_draws=5, seed=7)
    cert = Smooth(model, 3, 0.3).certify(x, 50, 400, 0.01, 1000, generator=torch.Generator().manual_seed(7))
    assert (res.smoothing_prediction, res.smoothing_radius, res.p_lower) == (
        cert.prediction, cert.radius, cert.p_lower
    )  # fmt: skip
    assert res.noisy_draws.shape == (5, 16)
    with torch.no_grad():
        model.eval()
        preds = model(torch.as_tensor(res.noisy_draws, dtype=torch.float32)).argmax(1).numpy()
    np.testing.assert_array_equal(res.noisy_predictions, preds)
    assert not np.allclose(res.noisy_draws, x.numpy())  # noise was added
    model.train()
    res2 = example_close_up(model, x, 0, sigma=0.3, n0=50, n=400, alpha=0.01, n_draws=5, seed=7)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    np.testing.assert_array_equal(res.noisy_draws, res2.noisy_draws)  # seeded
    assert math.isnan(res.lipschitz_radius) and res.lipschitz is None
    assert set(res.summary().index) >= {"margin", "lipschitz_radius", "smoothing_radius", "p_lower"}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": "net"}, TypeError, "model must be an nn.Module"),
        ({"x": [0.0] * 16}, TypeError, "x must be a floating-point tensor"),
        ({"x": torch.full((16,), float("nan"))}, ValueError, "x must be finite"),
        ({"label": -1}, ValueError, "label must be a non-negative int"),
        ({"label": 3}, ValueError, r"label must be in \[0, 2\]"),
        ({"lipschitz": 2.0}, TypeError, "lipschitz must be a stablecore Bound"),
        ({"lipschitz": Bound(2.0, "lower_bound")}, ValueError, "lower_bound"),
        ({"sigma": float("nan")}, ValueError, "sigma must be a finite number"),
        ({"sigma": 0.0}, ValueError, "sigma must be a finite number"),
        ({"n_draws": -1}, ValueError, "n_draws must be an int"),
        ({"pgd_steps": 0}, ValueError, "pgd_steps must be an int"),
        ({"max_eps": float("inf")}, ValueError, "max_eps must be a finite number"),
    ],
)
def test_bad_input_is_refused(kwargs, error, match):
    args = {"model": _mlp(), "x": torch.rand(16), "label": 0} | kwargs
    with pytest.raises(error, match=match):
        example_close_up(args.pop("model"), args.pop("x"), args.pop("label"), **args)


def test_figure_panels_and_title():
    model = _mlp()
    x = torch.rand(16, generator=torch.Generator().manual_seed(5))
    y = int(model(x[None]).argmax())
    res = example_close_up(model, x, y, lipschitz=lipschitz_bound(model, (16,)), sigma=0.25, n=200,
                           n_draws=3)  # fmt: skip
    assert isinstance(res, ExampleCloseUp)
    fig = example_close_up_plot(res)  # 16 values: a 4x4 square
    kinds = [t.type for t in fig.data]
    assert kinds == ["heatmap"] * (2 + 3) + ["bar"]
    assert np.asarray(fig.data[0].z).shape == (4, 4)
    assert f"{res.lipschitz_radius:.3g}" in fig.layout.title.text
    assert f"{res.adversarial_distance:.3g}" in fig.layout.title.text
    bar = fig.data[-1]
    np.testing.assert_allclose(bar.y, res.logits)
    with pytest.raises(ValueError, match="does not hold an input of 16"):
        example_close_up_plot(res, image_shape=(3, 5))
    with pytest.raises(TypeError, match="must be an ExampleCloseUp"):
        example_close_up_plot(object())
