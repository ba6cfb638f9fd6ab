r"""UNSOUND reference: the CPL authors' dense layer with one-step power iteration, kept as a counterexample.

The reference code of CPL (Meunier et al., ICML 2022) normalises the step of

.. math:: h(x) = x - \frac{2}{\hat\sigma^2 + \varepsilon}\, W^\top \mathrm{ReLU}(Wx + b)

by a power-iteration *estimate* :math:`\hat\sigma \le \sigma_1 = \|W\|_2` (one step per training
forward). With :math:`\hat\sigma < \sigma_1` the step exceeds :math:`2/\sigma_1^2` and the layer's
Lipschitz constant :math:`\max(1, 2\sigma_1^2/(\hat\sigma^2+\varepsilon) - 1)` (:func:`cpl_step_lipschitz`)
exceeds 1: the layer is **not** 1-Lipschitz. It is never registered with
:func:`stablecore.spectral.lipschitz_bound`, which refuses it (and so does every certificate). It exists
to measure that gap (chapter 3, ``power_iteration_gap``); use :class:`stablecore.layers.CPLLinear`
(divided by a Gram *upper* bound) in networks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = ["ReferenceCPLLinear", "cpl_step_lipschitz", "reference_normalize", "reference_power_iteration"]


def _positive_int(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def _finite_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def reference_normalize(v: torch.Tensor) -> torch.Tensor:
    r"""The reference code's normalisation :math:`v / (\|v\|_2 + 10^{-12})`."""
    return v / (torch.sqrt((v * v).sum()) + 1e-12)


def reference_power_iteration(
    W: torch.Tensor, u: torch.Tensor, n_iter: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The CPL reference code's power iteration (``SpectralNormPowerMethod._compute_dense``), rewritten.

    From the persistent unit vector ``u`` (length ``W.shape[1]``), ``n_iter`` times
    :math:`v \leftarrow Wu/\|Wu\|`, :math:`u \leftarrow W^\top v/\|W^\top v\|`, then
    :math:`\hat\sigma = v^\top W u`. Since :math:`u, v` are unit vectors, :math:`\hat\sigma \le
    \sigma_1(W)` (a ``lower_bound`` up to rounding; the reference applies no margin). Gradients flow to
    ``W`` through the last :math:`v` and :math:`Wu` as in the reference.

    Returns:
        ``(sigma_hat, u_new)``: a 0-d tensor and the updated vector (detached), to be kept for the next
        call.
    """
    if not isinstance(W, torch.Tensor) or W.ndim != 2:
        raise ValueError(f"W must be a 2-D tensor, got {getattr(W, 'shape', type(W).__name__)}")
    if not isinstance(u, torch.Tensor) or tuple(u.shape) != (W.shape[1],):
        raise ValueError(f"u must be a tensor of shape ({W.shape[1]},), got {getattr(u, 'shape', u)!r}")
    if not _positive_int(n_iter):
        raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}")
    u = u.detach().to(W.dtype).clone()  # never an alias of the caller's (persistent) vector
    v = u
    for _ in range(n_iter):
        v = reference_normalize(W @ u)
        u = reference_normalize(W.T @ v).detach()
    return ((W @ u) * v).sum(), u


class ReferenceCPLLinear(nn.Module):
    r"""UNSOUND: the CPL reference code's dense layer (``ConvexPotentialLayerLinear``), rewritten.

    .. math:: h(x) = x - \frac{2}{\hat\sigma^2 + \varepsilon}\, W^\top \mathrm{ReLU}(Wx + b)

    with :math:`\hat\sigma` from :func:`reference_power_iteration` on a persistent vector: one iteration
    per training forward, ``eval_iters`` (100) once in eval mode, then cached. :math:`\hat\sigma \le
    \|W\|_2`, so the step can exceed :math:`2/\|W\|_2^2` and the layer is then *not* 1-Lipschitz
    (:func:`cpl_step_lipschitz`). It is deliberately not registered with
    :func:`~stablecore.spectral.lipschitz_bound` (which refuses it): its constant is not guaranteed.
    Use :class:`stablecore.layers.CPLLinear` (Gram upper bound) for certified networks.

    Attributes:
        last_sigma: :math:`\hat\sigma` used by the last forward (float).
    """

    def __init__(
        self,
        features: int,
        inner_features: int | None = None,
        *,
        eps: float = 1e-4,
        train_iters: int = 1,
        eval_iters: int = 100,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not _positive_int(features):
            raise ValueError(f"features must be an int >= 1, got {features!r}")
        inner = features if inner_features is None else inner_features
        if not _positive_int(inner):
            raise ValueError(f"inner_features must be an int >= 1, got {inner_features!r}")
        if not _finite_number(eps) or eps < 0:
            raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
        for name, value in (("train_iters", train_iters), ("eval_iters", eval_iters)):
            if not _positive_int(value):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        gen = torch.Generator().manual_seed(seed)
        bound = 1 / math.sqrt(features)
        # kaiming_uniform(a=√5) of nn.Linear: U(−1/√fan_in, 1/√fan_in), drawn from the layer's generator
        self.weight = nn.Parameter((torch.rand(inner, features, generator=gen) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(inner, generator=gen) * 2 - 1) * bound)
        self.register_buffer("u", reference_normalize(torch.randn(features, generator=gen)))
        self.eps, self.train_iters, self.eval_iters = float(eps), train_iters, eval_iters
        self._eval_sigma: torch.Tensor | None = None
        self.last_sigma: float | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = nn.functional.linear(torch.relu(nn.functional.linear(x, self.weight, self.bias)), self.weight.T)
        if self.training:
            self._eval_sigma = None
            sigma, u = reference_power_iteration(self.weight, self.u, self.train_iters)
        else:
            if self._eval_sigma is None:
                with torch.no_grad():
                    self._eval_sigma, u = reference_power_iteration(self.weight, self.u, self.eval_iters)
            else:
                u = self.u
            sigma = self._eval_sigma
        with torch.no_grad():
            self.u.copy_(u)
        self.last_sigma = float(sigma.detach())
        return x - 2 / (sigma**2 + self.eps) * res

    def extra_repr(self) -> str:
        inner, features = self.weight.shape
        return f"features={features}, inner_features={inner}, eps={self.eps}, train_iters={self.train_iters}"


def cpl_step_lipschitz(sigma1: float, rho: float, eps: float = 1e-4) -> float:
    r"""Lipschitz constant of the CPL map :math:`x \mapsto x - hW^\top\mathrm{ReLU}(Wx+b)`,
    :math:`h = 2/(\rho^2+\varepsilon)`, given :math:`\sigma_1 = \|W\|_2` (Meunier et al. 2022).

    Its Jacobians are :math:`I - hW^\top DW` with :math:`D` diagonal in :math:`[0, 1]`, whose
    eigenvalues lie in :math:`[1 - h\sigma_1^2, 1]`, so the constant is at most
    :math:`\max(1, h\sigma_1^2 - 1)`; it equals it when the region :math:`\{Wx + b > 0\}` (all units
    active, :math:`D = I`) is non-empty, e.g. when :math:`W` has full row rank (an upper bound
    otherwise). With :math:`\rho \ge \sigma_1` (Gram) the value is 1; with a power-iteration
    :math:`\rho < \sigma_1` it can exceed 1.
    """
    for name, value in (("sigma1", sigma1), ("rho", rho), ("eps", eps)):
        if not _finite_number(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if rho == 0 and eps == 0:
        raise ValueError("rho and eps cannot both be 0 (infinite step)")
    h = 2.0 / (float(rho) ** 2 + float(eps))
    return max(1.0, h * float(sigma1) ** 2 - 1.0)
