"""Conv layers over generic geometries (hypothesis): kernel sizes (rectangular too), strides, paddings,
padding modes, channel counts and input sizes. The exact operator norm / Jacobian in float64 never
exceeds the registered claim."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import stablecore.layers as L
from stablecore.spectral import lipschitz_bound

F64 = torch.float64


def _operator_norm(conv: torch.nn.Module, shape: tuple[int, ...]) -> float:
    plain = L.export(conv).double()
    plain.bias = None
    n = math.prod(shape)
    with torch.no_grad():
        cols = plain(torch.eye(n, dtype=F64).reshape(n, *shape)).reshape(n, -1)
    return float(torch.linalg.matrix_norm(cols, 2))


geometry = st.fixed_dictionaries(
    {
        "c_in": st.integers(1, 3),
        "c_out": st.integers(1, 4),
        "kh": st.integers(1, 5),
        "kw": st.integers(1, 5),
        "stride": st.integers(1, 3),
        "pad": st.integers(0, 2),
        "n": st.integers(3, 7),
        "family": st.sampled_from(["aol", "sr", "sn"]),
        "seed": st.integers(0, 10_000),
    }
)


@settings(max_examples=40, deadline=None)
@given(g=geometry)
def test_rescaled_convs_any_geometry(g):
    torch.manual_seed(g["seed"])
    kwargs = dict(stride=g["stride"], padding=g["pad"])
    k = (g["kh"], g["kw"])
    if g["family"] == "aol":
        layer = L.AOLConv2d(g["c_in"], g["c_out"], k, **kwargs)
    elif g["family"] == "sr":
        layer = L.SRConv2d(g["c_in"], g["c_out"], k, depth=2, **kwargs)
    else:
        layer = L.SpectralNormConv2d(g["c_in"], g["c_out"], k, **kwargs)
    shape = (g["c_in"], g["n"], g["n"])
    if g["n"] + 2 * g["pad"] < max(k):
        return  # no output
    claim = lipschitz_bound(layer, shape)
    assert claim.kind == "upper_bound"
    assert _operator_norm(layer, shape) <= claim.value + 1e-5


residual = st.fixed_dictionaries(
    {
        "c": st.integers(1, 3),
        "inner": st.integers(1, 4),
        "kh": st.sampled_from([1, 3, 5]),
        "kw": st.sampled_from([1, 3, 5]),
        "mode": st.sampled_from(["zeros", "circular"]),
        "n": st.integers(3, 5),
        "family": st.sampled_from(["sll", "sllgram", "cpl"]),
        "seed": st.integers(0, 10_000),
    }
)


@settings(max_examples=30, deadline=None)
@given(g=residual)
def test_residual_convs_any_geometry(g):
    torch.manual_seed(g["seed"])
    k, mode = (g["kh"], g["kw"]), g["mode"]
    if g["family"] == "sll":
        layer = L.SLLConv2d(g["c"], g["inner"], k, padding_mode=mode)
    elif g["family"] == "sllgram":
        layer = L.SLLGramConv2d(g["c"], g["inner"], k, padding_mode=mode, depth=2)
    else:
        size = g["n"] if mode == "circular" else None
        layer = L.CPLConv2d(g["c"], g["inner"], k, padding_mode=mode, input_size=size)
    with torch.no_grad():
        layer.bias.abs_().add_(0.5)  # many active units: the worst Jacobians
    shape = (g["c"], g["n"], g["n"])
    claim = lipschitz_bound(layer, shape)
    net = layer.double()
    gen = torch.Generator().manual_seed(g["seed"])
    worst = 0.0
    for _ in range(2):
        x = torch.randn(shape, dtype=F64, generator=gen)
        jac = torch.autograd.functional.jacobian(lambda v: net(v[None])[0], x)
        worst = max(worst, float(torch.linalg.matrix_norm(jac.reshape(x.numel(), -1), 2)))
    assert claim.kind == "upper_bound" and worst <= claim.value + 1e-5
    assert net(torch.randn(2, *shape, dtype=F64)).shape == (2, *shape)
