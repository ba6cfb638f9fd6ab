"""The UNSOUND reference CPL layer (one-step power iteration): its power iteration against the closed form
‖WᵀWu‖/‖Wu‖ and float64 SVD, its Jacobian norm against cpl_step_lipschitz (> 1: not 1-Lipschitz), and its
refusal by every bound and certificate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stablecore.certify import certify_model
from stablecore.layers import ReferenceCPLLinear, cpl_step_lipschitz, reference_power_iteration
from stablecore.spectral import lipschitz_bound


def test_reference_power_iteration_closed_form() -> None:
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    u = torch.randn(5, generator=gen, dtype=torch.float64)
    u = u / u.norm()
    before = u.clone()
    sigma, u1 = reference_power_iteration(W, u, 1)
    # one step: v = Wu/‖Wu‖, u' = Wᵀv/‖Wᵀv‖, σ̂ = vᵀWu' = ‖WᵀWu‖/‖Wu‖
    assert float(sigma) == pytest.approx(float((W.T @ W @ u).norm() / (W @ u).norm()), rel=1e-10)
    assert torch.equal(u, before)  # the caller's vector is not modified
    assert u1.norm() == pytest.approx(1.0)
    exact = float(torch.linalg.matrix_norm(W, 2))
    assert float(sigma) < exact
    sigma, _ = reference_power_iteration(W, u, 2000)
    assert float(sigma) == pytest.approx(exact, rel=1e-8)
    with pytest.raises(ValueError, match="u"):
        reference_power_iteration(W, torch.ones(7), 1)
    with pytest.raises(ValueError, match="n_iter"):
        reference_power_iteration(W, u, 0)


def test_cpl_step_lipschitz_matches_jacobian() -> None:
    """At an all-active point the reference layer's Jacobian is I − hWᵀW: its norm is the formula."""
    for seed in range(5):
        layer = ReferenceCPLLinear(6, seed=seed).double()
        W, b = layer.weight.detach(), layer.bias.detach()
        x = torch.linalg.solve(W, 1 - b)  # Wx + b = 1 > 0: every unit active
        layer.train()
        jac = torch.autograd.functional.jacobian(layer, x)
        sigma_hat = layer.last_sigma
        sigma1 = float(torch.linalg.matrix_norm(W, 2))
        expected = cpl_step_lipschitz(sigma1, sigma_hat, layer.eps)
        assert float(torch.linalg.matrix_norm(jac, 2)) == pytest.approx(expected, rel=1e-9)
        assert sigma_hat < sigma1 and expected > 1  # one step from a random vector: not 1-Lipschitz
        # a Gram upper bound in place of σ̂ gives a 1-Lipschitz step
        h = 2 / (sigma1**2 * (1 + 1e-9) + layer.eps)
        ours = torch.eye(6, dtype=torch.float64) - h * W.T @ W
        assert float(torch.linalg.matrix_norm(ours, 2)) <= 1 + 1e-12
    assert cpl_step_lipschitz(2.0, 2.0, 0.0) == 1.0
    assert cpl_step_lipschitz(2.0, 1.0, 0.0) == pytest.approx(7.0)
    with pytest.raises(ValueError, match="rho"):
        cpl_step_lipschitz(1.0, -1.0)


def test_reference_layer_modes() -> None:
    layer = ReferenceCPLLinear(5, seed=0)
    x = torch.randn(3, 5)
    layer.train()
    layer(x)
    one_step = layer.last_sigma
    layer.eval()
    layer(x)
    converged = layer.last_sigma
    assert converged == pytest.approx(
        float(torch.linalg.matrix_norm(layer.weight.detach().double(), 2)), 1e-5
    )
    assert one_step <= converged * (1 + 1e-6)
    with pytest.raises(ValueError, match="features"):
        ReferenceCPLLinear(0)
    with pytest.raises(ValueError, match=r"cannot certify.*ReferenceCPLLinear"):
        certify_model(nn.Sequential(layer, nn.Linear(5, 2)), (x, torch.tensor([0, 1, 0])), 0.1)


def test_reference_layer_is_refused_by_lipschitz_bound() -> None:
    with pytest.raises(ValueError, match="ReferenceCPLLinear"):
        lipschitz_bound(nn.Sequential(ReferenceCPLLinear(4)), (4,))
    with pytest.raises(ValueError, match="eps"):
        ReferenceCPLLinear(4, eps=-1.0)
    with pytest.raises(TypeError, match="seed"):
        ReferenceCPLLinear(4, seed=1.5)  # type: ignore[arg-type]
