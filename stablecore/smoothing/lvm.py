r"""LVM-RS: randomized smoothing of simplex-mapped logits (Delattre et al., ICLR 2024, docs/chapters/ch05.md
§6.2).

Instead of one-hot votes, smooth a probability vector :math:`p = m(z(x+\delta)/T)` of the base classifier's
logits z, with a simplex map m ∈ {sparsemax, softmax, hardmax} and a temperature T:
:math:`\tilde f_c(x) = \mathbb E\,p_c`. Softer maps (higher T) lower the Monte-Carlo variance (Gaussian
Poincaré: :math:`\mathrm{Var}\,p_c \le \sigma^2\mathrm{Lip}(p_c)^2`) but also the margin
:math:`\tilde f_A - \tilde f_B`; LVM-RS picks the map and temperature per input. Every map lands in the
simplex, so the smoothed scores sum to 1 and Cohen et al.'s multi-class radius applies unchanged
(Salman et al. 2019: :math:`\Phi^{-1}\circ\tilde f_c` is 1/σ-Lipschitz for any [0, 1]-valued score).

* Maps (numpy, last axis, float64): :func:`softmax` :math:`\mathrm{softmax}(z/T)`, :func:`sparsemax`
  :math:`\mathrm{sparsemax}(z/T)` (Martins & Astudillo 2016), :func:`hardmax` (one-hot argmax, the
  T → 0 limit of both), :func:`simplex_map`. The reference code multiplies the logits by its "temperature";
  ours divides (``T_ours = 1/temp_code``).
* :func:`certify_lvm`: the **sound** procedure. The (map, T, class) is chosen on the ``n0`` selection
  samples only, by the radius the candidate would get with ``n`` samples if the estimation mean and
  variance equalled the selection's; then the chosen class's mean score is bounded on the ``n`` fresh
  estimation samples: empirical Bernstein (Maurer & Pontil 2009) for continuous scores, Clopper–Pearson
  for hardmax votes. The choice is independent of the estimation sample, so the level needs no correction
  for the number of candidates.
* :func:`lvm_best_of_candidates_uncertified`: the reference code's procedure, best radius over all
  candidates computed on the *same* samples, with only a per-class α/K correction. **Not a certificate**
  (``kind="estimate"``); kept to compare, as the issue asks.

Modes and union bounds. ``mode="multi"`` (default, as the reference): a lower bound for ``A`` and an upper
bound for each of the K − 1 other classes, each at level α/K (Bonferroni over K events, joint level α);
:math:`\overline p_B = \max_{c\ne A}` upper bound; radius
:math:`\frac\sigma2(\Phi^{-1}(\underline p_A) - \Phi^{-1}(\overline p_B))`, abstain iff
:math:`\underline p_A \le \overline p_B`. The reference code also computes
:math:`\sigma\sqrt{\pi/2}(\underline p_A - \overline p_B)` and keeps the larger; since
:math:`(\Phi^{-1})' \ge \sqrt{2\pi}` that one is never larger, so it is not computed. ``mode="mono"``: the
lower bound of ``A`` alone at level α, :math:`\overline p_B = 1 - \underline p_A`, radius
:math:`\sigma\Phi^{-1}(\underline p_A)`, abstain iff :math:`\underline p_A \le 1/2`. An abstention has
``prediction = -1`` and ``radius = 0.0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from stablecore.smoothing import bounds as _bounds
from stablecore.smoothing.lipschitz import check_temperature, cohen_multi_radius, cohen_radius

__all__ = [
    "DEFAULT_TEMPERATURES",
    "MAPS",
    "LVMCertificate",
    "LVMChoice",
    "certify_lvm",
    "hardmax",
    "lvm_best_of_candidates_uncertified",
    "lvm_certificate_from_moments",
    "select_lvm_candidate",
    "simplex_map",
    "softmax",
    "sparsemax",
]

MAPS: tuple[str, ...] = ("sparsemax", "softmax", "hardmax")
MODES: tuple[str, ...] = ("multi", "mono")
SOFT_BOUNDS: tuple[str, ...] = ("empirical_bernstein", "hoeffding")
#: 50 temperatures from 0.01 to 50 as in the paper (geometric spacing: our choice, the paper's is unknown).
DEFAULT_TEMPERATURES: tuple[float, ...] = tuple(float(t) for t in np.geomspace(0.01, 50.0, 50))
ABSTAIN = -1


# ---------------------------------------------------------------------------------------- simplex maps
def _logits(z: Any, name: str = "z") -> np.ndarray:
    if hasattr(z, "detach"):  # a torch tensor
        z = z.detach().cpu().numpy()
    arr = np.asarray(z)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"{name} must have a non-empty last (class) axis, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def softmax(z: Any, temperature: float = 1.0) -> np.ndarray:
    r""":math:`\mathrm{softmax}(z/T)_c = e^{z_c/T}/\sum_j e^{z_j/T}` over the last axis (float64).

    Example:
        >>> softmax([0.0, 0.0]).tolist()
        [0.5, 0.5]
    """
    t = check_temperature(temperature)
    return special.softmax(_logits(z) / t, axis=-1)


def _sparsemax_raw(u: np.ndarray) -> np.ndarray:
    u = u - u.max(axis=-1, keepdims=True)
    srt = -np.sort(-u, axis=-1)
    k = np.arange(1, u.shape[-1] + 1, dtype=np.float64)
    cums = np.cumsum(srt, axis=-1)
    support = 1.0 + k * srt > cums
    k_u = support.sum(axis=-1, keepdims=True)  # ≥ 1: the largest entry always qualifies
    tau = (np.take_along_axis(cums, k_u - 1, axis=-1) - 1.0) / k_u
    return np.maximum(u - tau, 0.0)


def sparsemax(z: Any, temperature: float = 1.0) -> np.ndarray:
    r"""Sparsemax (Martins & Astudillo 2016) of z/T over the last axis: the Euclidean projection onto the
    probability simplex,

    .. math:: \mathrm{sparsemax}(u) = \arg\min_{p\in\Delta}\|p - u\|_2 = (u - \tau(u))_+,\quad
       \tau = \frac{\sum_{j\le k(u)} u_{(j)} - 1}{k(u)},\;
       k(u) = \max\{k : 1 + k u_{(k)} > \textstyle\sum_{j\le k} u_{(j)}\}

    with :math:`u_{(1)} \ge u_{(2)} \ge \dots` sorted (their Algorithm 1). Shift-invariant, so each row is
    shifted by its maximum first.

    Example:
        >>> sparsemax([1.0, 0.2, -3.0]).tolist()
        [0.9, 0.09999999999999998, 0.0]
    """
    t = check_temperature(temperature)
    return _sparsemax_raw(_logits(z) / t)


def hardmax(z: Any) -> np.ndarray:
    """One-hot of the argmax over the last axis (ties: the first index), i.e. Cohen et al.'s vote; the
    T → 0 limit of :func:`softmax` and :func:`sparsemax` when the maximum is unique."""
    arr = _logits(z)
    out = np.zeros_like(arr)
    np.put_along_axis(out, arr.argmax(axis=-1)[..., None], 1.0, axis=-1)
    return out


def simplex_map(z: Any, name: str, temperature: float = 1.0) -> np.ndarray:
    """Apply the simplex map ``name`` (one of :data:`MAPS`) at ``temperature`` (ignored by hardmax)."""
    if name == "hardmax":
        return hardmax(z)
    if name == "softmax":
        return softmax(z, temperature)
    if name == "sparsemax":
        return sparsemax(z, temperature)
    raise ValueError(f"name must be one of {MAPS}, got {name!r}")


# ------------------------------------------------------------------------------------------ certificate
@dataclass(frozen=True)
class LVMCertificate:
    """Result of :func:`certify_lvm` (``kind="lower_bound"``: with probability ≥ 1 − α the radius is at
    most the distance to the smoothed decision boundary) or of
    :func:`lvm_best_of_candidates_uncertified` (``kind="estimate"``: no guarantee).

    ``prediction`` is −1 when abstaining (then ``radius`` is 0.0); ``temperature`` is 0.0 for hardmax;
    ``p_lower`` bounds the predicted class's smoothed score from below and ``p_upper`` every other class's
    from above (``1 − p_lower`` in mono mode); ``n0`` is 0 for the uncertified variant."""

    prediction: int
    radius: float
    map: str
    temperature: float
    p_lower: float
    p_upper: float
    kind: str
    mode: str
    alpha: float
    sigma: float
    n0: int
    n: int
    num_candidates: int

    @property
    def abstained(self) -> bool:
        return self.prediction == ABSTAIN


def _check_sigma(sigma: Any) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.integer, np.floating)):
        raise TypeError(f"sigma must be a number, got {type(sigma).__name__}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}")
    return float(sigma)


def _samples(scores: Any, name: str) -> np.ndarray:
    arr = _logits(scores, name)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 2:
        raise ValueError(
            f"{name} must be a (samples, classes) array with >= 1 sample and >= 2 classes, got {arr.shape}"
        )
    return arr


def _candidates(maps: Any, temperatures: Any) -> list[tuple[str, float]]:
    if isinstance(maps, str) or not isinstance(maps, Sequence) or len(maps) == 0:
        raise ValueError(f"maps must be a non-empty sequence of names from {MAPS}, got {maps!r}")
    for m in maps:
        if m not in MAPS:
            raise ValueError(f"maps must contain names from {MAPS}, got {m!r}")
    soft = [m for m in dict.fromkeys(maps) if m != "hardmax"]
    temps: list[float] = []
    if soft:
        if np.ndim(temperatures) != 1 or len(temperatures) == 0:
            raise ValueError(f"temperatures must be a non-empty 1-D sequence, got {temperatures!r}")
        temps = [check_temperature(t) for t in temperatures]
    out: list[tuple[str, float]] = []
    for m in dict.fromkeys(maps):
        out += [("hardmax", 0.0)] if m == "hardmax" else [(m, t) for t in temps]
    return out


def _check_options(mode: str, soft_bound: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if soft_bound not in SOFT_BOUNDS:
        raise ValueError(f"soft_bound must be one of {SOFT_BOUNDS}, got {soft_bound!r}")


_CHUNK = 2_000_000  # mapped scores held at once (candidates × samples × classes), 16 MB


def _candidate_moments(samples: np.ndarray, cands: list[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-candidate, per-class mean and unbiased variance of the mapped scores, arrays ``(C, K)``; the
    temperatures of one map are evaluated together in chunks of at most ``_CHUNK`` scores. With one sample
    the variance is 1/4, the largest possible for values in [0, 1]."""
    n, k = samples.shape
    means, variances = np.empty((len(cands), k)), np.empty((len(cands), k))
    step = max(1, _CHUNK // (n * k))
    i = 0
    while i < len(cands):
        name = cands[i][0]
        j = i + 1
        while j < len(cands) and cands[j][0] == name and j - i < step:
            j += 1
        if name == "hardmax":
            scores = hardmax(samples)[None]
        else:
            temps = np.array([t for _, t in cands[i:j]])[:, None, None]
            u = samples[None] / temps
            scores = special.softmax(u, axis=-1) if name == "softmax" else _sparsemax_raw(u)
        means[i:j] = scores.mean(axis=1)
        variances[i:j] = scores.var(axis=1, ddof=1) if n > 1 else 0.25
        i = j
    return means, variances


def _intervals(
    means: np.ndarray,
    variances: np.ndarray,
    is_vote: np.ndarray,
    n: int,
    alpha: float,
    mode: str,
    soft_bound: str,
    a: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per candidate: (class A, p̲_A, p̄_B) from ``n`` samples with these means and variances, each
    one-sided bound at α/K (multi) or α (mono): Clopper–Pearson on the vote counts for hardmax rows
    (``is_vote``), empirical Bernstein (or Hoeffding) for soft scores. ``a=None`` (the reference): A is the
    class with the largest lower bound."""
    k = means.shape[1]
    each = alpha / k if mode == "multi" else alpha
    lower, upper = np.empty_like(means), np.empty_like(means)
    if is_vote.any():
        counts = np.rint(means[is_vote] * n).astype(np.int64)
        lower[is_vote] = _bounds.clopper_pearson_lower(counts, n, each)
        upper[is_vote] = _bounds.clopper_pearson_upper(counts, n, each)
    soft = ~is_vote
    if soft.any():
        m, v = np.clip(means[soft], 0.0, 1.0), variances[soft]
        if soft_bound == "hoeffding":
            lower[soft] = _bounds.hoeffding_lower(m, n, each)
            upper[soft] = _bounds.hoeffding_upper(m, n, each)
        else:
            lower[soft] = _bounds.empirical_bernstein_lower(m, v, n, each)
            upper[soft] = _bounds.empirical_bernstein_upper(m, v, n, each)
    if a is None:
        a = np.argmax(lower, axis=1)
    rows = np.arange(means.shape[0])
    p_lower = lower[rows, a]
    if mode == "multi":
        others = upper.copy()
        others[rows, a] = -np.inf
        p_upper = others.max(axis=1)
    else:
        p_upper = 1.0 - p_lower
    return a, p_lower, p_upper


def _signed_radii(p_lower: np.ndarray, p_upper: np.ndarray, sigma: float, mode: str) -> np.ndarray:
    """The radius formula without the abstain clip, to rank candidates (−inf where undefined)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        if mode == "mono":
            value = sigma * special.ndtri(p_lower)
        else:
            value = 0.5 * sigma * (special.ndtri(p_lower) - special.ndtri(p_upper))
    return np.where(np.isnan(value), -np.inf, value)


def _radius(p_lower: float, p_upper: float, sigma: float, mode: str) -> tuple[float, bool]:
    r = cohen_radius(p_lower, sigma) if mode == "mono" else cohen_multi_radius(p_lower, p_upper, sigma)
    return float(r.radius), bool(r.abstain)


def _common(
    scores_estimation: Any, sigma: Any, alpha: Any, maps: Any, temperatures: Any, mode: str, soft_bound: str
) -> tuple[np.ndarray, float, float, list[tuple[str, float]]]:
    sigma = _check_sigma(sigma)
    alpha = _bounds.check_alpha(alpha)
    _check_options(mode, soft_bound)
    est = _samples(scores_estimation, "scores_estimation")
    cands = _candidates(maps, temperatures)
    if est.shape[0] < 2 and soft_bound == "empirical_bernstein" and any(m != "hardmax" for m, _ in cands):
        raise ValueError(
            "scores_estimation needs >= 2 samples for the empirical Bernstein bound of soft maps"
        )
    return est, sigma, alpha, cands


def certify_lvm(
    scores_selection: Any,
    scores_estimation: Any,
    *,
    sigma: float,
    alpha: float,
    maps: Sequence[str] = MAPS,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    mode: str = "multi",
    soft_bound: str = "empirical_bernstein",
) -> LVMCertificate:
    r"""Sound LVM-RS certificate from per-sample logits (Delattre et al. ICLR 2024, made sound; module
    docstring).

    1. For each candidate (map, T) (hardmax once, each soft map at every temperature), on the ``n0``
       selection samples: the class A with the largest mean score, and the radius the candidate would get
       with ``n`` estimation samples of the same mean and variance. Keep the best (first on ties).
    2. On the ``n`` estimation samples: :math:`\underline p_A` (empirical Bernstein, Maurer & Pontil 2009:
       :math:`\bar X - \sqrt{2V\ln(2/\alpha')/n} - 7\ln(2/\alpha')/(3(n-1))`; Clopper–Pearson for hardmax)
       and, in ``multi`` mode, :math:`\overline p_B` = the largest upper bound of the other classes, all
       at :math:`\alpha' = \alpha/K`; in ``mono`` mode :math:`\alpha' = \alpha`.
    3. Radius :math:`\frac\sigma2(\Phi^{-1}(\underline p_A) - \Phi^{-1}(\overline p_B))` (multi) or
       :math:`\sigma\Phi^{-1}(\underline p_A)` (mono) (Cohen et al. 2019), or abstain.

    With probability ≥ 1 − α over the estimation noise (the selection samples being independent of it),
    the bounds hold jointly and the smoothed classifier of the chosen map is constant on the ball.

    Args:
        scores_selection: ``(n0, K)`` logits of the base classifier at ``n0`` noisy copies (selection).
        scores_estimation: ``(n, K)`` logits at ``n`` fresh noisy copies (estimation).
        sigma: the noise level the copies were drawn with, > 0.
        alpha: 0 < α < 1.
        maps: candidate maps, from :data:`MAPS`.
        temperatures: candidate temperatures (> 0) of the soft maps.
        mode: ``"multi"`` or ``"mono"``.
        soft_bound: ``"empirical_bernstein"`` (needs n ≥ 2) or ``"hoeffding"`` for the soft maps.

    Returns:
        :class:`LVMCertificate` with ``kind="lower_bound"``.

    Raises:
        ValueError: invalid sigma, alpha, shapes, non-finite logits, unknown map/mode, bad temperatures.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> z0, z = rng.normal([3.0, 0.0, 0.0], 1.0, (100, 3)), rng.normal([3.0, 0.0, 0.0], 1.0, (10000, 3))
        >>> cert = certify_lvm(z0, z, sigma=0.25, alpha=0.001, temperatures=(0.5, 1.0, 2.0))
        >>> cert.prediction, cert.kind, cert.radius > 0
        (0, 'lower_bound', True)
    """
    est, sigma, alpha, cands = _common(scores_estimation, sigma, alpha, maps, temperatures, mode, soft_bound)
    sel = _samples(scores_selection, "scores_selection")
    if sel.shape[1] != est.shape[1]:
        raise ValueError(
            f"scores_selection and scores_estimation must have the same number of classes, got "
            f"{sel.shape[1]} and {est.shape[1]}"
        )
    choice = _select(sel, est.shape[0], sigma, alpha, cands, mode, soft_bound)
    mean, var = _candidate_moments(est, [(choice.map, choice.temperature)])
    return _finish_lvm(choice, mean[0], var[0], est.shape[0], sigma, alpha, mode, soft_bound)


@dataclass(frozen=True)
class LVMChoice:
    """What :func:`select_lvm_candidate` picks on the selection samples: the map, its temperature (0.0
    for hardmax), the class, and the sizes it was chosen with."""

    map: str
    temperature: float
    prediction: int
    n0: int
    num_candidates: int


def _select(
    sel: np.ndarray,
    n: int,
    sigma: float,
    alpha: float,
    cands: list[tuple[str, float]],
    mode: str,
    soft_bound: str,
) -> LVMChoice:
    is_vote = np.array([m == "hardmax" for m, _ in cands])
    means, variances = _candidate_moments(sel, cands)
    chosen = np.argmax(means, axis=1)  # ties: the first class
    _, lo, up = _intervals(means, variances, is_vote, n, alpha, mode, soft_bound, chosen)
    best = int(np.argmax(_signed_radii(lo, up, sigma, mode)))  # ties: the first candidate
    name, t = cands[best]
    return LVMChoice(name, t, int(chosen[best]), sel.shape[0], len(cands))


def select_lvm_candidate(
    scores_selection: Any,
    n: int,
    *,
    sigma: float,
    alpha: float,
    maps: Sequence[str] = MAPS,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    mode: str = "multi",
    soft_bound: str = "empirical_bernstein",
) -> LVMChoice:
    """Step 1 of :func:`certify_lvm` alone: the (map, T, class) chosen on the ``(n0, K)`` selection
    logits for ``n`` estimation samples. With :func:`lvm_certificate_from_moments` it certifies from
    streamed estimation statistics (``Smooth.sample(..., score_map=choice.map,
    temperature=choice.temperature)``) without holding the ``n`` logits."""
    sigma, alpha = _check_sigma(sigma), _bounds.check_alpha(alpha)
    _check_options(mode, soft_bound)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    cands = _candidates(maps, temperatures)
    if n < 2 and soft_bound == "empirical_bernstein" and any(m != "hardmax" for m, _ in cands):
        raise ValueError("n must be >= 2 for the empirical Bernstein bound of soft maps")
    return _select(
        _samples(scores_selection, "scores_selection"), int(n), sigma, alpha, cands, mode, soft_bound
    )


def lvm_certificate_from_moments(
    choice: LVMChoice,
    score_mean: Any,
    score_variance: Any,
    n: int,
    *,
    sigma: float,
    alpha: float,
    mode: str = "multi",
    soft_bound: str = "empirical_bernstein",
) -> LVMCertificate:
    """Steps 2–3 of :func:`certify_lvm` from the per-class mean and unbiased sample variance of the chosen
    map's scores over ``n`` fresh estimation samples (for hardmax the mean is the vote frequency)."""
    if not isinstance(choice, LVMChoice):
        raise TypeError(f"choice must be an LVMChoice, got {type(choice).__name__}")
    sigma, alpha = _check_sigma(sigma), _bounds.check_alpha(alpha)
    _check_options(mode, soft_bound)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    mean, var = np.asarray(score_mean, dtype=np.float64), np.asarray(score_variance, dtype=np.float64)
    if mean.ndim != 1 or mean.shape != var.shape or mean.size < 2:
        raise ValueError(
            f"score_mean and score_variance must be equal-length 1-D arrays (>= 2 classes), got "
            f"{mean.shape} and {var.shape}"
        )
    if not (np.isfinite(mean).all() and np.isfinite(var).all()) or (var < 0).any():
        raise ValueError("score_mean and score_variance must be finite, the variance >= 0")
    return _finish_lvm(choice, mean, var, int(n), sigma, alpha, mode, soft_bound)


def _finish_lvm(
    choice: LVMChoice,
    mean: np.ndarray,
    var: np.ndarray,
    n: int,
    sigma: float,
    alpha: float,
    mode: str,
    soft_bound: str,
) -> LVMCertificate:
    a_arr, lo, up = _intervals(
        mean[None],
        var[None],
        np.array([choice.map == "hardmax"]),
        n,
        alpha,
        mode,
        soft_bound,
        np.array([choice.prediction]),
    )
    a, p_lower, p_upper = int(a_arr[0]), float(lo[0]), float(up[0])
    radius, abstain = _radius(p_lower, p_upper, sigma, mode)
    return LVMCertificate(
        ABSTAIN if abstain else a,
        radius,
        choice.map,
        choice.temperature,
        p_lower,
        p_upper,
        "lower_bound",
        mode,
        alpha,
        sigma,
        choice.n0,
        n,
        choice.num_candidates,
    )


def lvm_best_of_candidates_uncertified(
    scores_estimation: Any,
    *,
    sigma: float,
    alpha: float,
    maps: Sequence[str] = MAPS,
    temperatures: Sequence[float] = DEFAULT_TEMPERATURES,
    mode: str = "multi",
    soft_bound: str = "empirical_bernstein",
) -> LVMCertificate:
    r"""The reference code's LVM-RS (``core_lvmrs.certify_ours``, docs/chapters/ch05.md §6.2) — **NOT a
    certificate**.

    On the *same* ``n`` samples, for every candidate (map, T): per-class bounds at α/K (multi) or α
    (mono), A = the class with the largest lower bound, the radius as in :func:`certify_lvm`; return the
    candidate with the largest radius. Choosing the class and the candidate on the samples that also give
    the bounds voids the 1 − α guarantee (no correction for ~K × #candidates looks), hence
    ``kind="estimate"``. ``n0`` is unused by the reference and absent here.
    """
    est, sigma, alpha, cands = _common(scores_estimation, sigma, alpha, maps, temperatures, mode, soft_bound)
    n = est.shape[0]
    is_vote = np.array([m == "hardmax" for m, _ in cands])
    means, variances = _candidate_moments(est, cands)
    a_arr, lo, up = _intervals(means, variances, is_vote, n, alpha, mode, soft_bound, None)
    best = int(np.argmax(_signed_radii(lo, up, sigma, mode)))
    name, t = cands[best]
    a, p_lower, p_upper = int(a_arr[best]), float(lo[best]), float(up[best])
    radius, abstain = _radius(p_lower, p_upper, sigma, mode)
    return LVMCertificate(
        ABSTAIN if abstain else a,
        radius,
        name,
        t,
        p_lower,
        p_upper,
        "estimate",
        mode,
        alpha,
        sigma,
        0,
        n,
        len(cands),
    )
