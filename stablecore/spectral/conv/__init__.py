r"""Spectral norms of 2-D convolutions: circular and zero padding, strides, groups, transposed convs.

The convolution is ``torch.nn.functional.conv2d`` with a kernel :math:`K` in ``nn.Conv2d`` layout
``(c_out, c_in/groups, kh, kw)``, padding ``pad`` on both sides of each spatial dimension (``"same"``
= ``k // 2``, as ``nn.Conv2d`` with an odd kernel), a stride and groups. Its operator norm is the
Lipschitz constant of the layer (without bias) in :math:`\ell_2`.

One module per route, behind the method table of :func:`conv_norm`: :mod:`.geometry` (validation,
output size, row selection, circular embedding), :mod:`.circular` (FFT blocks: exact and Gram),
:mod:`.kernel_space` (the kernel-space Gram iteration), :mod:`.baselines` (Fantastic Four, LipGrid),
:mod:`.operator` (power iteration, explicit matrix) and :mod:`.norm` (the public entry points and
:func:`gram_candidates`, the one choice of Gram route shared with the differentiable
:func:`gram_norm_conv` used by :class:`~stablecore.spectral.LipschitzPenalty`).

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

1. *Circular embedding* (docs/chapters/ch02.md §3.1(c)). Zero-pad the input to
   :math:`N = s(H_\text{out}-1)+k` (for stride 1 and ``"same"`` padding with odd :math:`k`:
   :math:`N = n + k - 1`); the rows of the zero-padded convolution are then rows of the circular convolution
   on :math:`N`, which reads no wrapped entry:
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
(exact; :func:`~stablecore.numerics.pow2_normalize`) and every result scaled back, upper bounds
rounded up and lower bounds down in the subnormal range, so kernels from subnormal to :math:`10^{308}`
give sound, finite bounds (``inf`` only past the float64 range). Before anything is built, the memory
of the route (the DFT blocks on the input's torus, the power-iteration vectors, the explicit matrix, the
kernel-space or LipGrid frequency grid) is estimated from the arguments and refused above
:func:`stablecore.limits.max_memory` with a ``ValueError`` naming ``input_size`` or ``n_iter``.

Rounding. Every ``upper_bound`` is computed in float64 from an exact float64 copy of the kernel and
inflated by the margin of :func:`~stablecore.numerics.gram_rounding_margin` plus the error of the
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

from stablecore.spectral.conv.circular import DEFAULT_CONV_GRAM_ITERS, gram_norm_conv_circular
from stablecore.spectral.conv.geometry import PADDINGS, ConvGeometry, conv_geometry
from stablecore.spectral.conv.kernel_space import gram_norm_conv_zeros, kernel_gram_iterates
from stablecore.spectral.conv.norm import (
    CONV_METHODS,
    conv_norm,
    conv_transpose_norm,
    gram_candidates,
    gram_norm_conv,
)
from stablecore.spectral.conv.operator import DEFAULT_MAX_ENTRIES

__all__ = [
    "CONV_METHODS",
    "DEFAULT_CONV_GRAM_ITERS",
    "DEFAULT_MAX_ENTRIES",
    "PADDINGS",
    "ConvGeometry",
    "conv_geometry",
    "conv_norm",
    "conv_transpose_norm",
    "gram_candidates",
    "gram_norm_conv",
    "gram_norm_conv_circular",
    "gram_norm_conv_zeros",
    "kernel_gram_iterates",
]
