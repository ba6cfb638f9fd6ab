"""Evaluation without side effects on the user's model."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from stablecore.torch_utils import eval_mode, model_device  # re-exported: the public home for users

__all__ = ["as_loader", "eval_mode", "evaluate", "model_device"]


def as_loader(data: Dataset | DataLoader | Iterable, batch_size: int) -> Iterable:
    """A DataLoader over a Dataset (in order), or the iterable given."""
    if isinstance(data, Dataset):
        return DataLoader(data, batch_size=batch_size, shuffle=False)
    return data


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset | DataLoader | Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    batch_size: int = 512,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Mean loss and accuracy of a classifier over ``data`` in eval mode (model state restored).

    Returns ``{"loss": ..., "accuracy": ..., "n": ...}``; the loss is weighted by batch size.
    """
    device = torch.device(device) if device is not None else model_device(model)
    total_loss, correct, count = 0.0, 0, 0
    with eval_mode(model):
        for x, y in as_loader(data, batch_size):
            x, y = x.to(device), y.to(device)
            out = model(x)
            if loss_fn is not None:
                total_loss += float(loss_fn(out.float(), y)) * len(y)
            correct += int((out.argmax(dim=1) == y).sum())
            count += len(y)
    if count == 0:
        raise ValueError("data is empty")
    return {
        "loss": total_loss / count if loss_fn is not None else float("nan"),
        "accuracy": correct / count,
        "n": float(count),
    }
