r"""Deterministic ℓ2 certificates from a Lipschitz bound and the logit margin.

Two certificates (docs/chapters/ch01.md §2), both stated in the space the model is fed (pixels,
ARCHITECTURE.md):

* **global** (Tsuzuku et al. 2018, "Lipschitz-Margin Training"): if the logit map f is L-Lipschitz in
  ℓ2, every logit difference f_y − f_j is √2·L-Lipschitz, so the prediction y is constant on B(x, r) for

  .. math:: r(x) = \frac{M(x)}{\sqrt{2}\,L}, \qquad M(x) = f_y(x) - \max_{j \ne y} f_j(x);

* **pairwise / last layer** (the LLN certificate of Araujo et al. 2023, "A unified algebraic perspective
  on Lipschitz neural networks"; SLL ``eval_certified``): if f(x) = W g(x) + b with g L-Lipschitz, then
  f_y − f_j = (w_y − w_j)ᵀ g + (b_y − b_j) is L·‖w_y − w_j‖-Lipschitz and

  .. math:: r(x) = \min_{j \ne y} \frac{f_y(x) - f_j(x)}{L\,\lVert w_y - w_j \rVert_2},

  never smaller than the global radius with L(f) ≤ L·‖W‖₂, since ‖w_y − w_j‖ ≤ √2‖W‖₂. This is the
  certificate an LLN network needs: the network as a whole is not 1-Lipschitz (SLL issue #2).

A point is *certified at ε* when it is correctly classified and r(x) ≥ ε: the package's one rule,
:func:`stablecore.certify.accuracy.certified_mask` (Cohen et al. 2019). Radii are computed in float64
from the logits as evaluated and rounded down by a relative 1e-12 (:data:`ROUND_DOWN`), far more than
the few float64 roundings of the formula, so a radius is never overstated by the arithmetic. Only
``exact`` and ``upper_bound`` Lipschitz bounds are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from stablecore.certify.accuracy import certified_mask
from stablecore.certify.accuracy import check_radii as _check_eps
from stablecore.spectral import lipschitz_bound
from stablecore.train.evaluate import eval_mode
from stablecore.types import Bound

__all__ = [
    "ROUND_DOWN",
    "certify_model",
    "lipschitz_radius",
    "logit_margin",
    "split_last_linear",
]

ROUND_DOWN: float = 1.0 - 1e-12
"""Factor applied to every finite radius so float64 rounding never overstates it."""


# --------------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------------
def _check_logits(logits: Any) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits must have K >= 2 classes, got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {logits.dtype}")
    logits = logits.detach().to("cpu", torch.float64)
    if not torch.isfinite(logits).all():
        raise ValueError("logits must be finite (found NaN or inf)")
    return logits


def _check_labels(labels: Any, n: int, k: int, name: str = "labels") -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, got {labels.dtype}")
    if tuple(labels.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {tuple(labels.shape)}")
    labels = labels.detach().to("cpu", torch.int64)
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"{name} must lie in [0, {k - 1}], got values in [{labels.min()}, {labels.max()}]")
    return labels


def _check_bound(lipschitz: Any) -> float:
    if not isinstance(lipschitz, Bound):
        raise TypeError(f"lipschitz must be a stablecore.types.Bound, got {type(lipschitz).__name__}")
    lipschitz.require_certifiable("lipschitz")
    if lipschitz.value < 0:  # pragma: no cover - Bound already refuses negative certifiable values
        raise ValueError(f"lipschitz must be >= 0, got {lipschitz.value}")
    return lipschitz.value


def _check_weight(last_layer: Any, k: int) -> torch.Tensor:
    if isinstance(last_layer, nn.Linear):
        last_layer = last_layer.weight
    if not isinstance(last_layer, torch.Tensor):
        raise TypeError(f"last_layer must be a torch.Tensor or nn.Linear, got {type(last_layer).__name__}")
    if last_layer.ndim != 2 or last_layer.shape[0] != k:
        got = tuple(last_layer.shape)
        raise ValueError(f"last_layer must have shape ({k}, d) to match the logits, got {got}")
    w = last_layer.detach().to("cpu", torch.float64)
    if not torch.isfinite(w).all():
        raise ValueError("last_layer must be finite (found NaN or inf)")
    return w


def _ratio(num: torch.Tensor, den: torch.Tensor | float) -> torch.Tensor:
    """num / den, with 0 for num ≤ 0, +inf for num > 0 over den = 0, rounded down by ROUND_DOWN."""
    den = torch.as_tensor(den, dtype=torch.float64).expand_as(num)
    pos = num > 0
    safe = torch.where(den > 0, den, torch.ones_like(den))
    out = torch.where(den > 0, num / safe * ROUND_DOWN, torch.full_like(num, math.inf))
    return torch.where(pos, out, torch.zeros_like(num))


# --------------------------------------------------------------------------------------------------
# radii
# --------------------------------------------------------------------------------------------------
def logit_margin(logits: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """M = f_y − max_{j≠y} f_j in float64 (y = ``labels``, or the argmax when ``labels`` is None).

    Negative for a misclassified point, 0 on a tie.
    """
    logits = _check_logits(logits)
    n, k = logits.shape
    y = logits.argmax(dim=1) if labels is None else _check_labels(labels, n, k)
    fy = logits.gather(1, y[:, None])[:, 0]
    others = logits.scatter(1, y[:, None], -math.inf)
    return fy - others.max(dim=1).values


def lipschitz_radius(
    logits: torch.Tensor,
    lipschitz: Bound,
    *,
    last_layer: torch.Tensor | nn.Linear | None = None,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Certified ℓ2 radius of each example from its logits and a Lipschitz bound.

    Args:
        logits: (N, K) logits f(x), K ≥ 2, finite.
        lipschitz: a :class:`~stablecore.types.Bound` of kind ``exact`` or ``upper_bound``. Without
            ``last_layer`` it bounds the whole network; with it, the network *before* the last layer.
        last_layer: the last linear layer's weight W, shape (K, d) (or the ``nn.Linear`` itself), for the
            pairwise certificate r = min_{j≠y} (f_y − f_j) / (L·‖w_y − w_j‖) (Araujo et al. 2023).
            Without it: r = M / (√2·L) (Tsuzuku et al. 2018).
        labels: (N,) integer labels; None certifies the predicted class (argmax). A misclassified point
            (negative margin) or a tie gets radius 0.

    Returns:
        (N,) float64 tensor of radii, rounded down; +inf where the relevant Lipschitz constant is 0 and
        the margin positive (a constant classifier is certified everywhere).

    Raises:
        ValueError: a bound of kind ``estimate`` / ``lower_bound`` (the kind is named), or shapes,
            label ranges or non-finite values that do not fit (the argument is named).
        TypeError: arguments of the wrong type.

    Example:
        >>> logits = torch.tensor([[3.0, 1.0], [0.0, 2.0]])
        >>> lipschitz_radius(logits, Bound(1.0, "upper_bound")).tolist()  # doctest: +ELLIPSIS
        [1.41421356237..., 1.41421356237...]
    """
    logits = _check_logits(logits)
    n, k = logits.shape
    lip = _check_bound(lipschitz)
    y = logits.argmax(dim=1) if labels is None else _check_labels(labels, n, k)
    if last_layer is None:
        margin = logit_margin(logits, y)
        return _ratio(margin, math.sqrt(2.0) * lip)
    w = _check_weight(last_layer, k)
    # pairwise row distances ‖w_a − w_b‖, computed directly (no Gram cancellation), one class at a time
    dist = torch.zeros(k, k, dtype=torch.float64)
    for a in torch.unique(y).tolist():
        dist[a] = torch.linalg.vector_norm(w[a][None, :] - w, dim=1)
    fy = logits.gather(1, y[:, None])
    diff = fy - logits  # (N, K): f_y − f_j
    den = dist[y] * lip  # (N, K); 0·inf cannot occur below: den == 0 is handled by the row test
    same_row = dist[y] == 0  # w_j = w_y: f_y − f_j is the constant b_y − b_j
    den = torch.where(same_row, torch.zeros_like(den), den)
    ratios = _ratio(diff, den)
    ratios = ratios.scatter(1, y[:, None], math.inf)  # exclude j = y
    return ratios.min(dim=1).values


def split_last_linear(model: nn.Module) -> tuple[nn.Sequential, nn.Linear] | None:
    """(body, head) when ``model`` is a plain ``nn.Sequential`` whose last module is an ``nn.Linear``
    (possibly inside nested plain Sequentials), so that ``model(x) == head(body(x))``; else None.

    The head may be a subclass that keeps ``nn.Linear.forward`` with a parametrized weight (e.g. the
    row-normalised :class:`~stablecore.layers.NormalizedLinear` of LLN networks): its ``weight`` is the
    matrix actually applied."""

    def plain(m: nn.Module) -> bool:
        return isinstance(m, nn.Sequential) and type(m).forward is nn.Sequential.forward

    if not plain(model) or len(model) == 0:
        return None
    names = list(model._modules)
    last = model._modules[names[-1]]
    if isinstance(last, nn.Linear) and type(last).forward is nn.Linear.forward:
        return nn.Sequential(*[model._modules[n] for n in names[:-1]]), last
    inner = split_last_linear(last) if plain(last) else None
    if inner is None:
        return None
    body, head = inner
    return nn.Sequential(*[model._modules[n] for n in names[:-1]], body), head


# --------------------------------------------------------------------------------------------------
# whole-model certification
# --------------------------------------------------------------------------------------------------
def _as_tensors(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data, tuple | list) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
    elif isinstance(data, Dataset):
        n = len(data)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("data must not be empty")
        items = [data[i] for i in range(n)]
        x = torch.stack([torch.as_tensor(it[0]) for it in items])
        y = torch.as_tensor([int(it[1]) for it in items])
    else:
        raise TypeError(f"data must be a Dataset or an (x, y) pair of tensors, got {type(data).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"data: x must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"data: y must have shape ({x.shape[0]},), got {tuple(y.shape)}")
    if not x.is_floating_point():
        x = x.float()
    return x, y


def certify_model(
    model: nn.Module,
    data: Dataset | tuple[torch.Tensor, torch.Tensor],
    eps: float | Sequence[float],
    *,
    input_shape: Sequence[int] | None = None,
    method: str = "gram",
    batch_size: int = 256,
    last_layer: str | None = None,
) -> pd.DataFrame:
    """Certify every example of ``data`` with a Lipschitz margin certificate.

    The bound comes from :func:`stablecore.spectral.lipschitz_bound` with the model in eval mode (each
    module's mode restored afterwards); inputs are fed as given (pixel space).

    Args:
        model: the classifier (logits out).
        data: a Dataset of (x, label) items, or an (x, y) pair of tensors.
        eps: a radius or a sequence of radii; one ``certified@<eps>`` column each (correct and r ≥ ε).
        input_shape: per-example input shape for the bound; default ``x.shape[1:]``.
        method: layer-norm method passed to ``lipschitz_bound`` (``"gram"``, ``"exact"``; ``"power"``
            yields an estimate and is refused).
        batch_size: forward-pass batch size.
        last_layer: None for the global √2·L certificate; ``"auto"`` for the pairwise certificate when
            the model is a plain ``nn.Sequential`` ending in ``nn.Linear`` (the body is bounded, the head's
            rows give the denominators; never looser), else the global one. ``df.attrs["certificate"]``
            says which was used.

    Returns:
        DataFrame with columns index, label, prediction, correct, margin, radius, certified@<eps>...;
        ``attrs`` holds ``lipschitz`` (value), ``kind``, ``method``, ``certificate``.

    Raises:
        ValueError: ``"cannot certify: ..."`` naming a module the bound cannot handle; a bound that is not
            ``exact``/``upper_bound``; invalid arguments (named).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    eps_list = _check_eps(eps)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if last_layer not in (None, "auto"):
        raise ValueError(f"last_layer must be None or 'auto', got {last_layer!r}")
    x, y = _as_tensors(data)
    shape = tuple(x.shape[1:]) if input_shape is None else tuple(int(s) for s in input_shape)

    split = split_last_linear(model) if last_layer == "auto" else None
    target = model if split is None else split[0]
    try:
        param = next(model.parameters())
        device, dtype = param.device, param.dtype
    except StopIteration:
        device, dtype = torch.device("cpu"), x.dtype
    with eval_mode(model):
        try:
            bound = lipschitz_bound(target, shape, method=method)
        except ValueError as exc:
            raise ValueError(f"cannot certify: {exc}") from exc
        bound.require_certifiable(f"the Lipschitz bound of the model (method {method!r})")
        with torch.no_grad():
            logits = torch.cat(
                [
                    model(x[i : i + batch_size].to(device, dtype)).detach().to("cpu", torch.float64)
                    for i in range(0, x.shape[0], batch_size)
                ]
            )
    k = logits.shape[1] if logits.ndim == 2 else 0
    labels = _check_labels(y, x.shape[0], k, "data labels") if k >= 2 else y
    head = None if split is None else split[1].weight.detach()
    radius = lipschitz_radius(logits, bound, last_layer=head, labels=labels)
    prediction = logits.argmax(dim=1)
    correct = prediction == labels
    frame = pd.DataFrame(
        {
            "index": np.arange(x.shape[0]),
            "label": labels.numpy(),
            "prediction": prediction.numpy(),
            "correct": correct.numpy(),
            "margin": logit_margin(logits, labels).numpy(),
            "radius": radius.numpy(),
        }
    )
    for e in eps_list:
        frame[f"certified@{e:g}"] = certified_mask(frame["radius"], frame["correct"], e)
    frame.attrs.update(
        lipschitz=bound.value,
        kind=bound.kind,
        method=bound.method,
        certificate="global" if split is None else "pairwise",
    )
    return frame
