"""Gram kernels of the layers at extreme weight magnitudes: no underflow to 0, no overflow to NaN.

``gershgorin_upper`` is compared with the exact row sums computed in rational arithmetic; the
rescaling Gram powers (SR, SLL with Gram rescaling) must be equivariant under a power-of-two scaling
of the weight, which is exact.
"""

import math
from fractions import Fraction
from itertools import product

import pytest
import torch

from stablecore.layers._common import gershgorin_upper
from stablecore.layers.rescaled import sr_scale
from stablecore.layers.sll import sll_gram_inverse_diagonal


def _random(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _exact_row_sums(weight: torch.Tensor, q: list[Fraction] | None, side: str) -> list[Fraction]:
    """Σ_{j, taps} |P_ij| q_j / q_i of P = AᵀA (input side) or AAᵀ (output side), exactly."""
    a = weight if side == "input" else weight.transpose(0, 1)
    a = a if a.ndim == 4 else a[:, :, None, None]
    o, c, kh, kw = a.shape
    f = [
        [[[Fraction(float(a[i, j, y, x])) for x in range(kw)] for y in range(kh)] for j in range(c)]
        for i in range(o)
    ]
    q = q or [Fraction(1)] * c
    sums = []
    for i in range(c):
        total = Fraction(0)
        for j, dy, dx in product(range(c), range(-kh + 1, kh), range(-kw + 1, kw)):
            entry = sum(
                (
                    f[r][i][y][x] * f[r][j][y + dy][x + dx]
                    for r in range(o)
                    for y in range(kh)
                    for x in range(kw)
                    if 0 <= y + dy < kh and 0 <= x + dx < kw
                ),
                Fraction(0),
            )
            total += abs(entry) * q[j]
        sums.append(total / q[i])
    return sums


@pytest.mark.parametrize("exponent", [-560, -1000, -1060, 0, 510, 530])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 2)])
@pytest.mark.parametrize("side", ["input", "output"])
@pytest.mark.parametrize("weighted", [False, True])
def test_gershgorin_upper_bounds_the_exact_row_sums_at_every_magnitude(exponent, shape, side, weighted):
    w = _random(shape, len(shape) + exponent % 7) * 2.0 ** (exponent // 2) * 2.0 ** (exponent - exponent // 2)
    channels = shape[1] if side == "input" else shape[0]
    q = torch.linspace(0.5, 2.0, channels, dtype=torch.float64) if weighted else None
    upper = gershgorin_upper(w, q, side=side)
    exact = _exact_row_sums(w, None if q is None else [Fraction(float(v)) for v in q], side)
    assert not bool(upper.isnan().any())
    for u, e in zip(upper.tolist(), exact):
        assert u == math.inf or Fraction(u) >= e, (u, float(e))
        if e > Fraction(2.0**-1000) and e < Fraction(1e300):  # a representable sum: tight and finite
            assert Fraction(u) <= e * Fraction(1 + 1e-12) + Fraction(2.0**-1060)


def _scaled(w: torch.Tensor, exponent: int) -> torch.Tensor:
    return w * 2.0 ** (exponent // 2) * 2.0 ** (exponent - exponent // 2)  # exact


# the weight Gram kernel WWᵀ ∝ 2^(2·exponent) leaves the range of the dtype: it used to be 0 or inf
@pytest.mark.parametrize(
    ("dtype", "exponent"),
    [(torch.float64, -600), (torch.float64, 600), (torch.float32, -70), (torch.float32, 90)],
)
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 3, 3)])
def test_sr_rescaling_is_equivariant_under_power_of_two_scaling(dtype, exponent, shape):
    w = _random(shape, 11).to(dtype)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    for depth in (1, 3):
        ref, got = sr_scale(w, depth), sr_scale(_scaled(w, exponent), depth)  # 1/t ∝ 2^-exponent
        assert bool(torch.isfinite(got).all()) and bool((got > 0).all())
        torch.testing.assert_close(got.double() * 2.0**exponent, ref.double(), rtol=rtol, atol=0)


# SLL's 1/T ∝ 2^(-2·exponent) must itself be a float of the dtype: moderate exponents only
@pytest.mark.parametrize(
    ("dtype", "exponent"),
    [(torch.float64, -300), (torch.float64, 300), (torch.float32, -30), (torch.float32, 30)],
)
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 3, 3)])
def test_sll_gram_rescaling_is_equivariant_under_power_of_two_scaling(dtype, exponent, shape):
    w = _random(shape, 12).to(dtype)
    rtol = 1e-12 if dtype == torch.float64 else 1e-5
    log_q = torch.linspace(-0.3, 0.3, shape[0], dtype=dtype)
    for depth in (1, 3):
        ref = sll_gram_inverse_diagonal(w, log_q, depth)
        got = sll_gram_inverse_diagonal(_scaled(w, exponent), log_q, depth)
        assert bool(torch.isfinite(got).all()) and bool((got > 0).all())
        back = got.double() * 2.0**exponent * 2.0**exponent
        torch.testing.assert_close(back, ref.double(), rtol=rtol, atol=0)
