r"""Empirical *lower* bounds of the ℓ2 Lipschitz constant :math:`L` of a network (the one home for them).

Every value is a :class:`~stablecore.types.Bound` of kind ``lower_bound``: a norm of an actual Jacobian
or a ratio of actual evaluations, computed in float64 on a copy of the model and deflated by a relative
1e-9 for rounding. Where :math:`f` is differentiable,

.. math::

    \|J_f(x)\|_2 \le L, \qquad \|J_f(x)^\top u\|_2 \le L\ (\|u\|=1), \qquad
    \frac{\|f(a) - f(b)\|_2}{\|a - b\|_2} \le L

(Szegedy et al. 2014; Fazlyab et al. 2019). Compare them with an upper bound
(:func:`stablecore.spectral.lipschitz_bound`): the gap bounds how much the upper bound overstates
:math:`L`.

* :func:`input_jacobians` -- per-example Jacobians of a batch map (one backward per output);
* :func:`empirical_lipschitz` -- maxima of the Jacobian norm, the predicted-logit gradient and the
  margin gradient over a set of points;
* :func:`lipschitz_lower_bound` -- pairs optimised by gradient ascent;
* :func:`pgd_lower_bound` -- ratios over given perturbations (e.g. found by :func:`~stablecore.certify.pgd`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from stablecore.certify.attacks import _flat_norm, _frozen, _view
from stablecore.torch_utils import eval_mode, model_device
from stablecore.types import Bound

__all__ = ["empirical_lipschitz", "input_jacobians", "lipschitz_lower_bound", "pgd_lower_bound"]

_DEFLATE = 1 - 1e-9
"""Relative rounding margin: float64 evaluations deflated by it stay below the true value."""


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")


def input_jacobians(fn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    r"""Jacobians :math:`J_f(x_i) \in \mathbb R^{K\times d}` of a batch map at the rows of ``x``.

    ``fn`` maps ``(N, ...)`` to ``(N, K)`` and treats the examples independently (eval-mode networks,
    row-wise layers), so row :math:`j` of :math:`J_f(x_i)` is the gradient of :math:`\sum_i f_j(x_i)`
    at :math:`x_i`: one backward per output. ``fn``'s mode is not changed.

    Returns:
        ``(N, K, d)`` with :math:`d` the number of input features of one example.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)
        k = out.shape[1]
        rows = [
            torch.autograd.grad(out[:, j].sum(), x, retain_graph=j < k - 1)[0].reshape(len(x), -1)
            for j in range(k)
        ]
    return torch.stack(rows, dim=1)


def empirical_lipschitz(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, batch_size: int = 256
) -> dict[str, Bound]:
    r"""Empirical lower bounds of the ℓ2 Lipschitz constant of ``model`` from its Jacobians on ``x``.

    Maxima over the points of ``x`` (each a ``lower_bound`` :class:`~stablecore.types.Bound`):

    * ``max_jacobian_norm``: :math:`\max_x \sigma_1(J_f(x))` (the best of the three);
    * ``max_logit_gradient``: :math:`\max_x \|\nabla f_{\hat y}(x)\|` for the predicted class;
    * ``max_margin_gradient`` (only when ``y`` is given): :math:`\max_x \|\nabla (f_y - f_{j^*})(x)\|/\sqrt 2`
      with :math:`j^*` the runner-up class, i.e. the margin's constant divided by the :math:`\sqrt 2` of
      the margin certificate :math:`M(x) > \sqrt 2 L\varepsilon` (Tsuzuku et al. 2018).

    The Jacobians are computed in float64 on an eval-mode copy of the model (the model is not changed)
    and the values deflated by a relative 1e-9 for rounding.
    """
    _check_model(model)
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        raise ValueError("x must be a non-empty batch tensor (N, ...)")
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape != (len(x),)):
        raise ValueError(f"y must be a tensor of shape ({len(x)},), got {getattr(y, 'shape', y)!r}")
    net = copy.deepcopy(model).double().eval()
    device = next((p.device for p in net.parameters()), x.device)
    best = {"max_jacobian_norm": 0.0, "max_logit_gradient": 0.0}
    if y is not None:
        best["max_margin_gradient"] = 0.0
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size].detach().to(device=device, dtype=torch.float64)
        jac = input_jacobians(net, xb)  # (B, K, d)
        with torch.no_grad():
            out = net(xb)
        rows = torch.arange(len(xb), device=device)
        jac_norm = float(torch.linalg.matrix_norm(jac, 2).max())
        best["max_jacobian_norm"] = max(best["max_jacobian_norm"], jac_norm)
        pred = out.argmax(dim=1)
        best["max_logit_gradient"] = max(best["max_logit_gradient"], float(jac[rows, pred].norm(dim=1).max()))
        if y is not None:
            yb = y[start : start + batch_size].to(device)
            others = out.clone()
            others[rows, yb] = -math.inf
            runner = others.argmax(dim=1)
            margin = (jac[rows, yb] - jac[rows, runner]).norm(dim=1).max() / math.sqrt(2)
            best["max_margin_gradient"] = max(best["max_margin_gradient"], float(margin))
    return {key: Bound(v * _DEFLATE, "lower_bound", f"empirical_lipschitz({key})") for key, v in best.items()}


def _max_ratio(model: nn.Module, pairs: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> float:
    r""":math:`\max \|f(a) - f(b)\|_2 / \|a - b\|_2` over the pairs with :math:`a \ne b`, evaluated with an
    eval-mode float64 copy of ``model`` and deflated by :data:`_DEFLATE`; 0.0 when no pair differs."""
    net = copy.deepcopy(model).double()
    device = model_device(net)
    best = 0.0
    with eval_mode(net), torch.no_grad():
        for a, b in pairs:
            a64, b64 = a.to(device, torch.float64), b.to(device, torch.float64)
            den = (a64 - b64).flatten(1).norm(dim=1)
            ok = den > 0
            if ok.any():
                num = (net(a64) - net(b64)).flatten(1).norm(dim=1)
                best = max(best, float((num[ok] / den[ok]).max()))
    return best * _DEFLATE


def pgd_lower_bound(model: nn.Module, x: torch.Tensor, adversarial: Sequence[torch.Tensor]) -> Bound:
    r""":math:`\max \|f(x') - f(x)\|_2 / \|x' - x\|_2` over the pairs ``(x, x')`` with ``x' ≠ x``, for each
    tensor ``x'`` of ``adversarial`` (same shape as ``x``; e.g. PGD's perturbations at several radii,
    Madry et al. 2018): a ratio of actual evaluations, so a ``lower_bound`` (0.0 when every ``x' = x``)."""
    _check_model(model)
    return Bound(_max_ratio(model, ((adv, x) for adv in adversarial)), "lower_bound", "pgd_ratio")


def lipschitz_lower_bound(
    model: nn.Module,
    x: torch.Tensor,
    *,
    steps: int = 100,
    distance: float = 1e-2,
    lr: float = 1e-2,
    seed: int = 0,
) -> Bound:
    r"""Empirical ℓ2 Lipschitz *lower* bound max ‖f(a) − f(b)‖ / ‖a − b‖ over pairs found by gradient ascent.

    Pairs start at (x, x + δ) with a random δ of norm ``distance``; a and the direction of δ are
    optimised with Adam (``lr``) for ``steps`` steps (‖δ‖ is kept at ``distance``). The reported value is
    the best ratio over all iterates, re-evaluated with a float64 copy of the model and rounded down by
    a relative 1e-9, so it is a ratio of actual evaluations: a ``lower_bound`` of the Lipschitz constant
    on ℝᵈ (and on any domain holding the pairs). Compare it with an upper bound (SLL issue #2: a PGD
    lower bound of 1.8 for an LLN network that is not 1-Lipschitz as a whole).
    """
    _check_model(model)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2 or x.shape[0] == 0:
        raise ValueError("x must be a non-empty floating-point tensor of shape (N, ...)")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    if not (math.isfinite(distance) and distance > 0):
        raise ValueError(f"distance must be a positive number, got {distance!r}")
    gen = torch.Generator().manual_seed(int(seed))
    x = x.detach()
    a = x.clone()
    d0 = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    with _frozen(model), torch.enable_grad():
        a.requires_grad_(True)
        d0.requires_grad_(True)
        opt = torch.optim.Adam([a, d0], lr=lr)
        for step in range(steps + 1):
            delta = d0 / _view(_flat_norm(d0, "l2").clamp_min(1e-30), d0) * distance
            b = a + delta
            pairs.append((a.detach().clone(), b.detach().clone()))
            if step == steps:
                break
            ratio = (model(a) - model(b)).flatten(1).norm(dim=1) / distance
            opt.zero_grad()
            (-ratio.sum()).backward()
            opt.step()
    return Bound(_max_ratio(model, pairs), "lower_bound", "pairs(gradient ascent)", n_iter=steps)
