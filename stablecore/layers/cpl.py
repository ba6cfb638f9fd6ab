r"""CPL: convex potential layers (Meunier, Delattre, Araujo & Allauzen, ICML 2022).

.. math::

    h(x) = x - \frac{2}{\rho(W)^2 + \varepsilon}\, W^\top \sigma(W x + b),
    \qquad \rho(W) \ge \|W\|_2,

the explicit Euler step of the gradient flow of the convex potential
:math:`f(x) = \sum_i \psi(w_i^\top x + b_i)`, :math:`\psi' = \sigma` = ReLU. ``f`` is
:math:`\|W\|^2`-smooth, so by co-coercivity (Baillon–Haddad) a step :math:`h \le 2/\|W\|^2` is
1-Lipschitz. The reference code uses one power iteration per training step, a *lower* estimate of
:math:`\|W\|` (the layer may exceed 1 during training); here :math:`\rho` is a differentiable Gram
**upper bound** recomputed at every forward: :func:`~stablecore.spectral.gram_norm_dense`, the
kernel-space bound :func:`~stablecore.spectral.gram_norm_conv_zeros` (zero padding, every input size) or
:func:`~stablecore.spectral.gram_norm_conv_circular` (circular padding on the ``input_size`` torus), so
the layer is 1-Lipschitz at every training step.

Registered constant (``upper_bound``): :math:`1 + 8u` (:math:`u` the roundoff of the weight dtype):
:math:`\rho` is a rigorous bound (rounding included, cast up), and the float step
:math:`\mathrm{fl}(2/(\rho^2+\varepsilon))` exceeds the exact one by at most :math:`(1+u)^3`; a step
``s`` times a 1-Lipschitz one is :math:`(2s-1)`-Lipschitz.

Cost (``CPLConv2d``, 64→64 channels 3×3, batch 128 at 32×32, forward + backward on CPU): the two
convolutions alone cost about two plain ``nn.Conv2d`` steps (forward, input and weight gradients of a conv
and of a transposed conv), the floor of any CPL. The default bound (``n_iter=4``: the last kernel-space
Gram step works on a 33×33 grid of 64×64 complex128 blocks) costs more than one conv step, most of it in
its backward; ``n_iter=2`` or ``3`` is much cheaper but looser (kaiming-initialised kernel: 1.68, 1.27 and
1.11 times :math:`\sup_\omega \sigma_1(\hat K(\omega))` for ``n_iter`` = 2, 3, 4), and ``step_grad=False``
drops the bound's backward (the forward, hence the 1-Lipschitz guarantee, is unchanged; the gradient then
ignores how the step depends on ``W``). ``benchmarks/bench_layers.py`` part (a) has the measured ratios.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stablecore.layers._common import (
    Shape,
    check_conv_options,
    check_positive_int,
    check_residual_shape,
    conv_layer_gram_bound,
    conv_same,
    conv_same_adjoint,
    pair,
    register_layer,
    same_padding,
)
from stablecore.numerics import round_up, unit_roundoff
from stablecore.spectral import gram_norm_dense
from stablecore.types import Bound

__all__ = ["CPLConv2d", "CPLLinear"]


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a non-negative finite number, got {eps!r}")
    return float(eps)


def _check_flag(value: bool, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return value


class CPLLinear(nn.Module):
    r"""1-Lipschitz residual dense layer :math:`x - \frac{2}{\rho^2+\varepsilon} W^\top \mathrm{ReLU}(Wx+b)`.

    Args:
        features: input = output size.
        inner_features: rows of ``W`` (default ``features``).
        bias: learn ``b``.
        n_iter: Gram iterations of the bound :math:`\rho \ge \|W\|_2`.
        eps: added to :math:`\rho^2` (as in the reference; only makes the step smaller).
        step_grad: differentiate the step :math:`2/(\rho^2+\varepsilon)` with respect to ``W`` (default).
            ``False`` computes :math:`\rho` without autograd (cheaper backward, same forward and the same
            guarantee; the gradient misses the step's dependence on ``W``).
        device, dtype: factory keywords.

    Example:
        >>> layer = CPLLinear(4, 8)
        >>> layer(torch.randn(3, 4)).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        features: int,
        inner_features: int | None = None,
        bias: bool = True,
        n_iter: int = 6,
        eps: float = 1e-4,
        step_grad: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.features = check_positive_int(features, "features")
        self.inner_features = check_positive_int(inner_features or features, "inner_features")
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.eps = _check_eps(eps)
        self.step_grad = _check_flag(step_grad, "step_grad")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.inner_features, features, **factory))
        self.bias = nn.Parameter(torch.empty(self.inner_features, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.features)
            nn.init.uniform_(self.bias, -bound, bound)

    def step_size(self) -> torch.Tensor:
        """:math:`2/(\\rho(W)^2 + \\varepsilon)`, differentiable in ``W``."""
        with torch.set_grad_enabled(self.step_grad and torch.is_grad_enabled()):
            rho = gram_norm_dense(self.weight, self.n_iter)
        return 2.0 / (rho * rho + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(nn.functional.linear(x, self.weight, self.bias))
        return x - self.step_size() * nn.functional.linear(z, self.weight.mT)

    def extra_repr(self) -> str:
        return (
            f"features={self.features}, inner_features={self.inner_features}, "
            f"bias={self.bias is not None}, n_iter={self.n_iter}, eps={self.eps}"
            + ("" if self.step_grad else ", step_grad=False")
        )


class CPLConv2d(nn.Module):
    r"""1-Lipschitz residual convolution :math:`x - \frac{2}{\rho^2+\varepsilon} K^\top\mathrm{ReLU}(Kx+b)`.

    Stride 1, odd kernels, padding ``kernel_size // 2``.

    Args:
        channels: input = output channels.
        inner_channels: output channels of ``K`` (default ``channels``).
        kernel_size: odd int or pair.
        bias: learn ``b``.
        padding: ``"same"`` or ``kernel_size // 2``.
        padding_mode: ``"zeros"`` (kernel-space bound, valid for every input size) or ``"circular"``
            (FFT Gram bound, needs ``input_size``; inputs of another size are refused; on an input
            smaller than the kernel the taps wrap and the kernel-space bound, which dominates
            :math:`\sup_\omega \sigma_1(\hat K(\omega))`, is used).
        input_size: ``n`` or ``(H, W)``, required for circular padding.
        n_iter: Gram iterations (the kernel-space cost grows like :math:`4^T k^2 c^3`).
        eps: added to :math:`\rho^2`.
        step_grad: see :class:`CPLLinear` (``False``: no backward through the bound).
        device, dtype: factory keywords.

    Raises:
        ValueError: even kernel, other padding, circular padding without ``input_size``.
    """

    def __init__(
        self,
        channels: int,
        inner_channels: int | None = None,
        kernel_size: int | tuple[int, int] = 3,
        bias: bool = True,
        padding: str | int | tuple[int, int] = "same",
        padding_mode: str = "zeros",
        input_size: int | tuple[int, int] | None = None,
        n_iter: int = 4,
        eps: float = 1e-4,
        step_grad: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_conv_options(padding_mode, 1, 1, "CPLConv2d")
        self.channels = check_positive_int(channels, "channels")
        self.inner_channels = check_positive_int(inner_channels or channels, "inner_channels")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.padding = same_padding(self.kernel_size, padding, "CPLConv2d")
        self.padding_mode = padding_mode
        if padding_mode == "circular" and input_size is None:
            raise ValueError("CPLConv2d: input_size is required with padding_mode='circular'")
        self.input_size = None if input_size is None else pair(input_size, "input_size")
        self.n_iter = check_positive_int(n_iter, "n_iter")
        self.eps = _check_eps(eps)
        self.step_grad = _check_flag(step_grad, "step_grad")
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(self.inner_channels, channels, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(self.inner_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.weight[0].numel())
            nn.init.uniform_(self.bias, -bound, bound)

    def _check_size(self, size: tuple[int, ...]) -> None:
        if self.padding_mode == "circular" and tuple(size) != self.input_size:
            raise ValueError(
                f"CPLConv2d with circular padding was normalised for input_size {self.input_size}, "
                f"got spatial size {tuple(size)}"
            )

    def step_size(self) -> torch.Tensor:
        """:math:`2/(\\rho(K)^2 + \\varepsilon)`, differentiable in ``K``."""
        with torch.set_grad_enabled(self.step_grad and torch.is_grad_enabled()):
            rho = conv_layer_gram_bound(self.weight, self.padding_mode, self.input_size, self.n_iter)
        return 2.0 / (rho * rho + self.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_size(x.shape[-2:])
        z = torch.relu(conv_same(x, self.weight, self.bias, self.padding, self.padding_mode))
        return x - self.step_size() * conv_same_adjoint(z, self.weight, self.padding, self.padding_mode)

    def extra_repr(self) -> str:
        size = f", input_size={self.input_size}" if self.input_size is not None else ""
        return (
            f"{self.channels}, inner_channels={self.inner_channels}, kernel_size={self.kernel_size}, "
            f"padding={self.padding}, padding_mode={self.padding_mode}{size}, bias={self.bias is not None}, "
            f"n_iter={self.n_iter}, eps={self.eps}" + ("" if self.step_grad else ", step_grad=False")
        )


def _cpl_bound(module: CPLLinear | CPLConv2d, shape: Shape, **options) -> tuple[Bound, Shape]:
    conv = isinstance(module, CPLConv2d)
    check_residual_shape(module, shape, module.channels if conv else module.features, conv)
    if conv:
        module._check_size(shape[1:])
    u = unit_roundoff(module.weight.dtype)
    return Bound(round_up(1 + 8 * u), "upper_bound", "CPL (Gram upper bound step, 1 + 8u)"), shape


register_layer(CPLLinear, _cpl_bound)
register_layer(CPLConv2d, _cpl_bound)
