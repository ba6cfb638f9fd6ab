"""The :class:`DatasetBundle` every loader returns, and small helpers shared by the loaders.

A bundle holds a train and a test :class:`torch.utils.data.Dataset` whose items are ``(x, y)`` with ``x``
a float32 tensor of shape ``input_shape`` and ``y`` an int64 scalar tensor, plus the per-channel mean and
standard deviation of the *train* inputs. The statistics are meant for the model's ``Normalize`` first
layer (ARCHITECTURE.md, "Input space"); they are never applied to the data, which stays in the space the
user feeds the model (pixels in [0, 1]).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

__all__ = ["DatasetBundle", "channel_stats", "from_tensors"]


@dataclass(frozen=True)
class DatasetBundle:
    """A classification data set: train and test splits plus what a model needs to know about them.

    Attributes:
        name: short name (``"moons"``, ``"digits"``, ``"mnist"``, ...).
        train: training split; items ``(x, y)``, ``x`` float32 of shape ``input_shape``, ``y`` int64 scalar.
        test: test split, same item format.
        num_classes: number of classes; labels are ``0 .. num_classes - 1``.
        input_shape: per-example shape, e.g. ``(2,)``, ``(1, 8, 8)``, ``(1, 28, 28)``, ``(3, 32, 32)``.
        mean: per-channel mean of the train inputs (per feature for vector data), length ``input_shape[0]``.
        std: per-channel (population) standard deviation of the train inputs, same length, all > 0. Used by
            the model's ``Normalize`` layer, *not* applied to the data.
        metadata: read-only mapping with the source, seed, sizes, file paths, ...
    """

    name: str
    train: Dataset
    test: Dataset
    num_classes: int
    input_shape: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    metadata: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        for split in ("train", "test"):
            if not isinstance(getattr(self, split), Dataset):
                raise TypeError(
                    f"{split} must be a torch.utils.data.Dataset, got {type(getattr(self, split)).__name__}"
                )
        if (
            isinstance(self.num_classes, bool)
            or not isinstance(self.num_classes, int)
            or self.num_classes < 1
        ):
            raise ValueError(f"num_classes must be a positive int, got {self.num_classes!r}")
        shape = tuple(self.input_shape)
        if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(
                f"input_shape must be a non-empty tuple of positive ints, got {self.input_shape!r}"
            )
        mean = tuple(float(m) for m in self.mean)
        std = tuple(float(s) for s in self.std)
        if len(mean) != shape[0] or len(std) != shape[0]:
            raise ValueError(
                f"mean and std must have length input_shape[0]={shape[0]}, got {len(mean)} and {len(std)}"
            )
        if not all(math.isfinite(m) for m in mean):
            raise ValueError(f"mean must be finite, got {mean}")
        if not all(math.isfinite(s) and s > 0 for s in std):
            raise ValueError(f"std must be finite and > 0, got {std}")
        object.__setattr__(self, "input_shape", shape)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def num_train(self) -> int:
        """Number of training examples (``len(train)``)."""
        return len(self.train)  # type: ignore[arg-type]

    @property
    def num_test(self) -> int:
        """Number of test examples (``len(test)``)."""
        return len(self.test)  # type: ignore[arg-type]


def channel_stats(
    x: torch.Tensor | np.ndarray, *, chunk: int = 4096
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and population std of a batch ``x`` of shape ``(N, C, ...)`` (or ``(N, F)``).

    Channel is dimension 1 (a feature for 2-D data). Accumulated in float64 over chunks of ``chunk``
    examples (two passes, so no float64 copy of the whole set is made). A zero std (a constant channel)
    is replaced by 1.0 so that a ``Normalize`` layer built from it stays finite.
    """
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"x must have shape (N, C, ...) with N >= 1, got {tuple(x.shape)}")
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    n, c = arr.shape[0], arr.shape[1]
    per_channel = int(np.prod(arr.shape[2:], dtype=np.int64))
    count = n * per_channel
    total = np.zeros(c, dtype=np.float64)
    for start in range(0, n, chunk):
        block = arr[start : start + chunk].reshape(-1, c, per_channel).astype(np.float64)
        total += block.sum(axis=(0, 2))
    mean = total / count
    sq = np.zeros(c, dtype=np.float64)
    for start in range(0, n, chunk):
        block = arr[start : start + chunk].reshape(-1, c, per_channel).astype(np.float64)
        sq += ((block - mean[None, :, None]) ** 2).sum(axis=(0, 2))
    std = np.sqrt(sq / count)
    std[std == 0] = 1.0
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def from_tensors(
    name: str,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    num_classes: int,
    metadata: Mapping[str, Any],
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
) -> DatasetBundle:
    """Build a bundle of two in-memory :class:`TensorDataset` splits.

    Inputs are cast to float32 and labels to int64; mean/std come from ``x_train`` unless ``stats`` is
    given (e.g. computed from the raw uint8 pixels). ``metadata`` gains ``n_train`` and ``n_test``.
    """
    x_train = x_train.to(torch.float32)
    x_test = x_test.to(torch.float32)
    y_train = y_train.to(torch.int64)
    y_test = y_test.to(torch.int64)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"train and test inputs differ in shape: {tuple(x_train.shape[1:])} vs {tuple(x_test.shape[1:])}"
        )
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError("number of inputs and labels differ")
    mean, std = stats if stats is not None else channel_stats(x_train)
    meta = dict(metadata)
    meta.update(n_train=len(x_train), n_test=len(x_test))
    return DatasetBundle(
        name=name,
        train=TensorDataset(x_train, y_train),
        test=TensorDataset(x_test, y_test),
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x_train.shape[1:]),
        mean=mean,
        std=std,
        metadata=meta,
    )


# --- argument validation shared by the loaders -------------------------------------------------------


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_float(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
) -> float:
    """Return ``value`` as a finite float in range (open ends when ``strict``), else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    op = ">" if strict else ">="
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        raise ValueError(f"{name} must be {op} {minimum}, got {value}")
    op = "<" if strict else "<="
    if maximum is not None and (value > maximum or (strict and value == maximum)):
        raise ValueError(f"{name} must be {op} {maximum}, got {value}")
    return value


def check_seed(seed: Any) -> int:
    """A seed is a non-negative int (what ``numpy.random.default_rng`` and scikit-learn accept)."""
    return check_int("seed", seed, minimum=0)


def check_test_fraction(test_fraction: Any) -> float:
    """``test_fraction`` must lie strictly between 0 and 1."""
    return check_float("test_fraction", test_fraction, minimum=0.0, maximum=1.0, strict=True)
