"""Smooth.certify / predict: Cohen et al.'s semantics, exact radius from the counts, abstain boundaries,
determinism, memory-independent batching, the model left untouched, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from stablecore.smoothing.bounds import clopper_pearson_lower
from stablecore.smoothing.core import ABSTAIN, Smooth, certify_from_counts


class Threshold(nn.Module):
    """1-D base classifier: class 1 iff x_0 > 0 (logits ±10), so P(class 1) = Φ(x_0/σ) in closed form."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        s = (x[:, 0] > 0).to(x.dtype) * 20 - 10
        return torch.stack([-s, s], dim=1) + 0 * self.dummy


def test_radius_equals_sigma_phi_inverse_of_the_lower_bound_from_the_counts():
    cert = certify_from_counts([3, 97], [40, 960], 0.001, 0.25)
    p = clopper_pearson_lower(960, 1000, 0.001)
    assert cert.prediction == 1 and cert.p_lower == p and cert.radius == 0.25 * stats.norm.ppf(p)
    full = certify_from_counts([0, 100], [0, 1000], 0.001, 0.5)  # n_A = n: the largest radius
    assert full.radius == pytest.approx(0.5 * stats.norm.ppf(0.001 ** (1 / 1000)), rel=1e-12)


def test_abstain_boundary():
    # find the smallest n_A whose lower bound exceeds 1/2; one vote less abstains
    n, alpha = 200, 0.01
    k = next(k for k in range(n + 1) if clopper_pearson_lower(k, n, alpha) > 0.5)
    assert certify_from_counts([0, 10], [n - k, k], alpha, 1.0).prediction == 1
    below = certify_from_counts([0, 10], [n - k + 1, k - 1], alpha, 1.0)
    assert below.prediction == ABSTAIN and below.radius == 0.0 and below.abstained


def test_certify_is_sound_on_the_closed_form_classifier_and_deterministic():
    smooth = Smooth(Threshold(), 2, sigma=0.5)
    for x0 in (0.1, 0.4, 1.2, -0.8):
        x = torch.tensor([x0, 0.0])
        g = torch.Generator().manual_seed(7)
        cert = smooth.certify(x, 50, 2000, 0.001, 512, generator=g)
        again = smooth.certify(x, 50, 2000, 0.001, 512, generator=torch.Generator().manual_seed(7))
        assert np.array_equal(cert.counts_estimation, again.counts_estimation)
        assert cert.counts_selection.sum() == 50 and cert.counts_estimation.sum() == 2000
        if not cert.abstained:
            assert cert.prediction == int(x0 > 0)
            assert cert.radius <= abs(x0)  # the true distance to the smoothed boundary x_0 = 0
    # batching does not change the draws' distribution, only memory: counts agree in expectation
    a = smooth.sample(torch.tensor([0.3, 0.0]), 4000, 4000, generator=torch.Generator().manual_seed(0)).counts
    b = smooth.sample(torch.tensor([0.3, 0.0]), 4000, 7, generator=torch.Generator().manual_seed(1)).counts
    p = stats.norm.cdf(0.3 / 0.5)
    for counts in (a, b):
        assert abs(counts[1] / 4000 - p) < 4 * np.sqrt(p * (1 - p) / 4000)


def test_predict_abstains_on_a_tie_and_answers_when_clear():
    smooth = Smooth(Threshold(), 2, sigma=0.5)
    assert (
        smooth.predict(torch.tensor([0.0, 0.0]), 200, 0.001, 100, generator=torch.Generator().manual_seed(0))
        == -1
    )
    assert (
        smooth.predict(torch.tensor([2.0, 0.0]), 200, 0.001, 100, generator=torch.Generator().manual_seed(0))
        == 1
    )


def test_soft_scores_and_model_state():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.Dropout(0.5), nn.Linear(8, 4))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats_ = Smooth(model, 4, 0.25).sample(
        torch.zeros(3), 300, 64, generator=torch.Generator().manual_seed(0)
    )
    assert stats_.counts.sum() == 300 and np.allclose(stats_.score_mean.sum(), 1.0)
    assert np.all(stats_.score_variance >= 0) and np.all(stats_.score_variance <= 0.25 + 1e-12)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.certify(torch.zeros(2), 0, 10, 0.01, 5), "n0"),
        (lambda s: s.certify(torch.zeros(2), 10, 10, 1.0, 5), "alpha"),
        (lambda s: s.certify(torch.zeros(2), 10, 10, 0.01, 0), "batch_size"),
        (lambda s: s.predict(torch.tensor([float("nan"), 0.0]), 10, 0.01, 5), "finite"),
        (lambda s: s.sample(torch.zeros(2), 10, 5, temperature=0), "temperature"),
    ],
)
def test_validation(call, match):
    with pytest.raises(ValueError, match=match):
        call(Smooth(Threshold(), 2, 0.5))
    with pytest.raises(ValueError, match="sigma"):
        Smooth(Threshold(), 2, 0.0)
    with pytest.raises(TypeError, match="x must be a tensor"):
        Smooth(Threshold(), 2, 0.5).certify([0.0, 0.0], 1, 1, 0.1, 1)
