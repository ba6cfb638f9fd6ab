"""Speed work on the Lipschitz layers (issue 12, benchmark part (a)): the kernel-space Gram bound behind CPL
stays an upper bound of the exact zero-padded norm (independent oracle: the conv's dense Jacobian), and
CPL's ``step_grad=False`` option keeps the forward (hence the guarantee) and every parameter's gradient."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import stablecore.layers as L
from stablecore.spectral import gram_norm_conv_zeros


def _dense_conv_norm(kernel: torch.Tensor, size: tuple[int, int], pad: tuple[int, int], stride: int) -> float:
    """Exact norm of ``conv2d(·, kernel, padding=pad, stride=stride)`` on ``size``: SVD (float64) of the
    dense matrix whose columns are the responses to every input impulse."""
    k64 = kernel.detach().to(torch.float64)
    n_in = k64.shape[1] * size[0] * size[1]
    impulses = torch.eye(n_in, dtype=torch.float64).reshape(n_in, k64.shape[1], *size)
    out = F.conv2d(impulses, k64, padding=pad, stride=stride).reshape(n_in, -1).T
    return float(torch.linalg.matrix_norm(out, 2))


@settings(max_examples=25, deadline=None)
@given(
    c_out=st.integers(1, 5),
    c_in=st.integers(1, 5),
    kh=st.sampled_from([1, 2, 3, 5]),
    kw=st.sampled_from([1, 3]),
    n_iter=st.integers(1, 3),
    stride=st.integers(1, 2),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
)
def test_kernel_space_bound_dominates_the_exact_zero_padded_norm(
    c_out, c_in, kh, kw, n_iter, stride, dtype, seed
):
    g = torch.Generator().manual_seed(seed)
    kernel = torch.randn(c_out, c_in, kh, kw, generator=g, dtype=torch.float64).to(dtype)
    bound = gram_norm_conv_zeros(kernel, n_iter)
    assert bound.dtype == dtype
    size = (kh + 3, kw + 4)
    for pad in ((kh // 2, kw // 2), (0, 0), (kh - 1, kw - 1)):
        assert float(bound) >= _dense_conv_norm(kernel, size, pad, stride)


def test_kernel_space_bound_tightens_with_iterations_and_approaches_the_norm():
    g = torch.Generator().manual_seed(3)
    kernel = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    bounds = [float(gram_norm_conv_zeros(kernel, t)) for t in (1, 2, 3, 4, 5)]
    assert all(a >= b for a, b in itertools.pairwise(bounds))
    exact = _dense_conv_norm(kernel, (16, 16), (1, 1), 1)  # large input: close to the ℓ2(Z²) norm
    assert exact <= bounds[-1] <= 1.15 * exact


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: L.CPLConv2d(3, 4, kernel_size=3, n_iter=2, **kw),
        lambda **kw: L.CPLConv2d(
            3, kernel_size=(3, 1), padding_mode="circular", input_size=5, n_iter=3, **kw
        ),
        lambda **kw: L.CPLLinear(5, 7, n_iter=4, **kw),
    ],
)
def test_cpl_without_step_gradient_has_the_same_forward_and_gradients_everywhere(make):
    torch.manual_seed(0)
    a = make().double()
    torch.manual_seed(0)
    b = make(step_grad=False).double()
    x = (
        torch.randn(2, 3, 5, 5, dtype=torch.float64)
        if isinstance(a, L.CPLConv2d)
        else torch.randn(3, 5).double()
    )
    ya, yb = a(x), b(x)
    assert torch.equal(ya, yb)  # same function, bitwise: the guarantee is unchanged
    assert not b.step_size().requires_grad and a.step_size().requires_grad
    up = torch.randn_like(ya)
    ya.backward(up)
    yb.backward(up)
    for (name, _), pb in zip(a.named_parameters(), b.parameters()):
        assert pb.grad is not None and float(pb.grad.abs().sum()) > 0, name
    # the weight's gradient differs by the step's own term only (bias gradients are identical)
    assert not torch.allclose(a.weight.grad, b.weight.grad)
    torch.testing.assert_close(a.bias.grad, b.bias.grad)
    assert "step_grad=False" in repr(b) and "step_grad" not in repr(a)


def test_cpl_without_step_gradient_is_one_lipschitz_and_exports():
    torch.manual_seed(1)
    layer = L.CPLConv2d(2, 3, kernel_size=3, n_iter=2, step_grad=False).double()
    with torch.no_grad():
        layer.weight.mul_(5.0)  # adversarially large kernel: the step must shrink accordingly
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(layer, x).reshape(x.numel(), x.numel())
    assert float(torch.linalg.matrix_norm(jac, 2)) <= 1 + 1e-5
    exported = L.export(layer)
    torch.testing.assert_close(exported(x), layer(x), rtol=0, atol=1e-5)


def test_step_grad_must_be_a_bool():
    with pytest.raises(TypeError, match="step_grad"):
        L.CPLConv2d(2, step_grad=1)
    with pytest.raises(TypeError, match="step_grad"):
        L.CPLLinear(2, step_grad="no")
