"""Leaf bounds of lipschitz_bound against independent oracles (float64 Jacobians, closed forms)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stablecore.blocks import Normalize
from stablecore.spectral.network import lipschitz_bound, register


def _linear_operator_norm(module, shape):
    """Exact norm of a linear module: push the identity basis through it in float64."""
    n = math.prod(shape)
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    with torch.no_grad():
        columns = module(basis).reshape(n, -1)
    return float(torch.linalg.matrix_norm(columns.T, 2))


pool_cases = st.tuples(
    st.integers(1, 4),  # kernel
    st.integers(1, 4),  # stride
    st.integers(0, 2),  # padding (<= kernel // 2 is enforced below)
    st.booleans(),  # ceil_mode
    st.booleans(),  # count_include_pad
    st.integers(4, 9),  # H
    st.integers(4, 9),  # W
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(pool_cases)
def test_avgpool_bound_above_exact_operator_norm(case):
    k, s, p, ceil_mode, include_pad, h, w = case
    p = min(p, k // 2)
    pool = nn.AvgPool2d(k, s, p, ceil_mode=ceil_mode, count_include_pad=include_pad)
    shape = (1, h, w)
    bound = lipschitz_bound(pool, shape)
    exact = _linear_operator_norm(pool, shape)
    assert bound.value >= exact * (1 - 1e-12)
    out = pool(torch.zeros(1, *shape))
    assert bound.details["output_shape"].iloc[0] == str(tuple(out.shape[1:]))
    if bound.kind == "exact":
        assert bound.value == pytest.approx(exact, rel=1e-9)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(5, 11), st.integers(5, 11))
def test_adaptive_avgpool_bound(oh, ow, h, w):
    pool = nn.AdaptiveAvgPool2d((oh, ow))
    bound = lipschitz_bound(pool, (2, h, w))
    exact = _linear_operator_norm(pool, (2, h, w))
    assert bound.value >= exact * (1 - 1e-12)
    if bound.kind == "exact":
        assert bound.value == pytest.approx(exact, rel=1e-9)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2), st.booleans(), st.integers(5, 10))
def test_maxpool_bound_is_attained_by_a_spike(k, s, p, ceil_mode, n):
    p = min(p, k // 2)
    pool = nn.MaxPool2d(k, s, p, ceil_mode=ceil_mode).double()
    bound = lipschitz_bound(pool, (1, n, n))
    assert bound.kind == "exact"
    # the largest Jacobian norm over spikes at every position is the Lipschitz constant
    best = 0.0
    for i in range(n):
        for j in range(n):
            x = torch.rand(1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(i * n + j))
            x[0, i, j] = 10.0
            jac = torch.autograd.functional.jacobian(lambda t: pool(t.unsqueeze(0)).flatten(), x)
            best = max(best, float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), 2)))
    assert bound.value == pytest.approx(best, rel=1e-12)
    if s < k and n >= 2 * k + 2 * s and not ceil_mode:
        assert bound.value == pytest.approx(math.ceil(k / s), rel=1e-12)  # √(⌈k/s⌉²) in 2-D


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        (nn.ReLU(), 1.0),
        (nn.LeakyReLU(0.2), 1.0),
        (nn.LeakyReLU(-3.0), 3.0),
        (nn.Tanh(), 1.0),
        (nn.Sigmoid(), 0.25),
        (nn.ELU(2.0), 2.0),
        (nn.Softplus(beta=3.0), 1.0),
        (nn.GELU(), None),
        (nn.GELU(approximate="tanh"), None),
        (nn.SiLU(), None),
    ],
)
def test_activation_constants_against_derivative_grid(module, expected):
    x = torch.linspace(-12, 12, 480_001, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(module(x).sum(), x)
    sup = float(grad.abs().max())
    bound = lipschitz_bound(module, (4,))
    assert bound.value >= sup
    assert bound.value == pytest.approx(sup if expected is None else expected, rel=1e-6)
    if expected is not None:
        assert bound.value == expected


def test_batchnorm_eval_exact_and_train_refused():
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(torch.tensor([0.5, -2.0, 1.0]))
        bn.running_var.copy_(torch.tensor([1.0, 4.0, 0.25]))
    with pytest.raises(ValueError, match="train mode"):
        lipschitz_bound(bn, (3, 4, 4))
    bn.eval()
    bound = lipschitz_bound(bn.double(), (3, 4, 4))
    assert bound.kind == "exact"
    assert bound.value == pytest.approx(
        _linear_operator_norm(lambda t: bn(t) - bn(torch.zeros_like(t)), (3, 4, 4)), rel=1e-12
    )


def test_normalize_flatten_dropout_identity():
    net = nn.Sequential(Normalize([0.5, 0.5], [0.25, 2.0]), nn.Dropout(0.3), nn.Flatten(), nn.Identity())
    bound = lipschitz_bound(net, (2, 3, 3))
    assert bound.value == pytest.approx(4.0) and bound.kind == "upper_bound"
    assert bound.details["output_shape"].tolist()[-1] == "(18,)"


def test_unknown_module_refused_with_path_and_type():
    class Mystery(nn.Module):
        def forward(self, x):
            return x**2

    net = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Tanh(), Mystery()))
    with pytest.raises(ValueError, match=r"'1\.1'.*Mystery"):
        lipschitz_bound(net, (3,))


def test_subclass_of_a_known_module_is_not_guessed():
    class MyReLU(nn.ReLU):
        def forward(self, x):
            return 5 * super().forward(x)

    with pytest.raises(ValueError, match="MyReLU"):
        lipschitz_bound(nn.Sequential(MyReLU()), (3,))


def test_user_registration():
    class Scale(nn.Module):
        def forward(self, x):
            return 3 * x

    register(Scale)(lambda module, shape, **o: (__import__("stablecore").Bound(3.0, "exact", "scale"), shape))
    bound = lipschitz_bound(nn.Sequential(Scale(), nn.ReLU(), Scale()), (2,))
    assert bound.value >= 9.0 and bound.kind == "upper_bound"
    with pytest.raises(TypeError):
        register(int)


@pytest.mark.parametrize("bad", [(), (0, 3), (2.5,), "abc"])
def test_bad_input_shape(bad):
    with pytest.raises((ValueError, TypeError), match="input_shape"):
        lipschitz_bound(nn.ReLU(), bad)


@pytest.mark.parametrize(
    ("pool", "shape"),
    [
        (torch.nn.AvgPool2d(4, divisor_override=4), (2, 8, 8)),
        (torch.nn.AvgPool2d(2, divisor_override=3), (1, 5, 5)),
        (torch.nn.AvgPool2d(3, stride=2, padding=1, divisor_override=2), (1, 7, 6)),
    ],
)
def test_avgpool_divisor_override_against_dense_oracle(pool, shape):
    from stablecore.spectral import lipschitz_bound

    n = math.prod(shape)
    cols = pool(torch.eye(n, dtype=torch.float64).reshape(n, *shape)).reshape(n, -1)
    true = float(torch.linalg.matrix_norm(cols, 2))
    bound = lipschitz_bound(torch.nn.Sequential(pool), shape)
    assert bound.value >= true * (1 - 1e-12)
    if bound.kind == "exact":
        assert bound.value == pytest.approx(true, rel=1e-12)


def test_channel_pad_is_an_isometry():
    from stablecore.blocks import ChannelPad
    from stablecore.spectral import lipschitz_bound

    pad = ChannelPad(5)
    x = torch.randn(2, 3, 4, 4)
    y = pad(x)
    assert y.shape == (2, 5, 4, 4) and torch.equal(y[:, :3], x) and not y[:, 3:].any()
    bound = lipschitz_bound(torch.nn.Sequential(pad), (3, 4, 4))
    assert bound.kind == "exact" and bound.value == 1.0
    with pytest.raises(ValueError, match="ChannelPad"):
        pad(torch.randn(2, 6, 4, 4))
    with pytest.raises(ValueError, match="channels"):
        ChannelPad(0)
