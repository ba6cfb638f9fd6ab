"""Matrix spectral norms (Gram iteration, power iteration, SVD) against a float64 SVD oracle."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stablecore.spectral.dense import gram_norm_dense, gram_rounding_margin, matrix_norm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _svd64(w: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(w.detach().to(torch.float64), 2))


def _matrix(m: int, n: int, seed: int, dtype: torch.dtype, scale: float = 1.0, kind: str = "gauss"):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(m, n, generator=gen, dtype=torch.float64)
    if kind == "lowrank":  # a rank-1 matrix plus a small perturbation: large spectral gap
        w = torch.outer(w[:, 0], w[0, :]) + 1e-3 * w
    elif kind == "flat":  # equal singular values (orthonormal columns): the slowest case for Gram
        w = torch.linalg.qr(torch.randn(max(m, n), min(m, n), generator=gen, dtype=torch.float64))[0]
        w = w if m >= n else w.T
    return (w * scale).to(dtype)


matrices = st.tuples(
    st.integers(1, 12),  # rows
    st.integers(1, 12),  # columns
    st.integers(0, 10_000),  # seed
    st.sampled_from([torch.float32, torch.float64]),
    st.sampled_from([1.0, 1e-3, 1e4]),
    st.sampled_from(["gauss", "lowrank", "flat"]),
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(matrices)
def test_gram_power_exact_bracket_the_float64_svd(case):
    m, n, seed, dtype, scale, kind = case
    w = _matrix(m, n, seed, dtype, scale, kind)
    sigma = _svd64(w)

    gram = matrix_norm(w, method="gram")
    assert gram.kind == "upper_bound" and gram.method == "gram"
    assert gram.value >= sigma  # no tolerance: a bound is a bound
    assert all(h >= sigma for h in gram.history)
    assert all(a >= b for a, b in zip(gram.history, gram.history[1:]))  # non-increasing
    assert len(gram.history) == gram.n_iter <= 12
    # the a-priori excess: ‖G_t‖_F^(2^-t) <= rank^(2^-(t+1)) σ₁ (flat spectra converge slowest)
    rank = min(m, n)
    assert gram.value <= sigma * rank ** (2.0 ** -(gram.n_iter + 1)) * (1 + 1e-9)
    if kind != "flat":
        assert gram.value <= sigma * (1 + 1e-9)  # a spectral gap: converged to rounding

    power = matrix_norm(w, method="power", seed=seed)
    assert power.kind == "lower_bound"
    assert power.value <= sigma
    assert power.value >= 0.5 * sigma  # 100 iterations from a random start: not a trivial bound
    assert all(a <= b for a, b in zip(power.history, power.history[1:]))

    exact = matrix_norm(w, method="exact")
    assert exact.kind == "exact"
    assert exact.value == pytest.approx(sigma, rel=1e-12)


def test_first_gram_step_is_the_frobenius_norm_of_the_gram_matrix():
    w = _matrix(7, 4, 3, torch.float64)
    b = matrix_norm(w, n_iter=1, tol=0)
    closed = float(torch.linalg.matrix_norm(w.T @ w, "fro")) ** 0.5
    assert b.history[0] == pytest.approx(closed, rel=1e-12)
    assert b.history[0] >= closed


def test_gram_reaches_1e6_on_random_50x40_within_12_iterations():
    w = _matrix(50, 40, 0, torch.float64)
    sigma = _svd64(w)
    b = matrix_norm(w, n_iter=12, tol=0)
    rel = [(h - sigma) / sigma for h in b.history]
    assert min(rel) >= 0
    first = next(i for i, r in enumerate(rel) if r <= 1e-6)
    assert first < 12
    assert rel[0] > 0.1  # the first iterations really are loose: the test can tell them apart
    # superlinear: the excess at least squares (roughly) from one iteration to the next
    assert rel[first - 1] > 1e-6 and rel[first] < rel[first - 1] ** 1.5


def test_gram_stops_early_with_tolerance():
    w = _matrix(30, 20, 1, torch.float64)
    b = matrix_norm(w, n_iter=30, tol=1e-10)
    assert b.n_iter < 30
    assert b.value >= _svd64(w)


@pytest.mark.parametrize("scale", [1e-8, 1e8, 1e-150, 1e150])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tiny_and_huge_matrices_are_finite_and_sound(scale, dtype):
    if dtype == torch.float32 and not (1e-30 < scale < 1e30):
        pytest.skip("outside the float32 range")
    w = _matrix(9, 6, 5, dtype, scale)
    sigma = _svd64(w)
    b = matrix_norm(w, n_iter=20, tol=0)
    assert b.n_iter == 20
    assert all(math.isfinite(h) and h > 0 for h in b.history)
    assert b.value >= sigma
    assert b.value == pytest.approx(sigma, rel=1e-9)
    p = matrix_norm(w, method="power")
    assert 0 < p.value <= sigma


def test_many_gram_iterations_without_overflow_on_a_large_spread():
    w = torch.diag(torch.tensor([1e30, 1.0, 1e-30], dtype=torch.float64))
    b = matrix_norm(w, n_iter=20, tol=0)
    assert math.isfinite(b.value) and b.value >= 1e30
    assert b.value == pytest.approx(1e30, rel=1e-11)  # the margin grows with |log scale| (~69 here)


def test_zero_matrix():
    z = torch.zeros(3, 5)
    assert matrix_norm(z).value == 0.0
    assert matrix_norm(z, method="power").value == 0.0
    assert matrix_norm(z, method="exact").value == 0.0


def test_numpy_input_and_seeded_power_iteration():
    w = np.random.default_rng(0).standard_normal((6, 4))
    a = matrix_norm(w, method="power", seed=3, n_iter=5, tol=0)
    b = matrix_norm(torch.from_numpy(w), method="power", seed=3, n_iter=5, tol=0)
    assert a.value == b.value and a.n_iter == 5
    assert matrix_norm(w).value >= _svd64(torch.from_numpy(w))


# ----------------------------------------------------------------------------------- tensor level
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(1, 7), (7, 1), (12, 5), (5, 12)])
def test_gram_norm_dense_is_a_bound_with_the_input_dtype(dtype, shape):
    w = _matrix(*shape, 11, dtype)
    sigma = _svd64(w)
    for compute_dtype in (torch.float64, None):
        y = gram_norm_dense(w, n_iter=6, compute_dtype=compute_dtype)
        assert y.dtype == dtype and y.device == w.device and y.ndim == 0
        assert float(y) >= sigma


def test_gram_norm_dense_gradient_is_the_top_singular_pair():
    w = _matrix(8, 5, 2, torch.float64).requires_grad_()
    y = gram_norm_dense(w, n_iter=12)
    (grad,) = torch.autograd.grad(y, w)
    u, s, vh = torch.linalg.svd(w.detach())
    expected = torch.outer(u[:, 0], vh[0])  # d σ₁ / dW = u₁ v₁ᵀ
    assert float(y.detach()) == pytest.approx(float(s[0]), rel=1e-9)
    torch.testing.assert_close(grad, expected, rtol=1e-6, atol=1e-8)


def test_gram_norm_dense_gradient_float32_flows():
    w = _matrix(6, 6, 4, torch.float32).requires_grad_()
    gram_norm_dense(w, n_iter=4).backward()
    assert w.grad is not None and w.grad.dtype == torch.float32
    assert torch.isfinite(w.grad).all() and float(w.grad.abs().sum()) > 0


def test_rounding_margin_is_small_in_float64_and_vacuous_when_it_must_be():
    u64 = 2.0**-53
    assert 0 < gram_rounding_margin(u64, 512, 512, 12) < 1e-8
    assert math.isinf(gram_rounding_margin(2.0**-8, 4096, 4096, 6))


# ----------------------------------------------------------------------------------- validation
def test_argument_errors_name_the_argument():
    w = torch.randn(3, 4)
    with pytest.raises(ValueError, match="W"):
        matrix_norm(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="finite"):
        matrix_norm(torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="complex"):
        matrix_norm(torch.randn(3, 3, dtype=torch.complex64))
    with pytest.raises(TypeError, match="W"):
        matrix_norm(torch.ones(3, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match="W"):
        matrix_norm([[1.0, 2.0]])
    with pytest.raises(ValueError, match="method"):
        matrix_norm(w, method="svd")
    with pytest.raises(ValueError, match="n_iter"):
        matrix_norm(w, n_iter=0)
    with pytest.raises(ValueError, match="tol"):
        matrix_norm(w, tol=-1.0)
    with pytest.raises(TypeError, match="seed"):
        matrix_norm(w, method="power", seed=1.5)
    with pytest.raises(ValueError, match="empty"):
        matrix_norm(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="W"):
        gram_norm_dense(torch.randn(3))
