"""Every Lipschitz layer against float64 oracles of its true constant, at initialisation, after
adversarially scaled weights and after 50 optimizer steps that try to *increase* its Jacobian norm.

Oracles (independent of the layers' certificates):

* linear layers: the exact operator norm of the computed weight (identity basis pushed through, SVD);
* dense residual layers ``x - 2Wᵀdiag(s)ReLU(Wx + b)``: the maximum of ``‖I - 2Wᵀdiag(s)ΛW‖`` over all
  ``2^inner`` activation patterns ``Λ ∈ {0, 1}^inner`` (the norm is convex in ``Λ``, so this bounds the
  Clarke Jacobians from above: the claim must dominate it);
* conv residual layers: the same over ``Λ = I`` and 200 random patterns, plus autograd Jacobians.

The frozen ``W, b, s`` come from :func:`stablecore.layers.export`, whose output is checked to equal the
layer's to 1e-5 first.
"""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch
from torch import nn

import stablecore.layers as L
from stablecore.spectral import lipschitz_bound

F64 = torch.float64
TOL = 1e-5

LINEAR = [
    ("aol_dense", lambda: L.AOLLinear(5, 4), (5,)),
    ("aol_conv", lambda: L.AOLConv2d(2, 3, 3, padding=1), (2, 5, 5)),
    ("aol_conv_strided", lambda: L.AOLConv2d(2, 3, (3, 5), stride=2, padding=(1, 2)), (2, 6, 6)),
    ("sr_dense", lambda: L.SRLinear(5, 4, depth=3), (5,)),
    ("sr_conv", lambda: L.SRConv2d(2, 3, 3, padding=1, depth=2), (2, 5, 5)),
    ("sn_dense", lambda: L.SpectralNormLinear(5, 4), (5,)),
    ("sn_conv", lambda: L.SpectralNormConv2d(2, 3, 3, padding=1, input_size=5), (2, 5, 5)),
    (
        "sn_conv_circ",
        lambda: L.SpectralNormConv2d(2, 3, 3, padding=1, padding_mode="circular", input_size=5),
        (2, 5, 5),
    ),
    ("orthogonal", lambda: L.OrthogonalLinear(5, 4), (5,)),
    ("orthogonal_tall", lambda: L.OrthogonalLinear(3, 6, orthogonal_map="matrix_exp"), (3,)),
]
RESIDUAL = [
    ("sll_dense", lambda: L.SLLLinear(5, 6), (5,)),
    ("sllgram2_dense", lambda: L.SLLGramLinear(5, 6, depth=2), (5,)),
    ("sllgram4_dense", lambda: L.SLLGramLinear(5, 7, depth=4), (5,)),
    ("cpl_dense", lambda: L.CPLLinear(5, 6), (5,)),
    ("sll_conv", lambda: L.SLLConv2d(2, 3, 3), (2, 4, 4)),
    ("sllgram_conv", lambda: L.SLLGramConv2d(2, 3, 3, depth=3), (2, 4, 4)),
    ("sllgram_conv_circ", lambda: L.SLLGramConv2d(2, 3, (3, 1), padding_mode="circular", depth=2), (2, 4, 4)),
    ("cpl_conv", lambda: L.CPLConv2d(2, 3, 5), (2, 4, 4)),
    ("cpl_conv_circ", lambda: L.CPLConv2d(2, 3, 3, padding_mode="circular", input_size=4), (2, 4, 4)),
]
ALL = LINEAR + RESIDUAL


def _dense_matrix(fn, shape: tuple[int, ...]) -> torch.Tensor:
    n = math.prod(shape)
    basis = torch.eye(n, dtype=F64).reshape(n, *shape)
    with torch.no_grad():
        return fn(basis).reshape(n, -1).T  # (out, in)


def linear_oracle(layer: nn.Module, shape: tuple[int, ...]) -> float:
    plain = L.export(layer).double()
    plain.bias = None
    return float(torch.linalg.matrix_norm(_dense_matrix(plain, shape), 2))


def residual_oracle(layer: nn.Module, shape: tuple[int, ...]) -> float:
    frozen = L.export(layer).double()
    if isinstance(frozen, L.ResidualReLULinear):
        w = frozen.weight.detach()
    else:  # the conv ``x -> Kx`` as a dense matrix (inner·H·W, C·H·W)
        from stablecore.layers._common import conv_same

        w = _dense_matrix(
            lambda x: conv_same(x, frozen.weight, None, frozen.padding, frozen.padding_mode), shape
        )
    s = frozen.scale.detach()
    if isinstance(frozen, L.ResidualReLUConv2d):
        s = s.repeat_interleave(math.prod(shape[1:]))
    eye = torch.eye(w.shape[1], dtype=F64)
    if w.shape[0] <= 10:
        patterns = [torch.tensor(p, dtype=F64) for p in itertools.product((0.0, 1.0), repeat=w.shape[0])]
    else:
        g = torch.Generator().manual_seed(0)
        patterns = [torch.ones(w.shape[0], dtype=F64)]
        patterns += [torch.randint(0, 2, (w.shape[0],), generator=g).to(F64) for _ in range(200)]
    best = max(float(torch.linalg.matrix_norm(eye - 2 * w.T @ ((s * p)[:, None] * w), 2)) for p in patterns)
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        x = 2 * torch.randn(shape, dtype=F64, generator=g)
        jac = torch.autograd.functional.jacobian(lambda v: frozen(v[None])[0], x)
        best = max(best, float(torch.linalg.matrix_norm(jac.reshape(x.numel(), -1), 2)))
    return best


def oracle(layer: nn.Module, shape: tuple[int, ...]) -> float:
    x = torch.randn(3, *shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(L.export(layer)(x), layer(x), atol=TOL, rtol=TOL)
    if isinstance(layer, (L.SLLLinear, L.SLLConv2d, L.CPLLinear, L.CPLConv2d)):
        return residual_oracle(layer, shape)
    return linear_oracle(layer, shape)


def check(layer: nn.Module, shape: tuple[int, ...]) -> tuple[float, float]:
    claim = lipschitz_bound(layer, shape)
    assert claim.kind == "upper_bound", claim
    true = oracle(layer, shape)
    assert true <= claim.value + TOL, (true, claim.value)
    return true, claim.value


def spread(layer: nn.Module, seed: int) -> None:
    """Heavy-tailed weights over orders of magnitude, positive biases (many active ReLUs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in layer.named_parameters():
            noise = torch.randn(p.shape, dtype=p.dtype, generator=g)
            if name == "bias":
                p.copy_(noise.abs() + 1)
            elif "log_q" in name:
                p.copy_(3 * noise)
            else:
                scale = torch.exp(2 * torch.randn(p.shape[:1], dtype=p.dtype, generator=g))
                p.copy_(noise**3 * scale.reshape(-1, *([1] * (p.ndim - 1))))


def ascend(layer: nn.Module, shape: tuple[int, ...], steps: int = 50) -> None:
    """Adam steps maximising finite-difference slopes ‖f(x + d) - f(x)‖ / ‖d‖ on a fixed batch."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(32, *shape, generator=g)
    d = 1e-2 * torch.randn(32, *shape, generator=g)
    dims = tuple(range(1, x.ndim))
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(steps):
        slope = (layer(x + d) - layer(x)).flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)
        loss = -slope.mean() - slope.max()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss), "training went non-finite"
    assert dims  # the batch has a feature dimension
    assert all(torch.isfinite(p).all() for p in layer.parameters())


@pytest.mark.parametrize("name,make,shape", ALL, ids=[a[0] for a in ALL])
def test_claim_dominates_true_constant(name, make, shape):
    torch.manual_seed(0)
    layer = make()
    check(layer, shape)  # initialisation
    spread(layer, seed=1)
    check(layer, shape)  # adversarially scaled weights
    ascend(layer, shape)
    true, _ = check(layer, shape)  # after 50 steps pushing the slope up
    assert true > 0.5, "the ascent should reach a layer with a sizeable slope"


@pytest.mark.parametrize("name,make,shape", ALL, ids=[a[0] for a in ALL])
def test_every_parameter_gets_a_gradient_and_float64(name, make, shape):
    torch.manual_seed(0)
    layer = make()
    out = layer(torch.randn(4, *shape))
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in layer.named_parameters():
        assert p.grad is not None and float(p.grad.abs().max()) > 0, pname
    layer64 = copy.deepcopy(layer).double()
    x = torch.randn(2, *shape, dtype=F64)
    assert layer64(x).dtype == F64
    assert torch.allclose(layer64(x).float(), layer(x.float()), atol=1e-4)


def test_sll_gram_depth_one_is_sll_and_depth_relaxes():
    torch.manual_seed(0)
    w, log_q = torch.randn(6, 4, dtype=F64), 0.3 * torch.randn(6, dtype=F64)
    assert torch.allclose(L.sll_gram_inverse_diagonal(w, log_q, 1), L.sll_inverse_diagonal(w, log_q))
    sigma2 = float(torch.linalg.matrix_norm(w, 2)) ** 2
    t = [L.sll_gram_inverse_diagonal(w, log_q, k) for k in range(1, 8)]
    gram = w @ w.T
    for ti in t:  # T = t^{-1} dominates WWᵀ at every depth
        assert float(torch.linalg.eigvalsh(torch.diag(1 / ti) - gram).min()) >= -1e-9 * sigma2
    # and tends to ‖W‖² I as the depth grows (SLL's T, depth 1, is far from it)
    assert ((1 / t[-1]) / sigma2 - 1).abs().max() <= 0.05 < ((1 / t[0]) / sigma2 - 1).abs().max()
    kernel = torch.randn(3, 2, 3, 3, dtype=F64)
    q = torch.zeros(3, dtype=F64)
    assert torch.allclose(L.sll_gram_inverse_diagonal(kernel, q, 1), L.sll_inverse_diagonal(kernel, q))


def test_sll_gram_zero_row_and_validation():
    w = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    t = L.sll_gram_inverse_diagonal(w, torch.zeros(2), 3)
    assert t[0] == 0 and torch.isfinite(t).all()
    with pytest.raises(ValueError, match="depth"):
        L.SLLGramLinear(3, depth=0)
    with pytest.raises(ValueError, match="depth"):
        L.SLLGramConv2d(3, depth=1.5)


def test_orthogonal_validation_and_bound_tightness():
    with pytest.raises(ValueError, match="orthogonal_map"):
        L.OrthogonalLinear(3, 3, orthogonal_map="bjorck2")
    layer = L.OrthogonalLinear(16, 16)
    w = layer.weight.detach().double()
    assert torch.allclose(w @ w.T, torch.eye(16, dtype=F64), atol=1e-5)
    bound = lipschitz_bound(layer, (16,))
    assert 1 <= bound.value <= 1 + 1e-5
    from stablecore.layers.orthogonal import isometry_defect_bound

    scaled = 1.5 * torch.eye(3, dtype=F64)  # defect bound sqrt(1 + ‖G - I‖_F) ≥ 1.5: loose but valid
    assert isometry_defect_bound(scaled) >= 1.5


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_export_matches_and_needs_no_iteration(dtype):
    torch.manual_seed(0)
    net = nn.Sequential(
        L.AOLConv2d(2, 4, 3, padding=1, dtype=dtype),
        L.MaxMin(),
        L.SLLConv2d(4, 5, dtype=dtype),
        L.SLLGramConv2d(4, depth=2, dtype=dtype),
        L.CPLConv2d(4, dtype=dtype),
        L.SRConv2d(4, 4, 3, padding=1, dtype=dtype),
        L.SpectralNormConv2d(4, 4, 3, padding=1, input_size=6, dtype=dtype),
        nn.Flatten(),
        L.SLLLinear(144, 12, dtype=dtype),
        L.CPLLinear(144, dtype=dtype),
        L.OrthogonalLinear(144, 20, dtype=dtype),
        L.SRLinear(20, 16, dtype=dtype),
        L.GroupSort(4),
        L.AOLLinear(16, 16, dtype=dtype),
        L.HouseHolder(16, dtype=dtype)
        if "dtype" in L.HouseHolder.__init__.__code__.co_varnames
        else L.MaxMin(),
        L.SpectralNormLinear(16, 16, dtype=dtype),
        L.NormalizedLinear(16, 10, dtype=dtype),
    )
    x = torch.rand(5, 2, 6, 6, dtype=dtype)
    exported = L.export(net)
    with torch.no_grad():
        assert torch.allclose(exported(x), net(x), atol=TOL, rtol=TOL)
    allowed = (
        nn.Linear,
        nn.Conv2d,
        L.ResidualReLULinear,
        L.ResidualReLUConv2d,
        L.MaxMin,
        L.GroupSort,
        L.HouseHolder,
    )
    for module in exported.modules():
        assert not hasattr(module, "parametrizations"), module
        if module is not exported and not isinstance(module, nn.Flatten):
            assert isinstance(module, allowed), type(module)
            assert type(module) in allowed, f"{type(module).__name__} should be a plain module"
    original = lipschitz_bound(net, (2, 6, 6))
    folded = lipschitz_bound(exported, (2, 6, 6))
    assert folded.kind == "upper_bound" and folded.value <= original.value * (1 + 1e-4)
    # the original is untouched and still trains
    assert any(hasattr(m, "parametrizations") for m in net.modules())


def test_export_root_layer_keeps_mode_and_refuses_non_modules():
    layer = L.SLLLinear(4).eval()
    exported = L.export(layer)
    assert isinstance(exported, L.ResidualReLULinear) and not exported.training
    assert isinstance(L.export(L.AOLLinear(3, 2)), nn.Linear)
    with pytest.raises(TypeError, match="model"):
        L.export("net")
    with pytest.raises(ValueError, match="scale"):
        L.ResidualReLULinear(torch.randn(3, 2), None, torch.ones(2))


def test_exported_bound_stays_honest_after_fine_tuning():
    torch.manual_seed(0)
    exported = L.export(L.SLLLinear(4, 5))
    with torch.no_grad():
        exported.weight.mul_(3.0)  # no longer 1-Lipschitz: the a-posteriori certificate must see it
    true = residual_oracle_frozen(exported)
    claim = lipschitz_bound(exported, (4,))
    assert claim.value > 1.5 and true <= claim.value + TOL


def residual_oracle_frozen(frozen: L.ResidualReLULinear) -> float:
    w, s = frozen.weight.detach().double(), frozen.scale.double()
    eye = torch.eye(w.shape[1], dtype=F64)
    pats = itertools.product((0.0, 1.0), repeat=w.shape[0])
    return max(
        float(torch.linalg.matrix_norm(eye - 2 * w.T @ ((s * torch.tensor(p, dtype=F64))[:, None] * w), 2))
        for p in pats
    )
