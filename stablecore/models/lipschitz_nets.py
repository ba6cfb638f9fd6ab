"""Lipschitz-by-design networks by name: ``"aol"``, ``"sll"``, ``"cpl"``, ``"sr"``.

``layout="dense"`` (inputs flattened after ``Normalize``), in the spirit of the papers' MLP variants
(Meunier et al. 2022; Araujo et al. 2023; Prach & Lampert 2022):

* ``aol`` / ``sr``: ``(AOLLinear | SRLinear) → MaxMin`` blocks, ``depth`` times;
* ``sll`` / ``cpl``: a lift to ``width``, then ``depth`` residual layers ``SLLLinear(width, dense_inner)``
  / ``CPLLinear(width, dense_inner)`` (each 1-Lipschitz; ``dense_inner`` defaults to ``width``). The lift
  is ``lift="aol"`` (default: a learned 1-Lipschitz ``AOLLinear(features, width)``) or ``lift="pad"``
  (``ChannelPad(width)``: zero features appended, an isometry, as the ``PaddingChannels`` first layer of
  the CPL/SLL reference networks, docs/chapters/ch03.md §4.1–4.2; needs ``width >= features``).

  ``lift="pad"`` with many thin blocks (digits: ``width=128, depth=18, dense_inner=32``, 76k parameters)
  is the layout ``benchmarks/bench_layers.py`` part (b) uses: with the same parameter count and training
  budget (30 epochs) it fits the certified-training objective better than the AOL lift with 4 square
  blocks (measured: the trained AOL-lifted body had local Jacobian norms of about 0.94 against 0.99 with
  the pad lift, and the training-set certified accuracy grew with depth at a fixed parameter count).
  SLL on digits, mean of 3 seeds, certified accuracy at ε = 0.1 / 0.3: 0.973 / 0.889 against
  0.959 / 0.856.

``layout="conv"``: the CPL/SLL reference layout (docs/chapters/ch03.md §4.1–4.2, ``LipschitzNetwork``)::

    Normalize → ChannelPad(width) → depth × conv block → AvgPool2d(pool, divisor_override=pool)
    → Flatten → dense_depth × dense block → head

with conv blocks ``SLLConv2d(width, conv_inner)`` / ``CPLConv2d(width, conv_inner)`` (residual) or
``(AOLConv2d | SRConv2d)(width, width) → MaxMin``, and dense blocks ``SLLLinear(features, dense_inner)``
/ ``CPLLinear`` (residual, features kept) or ``(AOLLinear | SRLinear)(features, dense_inner) → MaxMin``.
The pooling sums ``pool × pool`` windows divided by ``pool``: an exact 1-Lipschitz map.

Sizes (``size=``, conv layout): ``"quick"`` (CPU-sized, ours) and the SLL reference code's
``"small"`` (conv 20, dense 7, width 45, dense inner 2048), ``"medium"`` (30, 10, 60, 2048),
``"large"`` (50, 10, 90, 2048), ``"xlarge"`` (70, 15, 120, 2048) (docs/chapters/ch03.md §4.2, ``main.py``).
For ``"cpl"``, ``"small"`` is the CPL code's default network (conv 20, dense 7, width 30, 2048; §4.1); its
S/M/L/XL paper sizes are not transcribed, so the larger names are refused for ``"cpl"``; ``"aol"`` and
``"sr"`` round an odd width up to even (MaxMin pairs channels: ``"small"`` has 46 channels). The conv layers'
inner width defaults to ``width`` (the reference's ``conv_inner_dim`` is not transcribed with certainty).

Head: ``NormalizedLinear`` (``head="lln"``, last-layer normalisation: certify with the pairwise radius)
or ``AOLLinear`` (``head="aol"``, a 1-Lipschitz head). The whole network's bound is ``1/min(std)``
times the head's constant (times each layer's rounding margin);
:func:`stablecore.spectral.lipschitz_bound` reads it from the registry.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from torch import nn

from stablecore.blocks import ChannelPad, Normalize
from stablecore.layers import (
    AOLConv2d,
    AOLLinear,
    CPLConv2d,
    CPLLinear,
    MaxMin,
    NormalizedLinear,
    SLLConv2d,
    SLLLinear,
    SRConv2d,
    SRLinear,
)
from stablecore.models.registry import check_positive_int, register_model

__all__ = ["CONV_SIZES", "lipschitz_convnet", "lipschitz_mlp"]

FAMILIES = ("aol", "sll", "cpl", "sr")
HEADS = ("lln", "aol")
LAYOUTS = ("dense", "conv")
LIFTS = ("aol", "pad")

# (depth, dense_depth, width, dense_inner)
CONV_SIZES: dict[str, tuple[int, int, int, int]] = {
    "quick": (4, 2, 16, 128),
    "small": (20, 7, 45, 2048),
    "medium": (30, 10, 60, 2048),
    "large": (50, 10, 90, 2048),
    "xlarge": (70, 15, 120, 2048),
}
CPL_CONV_SIZES: dict[str, tuple[int, int, int, int]] = {
    "quick": CONV_SIZES["quick"],
    "small": (20, 7, 30, 2048),
}


def _check_family_head(family: str, head: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {head!r}")


def _head(head: str, features: int, num_classes: int) -> nn.Module:
    return NormalizedLinear(features, num_classes) if head == "lln" else AOLLinear(features, num_classes)


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
    lift: str | None = None,
    dense_inner: int | None = None,
) -> nn.Sequential:
    """A dense Lipschitz network of ``family`` (see the module docstring).

    ``lift`` (``"aol"`` default, or ``"pad"``) and ``dense_inner`` (inner width of the residual blocks,
    default ``width``) only apply to ``"sll"`` / ``"cpl"``.
    """
    _check_family_head(family, head)
    width = check_positive_int(width, "width")
    depth = check_positive_int(depth, "depth")
    if width % 2:
        raise ValueError(f"width must be even (MaxMin pairs channels), got {width}")
    features = math.prod(input_shape)
    if family in ("aol", "sr"):
        given = [
            key for key, value in {"lift": lift, "dense_inner": dense_inner}.items() if value is not None
        ]
        if given:
            raise ValueError(f"{given} only apply to the residual families 'sll' and 'cpl' (dense layout)")
    else:
        lift = "aol" if lift is None else lift
        if lift not in LIFTS:
            raise ValueError(f"lift must be one of {LIFTS}, got {lift!r}")
        if lift == "pad" and width < features:
            raise ValueError(f"lift='pad' needs width >= the {features} input features, got width={width}")
        dense_inner = check_positive_int(width if dense_inner is None else dense_inner, "dense_inner")
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    if len(input_shape) > 1:
        layers["flatten"] = nn.Flatten()
    if family in ("aol", "sr"):
        for i in range(depth):
            layers[f"fc{i}"] = (
                AOLLinear(features, width) if family == "aol" else SRLinear(features, width, depth=sr_depth)
            )
            layers[f"act{i}"] = MaxMin()
            features = width
    else:
        layers["lift"] = AOLLinear(features, width) if lift == "aol" else ChannelPad(width)
        block = SLLLinear if family == "sll" else CPLLinear
        for i in range(depth):
            layers[f"block{i}"] = block(width, dense_inner)
        features = width
    layers["head"] = _head(head, features, num_classes)
    return nn.Sequential(layers)


def lipschitz_convnet(
    family: str,
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
    *,
    width: int,
    depth: int,
    dense_depth: int,
    dense_inner: int,
    head: str,
    conv_inner: int | None = None,
    kernel_size: int = 3,
    pool: int = 4,
    sr_depth: int = 2,
) -> nn.Sequential:
    """A convolutional Lipschitz network of ``family`` (the reference layout, module docstring)."""
    _check_family_head(family, head)
    if len(input_shape) != 3:
        raise ValueError(f"layout='conv' needs input_shape (C, H, W), got {tuple(input_shape)}")
    c, h, w = (int(v) for v in input_shape)
    width = check_positive_int(width, "width")
    depth = check_positive_int(depth, "depth")
    dense_depth = check_positive_int(dense_depth, "dense_depth") if dense_depth else 0
    dense_inner = check_positive_int(dense_inner, "dense_inner")
    conv_inner = check_positive_int(conv_inner or width, "conv_inner")
    pool = check_positive_int(pool, "pool")
    if width < c:
        raise ValueError(f"width must be >= the input channels {c}, got {width}")
    if family in ("aol", "sr") and (width % 2 or dense_inner % 2):
        raise ValueError(
            f"width and dense_inner must be even (MaxMin pairs channels), got {width}, {dense_inner}"
        )
    if h % pool or w % pool:
        raise ValueError(f"pool must divide the input size {h}×{w}, got {pool}")
    k = check_positive_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"kernel_size must be odd (same-size convolutions), got {k}")
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    layers["pad_channels"] = ChannelPad(width)
    for i in range(depth):
        if family == "sll":
            layers[f"conv{i}"] = SLLConv2d(width, conv_inner, k)
        elif family == "cpl":
            layers[f"conv{i}"] = CPLConv2d(width, conv_inner, k)
        else:
            conv = AOLConv2d if family == "aol" else SRConv2d
            extra: dict[str, Any] = {} if family == "aol" else {"depth": sr_depth}
            layers[f"conv{i}"] = conv(width, width, k, padding=k // 2, **extra)
            layers[f"conv_act{i}"] = MaxMin()
    if pool > 1:
        layers["pool"] = nn.AvgPool2d(pool, divisor_override=pool)
    layers["flatten"] = nn.Flatten()
    features = width * (h // pool) * (w // pool)
    for i in range(dense_depth):
        if family == "sll":
            layers[f"fc{i}"] = SLLLinear(features, dense_inner)
        elif family == "cpl":
            layers[f"fc{i}"] = CPLLinear(features, dense_inner)
        else:
            layers[f"fc{i}"] = (
                AOLLinear(features, dense_inner)
                if family == "aol"
                else SRLinear(features, dense_inner, depth=3)
            )
            layers[f"fc_act{i}"] = MaxMin()
            features = dense_inner
    layers["head"] = _head(head, features, num_classes)
    return nn.Sequential(layers)


def _resolve_conv_size(family: str, size: str | None) -> tuple[int, int, int, int]:
    table = CPL_CONV_SIZES if family == "cpl" else CONV_SIZES
    size = "quick" if size is None else size
    if size not in table:
        note = " (the CPL paper's S/M/L/XL sizes are not transcribed)" if family == "cpl" else ""
        raise ValueError(f"size for {family!r} must be one of {tuple(table)}{note}, got {size!r}")
    depth, dense_depth, width, dense_inner = table[size]
    if family in ("aol", "sr") and width % 2:  # MaxMin pairs channels: SLL's width 45 becomes 46
        width += 1
    return depth, dense_depth, width, dense_inner


def _register(family: str) -> None:
    def builder(
        input_shape: Sequence[int] = (2,),
        num_classes: int = 2,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        *,
        layout: str = "dense",
        size: str | None = None,
        width: int | None = None,
        depth: int | None = None,
        head: str = "lln",
        dense_depth: int | None = None,
        dense_inner: int | None = None,
        conv_inner: int | None = None,
        kernel_size: int = 3,
        pool: int = 4,
        lift: str | None = None,
    ) -> nn.Sequential:
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        if layout == "dense":
            unused = {"size": size, "dense_depth": dense_depth, "conv_inner": conv_inner}
            given = [key for key, value in unused.items() if value is not None]
            if given:
                raise ValueError(f"{given} only apply to layout='conv'")
            return lipschitz_mlp(
                family, input_shape, num_classes, mean, std,
                width=64 if width is None else width, depth=4 if depth is None else depth, head=head,
                lift=lift, dense_inner=dense_inner,
            )  # fmt: skip
        if lift is not None:
            raise ValueError("lift only applies to layout='dense' (the conv layout always pads channels)")
        d, dd, wd, di = _resolve_conv_size(family, size)
        return lipschitz_convnet(
            family, input_shape, num_classes, mean, std,
            width=wd if width is None else width, depth=d if depth is None else depth,
            dense_depth=dd if dense_depth is None else dense_depth,
            dense_inner=di if dense_inner is None else dense_inner,
            head=head, conv_inner=conv_inner, kernel_size=kernel_size, pool=pool,
        )  # fmt: skip

    builder.__name__ = f"{family}_net"
    builder.__doc__ = f"{family.upper()} network, dense or conv layout (stablecore.models.lipschitz_nets)."
    register_model(family)(builder)


for _family in FAMILIES:
    _register(_family)
