"""Small torch helpers every layer of the package may use (base layer: imports nothing of stablecore).

* :func:`model_device` -- where a model lives (its first parameter or buffer; CPU when stateless).
* :func:`eval_mode` -- a context manager that evaluates a model without side effects on its
  ``training`` flags (each submodule's own flag is restored, not just the root's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["eval_mode", "model_device"]


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a stateless model)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule in eval mode and restore each one's own flag afterwards."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags.items():
            module.training = flag
