r"""Spectral normalisation by a Gram **upper bound** of the operator norm.

.. math::

    W' = W / \rho(W), \qquad \rho(W) \ge \|W\|_2 \ \Rightarrow\ \|W'\|_2 \le 1,

with :math:`\rho` = :func:`~stablecore.spectral.gram_norm_dense` (dense),
:func:`~stablecore.spectral.gram_norm_conv_zeros` (zero padding: kernel-space bound, valid for every
input size, padding and stride) or :func:`~stablecore.spectral.gram_norm_conv_circular` (circular
padding on the ``input_size`` torus). Unlike ``torch.nn.utils.spectral_norm`` (power iteration, a
lower estimate, on the *reshaped* kernel) the layer is 1-Lipschitz at every step.

Registered constant (``upper_bound``): :math:`1 + 2u` (``u`` the roundoff of the weight dtype): ``ρ`` is
rigorous (rounding included, cast up) and the division rounds by at most ``u``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.layers._common import (
    Shape,
    check_conv_options,
    check_positive_int,
    conv_layer_gram_bound,
    pair,
    register_layer,
)
from stablecore.numerics import round_up, unit_roundoff
from stablecore.spectral import gram_norm_dense
from stablecore.types import Bound

__all__ = ["SpectralNormConv2d", "SpectralNormLinear"]


class _GramNormalize(nn.Module):
    def __init__(self, n_iter: int, padding_mode: str | None = None, input_size: tuple | None = None) -> None:
        super().__init__()
        self.n_iter, self.padding_mode, self.input_size = n_iter, padding_mode, input_size

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if weight.ndim == 2:
            rho = gram_norm_dense(weight, self.n_iter)
        else:
            rho = conv_layer_gram_bound(weight, self.padding_mode, self.input_size, self.n_iter)
        return weight / rho.clamp_min(torch.finfo(weight.dtype).tiny)


def _bound(module: nn.Module) -> Bound:
    u = unit_roundoff(module.weight.dtype)
    return Bound(round_up(1 + 2 * u), "upper_bound", "spectral normalisation by a Gram upper bound (1 + 2u)")


def _linear_bound(module: SpectralNormLinear, shape: Shape, **options) -> tuple[Bound, Shape]:
    if shape[-1] != module.in_features:
        raise ValueError(f"{type(module).__name__} expects {module.in_features} features, got {shape}")
    return _bound(module), (*shape[:-1], module.out_features)


def _conv_bound(module: SpectralNormConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    if len(shape) != 3 or shape[0] != module.in_channels:
        raise ValueError(f"{type(module).__name__} expects ({module.in_channels}, H, W), got {shape}")
    if module.padding_mode == "circular" and tuple(shape[1:]) != module.input_size:
        raise ValueError(f"normalised for input_size {module.input_size}, got input shape {shape}")
    with torch.no_grad():
        x = torch.zeros((1, *shape), dtype=module.weight.dtype, device=module.weight.device)
        out = tuple(nn.Conv2d.forward(module, x).shape[1:])
    return _bound(module), out


class SpectralNormLinear(nn.Linear):
    r""":math:`x \mapsto W x / \rho(W) + b` with :math:`\rho` a Gram upper bound (``n_iter`` iterations).

    Example:
        >>> layer = SpectralNormLinear(4, 3)
        >>> bool(torch.linalg.matrix_norm(layer.weight.detach(), 2) <= 1)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        n_iter: int = 6,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.n_iter = check_positive_int(n_iter, "n_iter")
        parametrize.register_parametrization(self, "weight", _GramNormalize(self.n_iter))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", n_iter={self.n_iter}"


class SpectralNormConv2d(nn.Conv2d):
    r"""Convolution with kernel :math:`K / \rho(K)`, :math:`\rho` a Gram upper bound of the conv's norm.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode,
        device, dtype: as ``nn.Conv2d`` (``dilation=1``, ``groups=1``; zeros or circular padding).
        input_size: ``n`` or ``(H, W)``; required for circular padding (odd kernel, padding ``k//2``,
            stride 1), ignored for zero padding (the kernel-space bound holds for every size).
        n_iter: Gram iterations.

    Raises:
        ValueError: unsupported padding mode / dilation / groups, circular without ``input_size``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "same",
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        input_size: int | tuple[int, int] | None = None,
        n_iter: int = 4,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_conv_options(padding_mode, dilation, groups, "SpectralNormConv2d")
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=bias, padding_mode=padding_mode, device=device, dtype=dtype,
        )  # fmt: skip
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.input_size = None if input_size is None else pair(input_size, "input_size")
        if padding_mode == "circular":
            kh, kw = self.kernel_size
            same = self.padding == "same" or tuple(self.padding) == (kh // 2, kw // 2)
            if self.input_size is None or kh % 2 == 0 or kw % 2 == 0 or not same or self.stride != (1, 1):
                raise ValueError(
                    "SpectralNormConv2d with circular padding needs input_size, an odd kernel, "
                    "padding kernel_size // 2 and stride 1"
                )
        parametrize.register_parametrization(
            self, "weight", _GramNormalize(self.n_iter, padding_mode, self.input_size)
        )

    def extra_repr(self) -> str:
        size = f", input_size={self.input_size}" if self.input_size is not None else ""
        return super().extra_repr() + f"{size}, n_iter={self.n_iter}"


register_layer(SpectralNormLinear, _linear_bound)
register_layer(SpectralNormConv2d, _conv_bound)
