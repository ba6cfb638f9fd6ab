r"""The convolution as an operator: power iteration (lower bound, Ryu et al. 2019) and exact norms.

``"power"`` iterates ``conv2d`` and its adjoint in float64 (any padding and stride) and returns a
``lower_bound`` corrected for rounding; ``"exact"`` takes the DFT blocks when the circular row
selection is uniform, else the SVD of the explicit matrix (:mod:`stablecore.spectral.oracle`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from stablecore.numerics import power_lower_margin, unit_roundoff
from stablecore.spectral.conv.circular import _circular_exact
from stablecore.spectral.conv.geometry import ConvGeometry, _circular_selection, _grouped
from stablecore.spectral.dense import power_iterate
from stablecore.spectral.oracle import conv_operator_matrix, dense_spectral_norm

DEFAULT_POWER_ITERS = 100
DEFAULT_MAX_ENTRIES = 4096 * 4096
"""Largest explicit matrix (entries) that ``method="exact"`` builds for zero padding."""


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
    factor = _circular_selection(geom)[0] if geom.padding == "circular" else 1.0
    abs_norm = factor * float(torch.linalg.vector_norm(k64, dim=(0, 1)).sum())
    u = unit_roundoff(torch.float64)
    slack = power_lower_margin(u, geom.c_in_group * geom.kernel_size[0] * geom.kernel_size[1]) * abs_norm
    return power_iterate(op, adjoint, x, n_iter, tol, slack)


def _exact(k64: torch.Tensor, geom: ConvGeometry, max_entries: int) -> tuple[float, dict]:
    assert geom.input_size is not None and geom.output_size is not None
    if geom.padding == "circular":
        value = _circular_exact(k64, geom)
        if value is not None:
            return value, {"algorithm": "fft-blocks (Sedghi et al. 2019)"}
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
