r"""Per-point certified radii of a classifier on 2-D data (or any inputs), as tidy tables.

Three certificates, all ℓ2 and in the input space the model is fed:

* **Lipschitz margin** (deterministic; Tsuzuku et al. 2018, Araujo et al. 2023):
  :math:`r(x) = \min_{j\ne y}\frac{f_y(x) - f_j(x)}{L_\text{body}\lVert w_y - w_j\rVert_2}` when the model
  ends in a linear layer, else :math:`M(x)/(\sqrt2 L)`; computed by
  :func:`stablecore.certify.certify_model` (``last_layer="auto"``) with a Gram ``upper_bound`` of L.
* **Randomized smoothing, Cohen et al. 2019**: :math:`R = \sigma\,\Phi^{-1}(\underline p_A)` with a
  Clopper–Pearson lower bound at level α (:func:`stablecore.smoothing.certify_from_counts`); holds with
  probability ≥ 1 − α over the noise.
* **LVM-RS** (Delattre et al. 2024, sound variant :func:`stablecore.smoothing.lvm.certify_lvm`):
  :math:`R = \frac\sigma2(\Phi^{-1}(\underline p_A) - \Phi^{-1}(\overline p_B))` for the best simplex
  map and temperature chosen on the selection samples.

The smoothing radii come from the library's one per-point engine (:mod:`stablecore.smoothing.engine`):
point ``i`` draws ``n0`` selection then ``n`` estimation copies from
:func:`~stablecore.smoothing.example_generator` ``(seed, i)`` (:func:`~stablecore.smoothing.point_logits`,
one batch per stage), exactly as :meth:`stablecore.smoothing.Smooth.certify` with a batch size ≥ ``n``
and that generator, so the Cohen radii here equal the library's. Certified accuracy is
:func:`stablecore.certify.certified_accuracy_curve` (correct, not abstained, radius ≥ r).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from stablecore.certify import certified_accuracy_curve, certify_model
from stablecore.smoothing import Smooth, certify_from_counts, example_generator, point_logits
from stablecore.smoothing.core import logits_context
from stablecore.smoothing.engine import votes
from stablecore.smoothing.lvm import certify_lvm
from stablecore.train.evaluate import eval_mode

__all__ = [
    "RADIUS_COLUMNS",
    "certified_curves",
    "decision_grid",
    "grid_axes",
    "lipschitz_margin_radii",
    "smoothing_radii",
]

#: Radius, correctness and prediction columns of each certificate in the tables of this module.
RADIUS_COLUMNS: dict[str, tuple[str, str, str]] = {
    "Lipschitz margin": ("radius_lipschitz", "correct", "prediction"),
    "Cohen RS": ("radius_cohen", "correct_cohen", "prediction_cohen"),
    "LVM-RS": ("radius_lvm", "correct_lvm", "prediction_lvm"),
}


def _check_points(x: Any, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must have shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point() or not torch.isfinite(x).all():
        raise ValueError(f"{name} must be a finite floating-point tensor")
    return x


def _check_labels(y: Any, n: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or tuple(y.shape) != (n,):
        raise ValueError(f"y must be an integer tensor of shape ({n},)")
    return y.to(torch.int64)


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def grid_axes(points: torch.Tensor, size: int = 80, pad: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two axes of ``size`` values spanning the 2-D ``points`` plus ``pad`` on each side, with the same
    step on both axes (so a heatmap of the grid has square cells and equal axis scaling looks right)."""
    points = _check_points(points, "points")
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {tuple(points.shape)}")
    size = _positive_int(size, "size")
    if size < 2:
        raise ValueError(f"size must be >= 2, got {size}")
    if not (isinstance(pad, (int, float)) and math.isfinite(pad) and pad >= 0):
        raise ValueError(f"pad must be a finite number >= 0, got {pad!r}")
    lo = points.min(dim=0).values.double().numpy() - pad
    hi = points.max(dim=0).values.double().numpy() + pad
    step = float(max(hi - lo)) / (size - 1)
    centre = (lo + hi) / 2
    half = step * (size - 1) / 2
    return (
        np.linspace(centre[0] - half, centre[0] + half, size),
        np.linspace(centre[1] - half, centre[1] + half, size),
    )


def lipschitz_margin_radii(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, *, eps: Sequence[float] = (0.1,)
) -> pd.DataFrame:
    """Lipschitz-margin radius of every point (module docstring), via
    :func:`stablecore.certify.certify_model` with ``last_layer="auto"``.

    Args:
        model: the classifier (logits out), boundable by :func:`stablecore.spectral.lipschitz_bound`.
        x: ``(N, ...)`` inputs.
        y: ``(N,)`` labels; None certifies the predicted class (the radius of the decision region).
        eps: radii for the ``certified@<eps>`` columns.

    Returns:
        Columns ``index, x0, x1`` (2-D inputs only), ``label, prediction, correct, margin, radius`` (the
        logit margin of the label and its radius, 0 when misclassified) and ``certified@<eps>``; ``attrs``
        has ``lipschitz``, ``kind``, ``method``, ``certificate``.
    """
    x = _check_points(x)
    if y is None:
        with eval_mode(model), torch.no_grad():
            param = next(model.parameters(), None)
            dtype = param.dtype if param is not None else x.dtype
            y = model(x.to(dtype)).argmax(dim=1).cpu()
    y = _check_labels(y, x.shape[0])
    frame = certify_model(
        model, (x, y), list(eps), input_shape=tuple(x.shape[1:]), batch_size=4096, last_layer="auto"
    )
    if x.ndim == 2 and x.shape[1] == 2:
        frame.insert(1, "x0", x[:, 0].double().numpy())
        frame.insert(2, "x1", x[:, 1].double().numpy())
    return frame


def decision_grid(
    model: nn.Module, points: torch.Tensor, *, size: int = 80, pad: float = 0.5
) -> pd.DataFrame:
    """Predicted class, logit margin and certified radius of the predicted class at every node of a
    ``size × size`` grid around 2-D ``points`` (:func:`grid_axes`); rows in row-major order (x1 slowest).

    Returns:
        Columns ``x0, x1, prediction, margin, radius`` and ``attrs`` as :func:`lipschitz_margin_radii`.
    """
    a0, a1 = grid_axes(points, size, pad)
    g1, g0 = np.meshgrid(a1, a0, indexing="ij")
    grid = torch.from_numpy(np.stack([g0.ravel(), g1.ravel()], axis=1))  # float64; cast to the model's dtype
    frame = lipschitz_margin_radii(model, grid)
    return frame[["x0", "x1", "prediction", "margin", "radius"]].copy()


def smoothing_radii(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    sigma: float,
    n0: int = 64,
    n: int = 1000,
    alpha: float = 0.001,
    seed: int = 0,
    lvm: bool = True,
    temperatures: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
) -> pd.DataFrame:
    """Cohen and LVM-RS certified radii of the smoothed classifier at every point (module docstring).

    Args:
        model: the base classifier (logits out); run in eval mode, modes restored.
        x: ``(N, ...)`` inputs; y: ``(N,)`` labels.
        sigma: noise level σ > 0; n0, n: selection and estimation samples; alpha: failure probability.
        seed: noise seed (point ``i`` uses ``example_generator(seed, i)``).
        lvm: also compute the LVM-RS radius from the same noisy logits.
        temperatures: LVM-RS candidate temperatures of the soft maps.

    Returns:
        Columns ``index, label, prediction_cohen, radius_cohen, p_lower_cohen, correct_cohen`` and, with
        ``lvm``, ``prediction_lvm, radius_lvm, map_lvm, temperature_lvm, correct_lvm`` (prediction −1 =
        abstain, radius 0, not correct); ``attrs``: ``sigma, n0, n, alpha, seed``.
    """
    x = _check_points(x)
    y = _check_labels(y, x.shape[0])
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, (int, float))
        or not (math.isfinite(sigma) and sigma > 0)
    ):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    n0, n = _positive_int(n0, "n0"), _positive_int(n, "n")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    with eval_mode(model), torch.no_grad():
        param = next(model.parameters(), None)
        probe = x[:1].to(param.dtype if param is not None else x.dtype)
        smooth = Smooth(model, int(model(probe).shape[1]), float(sigma))
    rows = []
    for i in range(x.shape[0]):
        with logits_context(example=i):
            sel, est = point_logits(
                smooth, x[i], n0=n0, n=n, batch_size=max(n0, n), generator=example_generator(seed, i)
            )
        k = smooth.num_classes
        cert = certify_from_counts(votes(sel, k), votes(est, k), alpha, float(sigma))
        label = int(y[i])
        row: dict[str, Any] = {
            "index": i,
            "label": label,
            "prediction_cohen": cert.prediction,
            "radius_cohen": cert.radius,
            "p_lower_cohen": cert.p_lower,
            "correct_cohen": cert.prediction == label,
        }
        if lvm:
            lc = certify_lvm(
                sel,
                est,
                sigma=float(sigma),
                alpha=alpha,
                temperatures=tuple(temperatures),
            )
            row.update(
                prediction_lvm=lc.prediction,
                radius_lvm=lc.radius,
                map_lvm=lc.map,
                temperature_lvm=lc.temperature,
                correct_lvm=lc.prediction == label,
            )
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(sigma=float(sigma), n0=n0, n=n, alpha=float(alpha), seed=int(seed))
    return frame


def certified_curves(table: pd.DataFrame, radii: Sequence[float] | None = None) -> pd.DataFrame:
    """Certified accuracy (correct, not abstained, radius ≥ ε) of every certificate present in ``table``
    (columns of :data:`RADIUS_COLUMNS`; the prediction column is optional) at each ε of ``radii`` (default:
    41 values from 0 to the largest finite radius), via :func:`stablecore.certify.certified_accuracy_curve`.

    Returns:
        Columns ``family`` (the certificate's name), ``eps``, ``certified_accuracy``.
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise ValueError("table must be a non-empty DataFrame")
    present = {k: v for k, v in RADIUS_COLUMNS.items() if v[0] in table.columns and v[1] in table.columns}
    if not present:
        raise ValueError(f"table has none of the radius columns {[v[0] for v in RADIUS_COLUMNS.values()]}")
    if radii is None:
        finite = [
            float(np.nanmax(np.where(np.isfinite(table[c]), table[c], np.nan), initial=0.0))
            for c, _, _ in present.values()
        ]
        top = max(finite) if finite else 0.0
        radii = np.linspace(0.0, top if top > 0 else 1.0, 41).tolist()
    frames = []
    for name, (radius, correct, prediction) in present.items():
        curve = certified_accuracy_curve(
            table, list(radii), radius=radius, correct=correct, prediction=prediction
        )
        curve.insert(0, "family", name)
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)
