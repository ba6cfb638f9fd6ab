r"""Multi-class confidence intervals from count vectors (re-certification with no forward pass).

Given the selection counts (``n0`` noisy samples, used only to choose) and the estimation counts (``n``
fresh samples) of one input, each method returns the predicted class ``A``, a lower bound
:math:`\underline p_A` and an upper bound :math:`\overline p_B` on every other class's (or bucket's)
probability, holding *jointly* with probability ≥ 1 − α:

* ``"bonferroni"``: Clopper–Pearson at :math:`\alpha/K` for ``A`` and for each of the other ``K − 1``
  classes (union bound over ``K`` events).
* ``"cpm"``: the Class Partitioning Method of Delattre et al. (AISTATS 2025, docs/chapters/ch06.md §7.2(b)):
  ``A`` and the runner-up by selection counts get their own buckets; while the remaining classes together have
  more selection counts than the runner-up, the largest moves to its own bucket; the rest is one aggregated
  bucket. Clopper–Pearson at :math:`\alpha/(\#\text{buckets})` on each bucket's estimation count; the
  upper bound of the aggregated bucket bounds every class in it. Buckets depend only on the selection
  sample, so the union bound over buckets is valid.
* ``"top2"``: **not a valid joint interval** (kept to show the failure): Clopper–Pearson at α for ``A``
  and for the runner-up by estimation counts, no correction.

``mode="mono"`` needs only :math:`\underline p_A` (Cohen's :math:`R = \sigma\Phi^{-1}(\underline p_A)`)
and uses α for it; ``mode="multi"`` gives :math:`R = \frac{\sigma}{2}(\Phi^{-1}(\underline p_A) -
\Phi^{-1}(\overline p_B))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from stablecore.smoothing.bounds import check_alpha, clopper_pearson_lower, clopper_pearson_upper
from stablecore.smoothing.lipschitz import Radius, cohen_multi_radius, cohen_radius

__all__ = ["METHODS", "MultiClassInterval", "cpm_buckets", "multiclass_interval", "smoothing_radius"]

METHODS = ("bonferroni", "cpm", "top2")
MODES = ("mono", "multi")


@dataclass(frozen=True)
class MultiClassInterval:
    """Class ``prediction`` (selection argmax), ``p_lower`` of it, ``p_upper`` of the rest (1.0 in mono
    mode), the level used per bound and the buckets (tuples of class indices)."""

    prediction: int
    p_lower: float
    p_upper: float
    method: str
    mode: str
    alpha_each: float
    buckets: tuple[tuple[int, ...], ...]


def _check_counts(counts: Any, name: str) -> np.ndarray:
    arr = np.asarray(counts)
    if arr.ndim != 1 or arr.size < 2 or np.any(arr < 0) or np.any(np.mod(arr, 1) != 0):
        raise ValueError(f"{name} must be a 1-D vector of >= 2 non-negative integer counts, got {counts!r}")
    if arr.sum() < 1:
        raise ValueError(f"{name} must count at least one sample")
    return arr.astype(np.int64)


def cpm_buckets(counts_selection: Any) -> tuple[tuple[int, ...], ...]:
    """The CPM partition of the classes from the selection counts (module docstring)."""
    sel = _check_counts(counts_selection, "counts_selection")
    order = [int(c) for c in np.argsort(-sel, kind="stable")]
    buckets: list[tuple[int, ...]] = [(order[0],), (order[1],)]
    rest = order[2:]
    while rest and sel[rest].sum() > sel[order[1]]:
        buckets.append((rest.pop(0),))  # the largest remaining class (rest is sorted)
    if rest:
        buckets.append(tuple(rest))
    return tuple(buckets)


def multiclass_interval(
    counts_selection: Any, counts_estimation: Any, alpha: float, *, method: str = "cpm", mode: str = "multi"
) -> MultiClassInterval:
    """Joint interval for one input (module docstring).

    Example:
        >>> iv = multiclass_interval([90, 8, 2], [950, 40, 10], 0.001, method="cpm")
        >>> iv.prediction, iv.buckets, round(iv.p_lower, 3) < 0.95 < 1
        (0, ((0,), (1,), (2,)), True)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    alpha = check_alpha(alpha)
    sel = _check_counts(counts_selection, "counts_selection")
    est = _check_counts(counts_estimation, "counts_estimation")
    if sel.size != est.size:
        raise ValueError(f"counts_selection and counts_estimation differ in length: {sel.size} vs {est.size}")
    n, k = int(est.sum()), est.size
    a = int(np.argmax(sel))
    if method == "cpm":
        buckets = cpm_buckets(sel)
    else:
        buckets = ((a,), *[(c,) for c in range(k) if c != a])
    if mode == "mono":
        return MultiClassInterval(
            a, float(clopper_pearson_lower(int(est[a]), n, alpha)), 1.0, method, mode, alpha, buckets
        )
    if method == "top2":
        others = [c for c in range(k) if c != a]
        b = others[int(np.argmax(est[others]))]
        each = alpha
        p_upper = float(clopper_pearson_upper(int(est[b]), n, each))
    else:
        each = alpha / len(buckets)
        p_upper = max(float(clopper_pearson_upper(int(est[list(bk)].sum()), n, each)) for bk in buckets[1:])
    p_lower = float(clopper_pearson_lower(int(est[a]), n, each))
    return MultiClassInterval(a, p_lower, p_upper, method, mode, each, buckets)


def smoothing_radius(interval: MultiClassInterval, sigma: float) -> Radius:
    """Cohen's radius :math:`\\sigma\\Phi^{-1}(\\underline p_A)` (mono; abstain iff
    :math:`\\underline p_A \\le 1/2`) or :math:`\\frac\\sigma2(\\Phi^{-1}(\\underline p_A) -
    \\Phi^{-1}(\\overline p_B))` (multi; abstain iff :math:`\\underline p_A \\le \\overline p_B`, valid below
    1/2 too: Cohen et al. 2019, Theorem 1), as a :class:`~stablecore.smoothing.lipschitz.Radius`
    ``(radius, abstain)`` with ``radius = 0.0`` when abstaining (the package-wide convention)."""
    if not isinstance(interval, MultiClassInterval):
        raise TypeError(f"interval must be a MultiClassInterval, got {type(interval).__name__}")
    if not (isinstance(sigma, (int, float)) and np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if interval.mode == "mono":
        return cohen_radius(float(interval.p_lower), float(sigma))
    return cohen_multi_radius(float(interval.p_lower), float(interval.p_upper), float(sigma))
