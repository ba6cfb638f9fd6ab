r"""Spectral norms of 2-D convolutions: circular and zero padding, strides, groups, transposed convs.

The convolution is ``torch.nn.functional.conv2d`` with a kernel :math:`K` in ``nn.Conv2d`` layout
``(c_out, c_in/groups, kh, kw)``, padding ``pad`` on both sides of each spatial dimension (``"same"``
= ``k // 2``, as ``nn.Conv2d`` with an odd kernel), a stride and groups. Its operator norm is the
Lipschitz constant of the layer (without bias) in :math:`\ell_2`.

**Circular padding** (``padding="circular"``, as ``padding_mode="circular"``). On the torus
:math:`\mathbb Z_H\times\mathbb Z_W` the convolution :math:`C` is doubly block-circulant and the 2-D DFT
block-diagonalises it (Sedghi et al. 2019):

.. math::

    \|C\|_2 = \max_{u,v}\ \sigma_1\bigl(\hat K_{uv}\bigr),\qquad
    \hat K_{uv} = \sum_{a,b} K_{:,:,a,b}\, e^{-2\pi i (au/H + bv/W)}
    \in \mathbb C^{c_\text{out}\times c_\text{in}}.

``rfft2`` keeps the :math:`H(\lfloor W/2\rfloor+1)` blocks that matter: :math:`\hat K_{-u,-v} =
\overline{\hat K_{uv}}` has the same singular values. The layer with padding :math:`p` and stride
:math:`s` reads the rows :math:`(s i - p) \bmod H` of :math:`C`, i.e. it is :math:`SC` with :math:`S` a
row selection whose norm is :math:`\sqrt{m_h m_w}` (:math:`m` = the largest number of times a row is
read). When every row is read equally often (e.g. stride 1 and ``"same"`` padding with an odd
kernel), :math:`\|SC\| = \sqrt{m_h m_w}\,\|C\|` exactly; otherwise :math:`\sqrt{m_h m_w}\,\|C\|` is an
upper bound. ``method="gram"`` runs the Gram iteration (Delattre et al. 2023, "Lip_conv") on all the
blocks at once, with a per-frequency log-scale, and takes the maximum over frequencies;
``"exact"`` takes the largest singular value of every block in float64.

**Zero padding** (``padding="zeros"``). Two bounds, the smaller is returned (``details["winner"]``):

1. *Circular embedding* (THESIS §3.1c). Zero-pad the input to :math:`N = s(H_\text{out}-1)+k` (for
   stride 1 and ``"same"`` padding with odd :math:`k`: :math:`N = n + k - 1`); the rows of the zero-padded
   convolution are then rows of the circular convolution on :math:`N`, which reads no wrapped entry:
   :math:`T = P\,C_N\,E` with a row selection :math:`P` and a zero-extension :math:`E`, so
   :math:`\|T\| \le \|C_N\|`, bounded by Gram iteration as above. Valid for every stride.
2. *Kernel-space Gram iteration* ``"norm2toep"`` (Delattre et al. 2024). The zero-padded convolution
   is a compression of the convolution :math:`T_\infty` on :math:`\ell_2(\mathbb Z^2)`, whose
   :math:`(T_\infty^* T_\infty)^{2^{t-1}}` is again a convolution, with kernel :math:`P_t` obtained by
   :math:`t` Gram steps in kernel space (:math:`P_{t+1} = P_t \star P_t`, a full 2-D correlation summed
   over channels; spatial support :math:`2^t(k-1)+1`). A self-adjoint operator is bounded by its
   largest absolute row sum (Schur test), hence, for every input size and stride,

   .. math::

       \|T\|_2 \le \|T_\infty\|_2 \le \Bigl(\max_{c}\sum_{c',a,b} |P_t[c,c',a,b]|\Bigr)^{2^{-t}}.

   We compute the kernel products exactly (up to rounding) in the Fourier domain on a grid at least
   as large as the support, with a global log-scale, and read the coefficients back with ``irfft2``.
   This bound does not need the input size and tends to :math:`\sup_\omega\sigma_1(\hat K(\omega))`.

**Strides.** A strided convolution is a coordinate subsampling (a row selection, norm :math:`\le 1`)
of the stride-1 one; all bounds above are stated for the rows actually read, so they remain upper
bounds. ``"exact"`` uses the explicit matrix when the FFT formula does not apply.

**Groups.** The operator is block-diagonal (up to a permutation of channels): its norm is the
**maximum** over groups, never a product. All methods batch the groups and take the maximum.

**Transposed convolutions.** ``conv_transpose2d`` with weight ``w`` is the adjoint of ``conv2d`` with
the same ``w`` on the transposed layer's output size, so the norms are equal
(:func:`conv_transpose_norm`).

**Literature baselines** (all upper bounds, for zero and circular padding, any stride):

* ``"fantastic4"`` (Singla & Feizi 2021): :math:`\sqrt{k_h k_w}\min_{j=1..4}\|R_j\|_2` over the four
  reshapings of the kernel into matrices of sizes :math:`(c_\text{out}k_h)\times(c_\text{in}k_w)`,
  :math:`(c_\text{out}k_w)\times(c_\text{in}k_h)`, :math:`c_\text{out}\times(c_\text{in}k_hk_w)` and
  :math:`c_\text{in}\times(c_\text{out}k_hk_w)`. The original estimates the four norms by a few power
  iterations (which under-estimates them); we take exact float64 norms, so the result is a bound.
* ``"lipgrid"`` (Araujo et al. 2021, LipGrid): the maximum over an :math:`M_h\times M_w` frequency grid
  of :math:`\|\hat K(\omega)\|_F`, times a correction for the points between grid nodes. We could not
  confirm the paper's correction factor here, so we use one we prove: :math:`f(\omega) = \|\hat
  K(\omega)\|_F^2` is a non-negative trigonometric polynomial of degrees :math:`(k_h-1, k_w-1)`; along
  the segment from its maximiser :math:`\omega^*` to the nearest node it is an entire function of
  exponential type :math:`\sigma`, with :math:`f'(\omega^*) = 0`, so Bernstein's inequality
  :math:`|g''| \le \sigma^2 \sup|g|` gives :math:`f(\omega^*) \le \max_\text{grid} f / (1 - \theta^2/2)`,
  :math:`\theta = \pi((k_h-1)/M_h + (k_w-1)/M_w)`. Hence
  :math:`\|T\| \le \sup_\omega \sigma_1(\hat K(\omega)) \le \sqrt{\max_\text{grid} f/(1-\theta^2/2)}`.
  ``n_iter`` is the number of grid points per dimension (default 50, raised until :math:`\theta < 1`).

**Lower bounds and exact values.** ``"power"`` (Ryu et al. 2019) runs power iteration on the operator
itself (``conv2d`` and its adjoint, obtained with ``torch.func.vjp``, any kernel size, padding and
stride) in float64 and returns a ``lower_bound`` (the computed :math:`\|Tv\|` is corrected by the
worst-case rounding :math:`\gamma_n \sum_{a,b}\|K_{:,:,a,b}\|_F` and deflated by :math:`2^{-40}`).
``"exact"`` for zero padding builds the explicit matrix (:mod:`stablecore.spectral.oracle`) and takes
its SVD; it refuses matrices with more than ``max_entries`` entries.

Magnitudes and memory. The kernel is first scaled by a power of two to :math:`\max|K| \in [1/2, 1)`
(exact; :func:`~stablecore.spectral.dense.pow2_normalize`) and every result scaled back, upper bounds
rounded up and lower bounds down in the subnormal range, so kernels from subnormal to :math:`10^{308}`
give sound, finite bounds (``inf`` only past the float64 range). Before anything is built, the memory
of the route (the DFT blocks on the input's torus, the power-iteration vectors, the explicit matrix, the
kernel-space or LipGrid frequency grid) is estimated from the arguments and refused above
:func:`stablecore.limits.max_memory` with a ``ValueError`` naming ``input_size`` or ``n_iter``.

Rounding. Every ``upper_bound`` is computed in float64 from an exact float64 copy of the kernel and
inflated by the margin of :func:`~stablecore.spectral.dense.gram_rounding_margin` plus the error of the
DFT blocks relative to :math:`\max_\omega\sigma_1 \ge \|K\|_F/\sqrt q` (:math:`q` = Gram size): for
small kernels the blocks are one product with the DFT matrix, error
:math:`\le 4(\gamma_{k_hk_w+4}\sqrt{k_hk_w} + 2u)\sqrt q`; for kernels with more than 64 taps ``rfft2``,
error :math:`\le 8(\log_2 N + 1)\,u\sqrt{Nq}` (:math:`N` grid points; normwise FFT error, Higham 2002
§24.1). Lower bounds are deflated symmetrically.

Speed (circular Gram with many frequencies). The frequencies are first *screened* in complex64: the
first Gram iterate of every block comes from the kernel's autocorrelation (a cheap DFT of
:math:`(2k-1)^2` matrix taps), then up to five Gram iterations with one global scale per step. From the
third on, each block gets an upper bound (Frobenius norm of its iterate) and a lower bound (a
Rayleigh-type ratio), both corrected by the float32 rounding margins and a further :math:`10^{-3}`; a
block whose upper bound lies below the best lower bound cannot hold the maximum and is dropped at
once. The float64 iteration then runs on the few surviving blocks only (e.g. 6 of 544 for a random
64→64 3×3 kernel on 32×32), which is the float64 result on all blocks at a fraction of the cost.

References:
    B. Delattre, Q. Barthélemy, A. Araujo, A. Allauzen. *Efficient Bound of Lipschitz Constant for
    Convolutional Layers by Gram Iteration.* ICML 2023, arXiv:2305.16173.
    B. Delattre, Q. Barthélemy, A. Allauzen. *Spectral Norm of Convolutional Layers with Circular and
    Zero Paddings.* arXiv:2402.00240, 2024.
    H. Sedghi, V. Gupta, P. M. Long. *The Singular Values of Convolutional Layers.* ICLR 2019.
    E. K. Ryu, J. Liu, S. Wang, X. Chen, Z. Wang, W. Yin. *Plug-and-Play Methods Provably Converge with
    Properly Trained Denoisers.* ICML 2019.
    S. Singla, S. Feizi. *Fantastic Four: Differentiable Bounds on Singular Values of Convolution
    Layers.* ICLR 2021.
    A. Araujo, B. Negrevergne, Y. Chevaleyre, J. Atif. *On Lipschitz Regularization of Convolutional
    Layers using Toeplitz Matrix Theory.* AAAI 2021.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stablecore.limits import check_memory
from stablecore.spectral.dense import (
    DEFAULT_GRAM_TOL,
    DEFAULT_POWER_TOL,
    SAFETY_FLOOR,
    as_real_tensor,
    cast_up,
    check_n_iter,
    check_tol,
    exp_up,
    frobenius,
    gram_iterate,
    gram_rounding_margin,
    pow2_normalize,
    power_lower_margin,
    round_down,
    round_up,
    unit_roundoff,
    unscale_bound,
    unscale_up,
)
from stablecore.spectral.oracle import conv_operator_matrix, dense_spectral_norm
from stablecore.types import Bound

__all__ = [
    "CONV_METHODS",
    "DEFAULT_CONV_GRAM_ITERS",
    "DEFAULT_MAX_ENTRIES",
    "PADDINGS",
    "ConvGeometry",
    "conv_geometry",
    "conv_norm",
    "conv_transpose_norm",
    "gram_norm_conv_circular",
    "gram_norm_conv_zeros",
]

PADDINGS = ("circular", "zeros")
CONV_METHODS = ("gram", "power", "exact", "norm2toep", "fantastic4", "lipgrid")
DEFAULT_CONV_GRAM_ITERS = 6
"""Gram iterations of the FFT-block method when ``n_iter`` is not given (exact to ~1e-10 in practice)."""
DEFAULT_POWER_ITERS = 100
DEFAULT_LIPGRID_SAMPLES = 50
DEFAULT_MAX_ENTRIES = 4096 * 4096
"""Largest explicit matrix (entries) that ``method="exact"`` builds for zero padding."""
_TOEP_BUDGET = 3e8  # complex multiply-adds of the last kernel-space Gram step with the default n_iter
_TOEP_ITERS_WITH_SIZE = 3  # default norm2toep iterations when it is only a candidate (see conv_norm)
_SCREEN_ITERS = 3
_SCREEN_SLACK = 1e-3


# ----------------------------------------------------------------------------------- geometry
def _pair(value: Any, name: str, *, minimum: int) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of a 2-D convolution: channels, kernel, input/output sizes, padding, stride, groups."""

    c_out: int
    c_in: int
    groups: int
    kernel_size: tuple[int, int]
    input_size: tuple[int, int] | None
    padding: str
    pad: tuple[int, int]
    stride: tuple[int, int]
    output_size: tuple[int, int] | None

    @property
    def c_out_group(self) -> int:
        return self.c_out // self.groups

    @property
    def c_in_group(self) -> int:
        return self.c_in // self.groups

    def as_dict(self) -> dict[str, Any]:
        return {
            "padding": self.padding,
            "pad": self.pad,
            "stride": self.stride,
            "groups": self.groups,
            "input_size": self.input_size,
            "output_size": self.output_size,
        }


def conv_geometry(
    kernel_shape: Sequence[int],
    input_size: int | Sequence[int] | None,
    *,
    padding: str = "circular",
    pad: int | Sequence[int] | str = "same",
    stride: int | Sequence[int] = 1,
    groups: int = 1,
) -> ConvGeometry:
    """Validate the arguments of a convolution and compute its output size.

    Raises ``ValueError`` naming the offending argument: ``padding`` not in ``PADDINGS``; ``pad`` not
    ``"same"``/int/pair or negative (or, for circular padding, larger than the input, as in torch);
    ``stride`` < 1; ``groups`` < 1 or not dividing ``c_out``; ``input_size`` not positive, smaller
    than the kernel with circular padding, or giving an empty output.
    """
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    c_out, c_in_g, kh, kw = (int(s) for s in kernel_shape)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    groups = int(groups)
    if c_out % groups:
        raise ValueError(f"groups={groups} must divide the {c_out} output channels of kernel")
    if isinstance(pad, str):
        if pad != "same":
            raise ValueError(f"pad must be 'same', an int or a pair of ints, got {pad!r}")
        pad_hw = (kh // 2, kw // 2)
    else:
        pad_hw = _pair(pad, "pad", minimum=0)
    stride_hw = _pair(stride, "stride", minimum=1)
    size: tuple[int, int] | None = None
    out: tuple[int, int] | None = None
    if input_size is not None:
        size = _pair(input_size, "input_size", minimum=1)
        if padding == "circular":
            if size[0] < kh or size[1] < kw:
                raise ValueError(
                    f"input_size {size} is smaller than the kernel ({kh}, {kw}); circular padding needs "
                    f"an input at least as large as the kernel"
                )
            if pad_hw[0] > size[0] or pad_hw[1] > size[1]:
                raise ValueError(f"pad {pad_hw} larger than input_size {size} with circular padding")
        out = (
            (size[0] + 2 * pad_hw[0] - kh) // stride_hw[0] + 1,
            (size[1] + 2 * pad_hw[1] - kw) // stride_hw[1] + 1,
        )
        if min(out) < 1 or size[0] + 2 * pad_hw[0] < kh or size[1] + 2 * pad_hw[1] < kw:
            raise ValueError(
                f"input_size {size} with pad {pad_hw} is smaller than the kernel ({kh}, {kw}): empty output"
            )
    return ConvGeometry(c_out, c_in_g * groups, groups, (kh, kw), size, padding, pad_hw, stride_hw, out)


def _circular_selection(geom: ConvGeometry) -> tuple[float, bool]:
    r"""Norm ``sqrt(m_h m_w)`` of the row selection of a circular conv, and whether it is uniform.

    Per dimension the rows read are :math:`(s i - p) \bmod n`, :math:`0 \le i < n_\text{out}`. The
    sequence :math:`s i \bmod n` has period :math:`P = n/\gcd(s, n)` and visits :math:`P` distinct
    rows per period, so the most-read row is read :math:`m = \lceil n_\text{out}/P\rceil` times and
    every row equally often iff :math:`P = n` and :math:`n \mid n_\text{out}` (closed form: no
    allocation of the size of the input).
    """
    assert geom.input_size is not None and geom.output_size is not None
    factor, uniform = 1, True
    for n, out, s in zip(geom.input_size, geom.output_size, geom.stride):
        period = n // math.gcd(s, n)
        factor *= -(-out // period)
        uniform &= period == n and out % n == 0
    return math.sqrt(factor), uniform


# ----------------------------------------------------------------------------------- memory estimates
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


def _toeplitz_bytes(geom: ConvGeometry, n_iter: int) -> int:
    r"""Peak bytes of ``n_iter`` kernel-space Gram steps: on the last grid
    :math:`(2^T(k_h-1)+1)\times(2^T(k_w-1)+1)`, the spectrum, its product and the real coefficients."""
    p, q = max(geom.c_in_group, geom.c_out_group), min(geom.c_in_group, geom.c_out_group)
    kh, kw = geom.kernel_size
    sh, sw = 2**n_iter * (kh - 1) + 1, 2**n_iter * (kw - 1) + 1
    return 16 * 4 * geom.groups * p * q * sh * (sw // 2 + 1)


def _check_conv_memory(geom: ConvGeometry, method: str, n_iter: Any, max_entries: int) -> None:
    """Refuse (``ValueError`` naming the argument) a route whose allocation exceeds the memory limit
    (:func:`stablecore.limits.check_memory`), estimated from the arguments before anything is built."""
    kh, kw = geom.kernel_size
    p, q = max(geom.c_in_group, geom.c_out_group), min(geom.c_in_group, geom.c_out_group)
    if method == "lipgrid":
        n_iter = check_n_iter(n_iter, DEFAULT_LIPGRID_SAMPLES)
    elif method == "norm2toep" or (method == "gram" and geom.padding == "zeros"):
        toep = check_n_iter(n_iter, _default_toep_iters(kh, kw, q))
        if method == "gram" and geom.input_size is not None and n_iter is None:
            toep = min(toep, _TOEP_ITERS_WITH_SIZE)  # as in conv_norm
        check_memory(_toeplitz_bytes(geom, toep), argument="n_iter", what="the kernel-space Gram grid")
    if geom.input_size is not None and geom.output_size is not None:
        size, out = geom.input_size, geom.output_size
        padded = (size[0] + 2 * geom.pad[0]) * (size[1] + 2 * geom.pad[1])
        if method == "power":
            nbytes = 8 * 3 * (geom.c_in * padded + geom.c_out * out[0] * out[1])
            check_memory(nbytes, argument="input_size", what="the power-iteration vectors")
        elif method == "exact" and not (geom.padding == "circular" and _circular_selection(geom)[1]):
            rows = geom.c_out_group * out[0] * out[1]
            cols = geom.c_in_group * size[0] * size[1]
            if rows * cols <= max_entries:  # larger ones are refused by max_entries
                nbytes = 8 * (3 * rows * cols + 2 * min(rows, cols) ** 2 + 1024 * cols)
                check_memory(nbytes, argument="input_size", what="the explicit operator matrix")
        elif method in ("gram", "exact"):
            torus = size
            if geom.padding == "zeros":  # the circular embedding of the zero-padded conv
                torus = tuple(s * (o - 1) + k for s, o, k in zip(geom.stride, out, (kh, kw)))
            check_memory(_blocks_bytes(geom, torus), argument="input_size", what="the FFT blocks")
    if method == "lipgrid":
        mh = mw = n_iter
        while math.pi * ((kh - 1) / mh + (kw - 1) / mw) >= 1.0:
            mh, mw = 2 * mh, 2 * mw
        nbytes = 16 * 3 * geom.groups * p * q * mh * (mw // 2 + 1)
        check_memory(nbytes, argument="n_iter", what="the LipGrid frequency grid")


def _grouped(kernel: torch.Tensor, groups: int) -> torch.Tensor:
    """``(c_out, c_in/g, kh, kw)`` -> ``(g, c_out/g, c_in/g, kh, kw)``."""
    c_out, c_in_g, kh, kw = kernel.shape
    return kernel.reshape(groups, c_out // groups, c_in_g, kh, kw)


def _fft_margin(u: float, n_points: int, q: int) -> float:
    return 8 * (math.log2(max(n_points, 2)) + 1) * u * math.sqrt(n_points * max(q, 1))


# ----------------------------------------------------------------------------------- FFT blocks + Gram
def _twiddles(k: int, n: int, n_freq: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``exp(-2πi·a·u/n)`` for ``a < k``, ``u < n_freq``, with the phase reduced exactly mod ``n``."""
    a = torch.arange(k, device=device)
    u = torch.arange(n_freq, device=device)
    phase = (a[:, None] * u[None, :]) % n  # exact integers: no loss of accuracy for large a·u
    angle = phase.to(torch.float64) * (-2 * math.pi / n)
    return torch.polar(torch.ones_like(angle), angle).to(dtype)


def _gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


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
            return _fft_margin(u, self.size[0] * self.size[1], self.q)
        k = self.taps_count
        return 4 * (_gamma(k + 4, u) * math.sqrt(k) + 2 * u) * math.sqrt(self.q)


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
        err64 = _gamma(p * kh * kw + 4, unit_roundoff(torch.float64))
        slack_in = 0.5 * math.log1p(2 * (_gamma(n_first, u) + err64) * kh * kw * q)
        slack_mv = math.log1p(4 * _gamma(q + 2, u) * q**1.5)
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
    history: list[float] = []
    best = math.inf
    for log_b in logs:
        best = min(best, exp_up(log_b, rel))
        history.append(best)
    info = {"blocks": tdft.n_blocks, "blocks_kept": kept, "margin": rel, "torus_size": size}
    return history, info


# ----------------------------------------------------------------------------------- kernel-space Gram
def _toeplitz_logs(kg: torch.Tensor, n_iter: int, tol: float) -> tuple[list[torch.Tensor], float, tuple]:
    r"""Kernel-space Gram iteration (norm2toep) on a grouped kernel ``(g, co, ci, kh, kw)``.

    Returns the per-iteration log bounds (max over groups), the largest ``|log r|`` met and the last
    grid size. The iterate is kept as real coefficients in the layout ``(g, q, q, Sh, Sw)``, index
    ``j`` holding the offset ``j - h`` (:math:`h = (S-1)/2`). Products are taken on the DFT grid of the
    next support size: the DFT of the stored coefficients is :math:`e^{-i\omega h} P_t(\omega)`, whose
    square is :math:`e^{-2i\omega h} P_t(\omega)^2`, i.e. the coefficients of :math:`P_{t+1}` at their
    stored positions, with no wrap-around. The first step multiplies the DFT of the flipped,
    transposed kernel, :math:`e^{-i\omega(k-1)}\hat K(\omega)^{\mathsf H}`, by :math:`\hat K(\omega)`.
    """
    if kg.shape[1] < kg.shape[2]:
        kg = kg.transpose(1, 2)  # Gram of the smaller channel side (row sums of T T* or T* T)
    g = kg.shape[0]
    size = (kg.shape[3], kg.shape[4])
    log_scale = torch.zeros(g, dtype=kg.dtype, device=kg.device)
    max_abs_log = 0.0
    logs: list[torch.Tensor] = []
    stop = math.log1p(tol) if tol > 0 else -1.0
    coefs = kg  # (g, p, q, Sh, Sw): spatial dims last, so that the FFTs run on contiguous rows

    def blocks(c: torch.Tensor) -> torch.Tensor:
        # DFT on the grid of the next support, then blocks (g, Sh, Sw', p, q) contiguous for bmm (a
        # strided complex bmm takes a slow path: 3-4x slower on CPU)
        return torch.fft.rfft2(c, s=size).permute(0, 3, 4, 1, 2).contiguous()

    for t in range(1, n_iter + 1):
        r = torch.linalg.vector_norm(coefs.detach(), dim=(1, 2, 3, 4))
        r = torch.where(r > 0, r, torch.ones_like(r))
        max_abs_log = max(max_abs_log, float(r.log().abs().max()))
        coefs = coefs / r[:, None, None, None, None]
        log_scale = 2 * (log_scale + r.log())
        size = (2 * size[0] - 1, 2 * size[1] - 1)
        spec = blocks(coefs)
        if t == 1:
            gram = blocks(coefs.flip(3, 4).transpose(1, 2)) @ spec  # e^{-iω(k-1)} K̂ᴴK̂: T*T's symbol
        else:
            gram = spec @ spec
        coefs = torch.fft.irfft2(gram.permute(0, 3, 4, 1, 2), s=size)  # (g, q, q, Sh, Sw)
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
    history: list[float] = []
    best = math.inf
    for log_b in logs:
        best = min(best, exp_up(log_b, margin))
        history.append(best)
    return history, {"margin": margin, "grid": size}


# ----------------------------------------------------------------------------------- baselines
def _fantastic4(k64: torch.Tensor, geom: ConvGeometry) -> tuple[float, dict]:
    kg = _grouped(k64, geom.groups)
    g, co, ci, kh, kw = kg.shape
    mats = {
        "R1 (c_out·kh)×(c_in·kw)": kg.permute(0, 1, 3, 2, 4).reshape(g, co * kh, ci * kw),
        "R2 (c_out·kw)×(c_in·kh)": kg.permute(0, 1, 4, 2, 3).reshape(g, co * kw, ci * kh),
        "R3 c_out×(c_in·kh·kw)": kg.reshape(g, co, ci * kh * kw),
        "R4 c_in×(c_out·kh·kw)": kg.permute(0, 2, 1, 3, 4).reshape(g, ci, co * kh * kw),
    }
    u = unit_roundoff(torch.float64)
    scale = math.sqrt(kh * kw)
    bounds: dict[str, float] = {}
    for name, m in mats.items():
        norm = float(torch.linalg.matrix_norm(m, 2).amax())
        bounds[name] = round_up(scale * norm, SAFETY_FLOOR + 16 * max(m.shape[1:]) * u)
    return min(bounds.values()), {"reshapes": bounds}


def _lipgrid(k64: torch.Tensor, geom: ConvGeometry, samples: int) -> tuple[float, dict]:
    kg = _grouped(k64, geom.groups)
    kh, kw = geom.kernel_size
    mh = mw = max(int(samples), 1)

    def theta(mh: int, mw: int) -> float:
        return math.pi * ((kh - 1) / mh + (kw - 1) / mw)

    while theta(mh, mw) >= 1.0:
        mh, mw = 2 * mh, 2 * mw
    spec = torch.fft.rfft2(kg, s=(mh, mw))  # (g, co, ci, mh, mw//2+1)
    f = torch.view_as_real(spec).pow(2).sum(dim=(1, 2, -1))  # ‖K̂(ω)‖_F² per group and frequency
    grid_max = float(f.amax())
    th = theta(mh, mw)
    value = math.sqrt(grid_max / (1 - th * th / 2))
    u = unit_roundoff(torch.float64)
    q = min(kg.shape[1:3])
    value = round_up(value, SAFETY_FLOOR + _fft_margin(u, mh * mw, q) + 8 * u)
    return value, {"grid": (mh, mw), "grid_max": math.sqrt(grid_max), "theta": th}


# ----------------------------------------------------------------------------------- operator + power
def _conv_operator(
    k64: torch.Tensor, geom: ConvGeometry
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """The linear map ``x ↦ conv(x)`` (layer's padding, stride, groups) and its adjoint.

    Zero padding: the adjoint is ``conv_transpose2d`` with the ``output_padding`` that restores the
    input size. Circular padding: ``conv2d`` of the circularly indexed input; the adjoint is
    ``conv_transpose2d`` followed by folding the padded border back onto the torus (``index_add``).
    """
    assert geom.input_size is not None and geom.output_size is not None
    (h, w), (ph, pw), (sh, sw) = geom.input_size, geom.pad, geom.stride
    kh, kw = geom.kernel_size
    (oh, ow), groups = geom.output_size, geom.groups
    if geom.padding == "zeros":
        extra = (h + 2 * ph - kh) % sh, (w + 2 * pw - kw) % sw

        def op(x: torch.Tensor) -> torch.Tensor:
            return F.conv2d(x, k64, stride=(sh, sw), padding=(ph, pw), groups=groups)

        def adj(y: torch.Tensor) -> torch.Tensor:
            return F.conv_transpose2d(
                y, k64, stride=(sh, sw), padding=(ph, pw), output_padding=extra, groups=groups
            )

        return op, adj
    idx_h = torch.arange(-ph, h + ph, device=k64.device) % h
    idx_w = torch.arange(-pw, w + pw, device=k64.device) % w
    extra = (h + 2 * ph - ((oh - 1) * sh + kh), w + 2 * pw - ((ow - 1) * sw + kw))

    def op_c(x: torch.Tensor) -> torch.Tensor:
        xp = x.index_select(2, idx_h).index_select(3, idx_w)
        return F.conv2d(xp, k64, stride=(sh, sw), groups=groups)

    def adj_c(y: torch.Tensor) -> torch.Tensor:
        gp = F.conv_transpose2d(y, k64, stride=(sh, sw), output_padding=extra, groups=groups)
        rows = gp.new_zeros(gp.shape[0], gp.shape[1], h, gp.shape[3]).index_add_(2, idx_h, gp)
        return rows.new_zeros(gp.shape[0], gp.shape[1], h, w).index_add_(3, idx_w, rows)

    return op_c, adj_c


def _power(
    k64: torch.Tensor, geom: ConvGeometry, n_iter: int, tol: float, seed: int
) -> tuple[float, list, int]:
    assert geom.input_size is not None
    op, adjoint = _conv_operator(k64, geom)
    shape = (1, geom.c_in, *geom.input_size)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    x = torch.randn(shape, generator=gen, dtype=torch.float64).to(k64.device)
    x = x / torch.linalg.vector_norm(x)
    factor = _circular_selection(geom)[0] if geom.padding == "circular" else 1.0
    abs_norm = factor * float(torch.linalg.vector_norm(k64, dim=(0, 1)).sum())
    u = unit_roundoff(torch.float64)
    slack = power_lower_margin(u, geom.c_in_group * geom.kernel_size[0] * geom.kernel_size[1]) * abs_norm
    best, history, it = 0.0, [], 0
    with torch.no_grad():
        for it in range(1, n_iter + 1):
            y = op(x)
            sigma = float(torch.linalg.vector_norm(y) / torch.linalg.vector_norm(x))
            prev = best
            best = max(best, round_down(sigma * (1 - 8 * u) - slack, SAFETY_FLOOR))
            history.append(best)
            x = adjoint(y)
            nx = torch.linalg.vector_norm(x)
            if not bool(nx > 0):
                break
            x = x / nx
            if tol > 0 and it >= 2 and best > 0 and best - prev <= tol * best:
                break
    return best, history, it


def _exact(k64: torch.Tensor, geom: ConvGeometry, max_entries: int) -> tuple[float, dict]:
    assert geom.input_size is not None and geom.output_size is not None
    if geom.padding == "circular":
        factor, uniform = _circular_selection(geom)
        if uniform:
            blocks = _TorusDFT(_grouped(k64, geom.groups), geom.input_size).all()
            gram = blocks.mH @ blocks
            top = torch.linalg.eigvalsh(gram)[..., -1].clamp_min(0).amax()
            return factor * math.sqrt(float(top)), {"algorithm": "fft-blocks (Sedghi et al. 2019)"}
    rows = geom.c_out_group * geom.output_size[0] * geom.output_size[1]
    cols = geom.c_in_group * geom.input_size[0] * geom.input_size[1]
    if rows * cols > max_entries:
        raise ValueError(
            f"method='exact' would build a {rows}×{cols} float64 matrix per group "
            f"({rows * cols * 8 / 2**20:.0f} MiB), above max_entries={max_entries}; use method='gram' "
            f"(upper bound) or 'power' (lower bound), or raise max_entries"
        )
    kg = _grouped(k64, geom.groups)
    best = 0.0
    for j in range(geom.groups):
        m = conv_operator_matrix(
            kg[j], geom.input_size, padding=geom.padding, pad=geom.pad, stride=geom.stride, groups=1
        )
        best = max(best, dense_spectral_norm(m))
    return best, {"algorithm": "explicit matrix", "matrix_shape": (rows, cols)}


# ----------------------------------------------------------------------------------- public API
def conv_norm(
    kernel: torch.Tensor,
    input_size: int | Sequence[int] | None,
    *,
    padding: str = "circular",
    pad: int | Sequence[int] | str = "same",
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    method: str = "gram",
    n_iter: int | None = None,
    tol: float | None = None,
    seed: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Bound:
    r"""Spectral norm of a 2-D convolution as an honest :class:`~stablecore.types.Bound`.

    See the module docstring for the mathematics. Summary of ``method``:

    ============== ============= ==================================================================
    method         kind          what
    ============== ============= ==================================================================
    ``gram``       upper_bound   circular: Gram iteration on the FFT blocks (× row-selection norm);
                                 zeros: min of the circular-embedding Gram bound and ``norm2toep``
    ``norm2toep``  upper_bound   kernel-space Gram iteration (Delattre et al. 2024), any size
    ``exact``      exact         circular: FFT blocks (Sedghi et al. 2019) when every row is read
                                 equally often; otherwise the explicit matrix (≤ ``max_entries``)
    ``power``      lower_bound   power iteration on the operator (Ryu et al. 2019), float64
    ``fantastic4`` upper_bound   Singla & Feizi 2021, exact float64 norms of the 4 reshapings
    ``lipgrid``    upper_bound   Araujo et al. 2021 grid maximum + a proven Bernstein correction
    ============== ============= ==================================================================

    Args:
        kernel: ``(c_out, c_in/groups, kh, kw)`` (``nn.Conv2d.weight``), real and finite; any floating
            dtype (computed in float64 from an exact copy).
        input_size: ``n`` or ``(H, W)``. May be ``None`` for zero padding with ``norm2toep``,
            ``fantastic4``, ``lipgrid`` and ``gram`` (then ``norm2toep`` alone).
        padding: ``"circular"`` or ``"zeros"``.
        pad: ``"same"`` (``k // 2`` per dimension), an int or a pair.
        stride: int or pair.
        groups: number of groups; must divide ``c_out``.
        method: see the table.
        n_iter: iterations. Defaults: circular Gram 6; ``norm2toep`` the largest ``T <= 6`` whose last
            step stays within a fixed work budget (e.g. 4 for 64 channels and 3×3), and at most 3 when
            it is only the second candidate of a zero-padded ``gram`` with a known input size (it is
            never below :math:`\sup_\omega\sigma_1(\hat K(\omega))`, hence above the converged
            embedding bound up to the latter's Gram excess); power 100; ``lipgrid`` the grid points
            per dimension (50). An explicit ``n_iter`` applies to every iterative part.
        tol: early stop on relative change (Gram: ``1e-12``; power: ``1e-10``; 0 never stops early).
        seed: seed of the power-iteration start vector.
        max_entries: largest explicit matrix for ``exact`` (default 4096²).

    Returns:
        A :class:`~stablecore.types.Bound`; ``details`` holds the geometry and method information
        (for zero-padded ``gram``: ``winner`` and ``candidates``).

    Raises:
        TypeError: ``kernel`` is not a floating tensor.
        ValueError: ``kernel`` not 4-D, complex or not finite; bad ``padding``, ``pad``, ``stride``,
            ``groups``, ``input_size``, ``method``, ``n_iter`` or ``tol``; ``exact`` too large; the
            route's memory (estimated from ``input_size`` or ``n_iter``) above
            ``$STABLECORE_MAX_MEMORY`` (:mod:`stablecore.limits`).

    Example:
        >>> k = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0))
        >>> up = conv_norm(k, 8, padding="circular")
        >>> ex = conv_norm(k, 8, padding="circular", method="exact")
        >>> up.kind, ex.kind, up.value >= ex.value, abs(up.value / ex.value - 1) < 1e-6
        ('upper_bound', 'exact', True, True)
    """
    kernel = as_real_tensor(kernel, "kernel", ndim=4)
    if method not in CONV_METHODS:
        raise ValueError(f"method must be one of {CONV_METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)) or max_entries < 1:
        raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
    geom = conv_geometry(kernel.shape, input_size, padding=padding, pad=pad, stride=stride, groups=groups)
    needs_size = method in ("power", "exact") or padding == "circular"
    if geom.input_size is None and needs_size:
        raise ValueError(f"input_size is required for padding={padding!r} with method={method!r}")
    _check_conv_memory(geom, method, n_iter, int(max_entries))
    # a power-of-two scale (exact) brings any finite kernel, subnormal to 1e308, to max |K| ≈ 1: no
    # square, DFT or Gram step under- or overflows; the result is scaled back, rounded outwards
    k64, e = pow2_normalize(kernel.detach().to(torch.float64))
    details: dict[str, Any] = geom.as_dict()
    details["dtype"] = str(kernel.dtype)
    bound = _conv_norm_scaled(k64, geom, method, n_iter, tol, seed, int(max_entries), details)
    return unscale_bound(bound, int(e))


def _conv_norm_scaled(
    k64: torch.Tensor,
    geom: ConvGeometry,
    method: str,
    n_iter: int | None,
    tol: float | None,
    seed: int,
    max_entries: int,
    details: dict[str, Any],
) -> Bound:
    """:func:`conv_norm` of a validated float64 kernel scaled by :func:`pow2_normalize`."""
    padding = geom.padding
    q = min(geom.c_in_group, geom.c_out_group)
    kh, kw = geom.kernel_size

    if method == "exact":
        value, info = _exact(k64, geom, int(max_entries))
        details.update(info)
        return Bound(value, "exact", "exact", details=details)

    if method == "power":
        n = check_n_iter(n_iter, DEFAULT_POWER_ITERS)
        value, history, done = _power(k64, geom, n, check_tol(tol, DEFAULT_POWER_TOL), seed)
        return Bound(value, "lower_bound", "power", n_iter=done, history=tuple(history), details=details)

    if method == "fantastic4":
        value, info = _fantastic4(k64, geom)
        if padding == "circular":
            factor = _circular_selection(geom)[0]
            value = round_up(value * factor) if factor != 1.0 else value
            info["selection_norm"] = factor
        details.update(info)
        return Bound(value, "upper_bound", "fantastic4", details=details)

    if method == "lipgrid":
        value, info = _lipgrid(k64, geom, check_n_iter(n_iter, DEFAULT_LIPGRID_SAMPLES))
        if padding == "circular":
            factor = _circular_selection(geom)[0]
            value = round_up(value * factor) if factor != 1.0 else value
            info["selection_norm"] = factor
        details.update(info)
        return Bound(value, "upper_bound", "lipgrid", n_iter=info["grid"][0], details=details)

    tol_ = check_tol(tol, DEFAULT_GRAM_TOL)
    toep_iters = check_n_iter(n_iter, _default_toep_iters(kh, kw, q))

    if method == "norm2toep":
        history, info = _norm2toep_bound(k64, geom, toep_iters, tol_)
        if padding == "circular":
            factor = _circular_selection(geom)[0]
            history = [round_up(h * factor) if factor != 1.0 else h for h in history]
            info["selection_norm"] = factor
        details.update(info)
        return Bound(history[-1], "upper_bound", "norm2toep", len(history), tuple(history), details)

    # method == "gram"
    gram_iters = check_n_iter(n_iter, DEFAULT_CONV_GRAM_ITERS)
    if padding == "circular":
        assert geom.input_size is not None
        history, info = _circular_gram_bound(k64, geom, geom.input_size, gram_iters, tol_)
        factor, uniform = _circular_selection(geom)
        if factor != 1.0:
            history = [round_up(h * factor) for h in history]
        info.update({"selection_norm": factor, "selection_uniform": uniform})
        details.update(info)
        return Bound(history[-1], "upper_bound", "gram", len(history), tuple(history), details)

    candidates: dict[str, float] = {}
    runs: dict[str, tuple[list[float], dict]] = {}
    if geom.input_size is not None:
        assert geom.output_size is not None
        size = (
            geom.stride[0] * (geom.output_size[0] - 1) + kh,
            geom.stride[1] * (geom.output_size[1] - 1) + kw,
        )
        runs["circular_embedding"] = _circular_gram_bound(k64, geom, size, gram_iters, tol_)
    if geom.input_size is not None and n_iter is None:
        # norm2toep ≥ sup_ω σ₁(K̂(ω)) ≥ ‖C_N‖, which the embedding bound approaches to ~1e-6: the
        # kernel-space candidate essentially never wins once the size is known; keep it cheap
        toep_iters = min(toep_iters, _TOEP_ITERS_WITH_SIZE)
    runs["norm2toep"] = _norm2toep_bound(k64, geom, toep_iters, tol_)
    for name, (history, _) in runs.items():
        candidates[name] = history[-1]
    winner = min(candidates, key=candidates.__getitem__)
    history, info = runs[winner]
    details.update({"winner": winner, "candidates": candidates, "info": {k: v[1] for k, v in runs.items()}})
    return Bound(history[-1], "upper_bound", "gram", len(history), tuple(history), details)


def conv_transpose_norm(
    weight: torch.Tensor,
    input_size: int | Sequence[int],
    *,
    pad: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
    method: str = "gram",
    n_iter: int | None = None,
    tol: float | None = None,
    seed: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Bound:
    r"""Spectral norm of ``conv_transpose2d`` (``nn.ConvTranspose2d``, zero padding).

    ``conv_transpose2d(·, w, stride, padding, output_padding, groups)`` on an :math:`H\times W` input is
    the adjoint of ``conv2d(·, w, stride, padding, groups)`` on the transposed layer's output size
    :math:`H_o = (H-1)s - 2p + k + o`; an operator and its adjoint have the same norm. The weight
    ``(c_in, c_out/groups, kh, kw)`` of ``ConvTranspose2d`` *is* the ``conv2d`` weight of that adjoint
    (``c_in`` outputs, ``c_out/groups`` inputs per group), so no transposition of the layout is needed.

    Args:
        weight: ``nn.ConvTranspose2d.weight``, shape ``(c_in, c_out/groups, kh, kw)``.
        input_size: the transposed layer's input size ``n`` or ``(H, W)``.
        pad, stride, groups, output_padding: as in ``nn.ConvTranspose2d`` (``output_padding < stride``).
        method, n_iter, tol, seed, max_entries: as in :func:`conv_norm` (zero padding).

    Returns:
        The :class:`~stablecore.types.Bound` of the forward convolution, with ``details["transposed"]``.

    Example:
        >>> w = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(1))
        >>> b = conv_transpose_norm(w, 5, pad=1, stride=2, output_padding=1, method="exact")
        >>> b.details["forward_input_size"]
        (10, 10)
    """
    weight = as_real_tensor(weight, "weight", ndim=4)
    size = _pair(input_size, "input_size", minimum=1)
    pad_hw = _pair(pad, "pad", minimum=0)
    stride_hw = _pair(stride, "stride", minimum=1)
    out_pad = _pair(output_padding, "output_padding", minimum=0)
    if out_pad[0] >= stride_hw[0] or out_pad[1] >= stride_hw[1]:
        raise ValueError(f"output_padding {out_pad} must be smaller than stride {stride_hw}")
    kh, kw = weight.shape[-2:]
    fwd = tuple(
        (n - 1) * s - 2 * p + k + o for n, s, p, k, o in zip(size, stride_hw, pad_hw, (kh, kw), out_pad)
    )
    if min(fwd) < 1:
        raise ValueError(f"input_size {size} gives an empty output with pad {pad_hw} and stride {stride_hw}")
    bound = conv_norm(
        weight,
        fwd,
        padding="zeros",
        pad=pad_hw,
        stride=stride_hw,
        groups=groups,
        method=method,
        n_iter=n_iter,
        tol=tol,
        seed=seed,
        max_entries=max_entries,
    )
    details = dict(bound.details or {})
    details.update({"transposed": True, "forward_input_size": fwd, "transposed_input_size": size})
    if details.get("output_size") != size:  # pragma: no cover - guarded by the size arithmetic
        raise AssertionError(f"adjoint geometry mismatch: {details.get('output_size')} != {size}")
    return Bound(bound.value, bound.kind, bound.method, bound.n_iter, bound.history, details)
