r"""One-sided confidence bounds for a mean, vectorised over numpy arrays.

Each ``*_lower`` bound ``L`` satisfies :math:`P(L \le \mu) \ge 1 - \alpha` (and ``*_upper`` bounds
:math:`P(U \ge \mu) \ge 1 - \alpha`) under the stated assumption:

* **Clopper–Pearson** (exact binomial; 0/1 votes only): :math:`L = B^{-1}(\alpha; k, n - k + 1)`,
  :math:`U = B^{-1}(1 - \alpha; k + 1, n - k)` with :math:`B^{-1}` the Beta quantile (Clopper & Pearson
  1934). Cohen et al.'s ``proportion_confint(k, n, alpha=2α, method="beta")[0]`` is the same lower bound.
* **Hoeffding** (independent values in an interval of width ``r``; Hoeffding 1963):
  :math:`\bar X \mp r\sqrt{\ln(1/\alpha)/(2n)}`.
* **Bernstein** (known variance bound ``v`` and range ``r``): from
  :math:`P(\bar X - \mu \ge t) \le \exp(-n t^2 / (2v + 2rt/3))`, the root
  :math:`t = \frac{r\ell}{3n} + \sqrt{(\frac{r\ell}{3n})^2 + \frac{2v\ell}{n}}`, :math:`\ell = \ln(1/\alpha)`.
* **Empirical Bernstein** (Maurer & Pontil 2009, Thm 4; values in ``[0, r]``, unbiased sample variance
  :math:`V_n`): :math:`\bar X \mp \bigl(\sqrt{2 V_n \ln(2/\alpha)/n} + 7 r \ln(2/\alpha)/(3(n-1))\bigr)`.

Continuous scores (softmax probabilities) are bounded with Hoeffding or empirical Bernstein, never
Clopper–Pearson, which holds for 0/1 votes only. Results are clipped to the value range.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

__all__ = [
    "bernstein_lower",
    "bernstein_upper",
    "check_alpha",
    "clopper_pearson_lower",
    "clopper_pearson_upper",
    "empirical_bernstein_lower",
    "empirical_bernstein_upper",
    "hoeffding_lower",
    "hoeffding_upper",
]


def check_alpha(alpha: Any) -> float:
    """``0 < alpha < 1`` as a float, else ``ValueError``."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not (0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


def _counts(k: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
    k_arr, n_arr = np.asarray(k), np.asarray(n)
    if not (np.issubdtype(k_arr.dtype, np.integer) or np.all(np.mod(k_arr, 1) == 0)):
        raise ValueError(f"k must hold integer counts, got {k!r}")
    if np.any(n_arr < 1) or np.any(np.mod(n_arr, 1) != 0):
        raise ValueError(f"n must hold integers >= 1, got {n!r}")
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError(f"k must satisfy 0 <= k <= n, got k={k!r}, n={n!r}")
    return k_arr.astype(float), n_arr.astype(float)


def _ret(value: np.ndarray, like: Any) -> Any:
    return float(value) if np.ndim(like) == 0 and np.ndim(value) == 0 else value


def clopper_pearson_lower(k: Any, n: Any, alpha: float) -> Any:
    """Exact one-sided lower bound of a binomial proportion (``0`` when ``k = 0``).

    Example:
        >>> round(clopper_pearson_lower(100, 100, 0.001), 6)  # (α)^(1/n)
        0.933254
    """
    alpha = check_alpha(alpha)
    kf, nf = _counts(k, n)
    with np.errstate(invalid="ignore"):
        value = np.where(kf > 0, stats.beta.ppf(alpha, np.maximum(kf, 1), nf - kf + 1), 0.0)
    return _ret(np.asarray(value, float), k)


def clopper_pearson_upper(k: Any, n: Any, alpha: float) -> Any:
    """Exact one-sided upper bound of a binomial proportion (``1`` when ``k = n``)."""
    alpha = check_alpha(alpha)
    kf, nf = _counts(k, n)
    with np.errstate(invalid="ignore"):
        value = np.where(kf < nf, stats.beta.ppf(1 - alpha, kf + 1, np.maximum(nf - kf, 1)), 1.0)
    return _ret(np.asarray(value, float), k)


def _mean_args(
    mean: Any, n: Any, alpha: float, value_range: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    alpha = check_alpha(alpha)
    m, nn = np.asarray(mean, float), np.asarray(n, float)
    if not np.all(np.isfinite(m)):
        raise ValueError("mean must be finite")
    if np.any(nn < 1):
        raise ValueError(f"n must be >= 1, got {n!r}")
    if not (isinstance(value_range, (int, float)) and math.isfinite(value_range) and value_range > 0):
        raise ValueError(f"value_range must be a positive number, got {value_range!r}")
    return m, nn, alpha, float(value_range)


def hoeffding_lower(mean: Any, n: Any, alpha: float, value_range: float = 1.0) -> Any:
    """Hoeffding lower bound of the mean of ``n`` values in ``[0, value_range]``."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    return _ret(np.clip(m - r * np.sqrt(math.log(1 / alpha) / (2 * nn)), 0.0, r), mean)


def hoeffding_upper(mean: Any, n: Any, alpha: float, value_range: float = 1.0) -> Any:
    """Hoeffding upper bound of the mean of ``n`` values in ``[0, value_range]``."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    return _ret(np.clip(m + r * np.sqrt(math.log(1 / alpha) / (2 * nn)), 0.0, r), mean)


def _bernstein_width(n: np.ndarray, variance: np.ndarray, alpha: float, r: float) -> np.ndarray:
    ell = math.log(1 / alpha)
    a = r * ell / (3 * n)
    return a + np.sqrt(a * a + 2 * variance * ell / n)


def bernstein_lower(mean: Any, n: Any, alpha: float, variance: Any, value_range: float = 1.0) -> Any:
    """Bernstein lower bound with a known variance bound ``variance`` (values in ``[0, value_range]``)."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    v = np.asarray(variance, float)
    if np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError("variance must be finite and >= 0")
    return _ret(np.clip(m - _bernstein_width(nn, v, alpha, r), 0.0, r), mean)


def bernstein_upper(mean: Any, n: Any, alpha: float, variance: Any, value_range: float = 1.0) -> Any:
    """Bernstein upper bound with a known variance bound ``variance``."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    v = np.asarray(variance, float)
    if np.any(v < 0) or not np.all(np.isfinite(v)):
        raise ValueError("variance must be finite and >= 0")
    return _ret(np.clip(m + _bernstein_width(nn, v, alpha, r), 0.0, r), mean)


def _empirical_width(n: np.ndarray, sample_variance: np.ndarray, alpha: float, r: float) -> np.ndarray:
    if np.any(n < 2):
        raise ValueError("the empirical Bernstein bound needs n >= 2")
    if np.any(sample_variance < 0) or not np.all(np.isfinite(sample_variance)):
        raise ValueError("sample_variance must be finite and >= 0")
    ell = math.log(2 / alpha)
    return np.sqrt(2 * sample_variance * ell / n) + 7 * r * ell / (3 * (n - 1))


def empirical_bernstein_lower(
    mean: Any, sample_variance: Any, n: Any, alpha: float, value_range: float = 1.0
) -> Any:
    """Maurer–Pontil empirical Bernstein lower bound (unbiased ``sample_variance``, values in
    ``[0, value_range]``)."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    return _ret(np.clip(m - _empirical_width(nn, np.asarray(sample_variance, float), alpha, r), 0.0, r), mean)


def empirical_bernstein_upper(
    mean: Any, sample_variance: Any, n: Any, alpha: float, value_range: float = 1.0
) -> Any:
    """Maurer–Pontil empirical Bernstein upper bound."""
    m, nn, alpha, r = _mean_args(mean, n, alpha, value_range)
    return _ret(np.clip(m + _empirical_width(nn, np.asarray(sample_variance, float), alpha, r), 0.0, r), mean)
