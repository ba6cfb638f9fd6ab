r"""One example, up close: every robustness number of one input side by side.

For an input :math:`x` with label :math:`y` and a classifier :math:`f`:

* the logit margin :math:`M = f_y(x) - \max_{j\ne y} f_j(x)` (negative: misclassified);
* the Lipschitz-margin radius :math:`r_{\mathrm{Lip}} = M / (\sqrt2\,L)` from an ``exact`` /
  ``upper_bound`` Lipschitz constant :math:`L` (Tsuzuku et al. 2018; :func:`~stablecore.certify.
  lipschitz_radius`), a *certificate* for the base classifier;
* the closest adversarial example PGD finds: bisection on the ℓ2 radius ε of
  :func:`~stablecore.certify.pgd` (margin loss), keeping the smallest ε at which the prediction changes.
  Its distance :math:`\lVert x_{adv}-x\rVert_2` is an *upper bound* on the distance to the decision
  boundary, so a sound certificate satisfies :math:`r_{\mathrm{Lip}} \le \lVert x_{adv}-x\rVert_2`;
* randomized smoothing at noise level σ (Cohen et al. 2019): CERTIFY's prediction, :math:`\underline p_A`
  and radius :math:`\sigma\Phi^{-1}(\underline p_A)` (:class:`~stablecore.smoothing.Smooth`), a
  certificate for the *smoothed* classifier, with probability ``1 - alpha`` over the noise, and a few
  noisy draws :math:`x+\sigma\varepsilon` with the base classifier's predictions on them.

No math of its own: the engines compute, this module gathers. :func:`stablecore.plots.example_close_up`
draws the result.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from stablecore.certify import lipschitz_radius, pgd
from stablecore.smoothing import Smooth
from stablecore.torch_utils import eval_mode, model_device
from stablecore.types import Bound

__all__ = ["ExampleCloseUp", "example_close_up"]


@dataclass(frozen=True)
class ExampleCloseUp:
    """The robustness numbers of one example (module docstring). Arrays have the input's shape.

    Attributes:
        image: the input x (float64). label: y. prediction: argmax of the base logits. logits: f(x).
        margin: f_y − max_{j≠y} f_j (exact, up to float rounding).
        runner_up: the class j ≠ y of largest logit.
        lipschitz, lipschitz_kind: the constant L used and its kind (None: not given).
        lipschitz_radius: certified radius of the base classifier (0 if misclassified; NaN without L).
        adversarial: the closest PGD adversarial found (None: none within ``max_eps``).
        adversarial_distance: ‖x_adv − x‖₂, an upper bound on the distance to the boundary (0 if x is
            misclassified, +inf if PGD found none).
        adversarial_prediction: the base prediction at x_adv (−1 if none).
        sigma: smoothing noise level (None: no smoothing).
        smoothing_prediction: CERTIFY's class (−1: abstain; −2: no smoothing).
        smoothing_radius: σΦ⁻¹(p̲_A) (0 if abstained; NaN without smoothing). p_lower: p̲_A.
        noisy_draws: ``n_draws`` noisy copies x + σε. noisy_predictions: base predictions on them.
    """

    image: np.ndarray = field(repr=False)
    label: int
    prediction: int
    logits: np.ndarray = field(repr=False)
    margin: float
    runner_up: int
    lipschitz: float | None
    lipschitz_kind: str | None
    lipschitz_radius: float
    adversarial: np.ndarray | None = field(repr=False)
    adversarial_distance: float
    adversarial_prediction: int
    sigma: float | None
    smoothing_prediction: int
    smoothing_radius: float
    p_lower: float
    noisy_draws: np.ndarray = field(repr=False)
    noisy_predictions: np.ndarray = field(repr=False)

    def summary(self) -> pd.Series:
        """The scalar fields as one pandas Series (arrays left out)."""
        arrays = ("image", "logits", "adversarial", "noisy_draws", "noisy_predictions")
        return pd.Series({k: v for k, v in asdict(self).items() if k not in arrays})


def _check(model: Any, x: Any, label: Any, lipschitz: Any, sigma: Any) -> tuple[torch.Tensor, int]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor (one input, no batch dimension), got {type(x)}")
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite")
    if isinstance(label, torch.Tensor) and label.numel() == 1:
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or label < 0:
        raise ValueError(f"label must be a non-negative int, got {label!r}")
    if lipschitz is not None and not isinstance(lipschitz, Bound):
        raise TypeError(f"lipschitz must be a stablecore Bound or None, got {type(lipschitz).__name__}")
    if sigma is not None and (
        isinstance(sigma, bool)
        or not isinstance(sigma, (int, float))
        or not (math.isfinite(sigma) and sigma > 0)
    ):
        raise ValueError(f"sigma must be a finite number > 0 or None, got {sigma!r}")
    return x.detach(), int(label)


def _optional_positive(value: Any, name: str) -> None:
    ok = (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )
    if value is not None and not ok:
        raise ValueError(f"{name} must be a finite number > 0 or None, got {value!r}")


def _positive(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _closest_adversarial(
    model: nn.Module,
    x: torch.Tensor,
    label: int,
    *,
    max_eps: float,
    search_steps: int,
    pgd_steps: int,
    clip: tuple[float, float] | None,
    seed: int,
) -> tuple[torch.Tensor | None, float]:
    """Bisection on ε: the PGD adversarial of smallest ℓ2 distance found, or None within ``max_eps``."""
    y = torch.tensor([label], device=x.device)

    def attack(eps: float) -> torch.Tensor | None:
        adv = pgd(model, x[None], y, eps, steps=pgd_steps, loss="margin", clip=clip, seed=seed)
        with torch.no_grad(), eval_mode(model):
            return adv[0] if int(model(adv).argmax(1)) != label else None

    best = attack(max_eps)
    if best is None:
        return None, math.inf
    lo, hi = 0.0, max_eps
    for _ in range(search_steps):
        mid = 0.5 * (lo + hi)
        adv = attack(mid)
        if adv is None:
            lo = mid
        else:
            hi, best = mid, adv
    return best, float(torch.linalg.vector_norm((best - x).double()))


def example_close_up(
    model: nn.Module,
    x: torch.Tensor,
    label: int,
    *,
    lipschitz: Bound | None = None,
    sigma: float | None = None,
    n0: int = 100,
    n: int = 2000,
    alpha: float = 0.001,
    n_draws: int = 4,
    pgd_steps: int = 50,
    search_steps: int = 12,
    max_eps: float | None = None,
    clip: tuple[float, float] | None = (0.0, 1.0),
    batch_size: int = 1000,
    seed: int = 0,
) -> ExampleCloseUp:
    """Margin, Lipschitz radius, closest PGD adversarial and smoothing certificate of one example.

    Args:
        model: classifier returning (N, K) logits (left in its mode; gradients not written).
        x: one input, no batch dimension, in the space the model is fed (pixels in [0, 1]).
        label: the true class y.
        lipschitz: an ``exact`` / ``upper_bound`` Lipschitz constant of ``model`` (ℓ2 → ℓ2), or None.
        sigma: smoothing noise level, or None for no smoothing (and no noisy draws).
        n0, n, alpha, batch_size: CERTIFY's selection / estimation draws, failure probability, batch.
        n_draws: noisy copies returned for display (``sigma`` given).
        pgd_steps, search_steps: PGD steps per attack and bisection steps on ε.
        max_eps: largest ε tried (default: the diameter of ``clip``'s box, or 10·√d without ``clip``).
        clip: the input box of PGD (default [0, 1]); None for unconstrained inputs (e.g. 2-D data).
        seed: seeds PGD's starts, the smoothing generator and the noisy draws.

    Returns:
        An :class:`ExampleCloseUp`.

    Raises:
        TypeError / ValueError: arguments of the wrong type or value (named); a bound of kind
        ``estimate`` / ``lower_bound`` (from :func:`~stablecore.certify.lipschitz_radius`).
    """
    x, label = _check(model, x, label, lipschitz, sigma)
    n_draws, pgd_steps = _positive(n_draws, "n_draws", 0), _positive(pgd_steps, "pgd_steps")
    search_steps = _positive(search_steps, "search_steps", 0)
    if max_eps is not None and not (
        isinstance(max_eps, (int, float)) and math.isfinite(max_eps) and max_eps > 0
    ):
        raise ValueError(f"max_eps must be a finite number > 0 or None, got {max_eps!r}")
    device = model_device(model)
    dtype = next((p.dtype for p in model.parameters()), x.dtype)
    x = x.to(device, dtype)
    with torch.no_grad(), eval_mode(model):
        logits = model(x[None])
    if logits.ndim != 2 or not 0 <= label < logits.shape[1]:
        raise ValueError(f"label must be in [0, {logits.shape[1] - 1}], got {label}")
    k = logits.shape[1]
    z = logits[0].double().cpu()
    others = z.clone()
    others[label] = -math.inf
    runner_up = int(others.argmax())
    margin = float(z[label] - z[runner_up])
    prediction = int(z.argmax())

    lip_value, lip_kind, lip_radius = None, None, math.nan
    if lipschitz is not None:
        radius = lipschitz_radius(z[None], lipschitz, labels=torch.tensor([label]))
        lip_value, lip_kind, lip_radius = float(lipschitz.value), lipschitz.kind, float(radius[0])

    d = x.numel()
    if max_eps is None:
        max_eps = (clip[1] - clip[0]) * math.sqrt(d) if clip is not None else 10.0 * math.sqrt(d)
    if prediction != label:
        adversarial, distance = x.clone(), 0.0
    else:
        adversarial, distance = _closest_adversarial(
            model, x, label, max_eps=float(max_eps), search_steps=search_steps, pgd_steps=pgd_steps,
            clip=clip, seed=seed,
        )  # fmt: skip
    adv_prediction = -1
    if adversarial is not None:
        with torch.no_grad(), eval_mode(model):
            adv_prediction = int(model(adversarial[None]).argmax(1))

    smooth_pred, smooth_radius, p_lower = -2, math.nan, math.nan
    draws = np.empty((0, *x.shape))
    draw_preds = np.empty(0, dtype=np.int64)
    if sigma is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
        cert = Smooth(model, k, float(sigma)).certify(x, n0, n, alpha, batch_size, generator=generator)
        smooth_pred, smooth_radius, p_lower = cert.prediction, cert.radius, cert.p_lower
        noise_gen = torch.Generator(device=device).manual_seed(seed + 1)
        noise = torch.randn((n_draws, *x.shape), generator=noise_gen, device=device, dtype=dtype)
        noisy = x[None] + float(sigma) * noise
        with torch.no_grad(), eval_mode(model):
            draw_preds = model(noisy).argmax(1).cpu().numpy()
        draws = noisy.double().cpu().numpy()

    return ExampleCloseUp(
        image=x.double().cpu().numpy(),
        label=label,
        prediction=prediction,
        logits=z.numpy(),
        margin=margin,
        runner_up=runner_up,
        lipschitz=lip_value,
        lipschitz_kind=lip_kind,
        lipschitz_radius=lip_radius,
        adversarial=None if adversarial is None else adversarial.double().cpu().numpy(),
        adversarial_distance=distance,
        adversarial_prediction=adv_prediction,
        sigma=None if sigma is None else float(sigma),
        smoothing_prediction=int(smooth_pred),
        smoothing_radius=float(smooth_radius),
        p_lower=float(p_lower),
        noisy_draws=draws,
        noisy_predictions=np.asarray(draw_preds, dtype=np.int64),
    )
