r"""SLL: SDP-based Lipschitz layers (Araujo, Havens, Delattre, Allauzen & Hu, ICLR 2023).

.. math::

    h(x) = x - 2\, W^\top T^{-1} \sigma(W x + b),\qquad
    T = \operatorname{diag}\Bigl(\sum_j |W W^\top|_{ij}\, \frac{q_j}{q_i}\Bigr),\quad q = e^{\tilde q},

with ``W`` of shape ``(inner, features)`` and :math:`\sigma` = ReLU (slope in [0, 1]). By the weighted
Gershgorin theorem :math:`T \succeq W W^\top`, so :math:`V = T^{-1/2} W` has :math:`\|V\| \le 1` and the
Jacobian :math:`I - 2 V^\top \Lambda V` (:math:`0 \preceq \Lambda \preceq I` diagonal) has its eigenvalues in
:math:`[-1, 1]`: ``h`` is 1-Lipschitz. The convolutional layer uses the output-side Gram kernel
:math:`K \star K^\top` (``conv2d(K, K, padding=k-1)``) and one weight :math:`q_c` per inner channel.

Unlike the reference code (``core/models/layers.py``), where both ``q`` and ``1/q`` index the same axis
and cancel in the conv layer, ``q_j`` multiplies the column and ``1/q_i`` the row, so ``log_q`` gets a
gradient. ``q = exp(log_q)`` is positive without ``abs`` or an epsilon; a zero row of ``W`` (``T_ii = 0``)
gets ``T_ii^{-1} = 0``.

Registered constant (``upper_bound``): a posteriori in float64 from the stored parameters, the diagonal
actually used, :math:`\tilde t = \mathrm{fl}(T^{-1})`, is compared with rigorous upper bounds
:math:`\bar T \ge T` (:func:`~stablecore.layers._common.gershgorin_upper`):
:math:`s = \max_i \bar T_i \tilde t_i (1 + 2u)` and :math:`L \le \max(1, 2s - 1)` (the step is at
most ``s`` times a 1-Lipschitz one). This is 1 up to ~1e-6 in float32.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stablecore.layers._common import (
    Shape,
    abs_row_sums,
    check_conv_options,
    check_positive_int,
    check_residual_shape,
    conv_same,
    conv_same_adjoint,
    gershgorin_upper,
    output_gram,
    output_gram_power,
    pair,
    register_layer,
    residual_certificate,
    same_padding,
)
from stablecore.numerics import round_up, unit_roundoff
from stablecore.types import Bound

__all__ = [
    "SLLConv2d",
    "SLLGramConv2d",
    "SLLGramLinear",
    "SLLLinear",
    "sll_gram_inverse_diagonal",
    "sll_inverse_diagonal",
]


def sll_inverse_diagonal(weight: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    r""":math:`T^{-1}` of SLL, :math:`T_i = \sum_j |WW^\top|_{ij} q_j / q_i`, ``0`` where :math:`T_i = 0`.

    Args:
        weight: ``(inner, features)`` matrix or ``(inner, channels, kh, kw)`` kernel.
        log_q: ``(inner,)`` log-weights.

    Example:
        >>> W = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> sll_inverse_diagonal(W, torch.zeros(2))  # |WWᵀ| = [[1, 1], [1, 2]]
        tensor([0.5000, 0.3333])
    """
    q = torch.exp(log_q)
    t = abs_row_sums(output_gram(weight), q)
    positive = t > 0
    return torch.where(positive, 1.0 / torch.where(positive, t, torch.ones_like(t)), torch.zeros_like(t))


def _sll_certificate(module: SLLLinear | SLLConv2d) -> Bound:
    with torch.no_grad():
        t_used = sll_inverse_diagonal(module.weight, module.log_q).to(torch.float64)
        q = torch.exp(module.log_q).to(torch.float64)
        upper = gershgorin_upper(module.weight, q, side="output")
        u = unit_roundoff(module.weight.dtype)
        s = float((upper * t_used).max()) * (1 + 2 * u) * (1 + 4 * 2.0**-53)
    return Bound(round_up(max(1.0, 2 * s - 1)), "upper_bound", "SLL (a-posteriori Gershgorin, float64)")


def _sll_bound(module: SLLLinear | SLLConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    conv = isinstance(module, SLLConv2d)
    check_residual_shape(module, shape, module.channels if conv else module.features, conv)
    return _sll_certificate(module), shape


class SLLLinear(nn.Module):
    r"""1-Lipschitz residual dense layer :math:`x - 2W^\top T^{-1}\mathrm{ReLU}(Wx + b)` (SLL).

    Args:
        features: input = output size.
        inner_features: rows of ``W`` (default ``features``).
        bias: learn ``b``.
        device, dtype: factory keywords.

    Example:
        >>> layer = SLLLinear(4, 6)
        >>> layer(torch.randn(2, 4)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        features: int,
        inner_features: int | None = None,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.features = check_positive_int(features, "features")
        self.inner_features = check_positive_int(inner_features or features, "inner_features")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.inner_features, features, **factory))
        self.bias = nn.Parameter(torch.empty(self.inner_features, **factory)) if bias else None
        self.log_q = nn.Parameter(torch.empty(self.inner_features, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.normal_(self.log_q, std=0.1)  # not all equal: q must matter from the first step
        if self.bias is not None:
            bound = 1 / math.sqrt(self.features)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = sll_inverse_diagonal(self.weight, self.log_q)
        z = torch.relu(nn.functional.linear(x, self.weight, self.bias))
        return x - nn.functional.linear(z * (2 * t), self.weight.mT)  # 2·t exact: same values, one pass less

    def extra_repr(self) -> str:
        return f"features={self.features}, inner_features={self.inner_features}, bias={self.bias is not None}"


class SLLConv2d(nn.Module):
    r"""1-Lipschitz residual convolution :math:`x - 2K^\top T^{-1}\mathrm{ReLU}(Kx + b)` (SLL).

    Stride 1, odd kernels, padding ``kernel_size // 2`` with zeros or circular (the Gram-kernel
    certificate holds for both and every input size).

    Args:
        channels: input = output channels.
        inner_channels: output channels of ``K`` (default ``channels``).
        kernel_size: odd int or pair.
        bias: learn ``b``.
        padding: ``"same"`` or ``kernel_size // 2``.
        padding_mode: ``"zeros"`` or ``"circular"``.
        device, dtype: factory keywords.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        padding: str | int | tuple[int, int] = "same",
        padding_mode: str = "zeros",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_conv_options(padding_mode, 1, 1, "SLLConv2d")
        self.channels = check_positive_int(channels, "channels")
        self.inner_channels = check_positive_int(inner_channels or channels, "inner_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.padding = same_padding(self.kernel_size, padding, "SLLConv2d")
        self.padding_mode = padding_mode
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.inner_channels, channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(self.inner_channels, **factory)) if bias else None
        self.log_q = nn.Parameter(torch.empty(self.inner_channels, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.normal_(self.log_q, std=0.1)
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = sll_inverse_diagonal(self.weight, self.log_q)
        z = torch.relu(conv_same(x, self.weight, self.bias, self.padding, self.padding_mode))
        # 2·t is exact (a power of two), so z·(2t) is bitwise 2·(z·t): one pass over the activations less
        return x - conv_same_adjoint(z * (2 * t)[:, None, None], self.weight, self.padding, self.padding_mode)

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, inner_channels={self.inner_channels}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}, padding_mode={self.padding_mode}, bias={self.bias is not None}"
        )


register_layer(SLLLinear, _sll_bound)
register_layer(SLLConv2d, _sll_bound)


# ------------------------------------------------------------------------------ SLL with Gram rescaling
def sll_gram_inverse_diagonal(weight: torch.Tensor, log_q: torch.Tensor, depth: int) -> torch.Tensor:
    r""":math:`T^{-1}` of SLL with Gram rescaling of depth ``k`` (docs/chapters/ch02.md §3.1(d)), ``0`` where
    ``T_i = 0``.

    .. math::

        T_i = \Bigl(\sum_j \frac{q_j}{q_i}\,
              \bigl|\bigl((W W^\top)^{2^{k-1}}\bigr)_{ij}\bigr|\Bigr)^{2^{-(k-1)}}

    Weighted Gershgorin on :math:`A = (WW^\top)^{p}` gives :math:`A \preceq D`; the operator monotonicity
    of :math:`x^{1/p}` gives :math:`WW^\top \preceq D^{1/p} = T`. ``k = 1`` is SLL; larger ``k`` tends to
    :math:`\|W\|^2 I` (CPL with the exact norm). Powers are formed by the rescaled Gram loop (Frobenius
    scales kept in log space); for a kernel, the iterates are kernel-space Gram kernels.

    Example:
        >>> W = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> q = torch.zeros(2)
        >>> torch.allclose(sll_gram_inverse_diagonal(W, q, 1), sll_inverse_diagonal(W, q))
        True
    """
    depth = check_positive_int(depth, "depth")
    p, log_scale = output_gram_power(weight, depth - 1)
    s = abs_row_sums(p, torch.exp(log_q))
    positive = s > 0
    log_t = (torch.where(positive, s, torch.ones_like(s)).log() + log_scale) * 2.0 ** -(depth - 1)
    return torch.where(positive, torch.exp(-log_t), torch.zeros_like(s))


def _sll_gram_bound(module: SLLGramLinear | SLLGramConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    conv = isinstance(module, SLLGramConv2d)
    check_residual_shape(module, shape, module.channels if conv else module.features, conv)
    t = sll_gram_inverse_diagonal(module.weight.detach(), module.log_q.detach(), module.depth)
    method = f"SLL-Gram depth {module.depth} (a-posteriori Gram bound of diag(√t)W, float64)"
    if conv:
        bound = residual_certificate(
            module.weight, t, shape, pad=module.padding, padding_mode=module.padding_mode, method=method
        )
    else:
        bound = residual_certificate(module.weight, t, shape, method=method)
    return bound, shape


class SLLGramLinear(SLLLinear):
    r"""SLL with Gram rescaling of depth ``depth`` (``depth=1`` is :class:`SLLLinear`).

    :math:`h(x) = x - 2 W^\top T^{-1} \mathrm{ReLU}(Wx + b)` with ``T`` from
    :func:`sll_gram_inverse_diagonal`: less conservative than SLL (``T`` closer to :math:`WW^\top`).
    Registered constant: :func:`~stablecore.layers._common.residual_certificate` (1 up to the float64
    Gram bound's excess).

    Example:
        >>> SLLGramLinear(4, depth=3)(torch.randn(2, 4)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        features: int,
        inner_features: int | None = None,
        bias: bool = True,
        depth: int = 3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(features, inner_features, bias=bias, device=device, dtype=dtype)
        self.depth = check_positive_int(depth, "depth")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = sll_gram_inverse_diagonal(self.weight, self.log_q, self.depth)
        z = torch.relu(nn.functional.linear(x, self.weight, self.bias))
        return x - nn.functional.linear(z * (2 * t), self.weight.mT)  # 2·t exact: same values, one pass less

    def extra_repr(self) -> str:
        return super().extra_repr() + f", depth={self.depth}"


class SLLGramConv2d(SLLConv2d):
    r"""Convolutional SLL with Gram rescaling of depth ``depth`` (``depth=1`` is :class:`SLLConv2d`).

    The Gram iterates are kernel-space kernels of size :math:`2^{k}(k_h - 1) + 1`, the operator powers
    on :math:`\ell_2(\mathbb Z^2)`: ``T`` dominates the Gram operator of every zero-padded or circular
    input, so the layer is 1-Lipschitz on every input size. Registered constant: the a-posteriori Gram
    bound on the input size it is asked about.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        padding: str | int | tuple[int, int] = "same",
        padding_mode: str = "zeros",
        depth: int = 2,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            channels, inner_channels, kernel_size, bias=bias, padding=padding, padding_mode=padding_mode,
            device=device, dtype=dtype,
        )  # fmt: skip
        self.depth = check_positive_int(depth, "depth")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = sll_gram_inverse_diagonal(self.weight, self.log_q, self.depth)
        z = torch.relu(conv_same(x, self.weight, self.bias, self.padding, self.padding_mode))
        # 2·t is exact (a power of two), so z·(2t) is bitwise 2·(z·t): one pass over the activations less
        return x - conv_same_adjoint(z * (2 * t)[:, None, None], self.weight, self.padding, self.padding_mode)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", depth={self.depth}"


register_layer(SLLGramLinear, _sll_gram_bound)
register_layer(SLLGramConv2d, _sll_gram_bound)
