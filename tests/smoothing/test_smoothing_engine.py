"""The one per-point engine (stablecore.smoothing.engine): its seeding rule, every method against the
library's own certificates on the same draws, and smoothed probabilities against the closed form of a
linear classifier (P(w·(x+δ) + b > 0) = Φ((w·x + b)/(σ‖w‖)))."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch import nn

from stablecore.smoothing import Smooth, certify_from_counts, certify_lvm, example_generator
from stablecore.smoothing.engine import certify_point, point_logits, smoothed_probabilities, votes

SETTINGS = {"n0": 20, "n": 300, "alpha": 0.01, "batch_size": 128}


def _smooth() -> Smooth:
    torch.manual_seed(0)
    return Smooth(nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3)), 3, 0.3)


def _linear() -> nn.Module:
    model = nn.Linear(2, 2).double()
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, -2.0], [-1.0, 2.0]]))
        model.bias.copy_(torch.tensor([0.3, -0.3]))
    return model


def test_example_generator_depends_only_on_seed_and_index():
    a = torch.randn(5, generator=example_generator(3, 7))
    assert torch.equal(a, torch.randn(5, generator=example_generator(3, 7)))
    assert not torch.equal(a, torch.randn(5, generator=example_generator(3, 8)))
    assert not torch.equal(a, torch.randn(5, generator=example_generator(4, 7)))


def test_cohen_equals_smooth_certify_and_the_logits_votes():
    smooth, x = _smooth(), torch.tensor([0.2, -0.1])
    row = certify_point(smooth, x, generator=example_generator(0, 5), **SETTINGS)
    cert = smooth.certify(x, 20, 300, 0.01, 128, generator=example_generator(0, 5))
    assert (row["prediction"], row["radius"], row["p_lower"]) == (cert.prediction, cert.radius, cert.p_lower)
    sel, est = point_logits(smooth, x, n0=20, n=300, batch_size=128, generator=example_generator(0, 5))
    assert votes(sel, 3).tolist() == row["counts_selection"]
    assert votes(est, 3).tolist() == row["counts_estimation"]
    again = certify_from_counts(votes(sel, 3), votes(est, 3), 0.01, smooth.sigma)
    assert again.radius == row["radius"]


def test_streamed_lvm_equals_certify_lvm_on_the_same_draws():
    smooth, x = _smooth(), torch.tensor([0.5, 0.4])
    options = {"maps": ("softmax", "hardmax"), "temperatures": (0.5, 2.0), "mode": "mono"}
    row = certify_point(smooth, x, method="lvm", generator=example_generator(1, 2), **SETTINGS, **options)
    sel, est = point_logits(smooth, x, n0=20, n=300, batch_size=128, generator=example_generator(1, 2))
    want = certify_lvm(sel, est, sigma=smooth.sigma, alpha=0.01, **options)
    assert row["prediction"] == want.prediction and (row["map"], row["temperature"]) == (
        want.map,
        want.temperature,
    )
    assert row["p_lower"] == pytest.approx(want.p_lower, rel=1e-9, abs=1e-12)
    assert row["radius"] == pytest.approx(want.radius, rel=1e-9, abs=1e-12)


def test_lipschitz_method_keeps_the_votes_certificate_of_the_same_draws():
    smooth, x = _smooth(), torch.tensor([0.5, 0.4])
    row = certify_point(
        smooth, x, method="lipschitz", generator=example_generator(0, 1), score_lipschitz=0.5, **SETTINGS
    )
    cohen = certify_point(smooth, x, generator=example_generator(0, 1), **SETTINGS)
    assert row["counts_estimation"] == cohen["counts_estimation"]
    assert (row["prediction_votes"], row["radius_votes"]) == (cohen["prediction"], cohen["radius"])
    assert row["radius"] >= row["radius_monolip"] - 1e-12 and row["radius"] >= 0


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="method"):
        certify_point(
            _smooth(), torch.zeros(2), method="magic", generator=example_generator(0, 0), **SETTINGS
        )


def test_smoothed_probabilities_match_the_linear_closed_form():
    model, sigma = _linear(), 0.5
    points = torch.tensor([[0.0, 0.0], [0.4, 0.1], [-0.2, 0.3]], dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    p_vote, p_soft = smoothed_probabilities(model, points, sigma, 20_000, generator=gen, batch_size=8192)
    w = torch.tensor([2.0, -4.0], dtype=torch.float64)  # logit difference class 0 - class 1
    exact = norm.cdf((points @ w + 0.6).numpy() / (sigma * float(w.norm())))
    np.testing.assert_allclose(p_vote[:, 0], exact, atol=0.015)  # ~4.5 standard errors at n = 20 000
    np.testing.assert_allclose(p_vote.sum(1), 1.0)
    np.testing.assert_allclose(p_soft.sum(1), 1.0)
    base, _ = smoothed_probabilities(model, points, 0.0, 3, generator=gen, batch_size=8)
    np.testing.assert_array_equal(base.argmax(1), model(points).argmax(1).numpy())
    with pytest.raises(ValueError, match="sigma"):
        smoothed_probabilities(model, points, -1.0, 3, generator=gen, batch_size=8)
