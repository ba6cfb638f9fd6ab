"""The Trainer's extension points (ARCHITECTURE.md, "Trainer extension points").

* **Penalty** -- ``penalty(model, batch, outputs, activations) -> scalar tensor`` added to the loss.
  A penalty may list module names in ``penalty.modules``; the Trainer then collects those
  modules' outputs with forward hooks and passes them in ``activations`` (name -> tensor).
  Optional ``penalty.name`` labels its metric (``penalty/<name>``); ``penalty.weight`` is *not*
  applied by the Trainer -- a penalty returns its already-weighted value.
* **Step strategy** -- ``step(trainer, batch) -> StepOutput`` owns one optimisation step (zero
  grad, one or several forward/backward passes, optimizer step). The default is
  :class:`StandardStep`; two-pass methods such as SAM supply their own and call
  :meth:`Trainer.compute_loss` and :meth:`Trainer.backward` as often as they need.
* **Callback** -- ``callback(trainer, epoch, metrics) -> mapping | None``, called after each epoch
  with the epoch's metrics; the returned numbers are added to them (e.g. certified accuracy).
* **Batch transform** -- ``transform(x, y, generator) -> (x, y)`` changes a training batch (e.g.
  Gaussian noise augmentation); ``generator`` is a seeded ``torch.Generator`` on the batch's
  device, re-seeded every epoch so runs and resumed runs are reproducible.

All four compose: penalties are summed, callbacks run in order, a step strategy calls
``compute_loss`` which applies the transform-free batch it is given (the Trainer applies the
transform before the step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import nn

if TYPE_CHECKING:
    from stablecore.train.trainer import Trainer

__all__ = [
    "BatchTransform",
    "Callback",
    "GaussianNoise",
    "Penalty",
    "StandardStep",
    "StepOutput",
    "StepStrategy",
    "penalty_name",
]

Batch = tuple[torch.Tensor, torch.Tensor]


@runtime_checkable
class Penalty(Protocol):
    def __call__(
        self, model: nn.Module, batch: Batch, outputs: torch.Tensor, activations: Mapping[str, torch.Tensor]
    ) -> torch.Tensor: ...


class StepStrategy(Protocol):
    def __call__(self, trainer: Trainer, batch: Batch) -> StepOutput: ...


class Callback(Protocol):
    def __call__(
        self, trainer: Trainer, epoch: int, metrics: Mapping[str, float]
    ) -> Mapping[str, float] | None: ...


class BatchTransform(Protocol):
    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch: ...


@dataclass
class StepOutput:
    """What one forward pass produced: total loss (task + penalties), the task loss, the model
    outputs and each penalty's value (detached floats are taken by the Trainer for metrics)."""

    loss: torch.Tensor
    task_loss: torch.Tensor
    outputs: torch.Tensor
    penalties: dict[str, torch.Tensor] = field(default_factory=dict)


def penalty_name(penalty: Any, index: int) -> str:
    """The metric name of a penalty: its ``name`` attribute, else its class name, else an index."""
    name = getattr(penalty, "name", None) or getattr(penalty, "__name__", None) or type(penalty).__name__
    return str(name) if name != "function" else f"penalty{index}"


class StandardStep:
    """One forward/backward pass and one optimizer step (with the Trainer's gradient clipping)."""

    def __call__(self, trainer: Trainer, batch: Batch) -> StepOutput:
        trainer.optimizer.zero_grad(set_to_none=True)
        out = trainer.compute_loss(batch)
        trainer.backward(out.loss)
        trainer.optimizer_step()
        return out


class GaussianNoise:
    """Batch transform ``x + σ·N(0, I)``: Gaussian noise augmentation at the certification σ, which makes
    the base classifier accurate under the noise randomized smoothing adds (Cohen et al. 2019, §4).

    The noise is drawn on the generator's device (the Trainer's, seeded per epoch and replica) and moved to
    the batch's, in the batch's dtype, so a run is reproducible on any device."""

    def __init__(self, sigma: float) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
            raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
        if not (math.isfinite(sigma) and sigma >= 0):
            raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
        self.sigma = float(sigma)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        if self.sigma == 0:
            return x, y
        noise = torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype)
        return x + self.sigma * noise.to(x.device), y


def check_penalties(penalties: Sequence[Any]) -> list[Any]:
    for i, p in enumerate(penalties):
        if not callable(p):
            raise TypeError(f"penalties[{i}] must be callable, got {type(p).__name__}")
    return list(penalties)
