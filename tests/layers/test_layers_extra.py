"""Spectral-normalised layers, the row-normalised head and the 1-Lipschitz activations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import stablecore.layers as L
from stablecore.spectral import lipschitz_bound

F64 = torch.float64


def operator_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    n = math.prod(shape)
    basis = torch.eye(n, dtype=F64).reshape(n, *shape)
    with torch.no_grad():
        cols = (layer(basis) - layer(torch.zeros(1, *shape, dtype=F64))).reshape(n, -1)
    return float(torch.linalg.matrix_norm(cols, 2))


@pytest.mark.parametrize("k", [1, 3, 5])
def test_spectral_norm_conv_zeros(k):
    torch.manual_seed(k)
    layer = L.SpectralNormConv2d(2, 3, k, dtype=F64)
    norm = operator_norm(layer, (2, 6, 6))
    assert 0.3 < norm <= 1 + 1e-12


def test_spectral_norm_conv_circular_and_linear():
    torch.manual_seed(0)
    conv = L.SpectralNormConv2d(2, 2, 3, padding_mode="circular", input_size=5, n_iter=8, dtype=F64)
    assert 1 - 1e-6 <= operator_norm(conv, (2, 5, 5)) <= 1 + 1e-12  # circular bound is tight
    dense = L.SpectralNormLinear(5, 4, n_iter=10, dtype=F64)
    assert 1 - 1e-6 <= operator_norm(dense, (5,)) <= 1 + 1e-12
    assert lipschitz_bound(conv, (2, 5, 5)).value <= 1 + 1e-12
    with pytest.raises(ValueError, match="input_size"):
        lipschitz_bound(conv, (2, 6, 6))
    with pytest.raises(ValueError, match="input_size"):
        L.SpectralNormConv2d(2, 2, 3, padding_mode="circular")


def test_normalized_linear_bound_is_not_one():
    layer = L.NormalizedLinear(3, 4, dtype=F64)
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(torch.ones(4, 3, dtype=F64))  # 4 equal unit rows
    torch.testing.assert_close(torch.linalg.vector_norm(layer.weight, dim=1), torch.ones(4, dtype=F64))
    bound = lipschitz_bound(layer, (3,))
    assert bound.kind == "upper_bound"
    assert 2.0 - 1e-9 <= bound.value <= 2.0 * (1 + 1e-9)  # ‖W'‖ = √4


ACTIVATIONS = [
    ("maxmin", lambda: L.MaxMin()),
    ("groupsort3", lambda: L.GroupSort(3)),
    ("householder", lambda: L.HouseHolder(6, dtype=F64)),
]


@pytest.mark.parametrize("name,make", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_is_one_lipschitz(name, make):
    act = make()
    if name == "householder":
        with torch.no_grad():
            act.theta.uniform_(-3, 3)
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(200, 6, 2, 2, dtype=F64, generator=g),
        torch.randn(200, 6, 2, 2, dtype=F64, generator=g),
    )
    with torch.no_grad():
        ratio = (act(x) - act(y)).flatten(1).norm(dim=1) / (x - y).flatten(1).norm(dim=1)
    assert float(ratio.max()) <= 1 + 1e-12
    # isometry almost everywhere: the Jacobian is orthogonal
    J = torch.autograd.functional.jacobian(lambda v: act(v[None])[0], x[0])
    sv = torch.linalg.svdvals(J.reshape(24, 24))
    torch.testing.assert_close(sv, torch.ones(24, dtype=F64))
    assert lipschitz_bound(act, (6, 2, 2)).value == 1.0


def test_activation_values():
    x = torch.tensor([[1.0, 5.0, 3.0, 2.0]])
    torch.testing.assert_close(L.MaxMin()(x), torch.tensor([[3.0, 5.0, 1.0, 2.0]]))
    torch.testing.assert_close(L.GroupSort(2)(x), torch.tensor([[5.0, 1.0, 3.0, 2.0]]))
    torch.testing.assert_close(L.HouseHolder(4)(x), L.MaxMin()(x))  # theta = pi/2 is MaxMin
    with pytest.raises(ValueError, match="divisible"):
        L.GroupSort(3)(x)


def test_householder_theta_gets_gradient_and_repr():
    act = L.HouseHolder(4)
    with torch.no_grad():
        act.theta.fill_(1.0)
    out = act(torch.randn(16, 4))
    (out * torch.randn_like(out)).sum().backward()  # not a norm: norms are invariant to theta
    assert float(act.theta.grad.abs().min()) > 0
    assert "channels=4" in repr(act) and "group_size=3" in repr(L.GroupSort(3))


def test_sequential_bound_with_activation_dominates_jacobian():
    torch.manual_seed(0)
    model = nn.Sequential(
        L.AOLConv2d(1, 2, 3, dtype=F64),
        L.MaxMin(),
        nn.Flatten(),
        L.SLLLinear(18, 8, dtype=F64),
        L.SpectralNormLinear(18, 4, dtype=F64),
        L.GroupSort(2),
        L.NormalizedLinear(4, 3, dtype=F64),
    )
    bound = lipschitz_bound(model, (1, 3, 3))
    assert bound.kind == "upper_bound"
    emp = 0.0
    for seed in range(4):
        x = torch.randn(1, 3, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
        J = torch.autograd.functional.jacobian(lambda v: model(v[None])[0], x, vectorize=True)
        emp = max(emp, float(torch.linalg.matrix_norm(J.reshape(3, 9), 2)))
    assert 0 < emp <= bound.value


def test_normalized_layers_train_and_get_gradients():
    torch.manual_seed(0)
    model = nn.Sequential(L.SpectralNormConv2d(1, 2, 3), nn.Flatten(), L.NormalizedLinear(32, 3))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))
    for _ in range(4):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and float(p.grad.abs().max()) > 0, name
        opt.step()
        assert torch.isfinite(loss)
