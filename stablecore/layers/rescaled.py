r"""Spectral rescaling SR of depth ``T`` (Delattre et al. 2024, arXiv 2402.00240; docs/chapters/ch02.md
§3.1(d)).

.. math::

    t_i = \Bigl(\sum_j \bigl|\bigl((W W^\top)^{2^{T-1}}\bigr)_{ij}\bigr|\Bigr)^{2^{-T}},\qquad
    x \mapsto \operatorname{diag}(t)^{-1} W x + b .

Gershgorin on :math:`(WW^\top)^{2^{T-1}}` and the operator monotonicity of :math:`x^{1/p}` give
:math:`WW^\top \preceq \operatorname{diag}(t)^2`. ``T = 1`` is AOL on the rows; ``T → ∞`` tends to
spectral normalisation. The powers are computed by the rescaled Gram loop (log-space scales); for a
convolution the iterates are kernel-space Gram kernels (one ``t`` per output channel; size ``2^T(k-1)+1``).

Registered constant (``upper_bound``): the float64 Gram bound (:func:`~stablecore.spectral.matrix_norm`,
:func:`~stablecore.spectral.conv_norm`) of the weight actually used, so rounding is covered; it exceeds
the true norm (≤ 1) by the Gram iteration's excess.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.layers._common import (
    Shape,
    abs_row_sums,
    check_conv_options,
    check_positive_int,
    output_gram_power,
    register_layer,
)
from stablecore.spectral import conv_norm, matrix_norm
from stablecore.types import Bound

__all__ = ["SRConv2d", "SRLinear", "sr_scale"]


def sr_scale(weight: torch.Tensor, depth: int) -> torch.Tensor:
    r"""Inverse SR scales :math:`1/t_i` per output row/channel (``0`` for a zero row).

    Example:
        >>> W = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
        >>> sr_scale(W, 1)
        tensor([0.3333, 1.0000])
    """
    p, log_scale = output_gram_power(weight, depth - 1)
    s = abs_row_sums(p)
    positive = s > 0
    log_t = (torch.where(positive, s, torch.ones_like(s)).log() + log_scale) * 2.0**-depth
    return torch.where(positive, torch.exp(-log_t), torch.zeros_like(s))


class _SRParam(nn.Module):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        d = sr_scale(weight, self.depth)
        return weight * (d[:, None, None, None] if weight.ndim == 4 else d[:, None])


def _linear_bound(module: SRLinear, shape: Shape, **options) -> tuple[Bound, Shape]:
    if shape[-1] != module.in_features:
        raise ValueError(f"SRLinear expects {module.in_features} features, got input shape {shape}")
    return matrix_norm(module.weight.detach()), (*shape[:-1], module.out_features)


def _conv_bound(module: SRConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    from stablecore.spectral import symmetric_padding

    if len(shape) != 3 or shape[0] != module.in_channels:
        raise ValueError(f"SRConv2d expects ({module.in_channels}, H, W), got {shape}")
    bound = conv_norm(
        module.weight.detach(),
        shape[1:],
        padding=module.padding_mode,
        pad=symmetric_padding(module),
        stride=module.stride,
    )
    with torch.no_grad():
        x = torch.zeros((1, *shape), dtype=module.weight.dtype, device=module.weight.device)
        out = tuple(nn.Conv2d.forward(module, x).shape[1:])
    return bound, out


class SRLinear(nn.Linear):
    r"""1-Lipschitz linear layer :math:`\operatorname{diag}(t)^{-1} W x + b` (SR of depth ``depth``)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        depth: int = 3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.depth = check_positive_int(depth, "depth")
        parametrize.register_parametrization(self, "weight", _SRParam(self.depth))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", depth={self.depth}"


class SRConv2d(nn.Conv2d):
    r"""1-Lipschitz convolution with SR rescaling of the output channels (zero or circular padding)."""

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
        depth: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_conv_options(padding_mode, dilation, groups, "SRConv2d")
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, dilation=dilation,
            groups=groups, bias=bias, padding_mode=padding_mode, device=device, dtype=dtype,
        )  # fmt: skip
        self.depth = check_positive_int(depth, "depth")
        parametrize.register_parametrization(self, "weight", _SRParam(self.depth))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", depth={self.depth}"


register_layer(SRLinear, _linear_bound)
register_layer(SRConv2d, _conv_bound)
