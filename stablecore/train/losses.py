"""Training losses: cross-entropy and the offset/temperature cross-entropy of Lipschitz networks.

Offset cross-entropy (Prach & Lampert 2022; SLL reference code, THESIS.md §4.2):

.. math::

    \\ell(z, y) = T \\cdot \\mathrm{CE}\\big((z - \\mathrm{offset} \\cdot e_y) / T,\\ y\\big)

The offset asks the true logit to win by a margin (for a 1-Lipschitz network a margin of
``√2·ε`` certifies radius ε); the temperature ``T`` rescales the logits. SLL uses
``offset = √2·3/2 ≈ 2.12`` and ``T = 0.25``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CrossEntropy", "MultiMarginHinge", "OffsetCrossEntropy", "build_loss"]


class CrossEntropy(nn.Module):
    """Plain cross-entropy on logits (mean over the batch)."""

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, target)


class OffsetCrossEntropy(nn.Module):
    """``T · CE((z − offset·onehot(y)) / T, y)``; with ``offset=0, T=1`` it is plain cross-entropy.

    Args:
        offset: margin asked of the true class, ≥ 0.
        temperature: ``T`` > 0.
    """

    def __init__(self, offset: float = 1.5 * math.sqrt(2.0), temperature: float = 0.25) -> None:
        super().__init__()
        if not (math.isfinite(offset) and offset >= 0):
            raise ValueError(f"offset must be a finite number >= 0, got {offset}")
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
        self.offset = float(offset)
        self.temperature = float(temperature)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(target, logits.shape[-1]).to(logits.dtype)
        shifted = (logits - self.offset * onehot) / self.temperature
        return F.cross_entropy(shifted, target) * self.temperature

    def extra_repr(self) -> str:
        return f"offset={self.offset}, temperature={self.temperature}"


class MultiMarginHinge(nn.Module):
    """Multi-class hinge ``mean_j≠y max(0, margin − (z_y − z_j)) / K`` (``F.multi_margin_loss``, p = 1).

    The CPL reference trains with ``margin = 0.7`` (THESIS.md §4.1): the loss vanishes once the true
    logit wins by the margin, which for an L-Lipschitz network certifies radius margin/(√2·L).
    """

    def __init__(self, margin: float = 0.7) -> None:
        super().__init__()
        if not (math.isfinite(margin) and margin > 0):
            raise ValueError(f"margin must be a finite number > 0, got {margin}")
        self.margin = float(margin)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.multi_margin_loss(logits, target, p=1, margin=self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"


LOSSES = {"ce": CrossEntropy, "offset_ce": OffsetCrossEntropy, "hinge": MultiMarginHinge}


def build_loss(name: str, **kwargs: float) -> nn.Module:
    """Build a loss by name: ``"ce"``, ``"offset_ce"`` (keywords ``offset``, ``temperature``) or
    ``"hinge"`` (keyword ``margin``)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name](**kwargs)
