"""Soundness of the confidence bounds and multi-class intervals by exact enumeration and simulation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from stablecore.smoothing import bounds as B
from stablecore.smoothing.intervals import cpm_buckets, multiclass_interval, smoothing_radius

P_GRID = np.r_[0.001, 0.01, 0.05, np.linspace(0.1, 0.9, 9), 0.95, 0.99, 0.999]
N_GRID = [2, 5, 17, 60, 200]


def coverage(bound_of_k, n: int, p: float, lower: bool) -> float:
    """P_k~Bin(n, p)[bound(k) covers p], summed exactly over all outcomes."""
    k = np.arange(n + 1)
    values = np.array([bound_of_k(int(kk)) for kk in k])
    ok = values <= p + 1e-15 if lower else values >= p - 1e-15
    return float(stats.binom.pmf(k, n, p)[ok].sum())


BOUNDS = {
    "clopper_pearson": (
        lambda k, n, a: B.clopper_pearson_lower(k, n, a),
        lambda k, n, a: B.clopper_pearson_upper(k, n, a),
    ),
    "hoeffding": (
        lambda k, n, a: B.hoeffding_lower(k / n, n, a),
        lambda k, n, a: B.hoeffding_upper(k / n, n, a),
    ),
    "bernstein": (
        lambda k, n, a: B.bernstein_lower(k / n, n, a, variance=0.25),
        lambda k, n, a: B.bernstein_upper(k / n, n, a, variance=0.25),
    ),
    "empirical_bernstein": (
        lambda k, n, a: B.empirical_bernstein_lower(k / n, k * (n - k) / (n * (n - 1)), n, a),
        lambda k, n, a: B.empirical_bernstein_upper(k / n, k * (n - k) / (n * (n - 1)), n, a),
    ),
}


@pytest.mark.parametrize("name", list(BOUNDS))
@pytest.mark.parametrize("alpha", [0.05, 0.001])
def test_exact_coverage_of_one_sided_bounds(name, alpha):
    lower, upper = BOUNDS[name]
    worst = 1.0
    for n in N_GRID:
        for p in P_GRID:
            worst = min(worst, coverage(lambda k, n=n: lower(k, n, alpha), n, p, True))
            worst = min(worst, coverage(lambda k, n=n: upper(k, n, alpha), n, p, False))
    assert worst >= 1 - alpha - 1e-12


def test_the_coverage_check_has_teeth():
    # a "bound" that is just the empirical mean fails coverage badly
    assert coverage(lambda k: k / 20, 20, 0.5, True) < 0.7


def test_clopper_pearson_equals_beta_quantiles_and_statsmodels():
    for k, n, a in [(0, 10, 0.05), (3, 10, 0.05), (10, 10, 0.001), (997, 1000, 0.001), (50, 100, 0.2)]:
        lo = stats.beta.ppf(a, k, n - k + 1) if k > 0 else 0.0
        hi = stats.beta.ppf(1 - a, k + 1, n - k) if k < n else 1.0
        assert B.clopper_pearson_lower(k, n, a) == pytest.approx(lo, rel=1e-12, abs=1e-15)
        assert B.clopper_pearson_upper(k, n, a) == pytest.approx(hi, rel=1e-12, abs=1e-15)
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    lo, hi = proportion.proportion_confint(37, 50, alpha=2 * 0.01, method="beta")  # Cohen's call
    assert B.clopper_pearson_lower(37, 50, 0.01) == pytest.approx(lo, rel=1e-12)
    assert B.clopper_pearson_upper(37, 50, 0.01) == pytest.approx(hi, rel=1e-12)
    # all votes for A: the largest lower bound is α^(1/n)
    assert B.clopper_pearson_lower(100, 100, 0.001) == pytest.approx(0.001 ** (1 / 100), rel=1e-12)


def test_vectorised_and_validation():
    out = B.clopper_pearson_lower(np.array([0, 5, 10]), 10, 0.05)
    assert out.shape == (3,) and out[0] == 0.0 and np.all(np.diff(out) > 0)
    with pytest.raises(ValueError, match="alpha"):
        B.clopper_pearson_lower(1, 10, 1.5)
    with pytest.raises(ValueError, match="k must"):
        B.clopper_pearson_lower(11, 10, 0.05)
    with pytest.raises(ValueError, match="n must"):
        B.hoeffding_lower(0.5, 0, 0.05)
    with pytest.raises(ValueError, match="n >= 2"):
        B.empirical_bernstein_lower(0.5, 0.1, 1, 0.05)
    with pytest.raises(ValueError, match="value_range"):
        B.hoeffding_upper(0.5, 10, 0.05, value_range=-1)


def test_simulated_failure_rate_on_a_closed_form_smoothed_classifier():
    """1-D base f(x) = 1[x > 0]: under N(0, σ²) noise p_A(x) = Φ(x/σ) exactly. Draw the counts from the
    binomial directly; the Clopper–Pearson lower bound may fail at most at rate α (binomial tolerance)."""
    rng = np.random.default_rng(0)
    alpha, reps, n, sigma = 0.05, 4000, 200, 0.5
    for x in (0.05, 0.3, 1.0):
        p = stats.norm.cdf(x / sigma)
        k = rng.binomial(n, p, size=reps)
        lower = B.clopper_pearson_lower(k, n, alpha)
        failures = int((lower > p).sum())
        assert failures <= alpha * reps + 3 * math.sqrt(reps * alpha * (1 - alpha))
        # radii from the counts: σΦ⁻¹(p̲) never exceeds the true distance |x| when the bound holds
        ok = (lower > 0.5) & (lower <= p)
        assert np.all(sigma * stats.norm.ppf(lower[ok]) <= x + 1e-12)


def _multinomial_outcomes(n: int, k: int):
    for combo in itertools.combinations(range(n + k - 1), k - 1):
        counts, prev = [], -1
        for c in combo:
            counts.append(c - prev - 1)
            prev = c
        counts.append(n + k - 1 - prev - 1)
        yield np.array(counts)


def _joint_coverage(p: np.ndarray, n: int, alpha: float, method: str, n0: int | None = None) -> float:
    """Exact P[p̲_A ≤ p_A and p̄_B ≥ true probability of every other class/bucket] over the multinomial
    estimation counts (and, for CPM, the independent selection counts)."""
    from scipy.stats import multinomial

    k = len(p)
    est = list(_multinomial_outcomes(n, k))
    est_pmf = multinomial.pmf(np.array(est), n, p)
    sels = (
        [(None, 1.0)]
        if n0 is None
        else [(s, multinomial.pmf(s, n0, p)) for s in _multinomial_outcomes(n0, k)]
    )
    total = 0.0
    for sel, w_sel in sels:
        for e, w in zip(est, est_pmf):
            selection = e if sel is None else sel  # without a selection sample, choose on the same counts
            iv = multiclass_interval(selection, e, alpha, method=method)
            a = iv.prediction
            others = max(p[list(b)].sum() for b in iv.buckets if a not in b)
            if iv.p_lower <= p[a] and iv.p_upper >= others:
                total += w_sel * w
    return total


def test_uncorrected_top2_fails_while_bonferroni_and_cpm_hold():
    """docs/chapters/ch06.md §7.2(c): p = (0.45, 0.45, 0.10), n = 30, α = 0.05. Event: the lower bound of the
    class chosen by the counts covers its true probability AND the upper bound of the rest covers the largest
    other class (bucket). Uncorrected top-2 Clopper–Pearson fails; Bonferroni and CPM hold."""
    p, n, alpha = np.array([0.45, 0.45, 0.10]), 30, 0.05
    top2 = _joint_coverage(p, n, alpha, "top2")
    assert top2 < 1 - alpha
    assert _joint_coverage(p, n, alpha, "bonferroni") >= 1 - alpha
    assert _joint_coverage(p, n, alpha, "cpm", n0=3) >= 1 - alpha


def test_cpm_buckets_and_radius():
    assert cpm_buckets([50, 20, 10, 10, 5, 5]) == ((0,), (1,), (2,), (3, 4, 5))
    assert cpm_buckets([10, 0, 0]) == ((0,), (1,), (2,))
    iv = multiclass_interval([95, 3, 1, 1], [9500, 300, 100, 100], 0.001, method="cpm")
    r = smoothing_radius(iv, 0.5).radius
    assert r == pytest.approx(0.25 * (stats.norm.ppf(iv.p_lower) - stats.norm.ppf(iv.p_upper)), rel=1e-12)
    bonf = multiclass_interval([95, 3, 1, 1], [9500, 300, 100, 100], 0.001, method="bonferroni")
    assert iv.alpha_each >= bonf.alpha_each and smoothing_radius(bonf, 0.5).radius <= r
    mono = multiclass_interval([95, 3, 1, 1], [9500, 300, 100, 100], 0.001, mode="mono")
    assert smoothing_radius(mono, 0.5).radius == pytest.approx(0.5 * stats.norm.ppf(mono.p_lower), rel=1e-12)
    assert smoothing_radius(multiclass_interval([5, 5], [50, 50], 0.01), 0.5) == (0.0, True)  # abstain
    # multi mode certifies below 1/2 when p_lower > p_upper (Cohen et al. 2019, Theorem 1)
    low = multiclass_interval([40, 30, 30], [4000, 3000, 3000], 0.001, method="bonferroni")
    assert low.p_lower < 0.5 < low.p_lower + 0.2 and low.p_upper < low.p_lower
    assert smoothing_radius(low, 0.5) == pytest.approx(
        (0.25 * (stats.norm.ppf(low.p_lower) - stats.norm.ppf(low.p_upper)), False), rel=1e-12
    )
    assert smoothing_radius(
        multiclass_interval([40, 30, 30], [4000, 3000, 3000], 0.001, mode="mono"), 0.5
    ) == (
        0.0,
        True,
    )
    with pytest.raises(ValueError, match="method"):
        multiclass_interval([1, 2], [1, 2], 0.1, method="holm")
    with pytest.raises(ValueError, match="differ"):
        multiclass_interval([1, 2], [1, 2, 3], 0.1)
