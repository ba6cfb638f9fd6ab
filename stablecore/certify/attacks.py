r"""Empirical robustness: PGD attacks (Madry et al. 2018).

PGD maximises a loss ℓ(f(x + δ), y) over the ball ‖δ‖ ≤ ε by projected steps

* ℓ2:  δ ← Π_{‖δ‖₂≤ε}(δ + α·g/‖g‖₂),
* ℓ∞:  δ ← Π_{‖δ‖∞≤ε}(δ + α·sign(g)),

then clips x + δ to the input box (pixels in [0, 1] by default; clipping a point towards x keeps it in the
ball). An attack only ever shows *non*-robustness: a certified radius r must resist PGD at every ε < r,
which is how the tests check :mod:`stablecore.certify.lipschitz` (docs/chapters/ch01.md §2, SLL issue #2). The
Lipschitz lower bounds built on attacks and pairs live in :mod:`stablecore.certify.empirical`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from stablecore.train.evaluate import eval_mode

__all__ = ["pgd"]

_NORMS = ("l2", "linf")
_LOSSES = ("ce", "margin")


@contextmanager
def _frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and ``requires_grad=False`` on every parameter, both restored (no .grad is written)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    with eval_mode(model):
        try:
            for p, _ in flags:
                p.requires_grad_(False)
            yield model
        finally:
            for p, flag in flags:
                p.requires_grad_(flag)


def _flat_norm(t: torch.Tensor, norm: str) -> torch.Tensor:
    flat = t.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(dim=1)


def _view(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    if norm == "linf":
        e = _view(eps, delta)
        return torch.maximum(torch.minimum(delta, e), -e)
    n = _flat_norm(delta, "l2")
    # a hair inside the ball so float32 rounding of the rescaling never leaves it
    factor = torch.where(n > eps, eps / n.clamp_min(1e-30) * (1 - 1e-6), torch.ones_like(n))
    return delta * _view(factor, delta)


def _loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "ce":
        return F.cross_entropy(logits, y, reduction="none")
    fy = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -math.inf)
    return others.amax(dim=1) - fy


def _check_eps(eps: Any, n: int, device: torch.device) -> torch.Tensor:
    if isinstance(eps, bool):
        raise TypeError("eps must be a number or a tensor of shape (N,)")
    e = torch.as_tensor(eps, dtype=torch.float32, device=device)
    if e.ndim == 0:
        e = e.expand(n)
    if tuple(e.shape) != (n,):
        raise ValueError(f"eps must be a number or have shape ({n},), got {tuple(e.shape)}")
    if not torch.isfinite(e).all() or (e < 0).any():
        raise ValueError("eps must be finite and >= 0")
    return e.clone()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | torch.Tensor,
    *,
    norm: str = "l2",
    steps: int = 50,
    step_size: float | None = None,
    restarts: int = 1,
    seed: int = 0,
    loss: str = "ce",
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> torch.Tensor:
    """Projected gradient ascent (Madry et al. 2018) inside the ε-ball around each example.

    Args:
        model: classifier returning (N, K) logits; run in eval mode, modes and ``requires_grad`` restored,
            no gradient written to its parameters.
        x: (N, ...) inputs, inside ``clip`` when given. y: (N,) integer labels.
        eps: radius (a number, or one per example as an (N,) tensor) in the ``norm``.
        norm: ``"l2"`` or ``"linf"``.
        steps: gradient steps per restart. step_size: α, default 2.5·ε/steps.
        restarts: the first run starts at x, the others at uniform random points of the ball.
        seed: seeds the random starts (a local generator; global RNG untouched).
        loss: ``"ce"`` (cross-entropy) or ``"margin"`` (max_{j≠y} f_j − f_y).
        clip: input box, default (0, 1); None for unconstrained inputs.

    Returns:
        (N, ...) adversarial inputs within the ball and the box: per example the best iterate over all
        steps and restarts, a misclassified one first, otherwise the one of highest loss.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        raise ValueError("x must be a floating-point tensor of shape (N, ...)")
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or tuple(y.shape) != (x.shape[0],):
        raise ValueError(f"y must be an integer tensor of shape ({x.shape[0]},)")
    if norm not in _NORMS:
        raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    for name, v in (("steps", steps), ("restarts", restarts)):
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "steps" else 1):
            what = "non-negative" if name == "steps" else "positive"
            raise ValueError(f"{name} must be a {what} int, got {v!r}")
    if step_size is not None and (not math.isfinite(step_size) or step_size <= 0):
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    if clip is not None:
        lo, hi = (float(c) for c in clip)
        if not lo < hi:
            raise ValueError(f"clip must be (low, high) with low < high, got {clip!r}")
        if (x < lo).any() or (x > hi).any():
            raise ValueError(f"x must lie inside clip={clip!r}")
    x = x.detach()
    y = y.detach().to(x.device, torch.int64)
    e = _check_eps(eps, x.shape[0], x.device)
    alpha = e * 2.5 / max(steps, 1) if step_size is None else torch.full_like(e, float(step_size))
    gen = torch.Generator().manual_seed(int(seed))

    def box(z: torch.Tensor) -> torch.Tensor:
        return z if clip is None else z.clamp(lo, hi)

    best = x.clone()
    best_mis = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    best_loss = torch.full((x.shape[0],), -math.inf, device=x.device)

    with _frozen(model), torch.enable_grad():
        for r in range(restarts):
            if r == 0:
                delta = torch.zeros_like(x)
            elif norm == "linf":
                u = torch.rand(x.shape, generator=gen, dtype=x.dtype).to(x.device)
                delta = (2 * u - 1) * _view(e, x)
            else:
                g = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
                d = g[0].numel()
                rad = torch.rand(x.shape[0], generator=gen, dtype=x.dtype).to(x.device) ** (1.0 / d)
                unit = g / _view(_flat_norm(g, "l2").clamp_min(1e-30), x)
                delta = _project(unit * _view(rad * e, x), e, "l2")
            delta = box(x + delta) - x
            for step in range(steps + 1):
                delta.requires_grad_(True)
                logits = model(x + delta)
                values = _loss(logits, y, loss)
                with torch.no_grad():
                    mis = logits.argmax(dim=1) != y
                    lv = values.detach().float()
                    better = (mis & ~best_mis) | ((mis == best_mis) & (lv > best_loss))
                    best[better] = (x + delta)[better].detach()
                    best_mis |= mis
                    best_loss = torch.where(better, lv, best_loss)
                if step == steps:
                    break
                (grad,) = torch.autograd.grad(values.sum(), delta)
                with torch.no_grad():
                    if norm == "linf":
                        move = grad.sign()
                    else:
                        move = grad / _view(_flat_norm(grad, "l2").clamp_min(1e-30), grad)
                    delta = _project(delta.detach() + _view(alpha, x) * move, e, norm)
                    delta = box(x + delta) - x
    return best.detach()
