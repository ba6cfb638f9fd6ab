"""Training losses: cross-entropy, and the margin losses of Lipschitz networks (offset/temperature
cross-entropy, multi-class hinge, hinge–KR).

Offset cross-entropy (Prach & Lampert 2022; SLL reference code, docs/chapters/ch03.md §4.2):

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

__all__ = ["CrossEntropy", "HKRLoss", "MultiMarginHinge", "OffsetCrossEntropy", "build_loss"]


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

    The CPL reference trains with ``margin = 0.7`` (docs/chapters/ch03.md §4.1): the loss vanishes once the
    true logit wins by the margin, which for an L-Lipschitz network certifies radius margin/(√2·L).
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


class HKRLoss(nn.Module):
    r"""Multi-class hinge–Kantorovich–Rubinstein loss (Serrurier et al., CVPR 2021; deel-torchlip's HKR).

    One-vs-all on the ``K`` logits, with :math:`s_{ik} = +1` if :math:`y_i = k` else :math:`-1`:

    .. math::

        \mathrm{KR} = \frac1K \sum_k \Bigl(\operatorname*{mean}_{i: y_i = k} f_k(x_i)
            - \operatorname*{mean}_{i: y_i \ne k} f_k(x_i)\Bigr),\qquad
        \mathrm{H} = \frac1{NK} \sum_{i,k} w_{ik} \max\bigl(0, \tfrac{m}{2} - s_{ik} f_k(x_i)\bigr),

    :math:`w_{ik} = K - 1` for the true class and 1 otherwise, and the loss is
    :math:`\alpha \mathrm{H} - (1 - \alpha) \mathrm{KR}`. For a 1-Lipschitz ``f`` the KR term estimates
    the Wasserstein-1 distance between each class and the rest; the hinge asks every logit to sit on the
    right side of 0 by ``m/2``. An empty class (or an empty complement) in a batch contributes 0 to its
    mean.

    Args:
        alpha: weight of the hinge in [0, 1] (1: hinge only; 0: KR only).
        min_margin: ``m`` > 0.
    """

    def __init__(self, alpha: float = 0.9, min_margin: float = 1.0) -> None:
        super().__init__()
        if not (math.isfinite(alpha) and 0 <= alpha <= 1):
            raise ValueError(f"alpha must be a number in [0, 1], got {alpha}")
        if not (math.isfinite(min_margin) and min_margin > 0):
            raise ValueError(f"min_margin must be a finite number > 0, got {min_margin}")
        self.alpha = float(alpha)
        self.min_margin = float(min_margin)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        k = logits.shape[-1]
        positive = F.one_hot(target, k).to(logits.dtype)
        negative = 1 - positive
        n_pos, n_neg = positive.sum(0), negative.sum(0)
        mean_pos = (logits * positive).sum(0) / n_pos.clamp_min(1)
        mean_neg = (logits * negative).sum(0) / n_neg.clamp_min(1)
        kr = (mean_pos - mean_neg).mean()
        sign = 2 * positive - 1
        hinge = torch.relu(self.min_margin / 2 - sign * logits) * (1 + (k - 2) * positive)
        return self.alpha * hinge.mean() - (1 - self.alpha) * kr

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, min_margin={self.min_margin}"


LOSSES = {
    "ce": CrossEntropy,
    "offset_ce": OffsetCrossEntropy,
    "hinge": MultiMarginHinge,
    "hkr": HKRLoss,
}


def build_loss(name: str, **kwargs: float) -> nn.Module:
    """Build a loss by name: ``"ce"``, ``"offset_ce"`` (keywords ``offset``, ``temperature``),
    ``"hinge"`` (keyword ``margin``) or ``"hkr"`` (keywords ``alpha``, ``min_margin``)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {name!r}")
    return LOSSES[name](**kwargs)
