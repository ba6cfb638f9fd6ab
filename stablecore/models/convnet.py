"""Plain convolutional network.

``Normalize → (Conv2d → [BatchNorm2d] → activation → [pool])* → Flatten → (Linear → activation)* →
Linear``. Convolutions have stride 1 and padding ``kernel_size // 2`` ("same" for odd kernels); each
pool halves the spatial size (kernel 2, stride 2, floor).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from stablecore.blocks import Normalize
from stablecore.models.registry import (
    check_bool,
    check_int_sequence,
    check_positive_int,
    make_activation,
    register_model,
)

__all__ = ["convnet"]

POOLS: dict[str | None, type[nn.Module] | None] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d, None: None}


@register_model("convnet")
def convnet(
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    channels: Sequence[int] = (16, 32),
    kernel_size: int = 3,
    activation: str = "relu",
    pool: str | None = "max",
    hidden: Sequence[int] = (64,),
    batchnorm: bool = False,
) -> nn.Sequential:
    """Convolutional network for ``(C, H, W)`` images.

    Args:
        input_shape: ``(C, H, W)`` (default ``(3, 32, 32)``).
        num_classes: output width (default 10).
        mean, std: per-channel standardisation of the first layer.
        channels: output channels of the conv stages, one conv (+ pool) per entry.
        kernel_size: conv kernel size (padding ``kernel_size // 2``).
        activation: one of ``relu``, ``tanh``, ``gelu``, ``softplus``, ``elu``, ``sigmoid``.
        pool: ``"max"``, ``"avg"`` (2×2, stride 2, after each conv stage) or ``None``.
        hidden: widths of the fully connected head's hidden layers.
        batchnorm: ``BatchNorm2d`` after each conv (conv bias off then); the head has none.

    Raises:
        ValueError: the spatial size would drop below 1 (too many pooling stages for the input).
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W) for convnet, got {tuple(input_shape)}")
    channels = check_int_sequence(channels, "channels")
    hidden = check_int_sequence(hidden, "hidden")
    kernel_size = check_positive_int(kernel_size, "kernel_size")
    check_bool(batchnorm, "batchnorm")
    make_activation(activation)
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {list(POOLS)}, got {pool!r}")
    pool_cls = POOLS[pool]

    c, h, w = input_shape
    pad = kernel_size // 2
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    for i, out_c in enumerate(channels):
        h, w = h + 2 * pad - kernel_size + 1, w + 2 * pad - kernel_size + 1
        if pool_cls is not None:
            h, w = h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(
                f"input_shape {tuple(input_shape)} is too small for {len(channels)} conv stages "
                f"(kernel_size={kernel_size}, pool={pool!r}): spatial size < 1 after stage {i}"
            )
        layers[f"conv{i}"] = nn.Conv2d(c, out_c, kernel_size, padding=pad, bias=not batchnorm)
        if batchnorm:
            layers[f"bn{i}"] = nn.BatchNorm2d(out_c)
        layers[f"act{i}"] = make_activation(activation)
        if pool_cls is not None:
            layers[f"pool{i}"] = pool_cls(2)
        c = out_c
    layers["flatten"] = nn.Flatten()
    width = c * h * w
    for i, hd in enumerate(hidden):
        layers[f"fc{i}"] = nn.Linear(width, hd)
        layers[f"fc_act{i}"] = make_activation(activation)
        width = hd
    layers["head"] = nn.Linear(width, num_classes)
    return nn.Sequential(layers)
