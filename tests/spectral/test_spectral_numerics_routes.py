"""One rounding module, one kernel-space Gram iteration, one conv-bound dispatch (issue 23 item 4).

Oracles: the spatial-domain Gram kernel (``conv2d`` correlations in float64), explicit operator
matrices with a float64 SVD, and closed forms of the unit roundoff.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stablecore import numerics
from stablecore.layers._common import abs_row_sums, output_gram_power
from stablecore.spectral import conv_operator_matrix, dense_spectral_norm, layer_gram_bound
from stablecore.spectral.conv import (
    conv_geometry,
    conv_norm,
    gram_candidates,
    gram_norm_conv,
    kernel_gram_iterates,
)


def _spatial_gram(kernel: torch.Tensor) -> torch.Tensor:
    """Input-side Gram kernel sum_o K[o, c] * K[o, c'] (full 2-D correlation) by conv2d."""
    kt = kernel.transpose(0, 1)
    kh, kw = kernel.shape[-2:]
    return F.conv2d(kt, kt, padding=(kh - 1, kw - 1))


def test_unit_roundoff_closed_forms(monkeypatch):
    assert numerics.unit_roundoff(torch.float64) == 2.0**-53
    assert numerics.unit_roundoff(torch.float32) == 2.0**-24
    assert numerics.unit_roundoff(torch.complex64, "cpu") == 2.0**-24
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "high")
    assert numerics.unit_roundoff(torch.float32, "cuda") == 2.0**-11  # TF32: 10 mantissa bits
    assert numerics.unit_roundoff(torch.float32) == 2.0**-24  # no device: elementwise rounding
    assert numerics.unit_roundoff(torch.float64, "cuda") == 2.0**-53
    monkeypatch.setattr(torch, "get_float32_matmul_precision", lambda: "medium")
    assert numerics.unit_roundoff(torch.float32, "cuda") == 2.0**-8  # bfloat16 products
    assert numerics.gamma(10, 2.0**-53) == pytest.approx(10 * 2.0**-53)
    assert numerics.gamma(2, 0.5) == math.inf


def test_round_up_helpers_stay_above():
    for x in (1.0, 1e-310, 3.7e300):
        assert numerics.round_up(x) > x
        assert numerics.round_down(x) < x
        assert numerics.exp_up(math.log(x), 0.0) >= x
    v = torch.tensor(1.0 + 2.0**-30, dtype=torch.float64)
    assert float(numerics.cast_up(v, torch.float32)) >= float(v)


@pytest.mark.parametrize("shape", [(3, 2, 3, 3), (2, 4, 3, 2), (3, 3, 1, 1)])
def test_kernel_gram_iterates_match_spatial_correlations(shape):
    gen = torch.Generator().manual_seed(sum(shape))
    kernel = torch.randn(shape, generator=gen, dtype=torch.float64)
    oracle = _spatial_gram(kernel)
    for t, (p, log_scale, _) in enumerate(kernel_gram_iterates(kernel[None], 3), start=1):
        got = p[0] * torch.exp(log_scale[0])
        # spatial layout and flips may differ: compare what the bounds use, absolute row sums and
        # the symbol's largest value (Frobenius norm of the coefficients)
        assert torch.allclose(got.abs().sum(dim=(1, 2, 3)), oracle.abs().sum(dim=(1, 2, 3)), rtol=1e-10)
        assert torch.allclose(torch.linalg.vector_norm(got), torch.linalg.vector_norm(oracle), rtol=1e-10)
        assert got.shape[-2:] == (2**t * (shape[2] - 1) + 1, 2**t * (shape[3] - 1) + 1)
        oracle = _spatial_gram(oracle)  # P_{t+1} = P_t * P_t (P_t symmetric)


@pytest.mark.parametrize("squarings", [0, 1, 2])
def test_layers_output_gram_power_is_the_kernel_space_iteration(squarings):
    gen = torch.Generator().manual_seed(squarings)
    weight = torch.randn(5, 3, 3, 3, generator=gen, dtype=torch.float64)
    p, log_scale = output_gram_power(weight, squarings)
    oracle = _spatial_gram(weight.transpose(0, 1))  # output side: A Aᵀ
    for _ in range(squarings):
        oracle = _spatial_gram(oracle)
    got = abs_row_sums(p).log() + log_scale
    assert torch.allclose(got, abs_row_sums(oracle).log(), rtol=0, atol=1e-12)


CASES = [
    # padding, pad, stride, groups, input size
    ("zeros", 1, 1, 1, 6),
    ("zeros", 1, 2, 1, 7),
    ("zeros", 0, 2, 2, 6),
    ("circular", 1, 1, 1, 5),
    ("circular", 1, 2, 2, 6),
]


@pytest.mark.parametrize(("padding", "pad", "stride", "groups", "n"), CASES)
def test_gram_norm_conv_bounds_the_exact_norm(padding, pad, stride, groups, n):
    gen = torch.Generator().manual_seed(n + 10 * stride + groups)
    kernel = torch.randn(4, 4 // groups, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    value = gram_norm_conv(kernel, n, 8, padding=padding, pad=pad, stride=stride, groups=groups)
    value.backward()
    value = value.detach()
    assert kernel.grad is not None and bool(torch.isfinite(kernel.grad).all())
    matrix = conv_operator_matrix(
        kernel.detach(), (n, n), padding=padding, pad=pad, stride=stride, groups=groups
    )
    exact = dense_spectral_norm(matrix)
    assert float(value) >= exact
    # the same dispatch as conv_norm: the first candidate route
    geom = conv_geometry(kernel.shape, n, padding=padding, pad=pad, stride=stride, groups=groups)
    first = next(iter(gram_candidates(geom)))
    bound = conv_norm(kernel.detach(), n, padding=padding, pad=pad, stride=stride, groups=groups, n_iter=8)
    candidates = (bound.details or {}).get("candidates", {first: bound.value})
    assert float(value) == pytest.approx(candidates[first], rel=1e-9)


def test_gram_norm_conv_without_size_is_kernel_space():
    kernel = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    geom = conv_geometry(kernel.shape, None, padding="zeros")
    assert list(gram_candidates(geom)) == ["norm2toep"]
    with pytest.raises(ValueError, match="input_size"):
        gram_norm_conv(kernel, None, padding="circular")


def test_layer_gram_bound_strided_zero_padding_above_oracle():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1).double()
    bound = float(layer_gram_bound(conv, (7, 7), n_iter=8).detach())
    matrix = conv_operator_matrix(conv.weight.detach(), (7, 7), padding="zeros", pad=(1, 1), stride=(2, 2))
    assert bound >= dense_spectral_norm(matrix)
