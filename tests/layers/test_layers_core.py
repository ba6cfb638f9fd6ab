"""AOL / SLL / CPL: 1-Lipschitz by construction against float64 oracles (exact SVD of the operator,
Jacobians), gradients reach every parameter, registered bounds, short training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import stablecore.layers as L
from stablecore.layers._common import conv_same, conv_same_adjoint
from stablecore.spectral import lipschitz_bound

F64 = torch.float64


def operator_norm(layer: nn.Module, shape: tuple[int, ...]) -> float:
    """Exact norm of the linear part: push the identity basis through (no bias), SVD in float64."""
    n = math.prod(shape)
    basis = torch.eye(n, dtype=F64).reshape(n, *shape)
    bias = layer.bias
    layer.bias = None
    try:
        with torch.no_grad():
            cols = layer(basis).reshape(n, -1)
    finally:
        layer.bias = bias
    return float(torch.linalg.matrix_norm(cols, 2))


def max_jacobian_norm(layer: nn.Module, shape: tuple[int, ...], n: int = 6, scale: float = 1.0) -> float:
    g = torch.Generator().manual_seed(1)
    best = 0.0
    for _ in range(n):
        x = scale * torch.randn(shape, dtype=F64, generator=g)
        J = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0], x, vectorize=True)
        best = max(best, float(torch.linalg.matrix_norm(J.reshape(x.numel(), -1), 2)))
    return best


def spread(layer: nn.Module, seed: int, scale: float = 2.0) -> nn.Module:
    """Heavy-tailed random parameters (all positive biases: many active ReLUs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            p.copy_(scale * torch.randn(p.shape, dtype=p.dtype, generator=g) ** 3)
            if name == "bias":
                p.abs_()
    return layer


# ----------------------------------------------------------------------------------- AOL
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", [(3, 5), (6, 2), (4, 4)])
def test_aol_linear_norm_at_most_one(seed, shape):
    layer = spread(L.AOLLinear(shape[1], shape[0], dtype=F64), seed)
    norm = operator_norm(layer, (shape[1],))
    assert norm <= 1 + 1e-12
    assert norm >= 1 / math.sqrt(shape[1]) - 1e-12  # AOL is not trivial: >= 1/sqrt(in) (Prach & Lampert)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("padding_mode", ["zeros", "circular"])
def test_aol_conv_norm_at_most_one(k, padding_mode):
    for seed in range(2):
        layer = spread(L.AOLConv2d(2, 3, k, padding_mode=padding_mode, dtype=F64), seed)
        assert operator_norm(layer, (2, 6, 6)) <= 1 + 1e-12


def test_aol_conv_strided_and_rectangular_kernel():
    layer = spread(L.AOLConv2d(2, 3, (3, 5), stride=2, padding=(1, 2), dtype=F64), 0)
    assert operator_norm(layer, (2, 7, 7)) <= 1 + 1e-12


def test_aol_matches_hand_formula():
    W = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=F64)
    # |WᵀW| = |[[10, -0.5], [-0.5, 4.25]]| -> column sums 10.5, 4.75
    expected = W * torch.tensor([10.5**-0.5, 4.75**-0.5], dtype=F64)
    layer = L.AOLLinear(2, 2, bias=False, dtype=F64)
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(W)
    torch.testing.assert_close(layer.weight, expected, rtol=0, atol=1e-15)


def test_aol_conv_matches_independent_gram():
    """Row sums of |TᵀT| of the explicit operator on a big zero-padded grid equal the kernel formula
    (the interior rows of the explicit Gram see every tap)."""
    torch.manual_seed(0)
    K = torch.randn(2, 2, 3, 3, dtype=F64)
    n = 9
    eye = torch.eye(2 * n * n, dtype=F64).reshape(-1, 2, n, n)
    T = torch.nn.functional.conv2d(eye, K, padding=1).reshape(2 * n * n, -1).T  # (out, in)
    G = (T.T @ T).abs().sum(dim=1).reshape(2, n, n)
    expected = G[:, n // 2, n // 2] ** -0.5  # centre pixel: no border effect
    torch.testing.assert_close(L.aol_scale(K), expected, rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------------- SLL / CPL
RESIDUAL = [
    ("sll_dense", lambda: L.SLLLinear(4, 6, dtype=F64), (4,)),
    ("cpl_dense", lambda: L.CPLLinear(4, 6, dtype=F64), (4,)),
    ("sll_conv3", lambda: L.SLLConv2d(2, 3, 3, dtype=F64), (2, 5, 5)),
    ("sll_conv5_circ", lambda: L.SLLConv2d(2, 2, 5, padding_mode="circular", dtype=F64), (2, 5, 5)),
    ("sll_conv1", lambda: L.SLLConv2d(2, 3, 1, dtype=F64), (2, 4, 4)),
    ("cpl_conv3", lambda: L.CPLConv2d(2, 3, 3, dtype=F64), (2, 5, 5)),
    (
        "cpl_conv5_circ",
        lambda: L.CPLConv2d(2, 2, 5, padding_mode="circular", input_size=5, dtype=F64),
        (2, 5, 5),
    ),
]


@pytest.mark.parametrize("name,make,shape", RESIDUAL, ids=[r[0] for r in RESIDUAL])
def test_residual_jacobian_at_most_one(name, make, shape):
    for seed in range(2):
        layer = spread(make(), seed)
        assert max_jacobian_norm(layer, shape, n=4) <= 1 + 1e-9
        bound = lipschitz_bound(layer, shape)
        assert bound.kind == "upper_bound" and 1.0 <= bound.value <= 1 + 1e-6


def test_sll_jacobian_oracle_can_fail():
    """Halving T (doubling the step) breaks 1-Lipschitzness: the oracle detects it."""
    layer = spread(L.SLLLinear(4, 6, dtype=F64), 0)

    def bad(x):
        t = L.sll_inverse_diagonal(layer.weight, layer.log_q)
        z = torch.relu(x @ layer.weight.T + layer.bias)
        return x - 4 * (z * t) @ layer.weight

    assert max_jacobian_norm(bad, (4,), n=6) > 1.01


def test_sll_q_matters_and_is_not_cancelled():
    layer = spread(L.SLLConv2d(2, 3, 3, dtype=F64), 0)
    t0 = L.sll_inverse_diagonal(layer.weight, layer.log_q)
    t1 = L.sll_inverse_diagonal(layer.weight, layer.log_q + torch.tensor([0.0, 1.0, -1.0], dtype=F64))
    assert not torch.allclose(t0, t1)


@pytest.mark.parametrize("mode", ["zeros", "circular"])
def test_conv_adjoint(mode):
    torch.manual_seed(0)
    K = torch.randn(3, 2, 3, 5, dtype=F64)
    x, y = torch.randn(1, 2, 6, 7, dtype=F64), torch.randn(1, 3, 6, 7, dtype=F64)
    lhs = (conv_same(x, K, None, (1, 2), mode) * y).sum()
    rhs = (x * conv_same_adjoint(y, K, (1, 2), mode)).sum()
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)


def test_cpl_circular_refuses_other_size():
    layer = L.CPLConv2d(2, padding_mode="circular", input_size=5)
    with pytest.raises(ValueError, match="input_size"):
        layer(torch.randn(1, 2, 6, 6))
    with pytest.raises(ValueError, match="input_size"):
        L.CPLConv2d(2, padding_mode="circular")


@pytest.mark.parametrize("bad", [{"kernel_size": 4}, {"padding": 0}, {"padding_mode": "reflect"}])
def test_residual_conv_validation(bad):
    with pytest.raises(ValueError):
        L.SLLConv2d(2, **bad)


# ----------------------------------------------------------------------------------- all layers
ALL = [
    ("aol_dense", lambda: L.AOLLinear(4, 3), (4,)),
    ("aol_conv", lambda: L.AOLConv2d(2, 3, 3), (2, 5, 5)),
    ("sll_dense", lambda: L.SLLLinear(4, 5), (4,)),
    ("sll_conv", lambda: L.SLLConv2d(2, 3, 3), (2, 5, 5)),
    ("cpl_dense", lambda: L.CPLLinear(4, 5), (4,)),
    ("cpl_conv", lambda: L.CPLConv2d(2, 3, 3), (2, 5, 5)),
]


@pytest.mark.parametrize("name,make,shape", ALL, ids=[a[0] for a in ALL])
def test_every_parameter_gets_a_gradient(name, make, shape):
    torch.manual_seed(0)
    layer = make()
    out = layer(torch.randn(8, *shape))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in layer.named_parameters():
        assert p.grad is not None and float(p.grad.abs().max()) > 0, pname


@pytest.mark.parametrize("name,make,shape", ALL, ids=[a[0] for a in ALL])
def test_float32_bound_repr_and_training(name, make, shape):
    torch.manual_seed(0)
    layer = make()
    assert type(layer).__name__.removeprefix("Parametrized") in repr(layer)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    x, y = torch.randn(16, *shape), torch.randn(16, *shape)
    for _ in range(5):
        out = layer(x)
        loss = ((out - y[..., : out.shape[-1]] if out.shape == y.shape else out) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in layer.parameters())
    bound = lipschitz_bound(layer, shape)
    assert bound.kind == "upper_bound" and bound.value <= 1 + 1e-5


def test_network_bound_dominates_jacobian():
    torch.manual_seed(0)
    model = nn.Sequential(
        L.AOLConv2d(1, 2, 3, dtype=F64),
        L.SLLConv2d(2, 3, 3, dtype=F64),
        nn.Flatten(),
        L.SLLLinear(32, 8, dtype=F64),
        L.CPLLinear(32, 8, dtype=F64),
        L.AOLLinear(32, 3, dtype=F64),
    )
    bound = lipschitz_bound(model, (1, 4, 4))
    assert bound.kind == "upper_bound"
    emp = max_jacobian_norm(model, (1, 4, 4), n=4)
    assert 0 < emp <= bound.value <= 1 + 1e-9


def test_factory_kwargs_and_float64():
    layer = L.SLLConv2d(2, 3, 3, dtype=F64, device="cpu")
    assert layer.weight.dtype == F64 and layer(torch.randn(1, 2, 4, 4, dtype=F64)).dtype == F64
    assert L.AOLLinear(3, 2, dtype=F64).weight.dtype == F64
