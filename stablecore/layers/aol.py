r"""AOL: almost-orthogonal Lipschitz layers (Prach & Lampert, ECCV 2022).

.. math::

    W' = W D,\qquad D = \operatorname{diag}\Bigl(\sum_j |W^\top W|_{ij}\Bigr)^{-1/2},
    \qquad \|W'\|_2 \le 1,

because :math:`D W^\top W D \preceq I` by Gershgorin's theorem applied with weights :math:`q = D^{-1}`
(Schur test). For a convolution the same holds with the Gram kernel :math:`P = K^\top \star K`
(``conv2d`` of the kernel with itself, size ``2k-1``): the Gram operator of the conv on
:math:`\ell_2(\mathbb Z^2)` is the convolution with ``P`` and its row sums are
:math:`\sum_{c',a,b}|P[c,c',a,b]|`. Every zero-padded conv (any padding, any stride) is a compression of
that operator and a circular one has the wrapped kernel (smaller row sums), so both are bounded.

The layers *are* ``nn.Linear`` / ``nn.Conv2d`` whose ``weight`` is a ``torch.nn.utils.parametrize``
parametrization of the free ``weight.original``.

Registered constant (``upper_bound``): a posteriori, in float64, from the weight the layer actually
uses: :math:`\|W'\|^2 \le \max_j \sum_i |W'^\top W'|_{ji}\, q_i / q_j` with :math:`q = D^{-1}`, rounding
errors of the check included (:func:`~stablecore.layers._common.gershgorin_upper`). It is 1 up to the
float rounding of the rescaling (about 1e-7 in float32).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.layers._common import (
    Shape,
    abs_row_sums,
    check_conv_options,
    gershgorin_upper,
    input_gram,
    register_layer,
)
from stablecore.numerics import round_up
from stablecore.types import Bound

__all__ = ["AOLConv2d", "AOLLinear", "aol_scale"]


def aol_scale(weight: torch.Tensor) -> torch.Tensor:
    r"""AOL input rescaling :math:`d_c = (\sum_{c'} |W^\top W|_{cc'})^{-1/2}` (``0`` for a zero column).

    Args:
        weight: ``(out, in)`` matrix or ``(out, in, kh, kw)`` kernel.

    Returns:
        ``(in,)`` tensor; ``weight * d`` (broadcast over the input dimension) has norm at most 1.

    Example:
        >>> W = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
        >>> aol_scale(W)  # |WᵀW| = [[1, 1], [1, 2]] -> row sums 2, 3
        tensor([0.7071, 0.5774])
    """
    s = abs_row_sums(input_gram(weight))
    positive = s > 0
    return torch.where(
        positive, torch.rsqrt(torch.where(positive, s, torch.ones_like(s))), torch.zeros_like(s)
    )


class _AOLParam(nn.Module):
    """Parametrization ``W -> W · diag(aol_scale(W))`` (over input channels)."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        d = aol_scale(weight)
        return weight * (d[None, :, None, None] if weight.ndim == 4 else d[None, :])


def _aol_certificate(module: nn.Module) -> Bound:
    """Weighted-Gershgorin bound (float64, rounding included) of the weight the layer uses."""
    with torch.no_grad():
        original = module.parametrizations.weight.original
        d = aol_scale(original).to(torch.float64)
        q = torch.where(d > 0, 1.0 / d, torch.ones_like(d))
        s = gershgorin_upper(module.weight, q).max()
    return Bound(round_up(math.sqrt(float(s))), "upper_bound", "AOL (weighted Gershgorin, float64)")


def _aol_linear_bound(module: AOLLinear, shape: Shape, **options) -> tuple[Bound, Shape]:
    if shape[-1] != module.in_features:
        raise ValueError(f"AOLLinear expects {module.in_features} input features, got input shape {shape}")
    return _aol_certificate(module), (*shape[:-1], module.out_features)


def _conv_out_shape(module: nn.Conv2d, shape: Shape) -> Shape:
    if len(shape) != 3 or shape[0] != module.in_channels:
        raise ValueError(
            f"{type(module).__name__} expects input shape ({module.in_channels}, H, W), got {shape}"
        )
    with torch.no_grad():
        x = torch.zeros((1, *shape), dtype=module.weight.dtype, device=module.weight.device)
        return tuple(nn.Conv2d.forward(module, x).shape[1:])


def _aol_conv_bound(module: AOLConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    return _aol_certificate(module), _conv_out_shape(module, shape)


class AOLLinear(nn.Linear):
    r"""1-Lipschitz linear layer :math:`x \mapsto W D x + b` (AOL rescaling of the input columns).

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.

    Example:
        >>> layer = AOLLinear(4, 3)
        >>> bool(torch.linalg.matrix_norm(layer.weight.detach(), 2) <= 1 + 1e-6)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        parametrize.register_parametrization(self, "weight", _AOLParam())

    def extra_repr(self) -> str:
        return super().extra_repr() + ", rescaling=AOL"


class AOLConv2d(nn.Conv2d):
    r"""1-Lipschitz convolution with AOL rescaling of the input channels (Prach & Lampert 2022).

    Any kernel size, stride and zero padding (or circular padding); ``dilation=1``, ``groups=1``.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
        padding_mode, device, dtype: as ``nn.Conv2d`` (``padding`` defaults to ``"same"``).

    Raises:
        ValueError: ``padding_mode`` not zeros/circular, ``dilation != 1`` or ``groups != 1``.
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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_conv_options(padding_mode, dilation, groups, "AOLConv2d")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=bias,
            padding_mode=padding_mode,
            device=device,
            dtype=dtype,
        )
        parametrize.register_parametrization(self, "weight", _AOLParam())

    def extra_repr(self) -> str:
        return super().extra_repr() + ", rescaling=AOL"


register_layer(AOLLinear, _aol_linear_bound)
register_layer(AOLConv2d, _aol_conv_bound)
