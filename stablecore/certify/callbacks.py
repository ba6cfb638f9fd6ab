"""Trainer callback that logs certified accuracy (Lipschitz margin certificate) after each epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from stablecore.certify.lipschitz import certify_model

__all__ = ["CertifiedAccuracyCallback"]


class CertifiedAccuracyCallback:
    """``callback(trainer, epoch, metrics) -> {"certified_accuracy@<eps>": ..., "lipschitz_bound": ...}``.

    Each epoch the network's Lipschitz bound is recomputed (:func:`certify_model`, model in eval mode and
    its modes restored) and the fraction of ``data`` that is correct with radius ≥ eps is logged for
    every eps. ``last_layer="auto"`` uses the pairwise (LLN) certificate when the model ends in a Linear.
    """

    def __init__(
        self,
        data: Dataset | tuple[torch.Tensor, torch.Tensor],
        eps: float | Sequence[float] = (0.1, 0.3),
        *,
        input_shape: Sequence[int] | None = None,
        last_layer: str | None = "auto",
        method: str = "gram",
        every: int = 1,
    ) -> None:
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.data = data
        self.eps = [float(eps)] if isinstance(eps, (int, float)) else [float(e) for e in eps]
        if not self.eps or any(e < 0 for e in self.eps):
            raise ValueError(f"eps must be one or more radii >= 0, got {eps!r}")
        self.input_shape = input_shape
        self.last_layer = last_layer
        self.method = method
        self.every = every

    def __call__(self, trainer: Any, epoch: int, metrics: Mapping[str, float]) -> dict[str, float] | None:
        if epoch % self.every:
            return None
        table = certify_model(
            trainer.model,
            self.data,
            self.eps,
            input_shape=self.input_shape,
            method=self.method,
            last_layer=self.last_layer,
        )
        out = {f"certified_accuracy@{e:g}": float(table[f"certified@{e:g}"].mean()) for e in self.eps}
        out["lipschitz_bound"] = float(table.attrs["lipschitz"])
        return out
