r"""Row-normalised last layer (LLN, Singla et al. 2022; used by CPL/SLL for certification).

.. math::

    f(x) = W' x + b, \qquad w'_i = w_i / \|w_i\|_2 .

The margin certificate uses :math:`\|w'_i - w'_j\|`; the Lipschitz constant of the whole map is
:math:`\|W'\|_2`, which is **not** 1 in general (up to :math:`\sqrt{\text{out}}`): the registered value is
the float64 Gram upper bound of the realised :math:`W'` (:func:`~stablecore.spectral.matrix_norm`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.layers._common import Shape, register_layer
from stablecore.spectral import matrix_norm
from stablecore.types import Bound

__all__ = ["NormalizedLinear"]


class _RowNormalize(nn.Module):
    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        norms = torch.linalg.vector_norm(weight, dim=1, keepdim=True)
        return weight / norms.clamp_min(torch.finfo(weight.dtype).tiny)


class NormalizedLinear(nn.Linear):
    """``nn.Linear`` whose rows are normalised to unit ℓ2 norm (bias kept).

    Example:
        >>> layer = NormalizedLinear(5, 3)
        >>> torch.linalg.vector_norm(layer.weight, dim=1).detach().round(decimals=6)
        tensor([1., 1., 1.])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        parametrize.register_parametrization(self, "weight", _RowNormalize())

    def extra_repr(self) -> str:
        return super().extra_repr() + ", rows=unit"


def _bound(module: NormalizedLinear, shape: Shape, *, method: str = "gram", **options) -> tuple[Bound, Shape]:
    if shape[-1] != module.in_features:
        raise ValueError(f"NormalizedLinear expects {module.in_features} features, got input shape {shape}")
    bound = matrix_norm(module.weight.detach(), method=method, n_iter=options.get("n_iter"))
    return bound, (*shape[:-1], module.out_features)


register_layer(NormalizedLinear, _bound)
