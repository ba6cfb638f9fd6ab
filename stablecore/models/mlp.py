"""Multi-layer perceptron: ``Normalize → [Flatten] → (Linear → activation)* → Linear``."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from stablecore.blocks import Normalize
from stablecore.models.registry import check_bool, check_int_sequence, make_activation, register_model

__all__ = ["mlp"]


@register_model("mlp")
def mlp(
    input_shape: Sequence[int] = (2,),
    num_classes: int = 2,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    bias: bool = True,
) -> nn.Sequential:
    """Fully connected network.

    Args:
        input_shape: ``(d,)`` for vectors (default ``(2,)``, the synthetic 2-D sets) or ``(C, H, W)``
            (any shape: inputs are flattened after ``Normalize``, whose channels are ``input_shape[0]``).
        num_classes: output width (default 2).
        mean, std: per-channel standardisation of the first layer.
        hidden: widths of the hidden layers, any depth (``()`` gives a linear model).
        activation: one of ``relu``, ``tanh``, ``gelu``, ``softplus``, ``elu``, ``sigmoid``.
        bias: bias in every ``Linear``.
    """
    hidden = check_int_sequence(hidden, "hidden")
    check_bool(bias, "bias")
    make_activation(activation)  # validate before building
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    if len(input_shape) > 1:
        layers["flatten"] = nn.Flatten()
    width = math.prod(input_shape)
    for i, h in enumerate(hidden):
        layers[f"fc{i}"] = nn.Linear(width, h, bias=bias)
        layers[f"act{i}"] = make_activation(activation)
        width = h
    layers["head"] = nn.Linear(width, num_classes, bias=bias)
    return nn.Sequential(layers)
