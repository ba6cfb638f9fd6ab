"""Spectral rescaling SR: norm ≤ 1 for every depth, T = 1 is row-AOL, larger T is less conservative."""

from __future__ import annotations

import math

import pytest
import torch

import stablecore.layers as L
from stablecore.spectral import lipschitz_bound

F64 = torch.float64


def operator_norm(layer, shape):
    n = math.prod(shape)
    basis = torch.eye(n, dtype=F64).reshape(n, *shape)
    with torch.no_grad():
        cols = (layer(basis) - layer(torch.zeros(1, *shape, dtype=F64))).reshape(n, -1)
    return float(torch.linalg.matrix_norm(cols, 2))


def test_sr_linear_depths():
    torch.manual_seed(0)
    W = torch.randn(12, 6, dtype=F64)
    norms = []
    for depth in (1, 2, 3, 5):
        layer = L.SRLinear(6, 12, depth=depth, dtype=F64)
        with torch.no_grad():
            layer.parametrizations.weight.original.copy_(W)
        norms.append(operator_norm(layer, (6,)))
        assert lipschitz_bound(layer, (6,)).value >= norms[-1]
    assert all(n <= 1 + 1e-12 for n in norms)
    assert norms == sorted(norms) and norms[-1] > 0.95  # tends to spectral normalisation
    row_aol = W / (W @ W.T).abs().sum(dim=1, keepdim=True).sqrt()  # T = 1: AOL on the rows
    torch.testing.assert_close(W * L.sr_scale(W, 1)[:, None], row_aol)


@pytest.mark.parametrize("k,depth", [(1, 2), (3, 1), (3, 3), (5, 2)])
def test_sr_conv_norm_at_most_one(k, depth):
    torch.manual_seed(k)
    layer = L.SRConv2d(2, 3, k, depth=depth, dtype=F64)
    norm = operator_norm(layer, (2, 5, 5))
    assert 0.2 < norm <= 1 + 1e-12
    assert lipschitz_bound(layer, (2, 5, 5)).value >= norm
    out = layer(torch.randn(2, 2, 5, 5, dtype=F64))
    (out * torch.randn_like(out)).sum().backward()
    assert all(float(p.grad.abs().max()) > 0 for p in layer.parameters())
