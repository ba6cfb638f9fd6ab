"""Margin losses against float64 loop oracles (and deel-torchlip's HKR when installed)."""

import pytest
import torch

from stablecore.train import HKRLoss, build_loss

F64 = torch.float64


def hkr_oracle(z: torch.Tensor, y: torch.Tensor, alpha: float, m: float) -> float:
    n, k = z.shape
    kr = 0.0
    for c in range(k):
        pos = [float(z[i, c]) for i in range(n) if y[i] == c]
        neg = [float(z[i, c]) for i in range(n) if y[i] != c]
        kr += (sum(pos) / len(pos) if pos else 0.0) - (sum(neg) / len(neg) if neg else 0.0)
    kr /= k
    hinge = 0.0
    for i in range(n):
        for c in range(k):
            sign = 1.0 if y[i] == c else -1.0
            weight = k - 1.0 if y[i] == c else 1.0
            hinge += weight * max(0.0, m / 2 - sign * float(z[i, c]))
    return alpha * hinge / (n * k) - (1 - alpha) * kr


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
@pytest.mark.parametrize("k", [2, 5])
def test_hkr_matches_loop_oracle(alpha, k):
    g = torch.Generator().manual_seed(k)
    z = torch.randn(12, k, dtype=F64, generator=g)
    y = torch.randint(0, k, (12,), generator=g)
    y[0] = 0  # class 1.. may be empty: an empty class contributes 0
    got = float(HKRLoss(alpha, 0.7)(z, y))
    assert got == pytest.approx(hkr_oracle(z, y, alpha, 0.7), rel=1e-12, abs=1e-12)


def test_hkr_matches_deel_torchlip():
    functional = pytest.importorskip("deel.torchlip.functional")
    g = torch.Generator().manual_seed(0)
    z = torch.randn(32, 10, dtype=F64, generator=g)
    y = torch.randint(0, 10, (32,), generator=g)
    theirs = functional.hkr_multiclass_loss(z, torch.nn.functional.one_hot(y, 10).to(F64), 0.9, 1.0).mean()
    assert float(HKRLoss(0.9, 1.0)(z, y)) == pytest.approx(float(theirs), rel=1e-12)


def test_hkr_gradient_and_build_and_validation():
    z = torch.randn(6, 3, requires_grad=True)
    loss = build_loss("hkr", alpha=0.5, min_margin=1.0)(z, torch.tensor([0, 1, 2, 0, 1, 2]))
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="alpha"):
        HKRLoss(alpha=1.5)
    with pytest.raises(ValueError, match="min_margin"):
        HKRLoss(min_margin=0.0)
    assert "alpha=0.5" in repr(build_loss("hkr", alpha=0.5))
