"""Empirical Lipschitz lower bounds against closed forms: linear maps (‖W‖₂, row norms, ‖Wδ‖/‖δ‖),
per-example Jacobians against autograd, the model left untouched, every value a ``lower_bound``."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from stablecore.certify import empirical_lipschitz, input_jacobians, lipschitz_lower_bound, pgd_lower_bound
from stablecore.layers import SLLLinear
from stablecore.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_input_jacobians_against_autograd() -> None:
    torch.manual_seed(0)
    layer = SLLLinear(5).double()
    x = torch.randn(4, 5, dtype=torch.float64)
    batched = input_jacobians(layer, x)
    for i in range(4):
        single = torch.autograd.functional.jacobian(layer, x[i])
        assert torch.allclose(batched[i], single, rtol=0, atol=1e-12)
    linear = nn.Linear(5, 3).double()
    assert torch.allclose(input_jacobians(linear, x), linear.weight.detach().expand(4, 3, 5))
    conv = nn.Sequential(nn.Flatten(), nn.Linear(6, 2)).double()  # (N, 1, 2, 3) inputs: flattened columns
    xc = torch.randn(3, 1, 2, 3, dtype=torch.float64)
    assert input_jacobians(conv, xc).shape == (3, 2, 6)


def test_empirical_lipschitz_exact_on_linear_map() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 4, bias=True))
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    x, y = torch.randn(5, 1, 2, 3), torch.tensor([0, 1, 2, 3, 0])
    emp = empirical_lipschitz(model, x, y, batch_size=2)  # several batches
    assert {b.kind for b in emp.values()} == {"lower_bound"}
    W = model[1].weight.detach().double()
    norm = float(torch.linalg.matrix_norm(W, 2))
    assert emp["max_jacobian_norm"].value == pytest.approx(norm, rel=1e-8)
    assert emp["max_jacobian_norm"].value <= norm
    pred = model(x).argmax(1)
    assert emp["max_logit_gradient"].value == pytest.approx(float(W[pred].norm(dim=1).max()), rel=1e-8)
    runner = model(x).detach().scatter(1, y[:, None], -math.inf).argmax(1)
    margin = float((W[y] - W[runner]).norm(dim=1).max()) / math.sqrt(2)
    assert emp["max_margin_gradient"].value == pytest.approx(margin, rel=1e-8)
    assert emp["max_margin_gradient"].value <= emp["max_jacobian_norm"].value
    assert model.training and all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert "max_margin_gradient" not in empirical_lipschitz(model, x)
    with pytest.raises(ValueError, match="y"):
        empirical_lipschitz(model, x, y[:2])
    with pytest.raises(TypeError, match="model"):
        empirical_lipschitz(lambda t: t, x)  # type: ignore[arg-type]


@given(
    rows=st.integers(1, 5),
    cols=st.integers(1, 6),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_pgd_lower_bound_of_a_linear_map(rows, cols, n, seed):
    """For f(x) = Wx the ratio is ‖Wδ‖/‖δ‖ ≤ σ₁(W) exactly; an unmoved point contributes nothing."""
    gen = torch.Generator().manual_seed(seed)
    lin = nn.Linear(cols, rows, bias=True)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(rows, cols, generator=gen))
    x = torch.randn(n, cols, generator=gen)
    adv = x + torch.randn(n, cols, generator=gen)
    bound = pgd_lower_bound(lin, x, [adv, x.clone()])
    assert bound.kind == "lower_bound"
    w = lin.weight.detach().double()
    d = adv.double() - x.double()
    expected = float(((d @ w.T).norm(dim=1) / d.norm(dim=1)).max())
    assert bound.value == pytest.approx(expected, rel=1e-8)
    assert bound.value <= float(torch.linalg.matrix_norm(w, 2)) * (1 + 1e-12)
    assert pgd_lower_bound(lin, x, [x.clone()]).value == 0.0


def test_lipschitz_lower_bound_is_below_truth_and_tight_on_linear_map():
    g = torch.Generator().manual_seed(7)
    lin = nn.Linear(4, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(3, 4, generator=g))
    model = nn.Sequential(lin)
    true = torch.linalg.matrix_norm(lin.weight.detach().double(), ord=2).item()
    lb = lipschitz_lower_bound(model, torch.rand(8, 4, generator=g), steps=200, lr=0.05)
    assert lb.kind == "lower_bound"
    assert lb.value <= true
    assert lb.value >= 0.99 * true  # gradient ascent finds the top singular direction
    assert all(p.grad is None for p in model.parameters())


def test_lipschitz_lower_bound_below_upper_bound_for_mlp():
    from stablecore.spectral import lipschitz_bound

    model = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[16, 16], seed=1)
    lb = lipschitz_lower_bound(model, torch.rand(16, 2), steps=50)
    ub = lipschitz_bound(model, (2,))
    assert 0 < lb.value <= ub.value
    assert np.isfinite(lb.value) and not math.isnan(lb.value)
