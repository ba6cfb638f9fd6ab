r"""Export: the same function with every parametrization folded into plain weights.

:func:`export` returns a copy of a model in which

* parametrized linear/conv layers (AOL, SR, spectral normalisation, orthogonal, row-normalised heads,
  and any other ``torch.nn.utils.parametrize`` parametrization) become plain ``nn.Linear`` /
  ``nn.Conv2d`` holding the weight they computed;
* residual layers (SLL, SLL-Gram, CPL) become :class:`ResidualReLULinear` / :class:`ResidualReLUConv2d`,
  :math:`x - 2 W^\top \operatorname{diag}(s)\,\mathrm{ReLU}(Wx + b)` with the rescaling ``s`` frozen
  (SLL: :math:`T^{-1}`; CPL: :math:`1/(\rho^2 + \varepsilon)`);

so inference runs no power or Gram iteration. Every exported module's Lipschitz constant is recomputed
*a posteriori* from its stored weights by :func:`stablecore.spectral.lipschitz_bound` (plain layers by
their Gram bounds, residual ones by :func:`~stablecore.layers._common.residual_certificate`), so the
exported network keeps an honest bound even if it is fine-tuned afterwards.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.layers._common import (
    Shape,
    check_residual_shape,
    conv_same,
    conv_same_adjoint,
    register_layer,
    residual_certificate,
)
from stablecore.layers.cpl import CPLConv2d, CPLLinear
from stablecore.layers.sll import (
    SLLConv2d,
    SLLGramConv2d,
    SLLGramLinear,
    SLLLinear,
    sll_gram_inverse_diagonal,
    sll_inverse_diagonal,
)
from stablecore.types import Bound

__all__ = ["ResidualReLUConv2d", "ResidualReLULinear", "export"]


class ResidualReLULinear(nn.Module):
    r""":math:`h(x) = x - 2 W^\top \operatorname{diag}(s)\,\mathrm{ReLU}(Wx + b)` with fixed ``W, b, s``.

    Args:
        weight: ``(inner, features)``.
        bias: ``(inner,)`` or None.
        scale: ``(inner,)``, ``s ≥ 0``.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, scale: torch.Tensor) -> None:
        super().__init__()
        if weight.ndim != 2 or scale.shape != weight.shape[:1]:
            raise ValueError(
                f"weight must be (inner, features) and scale (inner,), got {weight.shape}, {scale.shape}"
            )
        self.features = weight.shape[1]
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(nn.functional.linear(x, self.weight, self.bias))
        return x - 2 * nn.functional.linear(z * self.scale, self.weight.mT)

    def extra_repr(self) -> str:
        return (
            f"features={self.features}, inner_features={self.weight.shape[0]}, bias={self.bias is not None}"
        )


class ResidualReLUConv2d(nn.Module):
    r"""Convolutional :class:`ResidualReLULinear`: stride 1, "same" padding (zeros or circular)."""

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        scale: torch.Tensor,
        padding: tuple[int, int],
        padding_mode: str,
    ) -> None:
        super().__init__()
        if weight.ndim != 4 or scale.shape != weight.shape[:1]:
            raise ValueError(
                f"weight must be (inner, C, kh, kw) and scale (inner,), got {weight.shape}, {scale.shape}"
            )
        self.channels = weight.shape[1]
        self.padding, self.padding_mode = tuple(padding), padding_mode
        self.weight = nn.Parameter(weight.detach().clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())
        self.register_buffer("scale", scale.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.relu(conv_same(x, self.weight, self.bias, self.padding, self.padding_mode))
        return x - 2 * conv_same_adjoint(
            z * self.scale[:, None, None], self.weight, self.padding, self.padding_mode
        )

    def extra_repr(self) -> str:
        return (
            f"{self.channels}, inner_channels={self.weight.shape[0]}, "
            f"kernel_size={tuple(self.weight.shape[2:])}, "
            f"padding={self.padding}, padding_mode={self.padding_mode}, bias={self.bias is not None}"
        )


def _residual_bound(
    module: ResidualReLULinear | ResidualReLUConv2d, shape: Shape, **options
) -> tuple[Bound, Shape]:
    conv = isinstance(module, ResidualReLUConv2d)
    check_residual_shape(module, shape, module.channels if conv else module.features, conv)
    method = "frozen residual layer (a-posteriori Gram bound of diag(√s)W, float64)"
    if conv:
        bound = residual_certificate(
            module.weight,
            module.scale,
            shape,
            pad=module.padding,
            padding_mode=module.padding_mode,
            method=method,
        )
    else:
        bound = residual_certificate(module.weight, module.scale, shape, method=method)
    return bound, shape


register_layer(ResidualReLULinear, _residual_bound)
register_layer(ResidualReLUConv2d, _residual_bound)


# ----------------------------------------------------------------------------------------------- export
def _residual_scale(module: nn.Module) -> torch.Tensor:
    if isinstance(module, (SLLGramLinear, SLLGramConv2d)):
        return sll_gram_inverse_diagonal(module.weight, module.log_q, module.depth)
    if isinstance(module, (SLLLinear, SLLConv2d)):
        return sll_inverse_diagonal(module.weight, module.log_q)
    step = module.step_size()  # CPL: x - step · Wᵀσ(·) = x - 2 Wᵀ (step/2) σ(·)
    return (step / 2).expand(module.weight.shape[0]).clone()


def _plain(module: nn.Module) -> nn.Module:
    """A plain ``nn.Linear``/``nn.Conv2d`` holding the parametrized weight, else the module unparametrized."""
    factory = {"device": module.weight.device, "dtype": module.weight.dtype}
    has_bias = getattr(module, "bias", None) is not None
    if isinstance(module, nn.Linear):
        plain = nn.Linear(module.in_features, module.out_features, bias=has_bias, **factory)
    elif isinstance(module, nn.Conv2d):
        plain = nn.Conv2d(
            module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
            padding=module.padding, dilation=module.dilation, groups=module.groups, bias=has_bias,
            padding_mode=module.padding_mode, **factory,
        )  # fmt: skip
    else:
        for name in list(module.parametrizations.keys()):
            parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        return module
    plain.weight.copy_(module.weight)
    if has_bias:
        plain.bias.copy_(module.bias)
    plain.train(module.training)
    return plain


def _exported(module: nn.Module) -> nn.Module | None:
    """The replacement of ``module`` (None: keep it and look inside)."""
    if isinstance(module, (SLLLinear, CPLLinear)):
        return ResidualReLULinear(module.weight, module.bias, _residual_scale(module)).train(module.training)
    if isinstance(module, (SLLConv2d, CPLConv2d)):
        scale = _residual_scale(module)
        new = ResidualReLUConv2d(module.weight, module.bias, scale, module.padding, module.padding_mode)
        return new.train(module.training)
    if parametrize.is_parametrized(module):
        return _plain(module)
    return None


@torch.no_grad()
def export(model: nn.Module) -> nn.Module:
    """A copy of ``model`` computing the same function with parametrizations folded (module docstring).

    The original is left untouched. The copy has no ``stablecore`` model config (it is no longer the
    network that :func:`stablecore.models.rebuild_model` would build).

    Example:
        >>> from stablecore.layers import AOLLinear, SLLLinear
        >>> net = nn.Sequential(AOLLinear(4, 6), SLLLinear(6))
        >>> x = torch.randn(3, 4)
        >>> torch.allclose(export(net)(x), net(x), atol=1e-6)
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    if hasattr(model, "_stablecore_config"):
        del model._stablecore_config
    root = _exported(model)
    if root is not None:
        return root

    def visit(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            new = _exported(child)
            if new is None:
                visit(child)
            else:
                setattr(parent, name, new)

    visit(model)
    return model
