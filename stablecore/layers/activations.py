r"""1-Lipschitz activations acting on the channel dimension (dim 1).

* :class:`MaxMin` (Anil et al. 2019): :math:`(a, b) \mapsto (\max(a, b), \min(a, b))` on the two halves.
* :class:`GroupSort` (Anil et al. 2019): sorts each group of ``group_size`` consecutive channels.
* :class:`HouseHolder` (Singla, Singla & Feizi, ICLR 2022, order 1): on the halves :math:`z = (x, y)`,
  keeps :math:`z` if :math:`v_\theta^\top z > 0` and reflects it, :math:`R_\theta z`, otherwise, with
  :math:`v_\theta = (\sin\frac\theta2, -\cos\frac\theta2)` the normal of the mirror line.

All three are continuous and piecewise orthogonal (permutations or a reflection that fixes the
switching line), hence exactly 1-Lipschitz; they are registered with constant 1, kind ``exact``.
"""

from __future__ import annotations

import torch
from torch import nn

from stablecore.layers._common import Shape, check_positive_int, register_layer
from stablecore.types import Bound

__all__ = ["GroupSort", "HouseHolder", "MaxMin"]


def _channels(x: torch.Tensor, multiple: int, name: str) -> int:
    if x.ndim < 2 or x.shape[1] % multiple:
        raise ValueError(f"{name} needs dim 1 divisible by {multiple}, got input shape {tuple(x.shape)}")
    return x.shape[1]


class MaxMin(nn.Module):
    """``cat(max(a, b), min(a, b))`` with ``a, b`` the two halves of dim 1.

    Example:
        >>> MaxMin()(torch.tensor([[1.0, 5.0, 3.0, 2.0]]))
        tensor([[3., 5., 1., 2.]])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = _channels(x, 2, "MaxMin")
        a, b = x[:, : c // 2], x[:, c // 2 :]
        return torch.cat((torch.maximum(a, b), torch.minimum(a, b)), dim=1)


class GroupSort(nn.Module):
    """Sort (descending) each group of ``group_size`` consecutive entries of dim 1.

    Example:
        >>> GroupSort(2)(torch.tensor([[1.0, 5.0, 3.0, 2.0]]))
        tensor([[5., 1., 3., 2.]])
    """

    def __init__(self, group_size: int = 2) -> None:
        super().__init__()
        self.group_size = check_positive_int(group_size, "group_size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = _channels(x, self.group_size, "GroupSort")
        g = x.reshape(x.shape[0], c // self.group_size, self.group_size, *x.shape[2:])
        return g.sort(dim=2, descending=True).values.reshape(x.shape)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"


class HouseHolder(nn.Module):
    r"""Order-1 Householder activation with one learned angle per channel pair.

    Args:
        channels: size of dim 1 (even).
        device, dtype: factory keywords of the angles ``theta`` (initialised to :math:`\pi/2`: the
            mirror is the diagonal and the activation equals :class:`MaxMin`; any angle is 1-Lipschitz).
    """

    def __init__(
        self, channels: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__()
        self.channels = check_positive_int(channels, "channels")
        if channels % 2:
            raise ValueError(f"channels must be even, got {channels}")
        self.theta = nn.Parameter(torch.full((channels // 2,), torch.pi / 2, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = _channels(x, 2, "HouseHolder")
        if c != self.channels:
            raise ValueError(f"HouseHolder expects {self.channels} channels, got {c}")
        theta = self.theta.reshape(-1, *([1] * (x.ndim - 2)))
        a, b = x[:, : c // 2], x[:, c // 2 :]
        keep = a * torch.sin(theta / 2) - b * torch.cos(theta / 2) > 0
        ra = a * torch.cos(theta) + b * torch.sin(theta)
        rb = a * torch.sin(theta) - b * torch.cos(theta)
        return torch.cat((torch.where(keep, a, ra), torch.where(keep, b, rb)), dim=1)

    def extra_repr(self) -> str:
        return f"channels={self.channels}"


def _one(module: nn.Module, shape: Shape, **options) -> tuple[Bound, Shape]:
    return Bound(1.0, "exact", f"piecewise orthogonal ({type(module).__name__})"), shape


for _cls in (MaxMin, GroupSort, HouseHolder):
    register_layer(_cls, _one)
