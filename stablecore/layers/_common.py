"""Shared machinery of the Lipschitz-by-design layers (private).

* Gram kernels: for a weight ``A`` of shape ``(out, in)`` or ``(out, in, kh, kw)`` the operator
  :math:`A^\\top A` on :math:`\\ell_2(\\mathbb Z^2)` is a convolution (``in -> in``) with kernel
  :math:`P[c, c'] = \\sum_o A[o, c] \\star A[o, c']` (full 2-D correlation, size ``2k-1``), summed
  directly (``conv2d``): the Gershgorin certificate needs its *elementwise* rounding bound, which an FFT
  does not give. Powers of it (SR, SLL with Gram rescaling) come from the one kernel-space Gram
  iteration, :func:`stablecore.spectral.conv.kernel_gram_iterates`.
* Weighted Gershgorin (Schur test) row sums of ``|P|`` and their float64 a-posteriori upper bounds.
* :func:`conv_layer_gram_bound`: the one choice of differentiable Gram bound of a stride-1 'same' conv
  layer's kernel (circular torus or kernel space).
* Registration of a parametrized layer class with :func:`stablecore.spectral.register`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from stablecore.numerics import U64, pow2_normalize, round_up, unscale_up
from stablecore.spectral import register
from stablecore.spectral.conv import gram_norm_conv_circular, gram_norm_conv_zeros, kernel_gram_iterates
from stablecore.types import Bound

Shape = tuple[int, ...]


def as_kernel(weight: torch.Tensor) -> torch.Tensor:
    """A dense ``(out, in)`` weight as a ``(out, in, 1, 1)`` kernel; a 4-D kernel unchanged."""
    return weight[:, :, None, None] if weight.ndim == 2 else weight


def input_gram(weight: torch.Tensor) -> torch.Tensor:
    """Kernel of :math:`A^\\top A` (input side): ``(in, in)`` for a matrix, ``(in, in, 2kh-1, 2kw-1)``
    for a conv kernel (``conv2d`` of the kernel with itself, channels as batch)."""
    if weight.ndim == 2:
        return weight.mT @ weight
    kt = weight.transpose(0, 1)
    kh, kw = weight.shape[-2:]
    return F.conv2d(kt, kt, padding=(kh - 1, kw - 1))


def output_gram(weight: torch.Tensor) -> torch.Tensor:
    """Kernel of :math:`A A^\\top` (output side)."""
    return input_gram(weight.transpose(0, 1))


def output_gram_power(weight: torch.Tensor, squarings: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(P, log_scale)`` with :math:`(A A^\top)^{2^m} = P e^{\mathrm{log\_scale}}` after ``m`` rescaled
    squarings of the output Gram kernel (Frobenius scales kept in log space and detached: the product
    is invariant to them). For a conv kernel the iterates are the kernel-space Gram kernels of
    :func:`~stablecore.spectral.conv.kernel_gram_iterates` (iterate :math:`m + 1` of the channel
    transpose), ``(out, out, 2^{m+1}(k-1)+1, ...)``; for a matrix, matrix products.

    ``A`` is first scaled by a power of two to :math:`\max|A| \in [1/2, 1)`
    (:func:`~stablecore.numerics.pow2_normalize`, exact) and :math:`AA^\top = 2^{2e} A'A'^\top`
    enters ``log_scale``: the first Gram kernel neither underflows (tiny weights gave :math:`P = 0`, a
    zero scale) nor overflows (huge ones gave ``inf``/NaN). Weights with :math:`2^{-m/4} \le \max|A| <
    2^{m/4}` (:math:`m` the largest exponent of the dtype) are not scaled: results unchanged there."""
    scaled, e = pow2_normalize(weight, keep=int(math.log2(torch.finfo(weight.dtype).max)) // 4)
    log_pow2 = (2.0 ** (squarings + 1) * math.log(2.0)) * e.to(weight.dtype)  # (2^{2e})^{2^m}
    if weight.ndim == 4:
        p, log_scale, _ = list(kernel_gram_iterates(scaled.transpose(0, 1)[None], squarings + 1))[-1]
        return p[0], log_scale[0] + log_pow2
    p = output_gram(scaled)
    log_scale = torch.zeros((), dtype=weight.dtype, device=weight.device)
    for _ in range(squarings):
        r = torch.linalg.vector_norm(p.detach()).clamp_min(torch.finfo(weight.dtype).tiny)
        p = p / r
        log_scale = 2 * (log_scale + r.log())
        p = input_gram(p)  # p is symmetric: pᵀp = p²
    return p, log_scale + log_pow2


def abs_row_sums(gram: torch.Tensor, q: torch.Tensor | None = None) -> torch.Tensor:
    """Weighted Gershgorin row sums :math:`\\sum_{j} |P_{ij}|\\, q_j / q_i` (spatial taps summed)."""
    a = gram.abs()
    if a.ndim == 4:
        a = a.sum(dim=(-2, -1))
    if q is None:
        return a.sum(dim=1)
    return (a @ q) / q


def gershgorin_upper(
    weight: torch.Tensor, q: torch.Tensor | None = None, *, side: str = "input"
) -> torch.Tensor:
    r"""Float64 upper bounds of the exact weighted row sums of ``|A^T A|`` (``side="input"``) or
    ``|A A^T|`` (``side="output"``) of the stored ``weight``, rounding errors included.

    The computed Gram entry :math:`\tilde P` satisfies :math:`|P - \tilde P| \le \gamma_m\,(|A|^\top
    \star |A|) + m\eta` with :math:`\gamma_m = m u/(1 - m u)`, ``m`` the length of the inner sums,
    ``u`` the float64 roundoff and :math:`\eta = 2^{-1074}` the absolute error of a product that
    underflows (Higham, *Accuracy and Stability*, §2.1 and §3.1); the remaining sums and divisions
    cost at most :math:`(n + 4) u` relative, covered by the final factor, plus :math:`2n\eta/q_i` per
    row for their underflow. Overflow is avoided by computing on :math:`A' = A 2^{-e}`,
    :math:`\max|A'| \in [1/2, 1)` (exact up to entries that fall below :math:`2^{-1074}`: another
    :math:`2m\eta` per entry), and scaling the sums back by :math:`2^{2e}`, rounded up (``inf`` past
    the float64 range).
    """
    a, scale_exp = pow2_normalize(weight.detach().to(torch.float64))
    if side == "output":
        a = a.transpose(0, 1)
    q64 = None if q is None else q.detach().to(torch.float64)
    m = a.shape[0] * (a[0, 0].numel() if a.ndim == 4 else 1)
    gam = m * U64 / (1 - m * U64)
    n = a.shape[1] * (2 * a.shape[-2] - 1) * (2 * a.shape[-1] - 1) if a.ndim == 4 else a.shape[1]
    eta = 4 * m * 2.0**-1074  # underflow of the products of both Gram kernels and of the scaling
    g = input_gram(a).abs()
    e = input_gram(a.abs())
    s = abs_row_sums(g + (2 * gam) * e + eta, q64)
    s = s * (1 + (n + 8) * U64) + (2 * n * 2.0**-1074) / (1.0 if q64 is None else q64)
    return unscale_up(unscale_up(s, scale_exp), scale_exp)


def conv_layer_gram_bound(
    weight: torch.Tensor, padding_mode: str, input_size: tuple[int, int] | None, n_iter: int
) -> torch.Tensor:
    r"""Differentiable upper bound :math:`\rho \ge \lVert K \rVert_2` (0-d tensor) of a stride-1 'same'
    conv layer with kernel ``weight``: with circular padding on an ``input_size`` torus no smaller than
    the kernel, the Gram iteration on its FFT blocks (Delattre et al. 2023,
    :func:`~stablecore.spectral.gram_norm_conv_circular`); otherwise (zero padding, or taps that wrap)
    the kernel-space bound (Delattre et al. 2024, :func:`~stablecore.spectral.gram_norm_conv_zeros`),
    which dominates :math:`\sup_\omega \sigma_1(\hat K(\omega))` and so holds for every input size."""
    wraps = any(n < k for n, k in zip(input_size or (), weight.shape[-2:]))
    if padding_mode == "circular" and not wraps:
        return gram_norm_conv_circular(weight, input_size, n_iter)
    return gram_norm_conv_zeros(weight, n_iter)


def register_layer(cls: type[nn.Module], fn: Callable[..., tuple]) -> None:
    """Register ``fn`` for ``cls`` (idempotent); used for the class and for the per-instance class that
    ``torch.nn.utils.parametrize`` creates (the registry matches exact types)."""
    register(cls)(fn)


def pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    """``k`` or ``(kh, kw)`` as a pair of positive ints."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
    ):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {value!r}")
    return int(value[0]), int(value[1])


def check_positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_conv_options(padding_mode: str, dilation: object, groups: int, name: str) -> None:
    """Gram kernels assume an undilated, ungrouped conv with zero or circular padding."""
    if padding_mode not in ("zeros", "circular"):
        raise ValueError(f"{name}: padding_mode must be 'zeros' or 'circular', got {padding_mode!r}")
    if dilation not in (1, (1, 1)):
        raise ValueError(f"{name}: dilation must be 1, got {dilation!r}")
    if groups != 1:
        raise ValueError(f"{name}: groups must be 1, got {groups!r}")


# ----------------------------------------------------------------------------------- residual convs
def same_padding(kernel_size: tuple[int, int], padding: object, name: str) -> tuple[int, int]:
    """Residual conv layers need an output of the input's size: odd kernels, padding ``k // 2``."""
    kh, kw = kernel_size
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(
            f"{name}: kernel_size must be odd (the output must keep the input size), got {kernel_size}"
        )
    pad = (kh // 2, kw // 2)
    if padding == "same" or padding in (pad, list(pad)) or (kh == kw and padding == kh // 2):
        return pad
    raise ValueError(f"{name}: padding must be 'same' (= kernel_size // 2), got {padding!r}")


def conv_same(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, pad: tuple[int, int], mode: str
):
    """Stride-1 'same' convolution ``x -> K x + b`` with zero or circular padding."""
    if mode == "circular":
        return F.conv2d(F.pad(x, (pad[1], pad[1], pad[0], pad[0]), mode="circular"), kernel, bias)
    return F.conv2d(x, kernel, bias, padding=pad)


def conv_same_adjoint(y: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int], mode: str) -> torch.Tensor:
    """Exact adjoint :math:`K^\\top y` of :func:`conv_same` (without bias)."""
    if mode == "circular":
        flipped = kernel.flip(-2, -1).transpose(0, 1)
        return F.conv2d(F.pad(y, (pad[1], pad[1], pad[0], pad[0]), mode="circular"), flipped)
    return F.conv_transpose2d(y, kernel, padding=pad)


def check_residual_shape(module: nn.Module, shape: Shape, channels: int, conv: bool) -> None:
    """Residual layers keep the shape: ``(features,)`` or ``(C, H, W)``."""
    if conv:
        if len(shape) != 3 or shape[0] != channels:
            raise ValueError(f"{type(module).__name__} expects input shape ({channels}, H, W), got {shape}")
    elif shape[-1] != channels:
        raise ValueError(
            f"{type(module).__name__} expects {channels} input features, got input shape {shape}"
        )


def residual_certificate(
    weight: torch.Tensor,
    scale: torch.Tensor,
    shape: Shape,
    *,
    pad: tuple[int, int] | None = None,
    padding_mode: str = "zeros",
    method: str,
) -> Bound:
    r"""A posteriori constant of :math:`h(x) = x - 2 W^\top \operatorname{diag}(s)\,\sigma(Wx + b)`.

    With :math:`V = \operatorname{diag}(\sqrt{s})\,W` the Jacobian is :math:`I - 2V^\top\Lambda V`
    (:math:`0 \preceq \Lambda \preceq I`, ``σ`` slope-restricted in [0, 1]), whose eigenvalues lie in
    :math:`[1 - 2\|V\|^2, 1]`: :math:`L \le \max(1, 2\rho^2 - 1)` with :math:`\rho \ge \|V\|` the float64
    Gram bound (:func:`~stablecore.spectral.matrix_norm`; for a conv
    :func:`~stablecore.spectral.conv_norm` on the ``(C, H, W)`` input ``shape``). Sound for any stored
    ``W`` and ``s ≥ 0``: fine-tuned or exported layers keep an honest constant.
    """
    from stablecore.spectral import conv_norm, matrix_norm

    with torch.no_grad():
        s = scale.detach().to(torch.float64).clamp_min(0).sqrt()
        w = weight.detach().to(torch.float64)
        v = w * (s[:, None, None, None] if w.ndim == 4 else s[:, None])
        if w.ndim == 4 and padding_mode == "circular" and any(n < k for n, k in zip(shape[1:], w.shape[2:])):
            # taps wrap around: the circular norm is a maximum of sigma_1(K^(w)) over sampled frequencies,
            # below the kernel-space (Z^2) bound
            rho = conv_norm(v, None, padding="zeros", pad=pad, stride=1).value
        elif w.ndim == 4:
            rho = conv_norm(v, tuple(shape[1:]), padding=padding_mode, pad=pad, stride=1).value
        else:
            rho = matrix_norm(v).value
    s2 = rho * rho * (1 + 4 * U64)
    return Bound(round_up(max(1.0, 2 * s2 - 1)), "upper_bound", method)
