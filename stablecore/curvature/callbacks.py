r"""Trainer callbacks on the curvature of the training loss: λ_max and trace tracking.

:class:`CurvatureTracker` measures, on a fixed batch, the largest eigenvalue
:math:`\lambda_{\max}(\nabla^2_\theta \mathcal L)` by Lanczos and the trace by Hutchinson's estimator
:math:`\operatorname{tr} H \approx \frac1m\sum_i z_i^\top H z_i` (Hutchinson 1989; Yao et al. 2020,
PyHessian), both ``estimate``\ s, every few epochs (Cohen et al. 2021 track λ_max this way to show
progressive sharpening).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from stablecore.curvature.lanczos import hessian_eigenvalues
from stablecore.curvature.trace import hessian_trace

__all__ = ["CurvatureTracker"]


def _positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


class CurvatureTracker:
    """Trainer callback: λ_max (Lanczos, top-1 ``LA``) and the Hutchinson trace of the training loss on a
    fixed batch every ``every`` epochs (and at the last one); both ``estimate``.

    Adds ``lambda_max``, ``hessian_trace``, ``hessian_trace_stderr`` and ``train_loss_tracked`` to the
    epoch's metrics and keeps ``records`` (one dict per tracked epoch). The model is not changed (the
    curvature operators evaluate it in eval mode and restore its flags).

    Args:
        batch: the fixed ``(x, y)`` the cross-entropy loss is measured on (moved to the model's device).
        every: track every ``every`` epochs. last: an epoch always tracked (the last one), or None.
        trace_samples: Hutchinson probes. seed: seeds Lanczos' start vector and the probes.
    """

    def __init__(
        self, batch: tuple[torch.Tensor, torch.Tensor], *, every: int = 1, trace_samples: int = 10,
        last: int | None = None, seed: int = 0,
    ) -> None:  # fmt: skip
        if not _positive_int(every):
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        if not _positive_int(trace_samples):
            raise ValueError(f"trace_samples must be an int >= 1, got {trace_samples!r}")
        self.batch, self.every, self.trace_samples = batch, every, trace_samples
        self.last, self.seed = last, seed
        self.records: list[dict[str, float]] = []

    def measure(self, model: nn.Module, epoch: int) -> dict[str, float]:
        """λ_max and the trace of ``model``'s loss on the batch now; appended to ``records``."""
        ce = nn.CrossEntropyLoss()
        device = next(model.parameters()).device
        batch = (self.batch[0].to(device), self.batch[1].to(device))
        eig = hessian_eigenvalues(model, ce, batch, k=1, seed=self.seed)
        tr = hessian_trace(model, ce, batch, num_samples=self.trace_samples, seed=self.seed)
        record = {"epoch": float(epoch), "lambda_max": float(eig.eigenvalues[0]), "hessian_trace": tr.mean,
                  "hessian_trace_stderr": tr.stderr}  # fmt: skip
        self.records.append(record)
        return record

    def __call__(self, trainer: Any, epoch: int, metrics: Mapping[str, float]) -> dict[str, float] | None:
        if epoch % self.every and epoch != self.last:
            return None
        record = self.measure(trainer.model, epoch)
        record["train_loss_tracked"] = float(metrics.get("train_loss", math.nan))
        return {k: v for k, v in record.items() if k != "epoch"}
