"""Lipschitz-by-design networks by name: ``"aol"``, ``"sll"``, ``"cpl"``, ``"sr"``.

Dense layouts (inputs are flattened after ``Normalize``), in the spirit of the SLL/CPL papers'
MLP variants (Meunier et al. 2022; Araujo et al. 2023; Prach & Lampert 2022):

* ``aol`` / ``sr``: ``(AOLLinear | SRLinear) → MaxMin`` blocks, ``depth`` times;
* ``sll`` / ``cpl``: a 1-Lipschitz AOL lift to ``width``, then ``depth`` residual layers
  (``SLLLinear`` / ``CPLLinear``, each 1-Lipschitz);
* head: ``NormalizedLinear`` (``head="lln"``, last-layer normalisation: certify with the pairwise
  radius) or ``AOLLinear`` (``head="aol"``, a 1-Lipschitz head).

The whole network's bound is ``1/min(std)`` times the head's constant (times the rounding margins of
each layer); :func:`stablecore.spectral.lipschitz_bound` reads it from the registry.
Convolutional layouts arrive with the layers chapter's paper-size configurations.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from stablecore.blocks import Normalize
from stablecore.layers import AOLLinear, CPLLinear, MaxMin, NormalizedLinear, SLLLinear, SRLinear
from stablecore.models.registry import check_positive_int, register_model

__all__ = ["lipschitz_mlp"]

FAMILIES = ("aol", "sll", "cpl", "sr")
HEADS = ("lln", "aol")


def lipschitz_mlp(
    family: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    *,
    width: int,
    depth: int,
    head: str,
    sr_depth: int = 3,
) -> nn.Sequential:
    """A dense Lipschitz network of ``family`` (see the module docstring)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    width = check_positive_int(width, "width")
    depth = check_positive_int(depth, "depth")
    if width % 2:
        raise ValueError(f"width must be even (MaxMin pairs channels), got {width}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    if len(input_shape) > 1:
        layers["flatten"] = nn.Flatten()
    features = math.prod(input_shape)
    if family in ("aol", "sr"):
        for i in range(depth):
            layers[f"fc{i}"] = (
                AOLLinear(features, width) if family == "aol" else SRLinear(features, width, depth=sr_depth)
            )
            layers[f"act{i}"] = MaxMin()
            features = width
    else:
        layers["lift"] = AOLLinear(features, width)
        for i in range(depth):
            layers[f"block{i}"] = SLLLinear(width) if family == "sll" else CPLLinear(width)
        features = width
    layers["head"] = (
        NormalizedLinear(features, num_classes) if head == "lln" else AOLLinear(features, num_classes)
    )
    return nn.Sequential(layers)


def _register(family: str) -> None:
    def builder(
        input_shape: Sequence[int] = (2,),
        num_classes: int = 2,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        width: int = 64,
        depth: int = 4,
        head: str = "lln",
    ) -> nn.Sequential:
        return lipschitz_mlp(family, input_shape, num_classes, mean, std, width=width, depth=depth, head=head)

    builder.__name__ = f"{family}_mlp"
    builder.__doc__ = f"Dense {family.upper()} network (stablecore.models.lipschitz_nets)."
    register_model(family)(builder)


for _family in FAMILIES:
    _register(_family)
