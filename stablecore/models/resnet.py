"""CIFAR ResNets: ResNet-20 / ResNet-110 (He et al. 2016) and the CIFAR variant of ResNet-18.

References:
    K. He, X. Zhang, S. Ren, J. Sun. *Deep Residual Learning for Image Recognition*, CVPR 2016
    (arXiv:1512.03385), §4.2: 3×3 stem conv, three stages of ``n`` BasicBlocks with 16/32/64 channels
    (depth ``6n + 2``: n = 3 → ResNet-20, n = 18 → ResNet-110), stride 2 at the first block of stages 2
    and 3, global average pooling and a linear head. ResNet-18 follows the CIFAR adaptation common in the
    literature (e.g. kuangliu/pytorch-cifar): 3×3 stride-1 stem without max-pool, four stages of
    [2, 2, 2, 2] BasicBlocks with 64/128/256/512 channels.

Shortcuts: where the shape changes we use **option B** of He et al. (a 1×1 strided conv + BatchNorm
projection) rather than the zero-padding option A of the paper's CIFAR experiments: option A's
subsample-and-pad is not an ``nn.Sequential`` of standard leaf modules, whereas a projection is a plain
``Conv2d`` that every Lipschitz bound understands. This adds ``Σ (c_in·c_out + 2·c_out)`` parameters per
projection: ResNet-20 at width 1 with 10 classes on 3×32×32 has 272,474 parameters (option A: 269,722),
ResNet-110 1,730,714 (option A: 1,727,962), ResNet-18 11,173,962 (the usual CIFAR count).

Structure: each BasicBlock is ``Sequential(Residual(branch, shortcut), activation)`` with
``branch = Sequential(conv3×3, BN, act, conv3×3, BN)``; the activation after the addition is its own
module. Convs have no bias when ``batchnorm=True``; convs are initialised with He (Kaiming) normal,
``fan_out``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from stablecore.blocks import Normalize, Residual
from stablecore.models.registry import (
    check_bool,
    check_positive_number,
    make_activation,
    register_model,
)

__all__ = ["basic_block", "cifar_resnet", "resnet18", "resnet20", "resnet110"]


def basic_block(
    in_channels: int, out_channels: int, stride: int, *, batchnorm: bool, activation: str
) -> nn.Sequential:
    """``Sequential(Residual(branch, shortcut), act)``: He et al. 2016's BasicBlock with an option-B
    projection shortcut (1×1 conv [+ BN]) when the stride or the channel count changes."""

    def bn(c: int) -> list[nn.Module]:
        return [nn.BatchNorm2d(c)] if batchnorm else []

    branch = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=not batchnorm),
        *bn(out_channels),
        make_activation(activation),
        nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=not batchnorm),
        *bn(out_channels),
    )
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=not batchnorm), *bn(out_channels)
        )
    return nn.Sequential(OrderedDict(residual=Residual(branch, shortcut), act=make_activation(activation)))


def _scaled(base: int, width: float) -> int:
    return max(1, round(base * width))


def cifar_resnet(
    input_shape: Sequence[int],
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    stage_widths: Sequence[int],
    blocks_per_stage: Sequence[int],
    width: float,
    batchnorm: bool,
    activation: str,
) -> nn.Sequential:
    """Generic CIFAR ResNet: ``Normalize → conv3×3 → [BN] → act → stages → AdaptiveAvgPool2d(1) →
    Flatten → Linear``. Stage ``i > 0`` starts with stride 2; widths are ``round(stage_widths · width)``.
    Works for any spatial size ≥ 1 (each stride-2 stage maps ``H`` to ``ceil(H / 2)``)."""
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W) for a ResNet, got {tuple(input_shape)}")
    width = check_positive_number(width, "width")
    check_bool(batchnorm, "batchnorm")
    make_activation(activation)
    widths = [_scaled(w, width) for w in stage_widths]
    in_c = input_shape[0]
    layers: OrderedDict[str, nn.Module] = OrderedDict(normalize=Normalize(mean, std))
    layers["conv"] = nn.Conv2d(in_c, widths[0], 3, padding=1, bias=not batchnorm)
    if batchnorm:
        layers["bn"] = nn.BatchNorm2d(widths[0])
    layers["act"] = make_activation(activation)
    c = widths[0]
    for s, (out_c, n) in enumerate(zip(widths, blocks_per_stage)):
        blocks = []
        for b in range(n):
            stride = 2 if (s > 0 and b == 0) else 1
            blocks.append(basic_block(c, out_c, stride, batchnorm=batchnorm, activation=activation))
            c = out_c
        layers[f"stage{s + 1}"] = nn.Sequential(*blocks)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    layers["head"] = nn.Linear(c, num_classes)
    model = nn.Sequential(layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


@register_model("resnet20")
def resnet20(
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    width: float = 1,
    batchnorm: bool = True,
    activation: str = "relu",
) -> nn.Sequential:
    """ResNet-20 (He et al. 2016, n = 3): widths 16/32/64 × ``width``, option-B projection shortcuts.

    ``activation`` (default ``relu`` as in the paper) is used everywhere, also after each addition.
    """
    return cifar_resnet(
        input_shape, num_classes, mean, std, stage_widths=(16, 32, 64), blocks_per_stage=(3, 3, 3),
        width=width, batchnorm=batchnorm, activation=activation,
    )  # fmt: skip


@register_model("resnet110")
def resnet110(
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    width: float = 1,
    batchnorm: bool = True,
    activation: str = "relu",
) -> nn.Sequential:
    """ResNet-110 (He et al. 2016, n = 18): widths 16/32/64 × ``width``, option-B projection shortcuts."""
    return cifar_resnet(
        input_shape, num_classes, mean, std, stage_widths=(16, 32, 64), blocks_per_stage=(18, 18, 18),
        width=width, batchnorm=batchnorm, activation=activation,
    )  # fmt: skip


@register_model("resnet18")
def resnet18(
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    *,
    width: float = 1,
    batchnorm: bool = True,
    activation: str = "relu",
) -> nn.Sequential:
    """ResNet-18, CIFAR variant: 3×3 stride-1 stem, no max-pool, [2, 2, 2, 2] BasicBlocks with
    64/128/256/512 × ``width`` channels, 1×1-conv + BN projection shortcuts (He et al. 2016)."""
    return cifar_resnet(
        input_shape, num_classes, mean, std, stage_widths=(64, 128, 256, 512),
        blocks_per_stage=(2, 2, 2, 2), width=width, batchnorm=batchnorm, activation=activation,
    )  # fmt: skip
