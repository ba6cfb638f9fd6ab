"""The one Gram-bound choice of the conv Lipschitz layers, against explicit float64 operator matrices."""

import pytest
import torch

from stablecore.layers._common import conv_layer_gram_bound
from stablecore.spectral import conv_operator_matrix, dense_spectral_norm, gram_norm_conv_circular


@pytest.mark.parametrize(("mode", "size"), [("zeros", None), ("zeros", (6, 6)), ("circular", (6, 5))])
def test_bound_dominates_the_dense_operator_norm(mode, size):
    g = torch.Generator().manual_seed(0)
    kernel = torch.randn(3, 2, 3, 3, generator=g, dtype=torch.float64)
    rho = float(conv_layer_gram_bound(kernel, mode, size, 8))
    for n in [size] if size is not None else [(4, 4), (7, 5)]:
        exact = dense_spectral_norm(conv_operator_matrix(kernel, n, padding=mode))
        assert exact <= rho * (1 + 1e-9)
        if mode == "circular":  # the circular route is near-exact on its torus
            assert rho <= 1.05 * exact


def test_circular_route_only_when_the_taps_do_not_wrap():
    kernel = torch.randn(2, 2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.equal(
        conv_layer_gram_bound(kernel, "circular", (5, 5), 6), gram_norm_conv_circular(kernel, (5, 5), 6)
    )
    wrapped = conv_layer_gram_bound(kernel, "circular", (2, 5), 6)  # input smaller than the kernel
    assert torch.equal(wrapped, conv_layer_gram_bound(kernel, "zeros", None, 6))
    exact = dense_spectral_norm(conv_operator_matrix(kernel, (2, 5), padding="circular", pad=(1, 1)))
    assert exact <= float(wrapped) * (1 + 1e-9)
