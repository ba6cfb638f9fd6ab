"""Gram bounds at every finite magnitude: 1e-300…1e300 and subnormals in float64, the float32 range.

Every ``upper_bound`` must be at least the true norm. The oracle is exact in scale: the matrix (or
the explicit operator matrix of the convolution) is multiplied by a power of two, which is exact, so
that its float64 SVD works in the normal range, and the comparison is made with fractions.
"""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stablecore.spectral.conv import conv_norm, gram_norm_conv_circular, gram_norm_conv_zeros
from stablecore.spectral.conv import geometry as conv_geometry_module
from stablecore.spectral.dense import gram_norm_dense, matrix_norm
from stablecore.spectral.oracle import conv_operator_matrix, dense_spectral_norm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _exponent(x: torch.Tensor) -> int:
    """k with max|x|·2^k in [1/2, 1): x·2^k is exact (scaling up) or loses only far-below-norm bits."""
    return -math.frexp(float(x.detach().abs().max()))[1]


def _scaled(x: torch.Tensor, k: int) -> torch.Tensor:
    """x (float64 copy) times 2^k in two exact steps (2^k alone may not be a float)."""
    half = k // 2
    return x.detach().to(torch.float64) * 2.0**half * 2.0 ** (k - half)


def _true_matrix_norm(w: torch.Tensor) -> Fraction:
    k = _exponent(w)
    return Fraction(float(torch.linalg.matrix_norm(_scaled(w, k), 2))) / Fraction(2) ** k


def _true_conv_norm(kernel: torch.Tensor, size, **kw) -> Fraction:
    k = _exponent(kernel)
    sigma = dense_spectral_norm(conv_operator_matrix(_scaled(kernel, k), size, **kw))
    return Fraction(sigma) / Fraction(2) ** k


def _is_upper(value: float, truth: Fraction, rel: float = 1e-13) -> bool:
    """value ≥ truth, up to the float64 SVD's own error (far below the bounds' 2^-40 floor)."""
    return math.isinf(value) or Fraction(value) >= truth * Fraction(1 - rel)


def _finite_unless_past(value: float, truth: Fraction, dtype: torch.dtype) -> bool:
    """A finite bound, unless the true norm itself (nearly) exceeds the largest float of ``dtype``."""
    return math.isfinite(value) or truth * Fraction(1 + 1e-6) > Fraction(torch.finfo(dtype).max)


def _is_lower(value: float, truth: Fraction) -> bool:
    return Fraction(value) <= truth * Fraction(1 + 1e-13)


def _random(shape, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=torch.float64)


def _at_scale(x: torch.Tensor, exponent: int, dtype: torch.dtype) -> torch.Tensor:
    """x·2^exponent, rounded once into ``dtype`` (subnormals keep only their few bits: that rounded
    tensor is the input whose norm is checked)."""
    return _scaled(x, exponent).to(dtype)


# binary exponents: float64 1e-300…1e300 and its subnormals, float32 1e-38…1e38 and its subnormals
float64_exponents = st.one_of(st.integers(-1000, 995), st.integers(-1074, -1020))
float32_exponents = st.one_of(st.integers(-126, 124), st.integers(-149, -127))


@st.composite
def scaled_matrices(draw):
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    exponent = draw(float64_exponents if dtype == torch.float64 else float32_exponents)
    m, n = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    w = _at_scale(_random((m, n), draw(st.integers(0, 10_000))), exponent, dtype)
    if not bool(w.ne(0).any()):
        w[0, 0] = torch.finfo(dtype).smallest_normal * 2.0**-3  # all rounded to 0: keep a subnormal
    return w


# ----------------------------------------------------------------------------------- the reported cases
def test_tiny_constant_matrix_is_not_bounded_by_zero():
    w = torch.full((3, 3), 1e-170, dtype=torch.float64)
    b = matrix_norm(w)
    assert b.kind == "upper_bound"
    assert Fraction(b.value) >= 3 * Fraction(1e-170)  # the exact norm: a rank-one all-equal matrix
    assert b.value == pytest.approx(3e-170, rel=1e-9)
    assert all(_is_upper(h, 3 * Fraction(1e-170), rel=0) for h in b.history)
    t = gram_norm_dense(w)
    assert Fraction(float(t)) >= 3 * Fraction(1e-170)


@pytest.mark.parametrize("padding", ["circular", "zeros"])
@pytest.mark.parametrize("scale", [1e-300, 1e-170, 5e-324, 1e300])
def test_tiny_and_huge_kernels_keep_every_conv_bound(padding, scale):
    kernel = torch.full((2, 2, 3, 3), scale, dtype=torch.float64)
    truth = _true_conv_norm(kernel, 5, padding=padding)
    assert truth > 0
    for method in ("gram", "norm2toep", "fantastic4", "lipgrid"):
        b = conv_norm(kernel, 5, padding=padding, method=method)
        assert b.kind == "upper_bound"
        assert math.isfinite(b.value), method
        assert _is_upper(b.value, truth), (method, b.value, float(truth))
        assert all(_is_upper(h, truth) for h in b.history), method
    power = conv_norm(kernel, 5, padding=padding, method="power")
    assert _is_lower(power.value, truth) and power.value > 0
    exact = conv_norm(kernel, 5, padding=padding, method="exact")
    # subnormal results keep few bits: one subnormal step of slack
    assert abs(Fraction(exact.value) - truth) <= truth * Fraction(1e-9) + Fraction(5e-324)
    t = gram_norm_conv_zeros(kernel, 3)
    assert math.isfinite(float(t)) and _is_upper(float(t), _true_conv_norm(kernel, 5, padding="zeros"))
    t = gram_norm_conv_circular(kernel, 5)
    assert math.isfinite(float(t)) and _is_upper(float(t), _true_conv_norm(kernel, 5, padding="circular"))


def test_huge_matrix_gives_a_finite_tensor_bound_not_nan():
    w = torch.full((3, 3), 1e300, dtype=torch.float64)
    t = gram_norm_dense(w)
    assert math.isfinite(float(t)) and Fraction(float(t)) >= 3 * Fraction(1e300)
    assert matrix_norm(w).value == pytest.approx(3e300, rel=1e-9)


def test_past_the_float_range_the_only_honest_bound_is_inf():
    w = torch.full((3, 3), 1.5e308, dtype=torch.float64)  # norm 4.5e308 > the largest float64
    assert matrix_norm(w).value == math.inf
    assert float(gram_norm_dense(w)) == math.inf
    assert matrix_norm(w, method="power").value == torch.finfo(torch.float64).max  # still below
    w32 = torch.full((3, 3), 3e38, dtype=torch.float32)  # norm 9e38: past float32, not float64
    assert float(gram_norm_dense(w32)) == math.inf  # a float32 result
    assert matrix_norm(w32).value == pytest.approx(9e38, rel=1e-6)  # a Python float (float64)


# ----------------------------------------------------------------------------------- hypothesis sweeps
@settings(max_examples=60, deadline=None, derandomize=True)
@given(scaled_matrices())
def test_dense_bounds_hold_at_every_magnitude(w):
    truth = _true_matrix_norm(w)
    gram = matrix_norm(w)
    assert gram.kind == "upper_bound"
    assert _is_upper(gram.value, truth) and math.isfinite(gram.value)
    assert all(_is_upper(h, truth) for h in gram.history)
    assert all(a >= b for a, b in zip(gram.history, gram.history[1:]))
    power = matrix_norm(w, method="power")
    assert _is_lower(power.value, truth)
    exact = matrix_norm(w, method="exact")
    assert abs(Fraction(exact.value) - truth) <= truth * Fraction(1e-9) + Fraction(5e-324)
    for compute_dtype in (torch.float64, None):  # None: the iteration in w's own dtype
        t = gram_norm_dense(w, n_iter=8, compute_dtype=compute_dtype)
        assert t.dtype == w.dtype
        assert _is_upper(float(t), truth), (compute_dtype, float(t), float(truth))
        assert _finite_unless_past(float(t), truth, w.dtype)


@st.composite
def scaled_kernels(draw):
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    exponent = draw(float64_exponents if dtype == torch.float64 else float32_exponents)
    c_out, c_in = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 3]))
    kernel = _at_scale(_random((c_out, c_in, kh, kw), draw(st.integers(0, 10_000))), exponent, dtype)
    if not bool(kernel.ne(0).any()):
        kernel[0, 0, 0, 0] = torch.finfo(dtype).smallest_normal * 2.0**-3
    return kernel, draw(st.integers(3, 5))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(scaled_kernels())
def test_conv_bounds_hold_at_every_magnitude(case):
    kernel, n = case
    for padding in ("circular", "zeros"):
        truth = _true_conv_norm(kernel, n, padding=padding)
        for method in ("gram", "norm2toep", "fantastic4", "lipgrid"):
            b = conv_norm(
                kernel, n, padding=padding, method=method, n_iter=3 if method == "norm2toep" else None
            )
            assert math.isfinite(b.value), (padding, method)
            assert _is_upper(b.value, truth), (padding, method, b.value, float(truth))
            assert all(_is_upper(h, truth) for h in b.history)
        assert _is_lower(conv_norm(kernel, n, padding=padding, method="power", n_iter=20).value, truth)
    # tensor-level bounds, in float64 and in the kernel's own dtype
    circular = _true_conv_norm(kernel, n, padding="circular")  # odd kernels, 'same': the torus norm
    zeros = _true_conv_norm(kernel, n, padding="zeros")
    for compute_dtype in (torch.float64, None):
        t = gram_norm_conv_circular(kernel, n, n_iter=4, compute_dtype=compute_dtype)
        assert t.dtype == kernel.dtype and _is_upper(float(t), circular)
        assert _finite_unless_past(float(t), circular, kernel.dtype)
        t = gram_norm_conv_zeros(kernel, 2, compute_dtype=compute_dtype)
        assert t.dtype == kernel.dtype and _is_upper(float(t), zeros)
        assert _finite_unless_past(float(t), zeros * 2, kernel.dtype)  # T = 2: a looser bound


def test_gradients_are_scale_equivariant():
    # d‖2^k W‖/dW' at W' = 2^k W equals d‖W‖/dW: the power-of-two scaling is a constant factor
    w = _random((5, 4), 3)
    big = (w * 2.0**900).requires_grad_()
    small = w.clone().requires_grad_()
    (g_big,) = torch.autograd.grad(gram_norm_dense(big, 8), big)
    (g_small,) = torch.autograd.grad(gram_norm_dense(small, 8), small)
    torch.testing.assert_close(g_big, g_small, rtol=1e-10, atol=0)


# ----------------------------------------------------------------------------------- the row selection
@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(0, 4), st.integers(1, 3))
def test_circular_row_selection_closed_form_matches_counting(n, s, p, k):
    out = (n + 2 * p - k) // s + 1
    if out < 1 or p > n or n < k:
        return
    rows = [(s * i - p) % n for i in range(out)]
    counts = [rows.count(r) for r in range(n)]
    geom = conv_geometry_module.conv_geometry((1, 1, k, k), n, padding="circular", pad=p, stride=s)
    factor, uniform = conv_geometry_module._circular_selection(geom)
    assert factor == max(counts)  # sqrt(m_h·m_w) with the same geometry in both dimensions
    assert uniform == (min(counts) == max(counts))
