"""Memory limits checked before allocating, and no silently ignored keyword in ``lipschitz_bound``."""

import pytest
import torch
from torch import nn

from stablecore.limits import MAX_MEMORY_ENV
from stablecore.spectral import (
    LipschitzPenalty,
    conv_norm,
    conv_transpose_norm,
    gram_norm_conv_circular,
    gram_norm_conv_zeros,
    layer_norm,
    lipschitz_bound,
    register,
)
from stablecore.spectral import network as network_module
from stablecore.types import Bound


def _kernel(shape=(4, 4, 3, 3)):
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


# ----------------------------------------------------------------------------------- memory
@pytest.mark.parametrize("padding", ["circular", "zeros"])
@pytest.mark.parametrize("method", ["gram", "exact", "power"])
def test_a_billion_pixel_input_is_refused_before_allocating(padding, method):
    # the explicit zero-padded matrix of "exact" is refused by its own max_entries first
    pattern = r"max_entries" if (method, padding) == ("exact", "zeros") else r"^input_size: .*above the limit"
    with pytest.raises(ValueError, match=pattern) as err:
        conv_norm(_kernel(), 10**9, padding=padding, method=method)
    assert "\n" not in str(err.value)


def test_tensor_level_and_transposed_routes_are_limited_too():
    with pytest.raises(ValueError, match=r"^input_size: the FFT blocks"):
        gram_norm_conv_circular(_kernel(), 10**9)
    with pytest.raises(ValueError, match=r"^n_iter: the kernel-space Gram grid"):
        gram_norm_conv_zeros(_kernel(), 40)
    with pytest.raises(ValueError, match=r"^input_size: "):
        conv_transpose_norm(_kernel(), 10**9)


@pytest.mark.parametrize(("method", "n_iter"), [("norm2toep", 40), ("gram", 40), ("lipgrid", 10**7)])
def test_huge_grids_are_refused_naming_n_iter(method, n_iter):
    with pytest.raises(ValueError, match=r"^n_iter: .*above the limit"):
        conv_norm(_kernel(), None, padding="zeros", method=method, n_iter=n_iter)


def test_the_limit_is_the_documented_overridable_one(monkeypatch):
    kernel = _kernel((2, 2, 3, 3))
    assert conv_norm(kernel, 256, padding="circular").value > 0  # well within the default limit
    monkeypatch.setenv(MAX_MEMORY_ENV, "8M")  # the blocks of a 256×256 torus need about 17 MB
    with pytest.raises(ValueError, match=f"input_size: the FFT blocks .*{MAX_MEMORY_ENV}"):
        conv_norm(kernel, 256, padding="circular")
    with pytest.raises(ValueError, match="input_size"):
        conv_norm(kernel, 256, padding="zeros")  # the circular embedding on the padded size
    # routes that do not grow with the input size still answer
    assert conv_norm(kernel, 256, padding="zeros", method="fantastic4").value > 0
    assert conv_norm(kernel, None, padding="zeros").value > 0  # kernel-space grid: about 2 MB


def test_fantastic4_and_lipgrid_on_a_huge_circular_input_need_no_memory_of_its_size():
    # the row-selection norm is a closed form (it used to count rows with O(input_size) arrays)
    b = conv_norm(_kernel(), 10**12, padding="circular", method="fantastic4", stride=3)
    assert b.details["selection_norm"] == 1.0  # gcd(3, 10^12) = 1, ⌈(10^12/3)/10^12⌉ = 1
    b = conv_norm(_kernel(), 10**12 + 1, padding="circular", method="lipgrid", stride=3, pad=1)
    assert b.value > 0


def test_lipschitz_bound_refuses_an_example_too_large_for_memory():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    with pytest.raises(ValueError, match=r"^input_shape: one float64 example"):
        lipschitz_bound(model, (1, 10**9, 10**9))
    with pytest.raises(ValueError, match=r"^input_shape: "):
        layer_norm(nn.Linear(10**6, 1), (10**12,))


def test_pooling_windows_are_estimated_before_they_are_built(monkeypatch):
    monkeypatch.setenv(MAX_MEMORY_ENV, "4M")
    pool = nn.Sequential(nn.MaxPool2d((2, 1), stride=(1, 1)))
    with pytest.raises(ValueError, match=r"^input_shape: the pooling windows"):
        lipschitz_bound(pool, (1, 200_000, 1))  # one example: 1.6 MB; its windows: more
    assert lipschitz_bound(pool, (1, 1000, 1)).value == pytest.approx(2**0.5)


def test_penalty_dry_run_is_limited():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1))
    with pytest.raises(ValueError, match=r"^input_shape: the dry forward pass"):
        LipschitzPenalty(model, (1, 10**6, 10**6))


# ----------------------------------------------------------------------------------- keywords
def test_unknown_keywords_are_refused_like_python_does():
    model = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="unexpected keyword argument 'device'"):
        lipschitz_bound(model, (3,), device="cpu")
    with pytest.raises(TypeError, match="unexpected keyword argument 'n_iters'"):
        lipschitz_bound(model, (3,), n_iters=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'device'"):
        layer_norm(nn.Linear(3, 2), (3,), device="cpu")


def test_legitimate_options_still_reach_the_leaves():
    model = nn.Sequential(nn.Linear(6, 5, bias=False))
    b1 = lipschitz_bound(model, (6,), n_iter=1)
    b8 = lipschitz_bound(model, (6,), n_iter=8)
    assert b1.details["n_iter"].tolist() == [1] and b8.value <= b1.value
    assert layer_norm(model[0], (6,), method="exact", n_iter=3).kind == "exact"


class _Scale(nn.Module):
    def forward(self, x):
        return 2 * x


@pytest.fixture
def _scale_leaf():
    def leaf(module, shape, *, factor=2.0, **options):
        return Bound(factor, "exact", "scale"), shape

    register(_Scale)(leaf)
    yield
    network_module._REGISTRY.pop(_Scale, None)


def test_an_option_named_by_a_registered_leaf_is_accepted(_scale_leaf):
    assert lipschitz_bound(nn.Sequential(_Scale()), (3,), factor=5.0).value == 5.0
    with pytest.raises(TypeError, match="'device'"):
        lipschitz_bound(nn.Sequential(_Scale()), (3,), device="cpu")
