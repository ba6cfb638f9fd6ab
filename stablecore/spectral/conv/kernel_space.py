r"""Kernel-space Gram iteration (Delattre et al. 2024, "norm2toep"), the one kernel-space Gram.

The convolution :math:`T_\infty` on :math:`\ell_2(\mathbb Z^2)` has
:math:`(T_\infty^* T_\infty)^{2^{t-1}}`
again a convolution, with kernel :math:`P_t` (:math:`P_1 = K^\top \star K`, :math:`P_{t+1} = P_t \star
P_t`, full 2-D correlations summed over channels, support :math:`2^t(k-1)+1`), computed exactly in the
Fourier domain (:func:`kernel_gram_iterates`). The Schur test bounds every zero-padded conv, any input
size and stride: :math:`\|T\|_2 \le (\max_c \sum_{c',a,b}|P_t[c,c',a,b]|)^{2^{-t}}`. The Lipschitz
layers (SLL with Gram rescaling, SR) take their per-channel row sums from the same iterates.

Reference:
    B. Delattre, Q. Barthélemy, A. Allauzen. *Spectral Norm of Convolutional Layers with Circular and
    Zero Paddings.* arXiv:2402.00240, 2024.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from stablecore.limits import check_memory
from stablecore.numerics import (
    cast_up,
    gram_rounding_margin,
    pow2_normalize,
    unit_roundoff,
    unscale_up,
    upper_history,
)
from stablecore.spectral.conv.geometry import ConvGeometry, _grouped, conv_geometry
from stablecore.spectral.dense import as_real_tensor, check_n_iter

_TOEP_BUDGET = 3e8  # complex multiply-adds of the last kernel-space Gram step with the default n_iter


def _toeplitz_bytes(geom: ConvGeometry, n_iter: int) -> int:
    r"""Peak bytes of ``n_iter`` kernel-space Gram steps: on the last grid
    :math:`(2^T(k_h-1)+1)\times(2^T(k_w-1)+1)`, the spectrum, its product and the real coefficients."""
    p, q = max(geom.c_in_group, geom.c_out_group), min(geom.c_in_group, geom.c_out_group)
    kh, kw = geom.kernel_size
    sh, sw = 2**n_iter * (kh - 1) + 1, 2**n_iter * (kw - 1) + 1
    return 16 * 4 * geom.groups * p * q * sh * (sw // 2 + 1)


# ----------------------------------------------------------------------------------- kernel-space Gram
def kernel_gram_iterates(
    kg: torch.Tensor, n_iter: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    r"""Kernel-space Gram iterates of a grouped kernel ``kg`` ``(g, p, q, kh, kw)``, differentiable.

    Yields ``(P_t, L_t, log_r_t)`` for :math:`t = 1, \dots,` ``n_iter``: the real coefficients
    ``(g, q, q, Sh, Sw)`` of :math:`P_t` with :math:`(T^*T)^{2^{t-1}} = P_t\,e^{L_t}` (``L_t`` of shape
    ``(g,)``; :math:`S = 2^t(k-1)+1`; index ``j`` holds the offset ``j - (S-1)/2``), and the log of the
    Frobenius scale :math:`r_t` divided out before step ``t`` (:math:`L_t = 2(L_{t-1} + \log r_t)`;
    scales are detached, the product does not depend on them). ``T`` maps the ``q`` input channels to
    the ``p`` outputs: pass ``K`` for :math:`K^\top K` and its channel transpose for :math:`KK^\top`.

    Products are taken on the DFT grid of the next support size: the DFT of the stored coefficients
    is :math:`e^{-i\omega h} P_t(\omega)`, whose square is :math:`e^{-2i\omega h} P_t(\omega)^2`, i.e.
    the coefficients of :math:`P_{t+1}` at their stored positions, with no wrap-around. The first step
    multiplies the DFT of the flipped, transposed kernel, :math:`e^{-i\omega(k-1)}\hat K(\omega)^{\mathsf
    H}`, by :math:`\hat K(\omega)` (Delattre et al. 2024).
    """
    size = (kg.shape[3], kg.shape[4])
    log_scale = torch.zeros(kg.shape[0], dtype=kg.dtype, device=kg.device)
    coefs = kg  # spatial dims last, so that the FFTs run on contiguous rows

    def blocks(c: torch.Tensor) -> torch.Tensor:
        # DFT on the grid of the next support, then blocks (g, Sh, Sw', p, q) contiguous for bmm (a
        # strided complex bmm takes a slow path: 3-4x slower on CPU)
        return torch.fft.rfft2(c, s=size).permute(0, 3, 4, 1, 2).contiguous()

    for t in range(1, n_iter + 1):
        r = torch.linalg.vector_norm(coefs.detach(), dim=(1, 2, 3, 4))
        r = torch.where(r > 0, r, torch.ones_like(r))
        log_r = r.log()
        coefs = coefs / r[:, None, None, None, None]
        log_scale = 2 * (log_scale + log_r)
        size = (2 * size[0] - 1, 2 * size[1] - 1)
        spec = blocks(coefs)
        if t == 1:
            gram = blocks(coefs.flip(3, 4).transpose(1, 2)) @ spec  # e^{-iω(k-1)} K̂ᴴK̂: T*T's symbol
        else:
            gram = spec @ spec
        coefs = torch.fft.irfft2(gram.permute(0, 3, 4, 1, 2), s=size)  # (g, q, q, Sh, Sw)
        yield coefs, log_scale, log_r


def _toeplitz_logs(kg: torch.Tensor, n_iter: int, tol: float) -> tuple[list[torch.Tensor], float, tuple]:
    r"""norm2toep on a grouped kernel ``(g, co, ci, kh, kw)``: the Schur bound of every iterate of
    :func:`kernel_gram_iterates`, :math:`\|T\| \le (\max(\|P_t\|_1, \|P_t\|_\infty) e^{L_t})^{2^{-t}}`.

    Returns the per-iteration log bounds (max over groups), the largest ``|log r|`` met and the last
    grid size; ``tol > 0`` stops when the bound changed by less than ``tol`` (relative).
    """
    if kg.shape[1] < kg.shape[2]:
        kg = kg.transpose(1, 2)  # Gram of the smaller channel side (row sums of T T* or T* T)
    max_abs_log = 0.0
    logs: list[torch.Tensor] = []
    stop = math.log1p(tol) if tol > 0 else -1.0
    size = tuple(kg.shape[3:])
    for t, (coefs, log_scale, log_r) in enumerate(kernel_gram_iterates(kg, n_iter), start=1):
        max_abs_log = max(max_abs_log, float(log_r.abs().max()))
        size = tuple(coefs.shape[3:])
        absc = coefs.abs()
        rows = absc.sum(dim=(2, 3, 4)).amax(dim=1)
        cols = absc.sum(dim=(1, 3, 4)).amax(dim=1)
        rho = torch.maximum(rows, cols)  # Schur test: ‖A‖ ≤ sqrt(‖A‖₁‖A‖∞) ≤ max of both
        logs.append(((rho.log() + log_scale) * 2.0**-t).amax())
        if stop > 0 and t >= 2 and bool(logs[-2] - logs[-1] < stop):
            break
    return logs, max_abs_log, size


def _toeplitz_margin(u: float, p: int, q: int, n_iter: int, max_abs_log: float, size: tuple) -> float:
    n_points = size[0] * size[1]
    fft = 16 * (math.log2(max(n_points, 2)) + 4) * u * math.sqrt(n_points) * max(q, 1) ** 2
    return (1 + gram_rounding_margin(u, max(p, q), q, n_iter, max_abs_log)) * (1 + fft) - 1


def gram_norm_conv_zeros(
    kernel: torch.Tensor,
    n_iter: int = 6,
    *,
    groups: int = 1,
    compute_dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    r"""Differentiable kernel-space Gram bound (Delattre et al. 2024) of any zero-padded conv (0-d tensor).

    .. math::

        \|T\|_2 \le \Bigl(\max_c \sum_{c',a,b}|P_T[c,c',a,b]|\Bigr)^{2^{-T}} (1+\delta),
        \qquad P_1 = K^\top\!\star K,\ P_{t+1} = P_t \star P_t,

    with :math:`\star` the full 2-D correlation summed over channels (computed exactly in the Fourier
    domain on a grid of size :math:`2^t(k-1)+1`), global rescaling in log space. The bound holds for
    every input size, zero padding and stride (it bounds the convolution on :math:`\ell_2(\mathbb Z^2)`).
    Cost and memory grow like :math:`4^T k^2 c^3`: for 64 channels and 3×3 kernels ``n_iter=6`` uses
    a 129×65 grid of 64×64 blocks (about 0.5 GB in float64).

    Args:
        kernel: ``(c_out, c_in/groups, kh, kw)``.
        n_iter: kernel-space Gram iterations :math:`T \ge 1`.
        groups: number of groups (maximum over groups).
        compute_dtype: see :func:`gram_norm_conv_circular`.

    Returns:
        0-d tensor with ``kernel``'s dtype and device; gradients flow to ``kernel``.

    Example:
        >>> k = torch.zeros(1, 1, 3, 3); k[0, 0, 0, 0] = 3.0
        >>> round(float(gram_norm_conv_zeros(k, 3)), 6)
        3.0
    """
    kernel = as_real_tensor(kernel, "kernel", ndim=4)
    n_iter = check_n_iter(n_iter, 6)
    geom = conv_geometry(kernel.shape, None, padding="zeros", groups=groups)
    check_memory(2 * _toeplitz_bytes(geom, n_iter), argument="n_iter", what="the kernel-space Gram grid")
    dtype = compute_dtype or kernel.dtype
    scaled, e = pow2_normalize(kernel.to(dtype))  # any finite magnitude (see conv_norm)
    kg = _grouped(scaled, groups)
    logs, max_abs_log, size = _toeplitz_logs(kg, n_iter, 0.0)
    p, q = max(kg.shape[1:3]), min(kg.shape[1:3])
    margin = _toeplitz_margin(unit_roundoff(dtype, kernel.device), p, q, len(logs), max_abs_log, size)
    return cast_up(unscale_up(torch.exp(logs[-1]) * (1 + margin), e), kernel.dtype)


def _default_toep_iters(kh: int, kw: int, q: int) -> int:
    """Largest T <= 6 whose last kernel-space step stays within a work budget (at least 1).

    The grid of step T has :math:`(2^T(k_h-1)+1)(2^T(k_w-1)+1)` points: at most 129² of them, and at
    most ``_TOEP_BUDGET`` complex multiply-adds for the block products.
    """
    best = 1
    for t in range(1, 7):
        sh, sw = 2**t * (kh - 1) + 1, 2**t * (kw - 1) + 1
        if sh * sw <= 129 * 129 and sh * (sw // 2 + 1) * q**3 <= _TOEP_BUDGET:
            best = t
    return best


def _norm2toep_bound(
    k64: torch.Tensor, geom: ConvGeometry, n_iter: int, tol: float
) -> tuple[list[float], dict]:
    kg = _grouped(k64, geom.groups)
    with torch.no_grad():
        logs_t, max_abs_log, size = _toeplitz_logs(kg, n_iter, tol)
        logs = torch.stack(logs_t).tolist()
    p, q = max(kg.shape[1:3]), min(kg.shape[1:3])
    margin = _toeplitz_margin(unit_roundoff(torch.float64), p, q, len(logs), max_abs_log, size)
    history = upper_history(logs, margin)
    return history, {"margin": margin, "grid": size}
