r"""Independent float64 oracles: explicit matrices of convolutions and their exact spectral norms.

A linear map :math:`x \mapsto Ax` is recovered column by column from its impulse responses
:math:`A e_j`: the identity basis of the input space is pushed through ``torch.nn.functional.conv2d``
(with ``F.pad(mode="circular")`` for circular padding) in float64, as in the orthogonality tests of
``deel-ai/orthogonium``. The dense matrix's largest singular value (LAPACK SVD) is the reference every
bound of :mod:`stablecore.spectral.conv` is tested against. This module deliberately shares no code
with the FFT / Gram machinery it checks.

Sizes: the matrix has :math:`c_\text{out}H_\text{out}W_\text{out}` rows and :math:`c_\text{in}HW`
columns; ``max_entries`` (default 4096²) refuses larger ones with a ``ValueError`` stating the size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["conv_operator_matrix", "conv_transpose_operator_matrix", "dense_spectral_norm"]

DEFAULT_MAX_ENTRIES = 4096 * 4096
_CHUNK = 1024


def _two(value: int | Sequence[int], name: str) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return (int(value[0]), int(value[1]))
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def _check_size(rows: int, cols: int, max_entries: int) -> None:
    if rows * cols > max_entries:
        raise ValueError(
            f"explicit matrix of {rows}×{cols} ({rows * cols * 8 / 2**20:.0f} MiB in float64) exceeds "
            f"max_entries={max_entries}"
        )


def _impulse_matrix(apply, in_shape: tuple[int, int, int], max_entries: int, device) -> torch.Tensor:
    n = in_shape[0] * in_shape[1] * in_shape[2]
    out_numel = apply(torch.zeros(1, *in_shape, dtype=torch.float64, device=device)).numel()
    _check_size(out_numel, n, max_entries)
    columns = []
    with torch.no_grad():
        for start in range(0, n, _CHUNK):
            stop = min(n, start + _CHUNK)
            basis = torch.zeros(stop - start, n, dtype=torch.float64, device=device)
            basis[torch.arange(stop - start), torch.arange(start, stop)] = 1.0
            columns.append(apply(basis.reshape(stop - start, *in_shape)).reshape(stop - start, -1))
    return torch.cat(columns).T.contiguous()


def conv_operator_matrix(
    kernel: torch.Tensor,
    input_size: int | Sequence[int],
    *,
    padding: str = "zeros",
    pad: int | Sequence[int] | str = "same",
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> torch.Tensor:
    r"""The float64 matrix :math:`A` of ``x ↦ conv2d(pad(x), kernel, stride, groups)``.

    .. math::

        A_{:,j} = \operatorname{vec}\bigl(\mathrm{conv2d}(\mathrm{pad}(e_j))\bigr),\qquad
        j = 1, \dots, c_\text{in} H W

    (row-major ``(c, h, w)`` vectorisation on both sides).

    Args:
        kernel: ``(c_out, c_in/groups, kh, kw)``.
        input_size: ``n`` or ``(H, W)``.
        padding: ``"zeros"`` or ``"circular"`` (``F.pad(mode="circular")``, which needs ``pad <= size``).
        pad: ``"same"`` (``k // 2``), an int or a pair.
        stride: int or pair.
        groups: number of groups.
        max_entries: refuse larger matrices.

    Returns:
        ``(c_out·H_out·W_out, c_in·H·W)`` float64 tensor on ``kernel``'s device.

    Example:
        >>> k = torch.ones(1, 1, 1, 1) * 2
        >>> conv_operator_matrix(k, 2, pad=0)
        tensor([[2., 0., 0., 0.],
                [0., 2., 0., 0.],
                [0., 0., 2., 0.],
                [0., 0., 0., 2.]], dtype=torch.float64)
    """
    if padding not in ("zeros", "circular"):
        raise ValueError(f"padding must be 'zeros' or 'circular', got {padding!r}")
    k = kernel.detach().to(torch.float64)
    kh, kw = k.shape[-2:]
    h, w = _two(input_size, "input_size")
    ph, pw = (kh // 2, kw // 2) if pad == "same" else _two(pad, "pad")  # type: ignore[arg-type]
    sh, sw = _two(stride, "stride")
    c_in = k.shape[1] * groups

    def apply(x: torch.Tensor) -> torch.Tensor:
        if padding == "circular":
            x = F.pad(x, (pw, pw, ph, ph), mode="circular")
            return F.conv2d(x, k, stride=(sh, sw), groups=groups)
        return F.conv2d(x, k, stride=(sh, sw), padding=(ph, pw), groups=groups)

    return _impulse_matrix(apply, (c_in, h, w), max_entries, k.device)


def conv_transpose_operator_matrix(
    weight: torch.Tensor,
    input_size: int | Sequence[int],
    *,
    pad: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> torch.Tensor:
    """The float64 matrix of ``x ↦ conv_transpose2d(x, weight, stride, pad, output_padding, groups)``.

    ``weight`` has the ``nn.ConvTranspose2d`` layout ``(c_in, c_out/groups, kh, kw)``; ``input_size`` is
    the transposed layer's input size.
    """
    w = weight.detach().to(torch.float64)
    h, wd = _two(input_size, "input_size")

    def apply(x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(
            x,
            w,
            stride=_two(stride, "stride"),
            padding=_two(pad, "pad"),
            output_padding=_two(output_padding, "output_padding"),
            groups=groups,
        )

    return _impulse_matrix(apply, (w.shape[0], h, wd), max_entries, w.device)


def dense_spectral_norm(matrix: torch.Tensor) -> float:
    """Largest singular value of a dense matrix, by LAPACK SVD in float64 (``matrix_norm(·, 2)``)."""
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    if matrix.numel() == 0:
        return 0.0
    return float(torch.linalg.matrix_norm(matrix.detach().to(torch.float64), 2))
