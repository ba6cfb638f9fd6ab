"""Structural modules that every model and bound understands.

``Residual(branch, shortcut)`` computes ``shortcut(x) + branch(x)`` (identity shortcut when
``shortcut`` is None); ``Normalize(mean, std)`` computes ``(x - mean) / std`` per channel, so that a
model takes pixels in [0, 1] and carries its own standardisation (its Lipschitz constant
``1 / min(std)`` then enters every bound; ARCHITECTURE.md, "Input space"); ``ChannelPad(channels)``
appends zero channels (an isometry, the ``PaddingChannels`` lift of the CPL/SLL networks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["ChannelPad", "Normalize", "Residual"]


class Residual(nn.Module):
    """``y = shortcut(x) + branch(x)``; ``shortcut=None`` means the identity.

    Lipschitz bound: ``L(shortcut) + L(branch)`` (triangle inequality).
    """

    def __init__(self, branch: nn.Module, shortcut: nn.Module | None = None) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise TypeError(f"branch must be an nn.Module, got {type(branch).__name__}")
        if shortcut is not None and not isinstance(shortcut, nn.Module):
            raise TypeError(f"shortcut must be an nn.Module or None, got {type(shortcut).__name__}")
        self.branch = branch
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.branch(x)


class Normalize(nn.Module):
    """Per-channel standardisation ``(x - mean) / std`` (channel dimension 1, or the last
    dimension for 2-D inputs). ``mean``/``std`` are buffers, so they follow the model's device and
    are saved in checkpoints. Lipschitz constant (ℓ2): ``1 / min(std)``.
    """

    def __init__(self, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor) -> None:
        super().__init__()
        mean_t = torch.as_tensor(mean, dtype=torch.get_default_dtype()).flatten()
        std_t = torch.as_tensor(std, dtype=torch.get_default_dtype()).flatten()
        if mean_t.numel() == 0 or mean_t.shape != std_t.shape:
            raise ValueError(
                f"mean and std must be non-empty with the same length, got {tuple(mean_t.shape)} "
                f"and {tuple(std_t.shape)}"
            )
        if not torch.isfinite(mean_t).all() or not torch.isfinite(std_t).all():
            raise ValueError("mean and std must be finite")
        if (std_t <= 0).any():
            raise ValueError(f"std must be > 0, got {std_t.tolist()}")
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def _shape(self, x: torch.Tensor) -> tuple[int, ...]:
        c = self.mean.numel()
        if x.dim() == 2:
            if x.shape[1] != c and c != 1:
                raise ValueError(f"Normalize has {c} channels, input has {x.shape[1]} features")
            return (1, -1)
        if x.dim() < 2:
            raise ValueError(f"input must have a batch dimension, got shape {tuple(x.shape)}")
        if x.shape[1] != c and c != 1:
            raise ValueError(f"Normalize has {c} channels, input has {x.shape[1]} channels")
        return (1, -1) + (1,) * (x.dim() - 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = self._shape(x)
        return (x - self.mean.view(shape).to(x.dtype)) / self.std.view(shape).to(x.dtype)

    def lipschitz(self) -> float:
        """ℓ2 Lipschitz constant ``1 / min(std)`` (exact: attained along that channel)."""
        return float(1.0 / self.std.min())

    def extra_repr(self) -> str:
        return f"mean={self.mean.tolist()}, std={self.std.tolist()}"


class ChannelPad(nn.Module):
    """Append zero channels up to ``channels``: ``(N, C, ...) -> (N, channels, ...)``, an isometry.

    The first layer of the CPL and SLL convolutional networks (``PaddingChannels(C, 3, "zero")`` in the
    reference code): it lifts the image to the working width without a learned, non-isometric map.

    Example:
        >>> ChannelPad(4)(torch.ones(1, 3, 2, 2)).shape
        torch.Size([1, 4, 2, 2])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim < 2 or x.shape[1] > self.channels:
            raise ValueError(
                f"ChannelPad({self.channels}) expects (N, C, ...) with C <= {self.channels}, "
                f"got {tuple(x.shape)}"
            )
        pad = x.new_zeros((x.shape[0], self.channels - x.shape[1], *x.shape[2:]))
        return torch.cat([x, pad], dim=1)

    def extra_repr(self) -> str:
        return str(self.channels)
