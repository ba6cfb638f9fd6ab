"""Lipschitz bounds (ℓ2) of the standard torch leaf modules, registered with :func:`register`.

* ``Linear``/``Conv2d``/``ConvTranspose2d``: spectral norm of the operator (:func:`matrix_norm`,
  :func:`conv_norm`; ``method`` = gram | exact | power | ...). A strided or padded convolution is
  bounded as documented in :mod:`stablecore.spectral.conv`.
* ``BatchNorm`` in eval mode: the diagonal map ``x ↦ γ (x − μ)/√(σ² + ε) + β``, constant
  ``max_c |γ_c|/√(σ²_c + ε)`` (exact). Train mode is refused: its output depends on the batch.
* Element-wise activations: ``sup |σ'|`` (closed forms: ReLU 1, sigmoid 1/4, GELU
  ``Φ(√2) + √2 φ(√2)``; SiLU and tanh-GELU by a numerical maximisation, rounded up).
* Pooling: for windows ``w`` of a pooling map, ``‖max_w d‖² ≤ Σ_i d_i² · #{w ∋ i}`` and, by
  Cauchy–Schwarz, ``‖avg_w d‖² ≤ Σ_i d_i² Σ_{w∋i} r_w / n_w²`` (``r_w`` inputs in ``w``, divisor
  ``n_w``). Windows of 2-D pooling are products of 1-D windows, so the constant is
  ``√(c_h · c_w)`` with ``c`` the worst 1-D count; overlapping max pooling with kernel ``k`` and stride
  ``s`` gives ``√(⌈k_h/s_h⌉⌈k_w/s_w⌉)`` (away from borders). For max pooling this is exact: a spike
  at an input in the most windows has a Jacobian with that many unit rows in its column. For
  average pooling it is exact for non-overlapping windows and an upper bound otherwise; with
  ``divisor_override=D`` the window sums are divided by ``D`` (``√(c_h c_w)/D``, ``c`` counting inputs).
* ``Flatten``, ``Identity``, ``Dropout`` (the bound is of the eval-mode network, where dropout is the
  identity), :class:`~stablecore.blocks.ChannelPad`: 1. :class:`~stablecore.blocks.Normalize`:
  ``1/min(std)`` (exact).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import _pair

from stablecore.blocks import ChannelPad, Normalize
from stablecore.limits import check_memory
from stablecore.spectral.network import register
from stablecore.types import Bound

Shape = tuple[int, ...]

__all__: list[str] = []


def _exact(value: float, method: str) -> Bound:
    return Bound(value, "exact", method)


# ----------------------------------------------------------------------------------- linear maps
@register(nn.Linear)
def _linear(module: nn.Linear, shape: Shape, *, method: str = "gram", **options) -> tuple[Bound, Shape]:
    from stablecore.spectral.dense import matrix_norm

    if shape[-1] != module.in_features:
        raise ValueError(f"Linear expects {module.in_features} input features, got input shape {shape}")
    bound = matrix_norm(module.weight.detach(), method=method, n_iter=options.get("n_iter"))
    return bound, (*shape[:-1], module.out_features)


def _conv_geometry(module: nn.Conv2d | nn.ConvTranspose2d, shape: Shape) -> tuple[int, int]:
    if len(shape) != 3:
        raise ValueError(f"{type(module).__name__} expects input shape (C, H, W), got {shape}")
    if shape[0] != module.in_channels:
        raise ValueError(
            f"{type(module).__name__} expects {module.in_channels} channels, got input shape {shape}"
        )
    if tuple(module.dilation) != (1, 1):
        raise ValueError(f"{type(module).__name__} with dilation {module.dilation} is not supported")
    return shape[1], shape[2]


def symmetric_padding(module: nn.Conv2d) -> tuple[int, int]:
    """A symmetric zero padding whose operator contains ``module``'s rows.

    ``padding="same"`` pads ``(k-1)//2`` before and the rest after; the conv padded by
    ``ceil((k-1)/2) = k//2`` on both sides has every output of it (a superset of rows), so its norm
    bounds the layer's. ``"valid"`` is no padding.
    """
    kh, kw = module.kernel_size
    if module.padding == "valid":
        return (0, 0)
    if module.padding == "same":
        return (kh // 2, kw // 2)
    return (int(module.padding[0]), int(module.padding[1]))


@register(nn.Conv2d)
def _conv2d(module: nn.Conv2d, shape: Shape, *, method: str = "gram", **options) -> tuple[Bound, Shape]:
    from stablecore.spectral.conv import conv_norm

    h, w = _conv_geometry(module, shape)
    kh, kw = module.kernel_size
    sh, sw = module.stride
    if module.padding_mode not in ("zeros", "circular"):
        raise ValueError(
            f"Conv2d with padding_mode={module.padding_mode!r} is not supported (zeros or circular only)"
        )
    if module.padding_mode == "circular" and module.padding == "same" and (kh % 2 == 0 or kw % 2 == 0):
        raise ValueError("circular Conv2d with padding='same' and an even kernel is not supported")
    pad = symmetric_padding(module)
    bound = conv_norm(
        module.weight.detach(),
        (h, w),
        padding=module.padding_mode,
        pad=pad,
        stride=(sh, sw),
        groups=module.groups,
        method=method,
        n_iter=options.get("n_iter"),
    )
    if module.padding == "same":
        out = (h, w)
    else:
        out = ((h + 2 * pad[0] - kh) // sh + 1, (w + 2 * pad[1] - kw) // sw + 1)
    if min(out) < 1:
        raise ValueError(f"Conv2d output would be empty for input shape {shape}")
    return bound, (module.out_channels, *out)


@register(nn.ConvTranspose2d)
def _conv_transpose2d(
    module: nn.ConvTranspose2d, shape: Shape, *, method: str = "gram", **options
) -> tuple[Bound, Shape]:
    from stablecore.spectral.conv import conv_transpose_norm

    h, w = _conv_geometry(module, shape)
    if module.padding_mode != "zeros":
        raise ValueError("ConvTranspose2d supports padding_mode='zeros' only")
    kh, kw = module.kernel_size
    sh, sw = module.stride
    ph, pw = module.padding
    oh, ow = module.output_padding
    out = ((h - 1) * sh - 2 * ph + kh + oh, (w - 1) * sw - 2 * pw + kw + ow)
    bound = conv_transpose_norm(
        module.weight.detach(),
        (h, w),
        pad=(ph, pw),
        stride=(sh, sw),
        groups=module.groups,
        output_padding=(oh, ow),
        method=method,
        n_iter=options.get("n_iter"),
    )
    return bound, (module.out_channels, *out)


# ----------------------------------------------------------------------------------- normalisation
def _batchnorm(module: nn.modules.batchnorm._BatchNorm, shape: Shape, **options) -> tuple[Bound, Shape]:
    if module.training:
        raise ValueError(
            f"{type(module).__name__} is in train mode: its output depends on the batch statistics; "
            f"call model.eval() first"
        )
    if module.running_var is None:
        raise ValueError(f"{type(module).__name__} without running statistics cannot be bounded")
    if shape[0] != module.num_features:
        raise ValueError(f"{type(module).__name__} expects {module.num_features} channels, got {shape}")
    var = module.running_var.detach().double()
    gamma = module.weight.detach().double().abs() if module.weight is not None else torch.ones_like(var)
    return _exact(float((gamma / torch.sqrt(var + module.eps)).max()), "batchnorm (eval)"), shape


for _bn in (nn.BatchNorm1d, nn.BatchNorm2d):
    register(_bn)(_batchnorm)


@register(Normalize)
def _normalize(module: Normalize, shape: Shape, **options) -> tuple[Bound, Shape]:
    return _exact(float(1.0 / module.std.double().min()), "1/min(std)"), shape


@register(ChannelPad)
def _channel_pad(module: ChannelPad, shape: Shape, **options) -> tuple[Bound, Shape]:
    if len(shape) < 1 or shape[0] > module.channels:
        raise ValueError(
            f"ChannelPad({module.channels}) expects input shape (C, ...) with C <= {module.channels}, "
            f"got {shape}"
        )
    return _exact(1.0, "zero channels appended (isometry)"), (module.channels, *shape[1:])


# ----------------------------------------------------------------------------------- activations
def _sup_abs(fn: Callable[[float], float], lo: float, hi: float, grid: int = 20001) -> float:
    """max |fn| on [lo, hi]: a dense grid then a golden-section refinement, rounded up by 1e-9."""
    xs = [lo + (hi - lo) * i / (grid - 1) for i in range(grid)]
    best = max(xs, key=lambda x: abs(fn(x)))
    a, b = best - (hi - lo) / grid, best + (hi - lo) / grid
    ratio = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if abs(fn(c)) > abs(fn(d)):
            b = d
        else:
            a = c
    return abs(fn((a + b) / 2)) + 1e-9


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _silu_grad(x: float) -> float:
    s = 1 / (1 + math.exp(-x))
    return s * (1 + x * (1 - s))


def _gelu_tanh_grad(x: float) -> float:
    c = math.sqrt(2 / math.pi)
    u = c * (x + 0.044715 * x**3)
    t = math.tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * 0.044715 * x * x)


GELU_ERF = 0.5 * (1 + math.erf(1.0)) + math.sqrt(2) * _phi(math.sqrt(2))  # Φ(√2) + √2 φ(√2)
SILU = _sup_abs(_silu_grad, -20.0, 20.0)
GELU_TANH = _sup_abs(_gelu_tanh_grad, -20.0, 20.0)


def _activation(value: float | Callable[[nn.Module], float], kind: str = "exact") -> Callable:
    def fn(module: nn.Module, shape: Shape, **options) -> tuple[Bound, Shape]:
        v = value(module) if callable(value) else value
        return Bound(v, kind, f"sup|σ'| ({type(module).__name__})"), shape

    return fn


for _t in (nn.ReLU, nn.ReLU6, nn.Tanh, nn.Hardtanh, nn.Softsign, nn.Softplus, nn.Identity):
    register(_t)(_activation(1.0))
register(nn.Sigmoid)(_activation(0.25))
register(nn.LeakyReLU)(_activation(lambda m: max(1.0, abs(m.negative_slope))))
register(nn.ELU)(_activation(lambda m: max(1.0, float(m.alpha))))
register(nn.SiLU)(_activation(SILU, "upper_bound"))


@register(nn.GELU)
def _gelu(module: nn.GELU, shape: Shape, **options) -> tuple[Bound, Shape]:
    if module.approximate == "tanh":
        return Bound(GELU_TANH, "upper_bound", "sup|σ'| (GELU tanh, numerical, rounded up)"), shape
    return Bound(math.nextafter(GELU_ERF, math.inf), "exact", "sup|σ'| = Φ(√2)+√2φ(√2) (GELU)"), shape


# ----------------------------------------------------------------------------------- shape-only maps
for _t in (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout):
    register(_t)(lambda module, shape, **options: (_exact(1.0, "identity at eval"), shape))


@register(nn.Flatten)
def _flatten(module: nn.Flatten, shape: Shape, **options) -> tuple[Bound, Shape]:
    full = (1, *shape)  # with a batch dimension
    start = module.start_dim % len(full)
    end = module.end_dim % len(full)
    if start == 0:
        raise ValueError("Flatten with start_dim=0 mixes the batch dimension; not supported")
    flat = (*full[1:start], math.prod(full[start : end + 1]), *full[end + 1 :])
    return _exact(1.0, "reshape"), tuple(flat)


# ----------------------------------------------------------------------------------- pooling
Windows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""1-D windows of a pooling: input indices ``(out, k)``, which are inside the input ``(out, k)``, and
the divisor of each window with padding counted ``(out,)`` (numpy: no Python object per index)."""


def _check_windows_memory(n: int, out: int, k: int) -> None:
    # indices, mask and products per window entry, two counters per input position
    check_memory(24 * out * k + 16 * n, argument="input_shape", what=f"the pooling windows ({out} of {k})")


def _windows_fixed(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> Windows:
    """1-D windows of a (max/avg) pooling: (input indices inside, divisor with padding counted)."""
    span = d * (k - 1) + 1
    numerator = n + 2 * p - span
    if numerator < 0:
        raise ValueError(f"pooling window {k} (dilation {d}) larger than padded input {n + 2 * p}")
    out = (math.ceil(numerator / s) if ceil_mode else numerator // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:  # torch drops a last window that starts in the padding
        out -= 1
    _check_windows_memory(n, out, k)
    start = np.arange(out, dtype=np.int64) * s - p
    idx = start[:, None] + d * np.arange(k, dtype=np.int64)[None, :]
    divisor = np.minimum(start + span, n + p) - start  # torch's count_include_pad divisor (d == 1)
    return idx, (idx >= 0) & (idx < n), divisor


def _windows_adaptive(n: int, out: int) -> Windows:
    o = np.arange(out, dtype=np.int64)
    start, end = (o * n) // out, -((-(o + 1) * n) // out)
    length = int((end - start).max())
    _check_windows_memory(n, out, length)
    idx = start[:, None] + np.arange(length, dtype=np.int64)[None, :]
    return idx, idx < end[:, None], end - start


def _max_count(windows: Windows, n: int) -> float:
    idx, inside, _ = windows
    return float(np.bincount(idx[inside], minlength=n).max())


def _avg_weight(windows: Windows, n: int, include_pad: bool | None) -> float:
    """``max_i Σ_{w∋i} r_w / m_w²`` per dimension (``m_w = 1`` when ``include_pad`` is None: override)."""
    idx, inside, divisor = windows
    r = inside.sum(axis=1)
    m = np.ones_like(r) if include_pad is None else divisor if include_pad else np.maximum(r, 1)
    per_window = r / (m * m)
    weights = np.bincount(
        idx[inside], weights=np.broadcast_to(per_window[:, None], idx.shape)[inside], minlength=n
    )
    return float(weights.max())


def _pool_bound(per_dim: list[float], overlapping: bool, name: str) -> Bound:
    value = math.sqrt(math.prod(per_dim))
    return Bound(
        math.nextafter(value, math.inf) if overlapping else value,
        "upper_bound" if overlapping else "exact",
        name,
    )


def _pool_shape(module: nn.Module, shape: Shape) -> tuple[int, int]:
    if len(shape) != 3:
        raise ValueError(f"{type(module).__name__} expects input shape (C, H, W), got {shape}")
    return shape[1], shape[2]


@register(nn.MaxPool2d)
def _maxpool(module: nn.MaxPool2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    h, w = _pool_shape(module, shape)
    k, s = (
        _pair(module.kernel_size),
        _pair(module.stride if module.stride is not None else module.kernel_size),
    )
    p, d = _pair(module.padding), _pair(module.dilation)
    wins = [_windows_fixed(n, k[i], s[i], p[i], d[i], module.ceil_mode) for i, n in enumerate((h, w))]
    counts = [_max_count(wi, n) for wi, n in zip(wins, (h, w))]
    bound = _pool_bound(counts, False, "max pooling: √(windows per input)")
    return bound, (shape[0], len(wins[0][0]), len(wins[1][0]))


@register(nn.AvgPool2d)
def _avgpool(module: nn.AvgPool2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    h, w = _pool_shape(module, shape)
    override = module.divisor_override
    k, s = (
        _pair(module.kernel_size),
        _pair(module.stride if module.stride is not None else module.kernel_size),
    )
    p = _pair(module.padding)
    wins = [_windows_fixed(n, k[i], s[i], p[i], 1, module.ceil_mode) for i, n in enumerate((h, w))]
    include = None if override else module.count_include_pad
    weights = [_avg_weight(wi, n, include) for wi, n in zip(wins, (h, w))]
    exact = all(si >= ki for si, ki in zip(s, k)) and p == (0, 0)
    bound = _pool_bound(weights, not exact, "average pooling (Cauchy–Schwarz)")
    if override:  # window sums divided by D: the 2-D divisor does not factor per dimension
        value = bound.value / override
        bound = Bound(math.nextafter(value, math.inf) if not exact else value, bound.kind, bound.method)
    return bound, (shape[0], len(wins[0][0]), len(wins[1][0]))


def _adaptive_out(module: nn.Module, h: int, w: int) -> tuple[int, int]:
    size = _pair(module.output_size)
    return (size[0] if size[0] is not None else h, size[1] if size[1] is not None else w)


@register(nn.AdaptiveAvgPool2d)
def _adaptive_avg(module: nn.AdaptiveAvgPool2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    h, w = _pool_shape(module, shape)
    oh, ow = _adaptive_out(module, h, w)
    wins = [_windows_adaptive(h, oh), _windows_adaptive(w, ow)]
    weights = [_avg_weight(wi, n, False) for wi, n in zip(wins, (h, w))]
    overlapping = any(_max_count(wi, n) > 1 for wi, n in zip(wins, (h, w)))
    return _pool_bound(weights, overlapping, "adaptive average pooling"), (shape[0], oh, ow)


@register(nn.AdaptiveMaxPool2d)
def _adaptive_max(module: nn.AdaptiveMaxPool2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    if module.return_indices:
        raise ValueError("AdaptiveMaxPool2d with return_indices=True is not supported")
    h, w = _pool_shape(module, shape)
    oh, ow = _adaptive_out(module, h, w)
    wins = [_windows_adaptive(h, oh), _windows_adaptive(w, ow)]
    counts = [_max_count(wi, n) for wi, n in zip(wins, (h, w))]
    return _pool_bound(counts, False, "adaptive max pooling"), (shape[0], oh, ow)
