"""Convolution spectral norms against the float64 impulse-response oracle (explicit matrix + SVD)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stablecore.spectral.conv import circular as conv_circular
from stablecore.spectral.conv import (
    conv_geometry,
    conv_norm,
    conv_transpose_norm,
    gram_norm_conv_circular,
    gram_norm_conv_zeros,
)
from stablecore.spectral.conv import geometry as conv_geometry_module
from stablecore.spectral.oracle import (
    conv_operator_matrix,
    conv_transpose_operator_matrix,
    dense_spectral_norm,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


UPPER = ("gram", "norm2toep", "fantastic4", "lipgrid")


def _kernel(shape, seed, dtype=torch.float64, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def _oracle(kernel, size, **kw):
    return dense_spectral_norm(conv_operator_matrix(kernel, size, **kw))


@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in_g, c_out_g = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = draw(st.sampled_from(["circular", "zeros"]))
    h_min, w_min = (kh, kw) if padding == "circular" else (1, 1)
    h, w = draw(st.integers(h_min, max(h_min, 8))), draw(st.integers(w_min, max(w_min, 8)))
    pad = draw(
        st.one_of(
            st.just("same"),
            st.integers(0, 3),
            st.tuples(st.integers(0, 3), st.integers(0, 3)),
        )
    )
    stride = draw(st.sampled_from([1, 1, 1, 2, 3, (1, 2), (2, 1), (3, 2)]))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    seed = draw(st.integers(0, 10_000))
    return groups, c_in_g, c_out_g, kh, kw, padding, (h, w), pad, stride, dtype, scale, seed


@settings(max_examples=40, deadline=None, derandomize=True)
@given(conv_cases())
def test_every_method_is_honest_against_the_explicit_matrix(case):
    groups, c_in_g, c_out_g, kh, kw, padding, size, pad, stride, dtype, scale, seed = case
    kernel = _kernel((c_out_g * groups, c_in_g, kh, kw), seed, dtype, scale)
    try:
        geom = conv_geometry(kernel.shape, size, padding=padding, pad=pad, stride=stride, groups=groups)
    except ValueError:
        event("refused geometry")
        return  # empty output, or circular pad larger than the input (torch refuses it too)
    event(f"padding={padding}, stride>1={geom.stride != (1, 1)}, groups>1={groups > 1}")
    event(f"even kernel={kh % 2 == 0 or kw % 2 == 0}, square kernel={kh == kw}")
    # the geometry agrees with torch
    x = torch.zeros(1, c_in_g * groups, *size, dtype=torch.float64)
    if padding == "circular":
        x = F.pad(x, (geom.pad[1], geom.pad[1], geom.pad[0], geom.pad[0]), mode="circular")
        y = F.conv2d(x, kernel.double(), stride=geom.stride, groups=groups)
    else:
        y = F.conv2d(x, kernel.double(), stride=geom.stride, padding=geom.pad, groups=groups)
    assert tuple(y.shape[-2:]) == geom.output_size

    exact = _oracle(kernel, size, padding=padding, pad=pad, stride=stride, groups=groups)
    args = {"padding": padding, "pad": pad, "stride": stride, "groups": groups}
    for method in UPPER:
        n_iter = 3 if method == "norm2toep" else None  # the default T is exercised through "gram"
        b = conv_norm(kernel, size, method=method, n_iter=n_iter, **args)
        assert b.kind == "upper_bound", method
        assert b.value >= exact, (method, b.value, exact)
        assert all(h >= exact for h in b.history), method
        assert all(a >= c for a, c in zip(b.history, b.history[1:])), method
    power = conv_norm(kernel, size, method="power", n_iter=30, seed=seed, **args)
    assert power.kind == "lower_bound"
    assert power.value <= exact
    assert power.value >= 0.5 * exact
    ex = conv_norm(kernel, size, method="exact", **args)
    assert ex.kind == "exact"
    assert ex.value == pytest.approx(exact, rel=1e-6, abs=1e-300)

    if padding == "circular" and conv_geometry_module._circular_selection(geom)[1]:
        # rows read uniformly: the FFT formula is exact and Gram converges to it
        tight = conv_norm(kernel, size, method="gram", n_iter=12, **args)
        assert tight.value == pytest.approx(exact, rel=1e-6)
        assert tight.details["selection_uniform"]
    if padding == "zeros":
        g = conv_norm(kernel, size, method="gram", **args)
        assert g.details["winner"] in g.details["candidates"]
        assert g.value == min(g.details["candidates"].values())
        assert all(v >= exact for v in g.details["candidates"].values())


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 3),
    st.integers(0, 2),
    st.integers(1, 5),
    st.integers(0, 1000),
)
def test_transposed_conv_norm_equals_the_transposed_operator(c_in, c_out_g, groups, kh, kw, s, p, n, seed):
    weight = _kernel((c_in * groups, c_out_g, kh, kw), seed)
    out_pad = seed % s
    try:
        matrix = conv_transpose_operator_matrix(
            weight, n, pad=p, stride=s, groups=groups, output_padding=out_pad
        )
    except RuntimeError:
        return  # torch refuses the geometry (empty output)
    exact = dense_spectral_norm(matrix)
    args = {"pad": p, "stride": s, "groups": groups, "output_padding": out_pad}
    b = conv_transpose_norm(weight, n, method="exact", **args)
    assert b.kind == "exact" and b.details["transposed"]
    assert b.value == pytest.approx(exact, rel=1e-9, abs=1e-300)
    up = conv_transpose_norm(weight, n, method="gram", **args)
    assert up.value >= exact


def test_groups_take_the_maximum_over_groups_never_the_product():
    kernel = _kernel((6, 2, 3, 3), 7)
    kernel[:2] *= 3.0  # the first group dominates
    size = (6, 5)
    per_group = [_oracle(kernel[2 * j : 2 * j + 2], size, padding="zeros") for j in range(3)]
    exact = conv_norm(kernel, size, padding="zeros", groups=3, method="exact")
    assert exact.value == pytest.approx(max(per_group), rel=1e-9)
    assert exact.value < math.prod(per_group)
    full = _oracle(kernel, size, padding="zeros", groups=3)
    assert exact.value == pytest.approx(full, rel=1e-9)
    for method in ("gram", "norm2toep", "fantastic4", "lipgrid"):
        assert conv_norm(kernel, size, padding="zeros", groups=3, method=method).value >= full


@pytest.mark.parametrize(("c_out", "c_in"), [(16, 16), (24, 20), (20, 24)])
def test_screened_gram_on_many_channels_is_sound_and_tight(c_out, c_in):
    kernel = _kernel((c_out, c_in, 3, 3), c_out + c_in)
    b = conv_norm(kernel, (9, 8), padding="circular")
    assert b.details["blocks_kept"] < b.details["blocks"]  # the complex64 screening was active
    exact = conv_norm(kernel, (9, 8), padding="circular", method="exact")  # FFT blocks, all of them
    assert b.value >= exact.value
    assert b.value == pytest.approx(exact.value, rel=1e-6)


def test_screened_gram_agrees_with_the_oracle():
    kernel = _kernel((16, 16, 3, 3), 3)
    b = conv_norm(kernel, 8, padding="circular")
    assert b.details["blocks_kept"] < b.details["blocks"]
    oracle = _oracle(kernel, 8, padding="circular")
    assert oracle <= b.value <= oracle * (1 + 1e-6)


def test_screening_keeps_the_maximum_when_all_frequencies_tie():
    # a shifted 1x1 kernel Q·diag(2, 1, ..., 1): every frequency block has the singular values
    # (2, 1, ..., 1), so all frequencies tie for the maximum
    q = torch.linalg.qr(_kernel((16, 16), 1))[0]
    d = torch.ones(16, dtype=torch.float64)
    d[0] = 2.0
    kernel = torch.zeros(16, 16, 3, 3, dtype=torch.float64)
    kernel[:, :, 0, 2] = q * d
    b = conv_norm(kernel, 10, padding="circular", n_iter=8)
    assert 2.0 <= b.value <= 2 * (1 + 1e-9)
    t = gram_norm_conv_circular(kernel, 10, n_iter=8)
    assert 2.0 <= float(t) <= 2 * (1 + 1e-9)
    # equal singular values everywhere (an orthogonal kernel): Gram converges only like 16^(2^-(T+1))
    kernel[:, :, 0, 2] = q
    flat = conv_norm(kernel, 10, padding="circular", n_iter=8)
    assert 1.0 <= flat.value <= 16 ** (2.0**-9) * (1 + 1e-9)


def test_zero_padding_bounds_follow_the_thesis_examples():
    # docs/chapters/ch02.md §3.1(c): c_out=4, c_in=3, k=3, n=8; the kernel-space bound decreases with T and
    # stays above the exact zero-padded norm, which is at most the circular norm on n + k - 1.
    kernel = _kernel((4, 3, 3, 3), 0)
    exact = _oracle(kernel, 8, padding="zeros")
    toep = conv_norm(kernel, None, padding="zeros", method="norm2toep", n_iter=4)
    assert toep.n_iter == 4 and len(toep.history) == 4
    assert all(h >= exact for h in toep.history)
    assert toep.history[0] > toep.history[-1]
    assert toep.history[0] / exact > 1.2  # T = 1 is loose ...
    assert toep.history[-1] / exact < 1.15  # ... T = 4 much less so
    circ = conv_norm(kernel, 10, padding="circular", method="exact").value
    assert exact <= circ
    g = conv_norm(kernel, 8, padding="zeros")
    assert g.details["candidates"]["circular_embedding"] == pytest.approx(circ, rel=1e-6)
    assert g.details["winner"] == "circular_embedding"
    # without the input size only the kernel-space bound is available, and it is still a bound
    alone = conv_norm(kernel, None, padding="zeros")
    assert alone.details["winner"] == "norm2toep" and alone.value >= exact


def test_small_maps_with_zero_padding_and_large_kernels():
    kernel = _kernel((2, 3, 3, 3), 2)
    b = conv_norm(kernel, (2, 2), padding="zeros")  # a 3x3 conv on a 2x2 map is legal
    exact = _oracle(kernel, (2, 2), padding="zeros")
    assert b.value >= exact
    assert conv_norm(kernel, (2, 2), padding="zeros", method="exact").value == pytest.approx(exact)


def test_float32_kernels_still_give_bounds():
    kernel = _kernel((8, 8, 3, 3), 4, torch.float32, scale=0.1)
    for padding in ("circular", "zeros"):
        exact = _oracle(kernel, 7, padding=padding)
        assert conv_norm(kernel, 7, padding=padding).value >= exact
        assert conv_norm(kernel, 7, padding=padding, method="power").value <= exact
    t = gram_norm_conv_circular(kernel, 7)
    assert t.dtype == torch.float32 and float(t) >= _oracle(kernel, 7, padding="circular")
    t = gram_norm_conv_zeros(kernel, 3)
    assert t.dtype == torch.float32 and float(t) >= _oracle(kernel, 7, padding="zeros")


# ----------------------------------------------------------------------------------- gradients
def test_tensor_level_gram_functions_are_differentiable():
    kernel = _kernel((2, 3, 2, 3), 5).requires_grad_()
    assert torch.autograd.gradcheck(lambda k: gram_norm_conv_circular(k, (4, 5), n_iter=3), (kernel,))
    assert torch.autograd.gradcheck(lambda k: gram_norm_conv_zeros(k, n_iter=2), (kernel,))


def test_gradient_flows_through_the_screened_gram_and_matches_the_unscreened_one():
    kernel = _kernel((16, 16, 3, 3), 9).requires_grad_()
    y = gram_norm_conv_circular(kernel, 12, n_iter=8)
    (grad,) = torch.autograd.grad(y, kernel)
    geom = conv_geometry(kernel.shape, 12)
    tdft = conv_circular._TorusDFT(conv_geometry_module._grouped(kernel, 1), geom.input_size)
    assert conv_circular._screen(tdft, 8) is not None  # the screening is active here
    maxima, _, _, _ = conv_circular._gram_blocks_logs(tdft, 8, 0.0, screen=False)
    (grad_full,) = torch.autograd.grad(torch.exp(maxima[-1]), kernel)
    torch.testing.assert_close(grad, grad_full, rtol=1e-6, atol=1e-9)
    assert float(grad.abs().sum()) > 0


def test_gradient_keeps_the_float32_dtype():
    kernel = _kernel((4, 4, 3, 3), 3, torch.float32).requires_grad_()
    (gram_norm_conv_circular(kernel, 6) + gram_norm_conv_zeros(kernel, 2)).backward()
    assert kernel.grad.dtype == torch.float32 and torch.isfinite(kernel.grad).all()


# ----------------------------------------------------------------------------------- errors
def test_argument_errors_name_the_argument():
    k = _kernel((4, 2, 3, 3), 0)
    with pytest.raises(ValueError, match="kernel"):
        conv_norm(k[0], 8)
    with pytest.raises(ValueError, match="finite"):
        conv_norm(torch.full((1, 1, 3, 3), float("nan")), 8)
    with pytest.raises(ValueError, match="complex"):
        conv_norm(k.to(torch.complex128), 8)
    with pytest.raises(TypeError, match="kernel"):
        conv_norm(torch.ones(1, 1, 3, 3, dtype=torch.int32), 8)
    with pytest.raises(ValueError, match="input_size"):
        conv_norm(k, 2, padding="circular")
    with pytest.raises(ValueError, match="input_size"):
        gram_norm_conv_circular(k, (8, 2))
    with pytest.raises(ValueError, match="input_size"):
        conv_norm(k, (1, 1), padding="zeros", pad=0)
    with pytest.raises(ValueError, match="input_size"):
        conv_norm(k, None, padding="circular")
    with pytest.raises(ValueError, match="groups"):
        conv_norm(k, 8, groups=3)
    with pytest.raises(ValueError, match="groups"):
        conv_norm(k, 8, groups=0)
    with pytest.raises(ValueError, match="padding"):
        conv_norm(k, 8, padding="reflect")
    with pytest.raises(ValueError, match="pad"):
        conv_norm(k, 8, pad="valid")
    with pytest.raises(ValueError, match="pad"):
        conv_norm(k, 8, pad=-1)
    with pytest.raises(ValueError, match="stride"):
        conv_norm(k, 8, stride=0)
    with pytest.raises(ValueError, match="method"):
        conv_norm(k, 8, method="sedghi")
    with pytest.raises(ValueError, match="max_entries"):
        conv_norm(k, 64, padding="zeros", method="exact")
    with pytest.raises(ValueError, match=r"\d+×\d+"):
        conv_norm(k, 8, padding="zeros", method="exact", max_entries=100)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_norm(k, 4, stride=2, output_padding=2)
