r"""Geometry of a 2-D convolution: argument validation, output size, row selection, groups.

A strided or padded circular convolution reads the rows :math:`(s i - p) \bmod n` of the circulant:
a row selection of norm :math:`\sqrt{m_h m_w}` (:func:`_circular_selection`). Groups make the operator
block-diagonal: kernels are reshaped to ``(g, c_out/g, c_in/g, kh, kw)`` and every route takes the
maximum over groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

PADDINGS = ("circular", "zeros")


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


def _grouped(kernel: torch.Tensor, groups: int) -> torch.Tensor:
    """``(c_out, c_in/g, kh, kw)`` -> ``(g, c_out/g, c_in/g, kh, kw)``."""
    c_out, c_in_g, kh, kw = kernel.shape
    return kernel.reshape(groups, c_out // groups, c_in_g, kh, kw)


def embedding_size(geom: ConvGeometry) -> tuple[int, int]:
    r"""Torus of the circular embedding of a zero-padded conv, :math:`N = s(n_\text{out} - 1) + k` per
    dimension: its valid rows are the conv's rows and read no wrapped entry, so
    :math:`\|T\| \le \|C_N\|` (docs/chapters/ch02.md §3.1(c); :math:`N = n + 2p` for stride 1)."""
    assert geom.output_size is not None
    return tuple(s * (o - 1) + k for s, o, k in zip(geom.stride, geom.output_size, geom.kernel_size))  # type: ignore[return-value]
