"""Lipschitz regularisation with differentiable Gram bounds (Delattre et al., ICML 2023, §6).

.. math::

    \\mathcal{R}(\\theta) = r \\sum_{l} \\operatorname{relu}\\bigl(\\overline{\\sigma}_l(\\theta) - 1\\bigr)

where :math:`\\overline{\\sigma}_l` is the Gram-iteration upper bound of layer ``l``'s spectral norm:
dense layers by :func:`~stablecore.spectral.dense.gram_norm_dense`; convolutions by
:func:`~stablecore.spectral.conv.gram_norm_conv`, the same route choice as ``conv_norm``: circular
padding by the Fourier-block bound on the layer's input size; zero padding by the circular embedding
when the input size is known, else the kernel-space bound (Delattre et al. 2024); a grouped conv takes
the maximum over groups. Layers whose bound is below 1 cost nothing, so the penalty only pushes down
layers that amplify.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from stablecore.limits import check_memory
from stablecore.spectral.conv import gram_norm_conv
from stablecore.spectral.dense import gram_norm_dense
from stablecore.spectral.leaves import symmetric_padding
from stablecore.torch_utils import eval_mode

__all__ = ["LipschitzPenalty", "layer_gram_bound"]


def layer_gram_bound(
    module: nn.Module, input_hw: tuple[int, int] | None = None, n_iter: int = 6
) -> torch.Tensor:
    """Differentiable Gram upper bound (0-d tensor) of a Linear or Conv2d layer's spectral norm.

    ``input_hw`` is the conv's input size (needed for circular padding; for zero padding it enables the
    circular bound on the padded size, cheaper and tighter than the kernel-space bound used without it).
    """
    if isinstance(module, nn.Linear):
        return gram_norm_dense(module.weight, n_iter)
    if not isinstance(module, nn.Conv2d):
        raise TypeError(f"module must be nn.Linear or nn.Conv2d, got {type(module).__name__}")
    if tuple(module.dilation) != (1, 1):
        raise ValueError("dilated convolutions are not supported")
    kh, kw = module.kernel_size
    ph, pw = symmetric_padding(module)
    if module.padding_mode == "circular":
        if input_hw is None:
            raise ValueError("a circular convolution needs its input size (input_hw)")
        if (2 * ph, 2 * pw) != (kh - 1, kw - 1):
            # other paddings read some rows of the circulant twice: keep to the documented case
            raise ValueError("circular convolutions are supported with 'same' padding and odd kernels only")
    elif module.padding_mode != "zeros":
        raise ValueError(f"padding_mode {module.padding_mode!r} is not supported (zeros or circular)")
    elif input_hw is not None and (input_hw[0] + 2 * ph < kh or input_hw[1] + 2 * pw < kw):
        input_hw = None  # no circular embedding: the kernel-space bound holds for every size
    return gram_norm_conv(
        module.weight,
        input_hw,
        n_iter,
        padding=module.padding_mode,
        pad=(ph, pw),
        stride=tuple(module.stride),
        groups=module.groups,
    )


class LipschitzPenalty:
    """Trainer penalty ``r · Σ_l relu(bound_l − 1)`` over every Linear/Conv2d layer of ``model``.

    Args:
        model: the network; conv input sizes are recorded once with a dry forward pass.
        input_shape: per-example input shape (e.g. ``(1, 8, 8)``).
        r: regularisation strength (≥ 0).
        n_iter: Gram iterations per layer.

    The value is computed from the parameters only (the batch is not used).
    """

    name = "lipschitz"

    def __init__(
        self, model: nn.Module, input_shape: tuple[int, ...], *, r: float = 1e-2, n_iter: int = 6
    ) -> None:
        if not r >= 0:
            raise ValueError(f"r must be >= 0, got {r}")
        self.r = float(r)
        self.n_iter = int(n_iter)
        self.input_hw = _record_conv_inputs(model, tuple(input_shape))
        self.layers = [name for name, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        if not self.layers:
            raise ValueError("model has no Linear or Conv2d layer to regularise")

    def layer_bounds(self, model: nn.Module) -> dict[str, torch.Tensor]:
        modules = dict(model.named_modules())
        return {
            name: layer_gram_bound(modules[name], self.input_hw.get(name), self.n_iter)
            for name in self.layers
        }

    def __call__(
        self,
        model: nn.Module,
        batch: Any = None,
        outputs: Any = None,
        activations: Mapping[str, Any] | None = None,
    ) -> torch.Tensor:
        bounds = torch.stack(list(self.layer_bounds(model).values()))
        return self.r * torch.relu(bounds - 1).sum()


def _record_conv_inputs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            handles.append(
                module.register_forward_hook(
                    lambda m, inp, out, name=name: sizes.__setitem__(name, tuple(inp[0].shape[-2:]))
                )
            )
    param = next(model.parameters(), None)
    itemsize = param.element_size() if param is not None else 4
    check_memory(
        itemsize * math.prod(input_shape),
        argument="input_shape",
        what=f"the dry forward pass of one example of shape {input_shape}",
    )
    try:
        with eval_mode(model), torch.no_grad():
            model(
                torch.zeros(
                    (1, *input_shape),
                    dtype=param.dtype if param is not None else None,
                    device=param.device if param is not None else None,
                )
            )
    finally:
        for h in handles:
            h.remove()
    return sizes
