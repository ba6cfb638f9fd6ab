"""Training configurations with ``quick`` (2-core CPU, minutes) and ``full`` (GPU) presets."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["MODES", "TrainConfig", "build_optimizer", "current_mode"]

MODES = ("quick", "full")
OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = (None, "cosine", "step")


def current_mode(mode: str | None = None) -> str:
    """``mode`` if given, else ``$STABLECORE_MODE``, else ``"quick"``; validated."""
    value = mode if mode is not None else os.environ.get("STABLECORE_MODE", "quick") or "quick"
    if value not in MODES:
        name = "mode" if mode is not None else "$STABLECORE_MODE"
        raise ValueError(f"{name} must be one of {MODES}, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    """A real number that is not a bool (NaN included: the range checks refuse it)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (JSON-serialisable via :meth:`to_dict`)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-2
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = None
    grad_clip: float | None = None
    eval_batch_size: int = 512
    amp: bool = True  # bf16 autocast, on CUDA only
    num_workers: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {self.num_workers!r}")
        if not (_is_number(self.lr) and 0 < self.lr < math.inf):
            raise ValueError(f"lr must be a finite number > 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if not (_is_number(self.weight_decay) and 0 <= self.weight_decay < math.inf):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {self.weight_decay!r}")
        if not (_is_number(self.momentum) and 0 <= self.momentum < 1):
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}")
        if self.grad_clip is not None and not (_is_number(self.grad_clip) and 0 < self.grad_clip < math.inf):
            raise ValueError(f"grad_clip must be a finite number > 0 or None, got {self.grad_clip!r}")

    @classmethod
    def preset(cls, mode: str | None = None, **overrides: Any) -> TrainConfig:
        """``quick``: small-data CPU settings; ``full``: the longer GPU schedule (SGD, cosine)."""
        mode = current_mode(mode)
        base = (
            cls(epochs=30, batch_size=64, lr=1e-2, optimizer="adam")
            if mode == "quick"
            else cls(
                epochs=200, batch_size=256, lr=0.1, optimizer="sgd", weight_decay=5e-4, scheduler="cosine"
            )
        )
        return dataclasses.replace(base, **overrides)

    @classmethod
    def quick(cls, **overrides: Any) -> TrainConfig:
        return cls.preset("quick", **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> TrainConfig:
        return cls.preset("full", **overrides)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig keys: {sorted(unknown)}")
        return cls(**data)


def build_optimizer(params: Any, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig) -> Any:
    """Per-epoch learning-rate schedule (None, cosine to 0, or ×0.1 every third of training)."""
    if config.scheduler is None:
        return None
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
