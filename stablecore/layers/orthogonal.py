r"""Orthogonal dense layer: a weight with orthonormal rows or columns, :math:`\|W\|_2 = 1`.

.. math::

    W = \bigl[(I - A)(I + A)^{-1}\bigr]_{\text{out} \times \text{in}},\qquad A = -A^\top
    \quad(\text{Cayley}),

or :math:`e^{A}` (``"matrix_exp"``) or a product of Householder reflections (``"householder"``), through
``torch.nn.utils.parametrizations.orthogonal`` (Lezcano-Casado & Martínez-Rubio 2019). An orthogonal
layer is 1-Lipschitz *and* gradient-norm preserving (Anil et al. 2019, the GNP networks of
deel-torchlip, whose Björck orthonormalisation targets the same set).

Registered constant (``upper_bound``), from the weight actually used: :math:`\|W\|^2 = \|G\| \le 1 +
\|G - I\|_F` with :math:`G` the smaller Gram matrix, computed in float64 with its rounding error added
(:func:`isometry_defect_bound`); 1 up to the float rounding of the map (~1e-7 in float32), much tighter
than a Gram-iteration bound, whose excess :math:`m^{2^{-T}}` is largest for equal singular values.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal

from stablecore.layers._common import Shape, register_layer
from stablecore.numerics import U64, round_up
from stablecore.types import Bound

__all__ = ["OrthogonalLinear", "isometry_defect_bound"]

MAPS = ("cayley", "matrix_exp", "householder")


class OrthogonalLinear(nn.Linear):
    """Linear layer with an orthogonal weight (orthonormal rows if ``out <= in``, columns otherwise).

    Args:
        in_features, out_features, bias, device, dtype: as ``nn.Linear``.
        orthogonal_map: ``"cayley"`` (default), ``"matrix_exp"`` or ``"householder"``.

    Example:
        >>> layer = OrthogonalLinear(3, 5)
        >>> w = layer.weight.detach().double()
        >>> torch.allclose(w.T @ w, torch.eye(3, dtype=torch.float64), atol=1e-5)
        True
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        orthogonal_map: str = "cayley",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if orthogonal_map not in MAPS:
            raise ValueError(f"orthogonal_map must be one of {MAPS}, got {orthogonal_map!r}")
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.orthogonal_map = orthogonal_map
        orthogonal(self, "weight", orthogonal_map=orthogonal_map)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", orthogonal_map={self.orthogonal_map}"


def isometry_defect_bound(weight: torch.Tensor) -> float:
    r"""Rigorous upper bound of :math:`\|W\|_2` as :math:`\sqrt{1 + \|G - I\|_F}`, ``G`` the smaller Gram.

    ``G`` is formed in float64 from an exact copy of ``weight``; its entries carry at most
    :math:`\gamma_k (|W||W|^\top)_{ij}` rounding error (Higham §3.1, ``k`` the inner length), so
    :math:`\|G_{\text{exact}} - I\|_F \le \|\tilde G - I\|_F (1 + 2u m) + \gamma_k \|W\|_F^2`.

    Example:
        >>> isometry_defect_bound(torch.eye(3)) == 1.0
        True
    """
    w = weight.detach().to(torch.float64)
    if w.ndim != 2:
        raise ValueError(f"weight must be a matrix, got shape {tuple(w.shape)}")
    if w.shape[0] > w.shape[1]:
        w = w.mT
    m, k = w.shape
    g = w @ w.mT
    defect = float(torch.linalg.matrix_norm(g - torch.eye(m, dtype=w.dtype, device=w.device)))
    gamma = k * U64 / (1 - k * U64)
    frob2 = float((w * w).sum()) * (1 + (k * m + 2) * U64)
    total = defect * (1 + 2 * (m * m + 2) * U64) + gamma * frob2
    return round_up(math.sqrt(round_up(1.0 + total)) * (1 + 2 * U64)) if total > 0 else 1.0


def _bound(module: OrthogonalLinear, shape: Shape, **options) -> tuple[Bound, Shape]:
    if shape[-1] != module.in_features:
        raise ValueError(f"OrthogonalLinear expects {module.in_features} features, got input shape {shape}")
    value = isometry_defect_bound(module.weight)
    method = f"orthogonal ({module.orthogonal_map}): sqrt(1 + ||G - I||_F), float64"
    return Bound(value, "upper_bound", method), (*shape[:-1], module.out_features)


register_layer(OrthogonalLinear, _bound)
