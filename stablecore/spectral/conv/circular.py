r"""Circular padding: DFT blocks of the kernel on the input's torus (Sedghi et al. 2019).

.. math::

    \|C\|_2 = \max_{u,v}\ \sigma_1\bigl(\hat K_{uv}\bigr),\qquad
    \hat K_{uv} = \sum_{a,b} K_{:,:,a,b}\, e^{-2\pi i (au/H + bv/W)}.

``"exact"``: the largest singular value of every float64 block; ``"gram"``: Gram iteration on all the
blocks at once (Delattre et al. 2023), after a complex64 *screening* that drops blocks which cannot
hold the maximum. The same routine bounds a zero-padded conv through its circular embedding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from stablecore.limits import check_memory
from stablecore.numerics import (
    cast_up,
    fft_rounding_margin,
    gamma,
    gram_rounding_margin,
    pow2_normalize,
    unit_roundoff,
    unscale_up,
    upper_history,
)
from stablecore.spectral.conv.geometry import ConvGeometry, _circular_selection, _grouped, conv_geometry
from stablecore.spectral.dense import as_real_tensor, check_n_iter, frobenius, gram_iterate

DEFAULT_CONV_GRAM_ITERS = 6
"""Gram iterations of the FFT-block method when ``n_iter`` is not given (exact to ~1e-10 in practice)."""
_SCREEN_ITERS = 3
_SCREEN_SLACK = 1e-3


def _blocks_bytes(geom: ConvGeometry, size: tuple[int, int], n_iter: int = 2) -> int:
    """Peak bytes of the Gram iteration on the DFT blocks of the ``size`` torus (complex128).

    ``g·H·(W//2+1)`` blocks ``p×q``: the blocks, the scaled copy and the adjoint (3pq), the Gram
    iterates (3q², plus one per iteration kept for autograd by the tensor-level functions) and the
    ``(frequencies, kh·kw)`` DFT matrix.
    """
    p, q = max(geom.c_in_group, geom.c_out_group), min(geom.c_in_group, geom.c_out_group)
    n_freq = size[0] * (size[1] // 2 + 1)
    kh, kw = geom.kernel_size
    return 16 * (geom.groups * n_freq * (3 * p * q + (1 + n_iter) * q * q) + n_freq * kh * kw)


def _twiddles(k: int, n: int, n_freq: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``exp(-2πi·a·u/n)`` for ``a < k``, ``u < n_freq``, with the phase reduced exactly mod ``n``."""
    a = torch.arange(k, device=device)
    u = torch.arange(n_freq, device=device)
    phase = (a[:, None] * u[None, :]) % n  # exact integers: no loss of accuracy for large a·u
    angle = phase.to(torch.float64) * (-2 * math.pi / n)
    return torch.polar(torch.ones_like(angle), angle).to(dtype)


class _TorusDFT:
    r"""DFT blocks of a grouped kernel ``(g, co, ci, kh, kw)`` on an ``H×W`` torus.

    Block ``(j, u, v)`` is :math:`\hat K_{uv} = \sum_{a,b} K_{:,:,a,b} e^{-2\pi i(au/H + bv/W)}` of
    group ``j`` (the ``rfft2`` half-plane, ``H·(W//2+1)`` frequencies per group), or its adjoint when
    ``c_in > c_out`` (same singular values, smaller Gram matrix), so blocks are ``(p, q)`` with
    ``q <= p``. With small kernels one product with the ``(frequencies, kh·kw)`` DFT matrix is much
    faster than ``rfft2`` plus a permuted copy, writes the blocks contiguously and gives any subset
    of blocks at the cost of that subset; larger kernels use ``rfft2``.
    """

    def __init__(self, kg: torch.Tensor, size: tuple[int, int]) -> None:
        g, co, ci, kh, kw = kg.shape
        self.kg, self.size = kg, size
        self.adjoint = ci > co
        self.p, self.q = (ci, co) if self.adjoint else (co, ci)
        self.n_freq = size[0] * (size[1] // 2 + 1)
        self.n_blocks = g * self.n_freq
        self.taps_count = kh * kw
        self.use_fft = kh * kw > 64
        self.cdtype = torch.complex128 if kg.dtype == torch.float64 else torch.complex64

    def _dft_and_taps(self) -> tuple[torch.Tensor, torch.Tensor]:
        g, _, _, kh, kw = self.kg.shape
        h, w = self.size
        fh = _twiddles(kh, h, h, self.cdtype, self.kg.device)
        fw = _twiddles(kw, w, w // 2 + 1, self.cdtype, self.kg.device)
        dft = (fh[:, :, None, None] * fw[None, None, :, :]).permute(1, 3, 0, 2).reshape(-1, kh * kw)
        kg = self.kg
        if self.adjoint:
            kg, dft = kg.transpose(1, 2), dft.conj()
        taps = kg.permute(0, 3, 4, 1, 2).reshape(g, kh * kw, self.p * self.q).to(self.cdtype)
        return dft, taps

    def all(self) -> torch.Tensor:
        if self.use_fft:
            spec = torch.fft.rfft2(self.kg, s=self.size).permute(0, 3, 4, 1, 2)
            spec = spec.reshape(-1, self.kg.shape[1], self.kg.shape[2])
            return (spec.mH if self.adjoint else spec).contiguous()
        dft, taps = self._dft_and_taps()
        return (dft @ taps).reshape(-1, self.p, self.q)

    def subset(self, idx: torch.Tensor) -> torch.Tensor:
        if self.use_fft:
            return self.all().index_select(0, idx)
        dft, taps = self._dft_and_taps()
        rows = dft.index_select(0, idx % self.n_freq).unsqueeze(1)
        return (rows @ taps.index_select(0, idx // self.n_freq)).reshape(-1, self.p, self.q)

    def input_margin(self, u: float) -> float:
        """Relative error of the blocks (w.r.t. the largest singular value) from computing the DFT."""
        if self.use_fft:
            return fft_rounding_margin(u, self.size[0] * self.size[1], self.q)
        k = self.taps_count
        return 4 * (gamma(k + 4, u) * math.sqrt(k) + 2 * u) * math.sqrt(self.q)


def _gram1_blocks32(tdft: _TorusDFT) -> tuple[torch.Tensor, float]:
    r"""First Gram iterate of every block in complex64, from the kernel's autocorrelation.

    :math:`G_1(\omega) = \hat K(\omega)^{\mathsf H}\hat K(\omega) = \sum_d A_d e^{-i\omega d}` with
    :math:`A_d = \sum_{b-a=d} K_a^{\top} K_b` (all tap pairs in one float64 product, summed per offset;
    for the adjoint orientation this gives the conjugate of :math:`G_1`, which has the same spectrum),
    then a separable DFT over the :math:`(2k_h-1)(2k_w-1)` offsets: much cheaper than a batched
    product of the blocks. Returns the blocks, normalised so that every Frobenius norm is at most 1,
    and the log of the scale.
    """
    kg = tdft.kg.detach().to(torch.float64)
    if tdft.adjoint:
        kg = kg.transpose(1, 2)
    g, p, q, kh, kw = kg.shape
    taps = kg.permute(0, 3, 4, 1, 2).reshape(g, kh * kw, p, q)
    left = taps.transpose(2, 3).reshape(g, kh * kw * q, p)  # rows (a, i): K_aᵀ
    right = taps.permute(0, 2, 1, 3).reshape(g, p, kh * kw * q)  # columns (b, j): K_b
    pairs = (left @ right).reshape(g, kh * kw, q, kh * kw, q).permute(0, 1, 3, 2, 4)
    ah, aw = torch.div(torch.arange(kh * kw), kw, rounding_mode="floor"), torch.arange(kh * kw) % kw
    offset = (ah[None, :] - ah[:, None] + kh - 1) * (2 * kw - 1) + (aw[None, :] - aw[:, None] + kw - 1)
    auto = torch.zeros(g, (2 * kh - 1) * (2 * kw - 1), q, q, dtype=kg.dtype, device=kg.device)
    auto.index_add_(1, offset.flatten().to(kg.device), pairs.reshape(g, -1, q, q))  # A_d = Σ_{b-a=d} K_aᵀK_b
    total = float(torch.linalg.vector_norm(auto, dim=(2, 3)).sum(dim=1).amax())
    if not total > 0:
        return torch.zeros(tdft.n_blocks, q, q, dtype=torch.complex64, device=kg.device), 0.0
    h, wd = tdft.size
    fh = _twiddles_offsets(kh - 1, h, h, kg.device).to(torch.complex64)  # (2kh-1, H)
    fw = _twiddles_offsets(kw - 1, wd, wd // 2 + 1, kg.device).to(torch.complex64)  # (2kw-1, W')
    coef = (auto / total).to(torch.complex64).reshape(g, 2 * kh - 1, 2 * kw - 1, q * q)
    # separable DFT: first along the width offsets, then along the height offsets
    half = (fw.T @ coef).reshape(g, 2 * kh - 1, -1)  # (g, 2kh-1, W'·q²)
    return (fh.T @ half).reshape(-1, q, q), math.log(total)


def _twiddles_offsets(m: int, n: int, n_freq: int, device: torch.device) -> torch.Tensor:
    """``exp(-2πi·d·u/n)`` for offsets ``-m <= d <= m`` and ``u < n_freq`` (complex128)."""
    d = torch.arange(-m, m + 1, device=device)
    u = torch.arange(n_freq, device=device)
    angle = ((d[:, None] * u[None, :]) % n).to(torch.float64) * (-2 * math.pi / n)
    return torch.polar(torch.ones_like(angle), angle)


def _screen(tdft: _TorusDFT, n_iter: int) -> torch.Tensor | None:
    r"""Indices of the blocks that may hold the largest singular value (``None``: keep all).

    Complex64 Gram iterations (the first iterate from the kernel's autocorrelation, one global scale
    per step folded into the product) give per block, from the third iteration on, an upper bound
    ``ub`` (Frobenius norm of the iterate) and a lower bound ``lb`` (``‖G c‖/‖c‖`` for the heaviest
    column ``c`` of the previous iterate ``G``: at most :math:`\sigma_1(G)`), corrected by the float32
    rounding margins (:func:`gram_rounding_margin`; the first iterate is within
    :math:`2\gamma_n k_h k_w q\,\sigma_{\max}^2`, :math:`n = (2k_h-1)(2k_w-1) + 8`) and a further ``1e-3``.
    A block whose ``ub`` lies below the best ``lb`` seen cannot hold the maximum; it is dropped at once
    and the later iterations only treat the survivors. Iterates that underflow are given the upper
    bound of an entry of 1e-30, far below the surviving ones.
    """
    n_blocks, p, q = tdft.n_blocks, tdft.p, tdft.q
    last = min(n_iter - 1, 5)
    if last < _SCREEN_ITERS or n_blocks < 32 or p * q * q < 4096:
        return None
    with torch.no_grad():
        g, log_scale = _gram1_blocks32(tdft)
        u = unit_roundoff(torch.complex64, g.device)
        kh, kw = tdft.kg.shape[-2:]
        # float64 autocorrelation (error ~1e-16·p·k²), complex64 cast + DFT with (2k-1)² terms:
        # ‖ΔG₁(ω)‖ ≤ γ·Σ_d‖A_d‖_F ≤ γ·k_h k_w‖K‖_F² ≤ γ·k_h k_w q·σ_max²
        n_first = (2 * kh - 1) * (2 * kw - 1) + 8
        err64 = gamma(p * kh * kw + 4, unit_roundoff(torch.float64))
        slack_in = 0.5 * math.log1p(2 * (gamma(n_first, u) + err64) * kh * kw * q)
        slack_mv = math.log1p(4 * gamma(q + 2, u) * q**1.5)
        idx = torch.arange(n_blocks, device=g.device)
        r = frobenius(g)
        max_abs, best_lb = abs(log_scale), -math.inf
        spare: torch.Tensor | None = None
        for t in range(2, last + 1):
            big = float(r.max())
            if not big > 0:
                return None
            log_big = math.log(big)
            max_abs = max(max_abs, abs(log_big))
            prev_scale = log_scale
            log_scale = 2 * (log_scale + log_big)
            if spare is None:
                spare = torch.empty_like(g)
            new = torch.baddbmm(spare, g, g, beta=0, alpha=1 / big**2, out=spare)
            r = frobenius(new)
            if t < _SCREEN_ITERS:
                spare, g = g, new
                continue
            floor = math.log(1e-30 * q)
            ub = (torch.clamp(r.log(), min=floor) + log_scale) * 2.0**-t
            j = torch.diagonal(new, dim1=1, dim2=2).real.argmax(dim=1)  # heaviest column of g
            pick = j[:, None, None].expand(-1, q, 1)
            ratio = torch.linalg.vector_norm(torch.gather(new, 2, pick), dim=(1, 2)) / (
                torch.linalg.vector_norm(torch.gather(g, 2, pick), dim=(1, 2))
            )
            # g·e^{prev_scale} is the (t-1)-th iterate; ‖g c‖ = big²·‖new c‖
            lb = (ratio.log() + 2 * log_big + prev_scale) * 2.0 ** (1 - t)
            margin = gram_rounding_margin(u, q, q, t, max_abs)
            if not margin < 0.05:
                return None
            slack = math.log1p(margin) + slack_in + _SCREEN_SLACK
            finite = lb[torch.isfinite(lb)]
            if finite.numel():
                best_lb = max(best_lb, float(finite.max()) - slack - 2.0 ** (1 - t) * slack_mv)
            keep = ub + slack >= best_lb
            if not bool(keep.all()):
                new, r, idx = new[keep], r[keep], idx[keep]
                spare, g = None, new
            else:
                spare, g = g, new
        if idx.numel() == n_blocks:
            return None
        return idx


def _gram_blocks_logs(
    tdft: _TorusDFT, n_iter: int, tol: float, *, screen: bool = True
) -> tuple[list[torch.Tensor], float, int, int]:
    """Gram iteration on the DFT blocks: per-iteration log of the max bound, margin, iterations, kept."""
    idx = _screen(tdft, n_iter) if screen else None
    work = tdft.all() if idx is None else tdft.subset(idx)
    logs, max_abs_log = gram_iterate(work, n_iter, tol)
    maxima = [lb.amax() for lb in logs]
    u = unit_roundoff(work.dtype, work.device)
    margin = gram_rounding_margin(u, tdft.p, tdft.q, len(logs), float(max_abs_log.detach()))
    margin = (1 + margin) * (1 + tdft.input_margin(u)) - 1
    return maxima, margin, len(logs), work.shape[0]


def gram_norm_conv_circular(
    kernel: torch.Tensor,
    input_size: int | Sequence[int],
    n_iter: int = 6,
    *,
    groups: int = 1,
    compute_dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    r"""Differentiable Gram bound of the circular convolution on an ``input_size`` torus (0-d tensor).

    .. math::

        \|C\|_2 = \max_{u,v}\sigma_1(\hat K_{uv})
        \le \max_{u,v}\bigl(\|G^{(T)}_{uv}\|_F\,e^{L^{(T)}_{uv}}\bigr)^{2^{-T}}(1+\delta)

    (Delattre et al. 2023, Algorithm "Lip_conv"): ``rfft2`` of the kernel zero-padded to the input size,
    ``T`` rescaled Gram iterations batched over frequencies, maximum over frequencies. This is the
    norm of ``nn.Conv2d(padding_mode="circular", padding=k//2)`` with odd kernels and stride 1; see
    :func:`conv_norm` for other paddings and strides. Gradients flow to ``kernel`` (they reach the
    maximising frequency only, as the gradient of a maximum does).

    Args:
        kernel: ``(c_out, c_in/groups, kh, kw)``.
        input_size: ``n`` or ``(H, W)``, each at least the kernel size.
        n_iter: Gram iterations.
        groups: number of groups (the norm is the maximum over groups).
        compute_dtype: ``float64`` (default; the result is cast back to ``kernel.dtype`` rounding up,
            so it stays a bound) or ``None`` to compute in ``kernel.dtype`` with that precision's
            worst-case margin.

    Returns:
        0-d tensor with ``kernel``'s dtype and device.

    Example:
        >>> k = torch.zeros(1, 1, 3, 3); k[0, 0, 1, 1] = 2.0
        >>> round(float(gram_norm_conv_circular(k, 8)), 6)
        2.0
    """
    kernel = as_real_tensor(kernel, "kernel", ndim=4)
    n_iter = check_n_iter(n_iter, DEFAULT_CONV_GRAM_ITERS)
    geom = conv_geometry(kernel.shape, input_size, padding="circular", pad="same", groups=groups)
    assert geom.input_size is not None
    check_memory(_blocks_bytes(geom, geom.input_size, n_iter), argument="input_size", what="the FFT blocks")
    dtype = compute_dtype or kernel.dtype
    scaled, e = pow2_normalize(kernel.to(dtype))  # any finite magnitude (see conv_norm)
    tdft = _TorusDFT(_grouped(scaled, geom.groups), geom.input_size)
    maxima, margin, _, _ = _gram_blocks_logs(tdft, n_iter, 0.0)
    return cast_up(unscale_up(torch.exp(maxima[-1]) * (1 + margin), e), kernel.dtype)


def _circular_gram_bound(
    k64: torch.Tensor, geom: ConvGeometry, size: tuple[int, int], n_iter: int, tol: float
) -> tuple[list[float], dict[str, Any]]:
    """History (running min, inflated) of the Gram bound of the torus conv of size ``size``."""
    with torch.no_grad():
        tdft = _TorusDFT(_grouped(k64, geom.groups), size)
        maxima, rel, _, kept = _gram_blocks_logs(tdft, n_iter, tol)
        logs = torch.stack(maxima).tolist()
    history = upper_history(logs, rel)
    info = {"blocks": tdft.n_blocks, "blocks_kept": kept, "margin": rel, "torus_size": size}
    return history, info


def _circular_exact(k64: torch.Tensor, geom: ConvGeometry) -> float | None:
    """Exact norm from the float64 DFT blocks (Sedghi et al. 2019), or ``None`` when the row selection
    is not uniform (then only the explicit matrix is exact)."""
    assert geom.input_size is not None
    factor, uniform = _circular_selection(geom)
    if not uniform:
        return None
    blocks = _TorusDFT(_grouped(k64, geom.groups), geom.input_size).all()
    top = torch.linalg.eigvalsh(blocks.mH @ blocks)[..., -1].clamp_min(0).amax()
    return factor * math.sqrt(float(top))
