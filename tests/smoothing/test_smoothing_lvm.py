"""stablecore.smoothing.lvm: simplex maps (sparsemax vs a projection oracle), the sound LVM-RS certificate's
coverage over seeded repetitions with known means, the uncertified variant's failure, and radii against the
true distance to the smoothed boundary of 1-D ramp / sigmoid / step classifiers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize, special, stats

from stablecore.smoothing.bounds import clopper_pearson_lower
from stablecore.smoothing.core import ABSTAIN, certify_from_counts
from stablecore.smoothing.lipschitz import (
    cohen_multi_radius,
    cohen_radius,
    margin_radius,
    sparsemax_score_lipschitz,
)
from stablecore.smoothing.lvm import (
    DEFAULT_TEMPERATURES,
    MAPS,
    LVMCertificate,
    certify_lvm,
    hardmax,
    lvm_best_of_candidates_uncertified,
    simplex_map,
    softmax,
    sparsemax,
)

REL = 1e-9


# ------------------------------------------------------------------------------------------- the maps
def projection_oracle(u: np.ndarray) -> np.ndarray:
    """Euclidean projection onto the simplex by bisection on τ in Σ max(u − τ, 0) = 1 (no sort)."""
    lo, hi = u.min() - 1.0, u.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.maximum(u - mid, 0).sum() > 1:
            lo = mid
        else:
            hi = mid
    return np.maximum(u - 0.5 * (lo + hi), 0)


def test_maps_land_in_the_simplex_and_keep_shapes():
    rng = np.random.default_rng(0)
    for k in (2, 3, 10):
        for scale in (0.01, 1.0, 100.0):
            z = rng.normal(size=(7, 11, k)) * scale
            for name in MAPS:
                for t in (0.05, 1.0, 20.0):
                    p = simplex_map(z, name, t)
                    assert p.shape == z.shape and p.dtype == np.float64
                    assert np.all(p >= 0) and np.all(p <= 1 + 1e-12)
                    assert np.allclose(p.sum(-1), 1.0, atol=1e-12)


def test_hardmax_softmax_and_temperature_limits():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(500, 5))
    onehot = np.eye(5)[z.argmax(-1)]
    assert np.array_equal(hardmax(z), onehot)
    assert np.array_equal(hardmax([[1.0, 3.0, 3.0]]), [[0.0, 1.0, 0.0]])  # ties: first index
    assert np.allclose(softmax(z, 0.7), special.softmax(z / 0.7, axis=-1), rtol=1e-13)
    assert np.allclose(softmax(z, 1e-4), onehot, atol=1e-12)
    assert np.allclose(sparsemax(z, 1e-4), onehot, atol=1e-12)  # T → 0: hardmax (unique maxima)
    assert np.allclose(sparsemax(z, 1e4), 0.2, atol=1e-3)  # T → ∞: uniform
    assert np.allclose(sparsemax(z + 123.0), sparsemax(z), atol=1e-12)  # shift-invariant
    assert np.allclose(softmax(torch.tensor(z), 2.0), softmax(z, 2.0))  # torch input accepted


def test_sparsemax_is_the_euclidean_projection_onto_the_simplex():
    rng = np.random.default_rng(2)
    for k in (2, 3, 7, 30):
        for scale in (0.1, 1.0, 5.0):
            z = rng.normal(size=(40, k)) * scale
            p = sparsemax(z)
            for row, prow in zip(z, p):
                assert np.allclose(prow, projection_oracle(row), atol=1e-12)
    # and against a generic constrained solver on a few vectors
    for _ in range(5):
        u = rng.normal(size=6) * 2
        res = optimize.minimize(
            lambda q, u=u: 0.5 * np.sum((q - u) ** 2),
            np.full(6, 1 / 6),
            jac=lambda q, u=u: q - u,
            bounds=[(0, 1)] * 6,
            constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1, "jac": lambda q: np.ones_like(q)}],
            method="SLSQP",
            options={"ftol": 1e-14, "maxiter": 500},
        )
        assert np.allclose(sparsemax(u), res.x, atol=1e-6)
    # the projection is no farther from z than any other simplex point
    z = rng.normal(size=(200, 4)) * 2
    q = rng.dirichlet(np.ones(4), size=200)
    assert np.all(np.linalg.norm(sparsemax(z) - z, axis=1) <= np.linalg.norm(q - z, axis=1) + 1e-12)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 4.0])
def test_sparsemax_score_constant_by_finite_differences(temperature):
    rng = np.random.default_rng(3)
    h = 1e-7
    for k in (2, 3, 6):
        bound = sparsemax_score_lipschitz(temperature, k)
        points = np.vstack([np.zeros((1, k)), rng.normal(size=(150, k)) * temperature * 0.5])
        worst = 0.0
        for z in points:
            jac = np.stack(
                [
                    (sparsemax(z + h * e, temperature) - sparsemax(z - h * e, temperature)) / (2 * h)
                    for e in np.eye(k)
                ],
                axis=1,
            )
            worst = max(worst, np.linalg.norm(jac, axis=1).max())
        assert worst <= bound * (1 + 1e-6)
        assert worst >= bound * (1 - 1e-6)  # attained at equal logits (full support)


# ------------------------------------------------------------------------------- certificate behaviour
def test_hardmax_mono_equals_cohen_certify_from_counts():
    rng = np.random.default_rng(4)
    for mu in ([1.5, 0.0, 0.0], [0.2, 0.0, 0.1], [0.0, 3.0, 0.0]):
        z0, z = rng.normal(mu, 1.0, (50, 3)), rng.normal(mu, 1.0, (3000, 3))
        cert = certify_lvm(z0, z, sigma=0.25, alpha=0.001, maps=("hardmax",), mode="mono")
        ref = certify_from_counts(hardmax(z0).sum(0).astype(int), hardmax(z).sum(0).astype(int), 0.001, 0.25)
        assert cert.prediction == ref.prediction and cert.radius == pytest.approx(ref.radius, rel=1e-14)
        assert cert.map == "hardmax" and cert.temperature == 0.0 and cert.num_candidates == 1
        if not cert.abstained:
            assert cert.p_lower == pytest.approx(ref.p_lower, rel=1e-14)


def test_result_fields_kinds_abstain_and_determinism():
    rng = np.random.default_rng(5)
    z0, z = rng.normal([2.0, 0, 0], 0.5, (100, 3)), rng.normal([2.0, 0, 0], 0.5, (2000, 3))
    temps = (0.1, 1.0, 10.0)
    cert = certify_lvm(z0, z, sigma=0.5, alpha=0.001, temperatures=temps)
    assert isinstance(cert, LVMCertificate) and cert.kind == "lower_bound"
    assert cert.prediction == 0 and cert.radius > 0 and not cert.abstained
    assert cert.num_candidates == 2 * len(temps) + 1 and (cert.n0, cert.n) == (100, 2000)
    assert cert.radius == pytest.approx(
        0.5 * 0.5 * (stats.norm.ppf(cert.p_lower) - stats.norm.ppf(cert.p_upper)), rel=1e-12
    )
    assert certify_lvm(z0, z, sigma=0.5, alpha=0.001, temperatures=temps) == cert
    with pytest.raises(AttributeError):
        cert.radius = 1.0  # type: ignore[misc]
    unc = lvm_best_of_candidates_uncertified(z, sigma=0.5, alpha=0.001, temperatures=temps)
    assert unc.kind == "estimate" and unc.n0 == 0
    # pure noise around a tie: abstain with radius 0
    tie0, tie = rng.normal(0, 1, (100, 3)), rng.normal(0, 1, (2000, 3))
    for mode in ("multi", "mono"):
        ab = certify_lvm(tie0, tie, sigma=0.5, alpha=0.001, temperatures=temps, mode=mode)
        assert ab.prediction == ABSTAIN and ab.radius == 0.0 and ab.abstained
    mono = certify_lvm(z0, z, sigma=0.5, alpha=0.001, temperatures=temps, mode="mono")
    assert mono.p_upper == 1 - mono.p_lower and mono.radius == pytest.approx(
        0.5 * stats.norm.ppf(mono.p_lower)
    )


def test_soft_maps_can_win_and_hoeffding_option():
    """The variance–margin regime: confident when right (logit gap 3, 60 %), barely wrong otherwise (gap
    −0.1). Votes have p_A = 0.6; a soft map keeps most of the confidence with a far smaller variance, so it
    certifies a much larger radius. (With Gaussian logit noise votes usually win: the soft maps' population
    margin is smaller.)"""
    rng = np.random.default_rng(6)
    support = np.array([[3.0, 0.0], [-0.1, 0.0]])
    z0, z = support[rng.choice(2, 100, p=[0.6, 0.4])], support[rng.choice(2, 2000, p=[0.6, 0.4])]
    cert = certify_lvm(z0, z, sigma=0.5, alpha=0.001, temperatures=(0.3, 1.0, 3.0))
    votes = certify_lvm(z0, z, sigma=0.5, alpha=0.001, maps=("hardmax",))
    assert cert.map != "hardmax" and cert.prediction == 0 and cert.radius > 3 * votes.radius
    hoef = certify_lvm(
        z0, z, sigma=0.5, alpha=0.001, maps=("softmax",), temperatures=(1.0,), soft_bound="hoeffding"
    )
    assert hoef.kind == "lower_bound" and hoef.prediction == 0
    assert hoef.p_lower == pytest.approx(softmax(z, 1.0)[:, 0].mean() - math.sqrt(math.log(2 / 0.001) / 4000))


def test_validation_names_the_argument():
    z = np.zeros((10, 3))
    ok = {"sigma": 0.5, "alpha": 0.01}
    with pytest.raises(ValueError, match="sigma"):
        certify_lvm(z, z, sigma=0.0, alpha=0.01)
    with pytest.raises(ValueError, match="sigma"):
        lvm_best_of_candidates_uncertified(z, sigma=math.inf, alpha=0.01)
    with pytest.raises(ValueError, match="alpha"):
        certify_lvm(z, z, sigma=0.5, alpha=1.0)
    with pytest.raises(ValueError, match="scores_selection"):
        certify_lvm(np.zeros((0, 3)), z, **ok)
    with pytest.raises(ValueError, match="scores_estimation"):
        certify_lvm(z, np.zeros(3), **ok)
    with pytest.raises(ValueError, match="scores_estimation"):
        certify_lvm(z, np.full((10, 3), np.nan), **ok)
    with pytest.raises(ValueError, match="classes"):
        certify_lvm(np.zeros((10, 4)), z, **ok)
    with pytest.raises(ValueError, match="maps"):
        certify_lvm(z, z, maps=("argmax",), **ok)
    with pytest.raises(ValueError, match="maps"):
        certify_lvm(z, z, maps=(), **ok)
    with pytest.raises(ValueError, match="temperature"):
        certify_lvm(z, z, temperatures=(1.0, -2.0), **ok)
    with pytest.raises(ValueError, match="temperatures"):
        certify_lvm(z, z, temperatures=(), **ok)
    with pytest.raises(ValueError, match="mode"):
        certify_lvm(z, z, mode="top2", **ok)
    with pytest.raises(ValueError, match="soft_bound"):
        certify_lvm(z, z, soft_bound="clopper_pearson", **ok)
    with pytest.raises(ValueError, match="scores_estimation"):
        certify_lvm(z, z[:1], **ok)  # empirical Bernstein needs n >= 2
    assert certify_lvm(z, z[:1], maps=("hardmax",), **ok).n == 1
    with pytest.raises(TypeError, match="scores_estimation"):
        certify_lvm(z, np.array([["a", "b"]]), **ok)
    with pytest.raises(ValueError, match="temperature"):
        softmax(z, 0.0)
    with pytest.raises(ValueError, match="name"):
        simplex_map(z, "sigmoid")


# ------------------------------------------------------------------ coverage over seeded repetitions
SUPPORT = np.array([[2.0, 0.0, 0.5], [0.5, 1.0, 0.0], [1.5, 1.4, -1.0]])
WEIGHTS = np.array([0.55, 0.3, 0.15])  # at n = 300 the selection picks votes and sparsemax at several T


def _true_mean(name: str, t: float) -> np.ndarray:
    """Exact smoothed scores of a discrete logit distribution: Σ w_i map(z_i / T)."""
    return WEIGHTS @ simplex_map(SUPPORT, name, t if t > 0 else 1.0)


def _failure_rate(reps: int, mode: str, **kw) -> tuple[int, int, set]:
    """How often a certificate is issued while its bounds miss the truth (the event a certificate must
    avoid with probability ≥ 1 − α): p̲_A above the true mean of the predicted class, or (multi) p̄_B below
    the largest true mean of another class."""
    rng = np.random.default_rng(12345)
    fails = issued = 0
    chosen = set()
    for _ in range(reps):
        cert = _sound(rng, mode=mode, **kw)
        chosen.add((cert.map, cert.temperature))
        if cert.abstained:
            continue
        issued += 1
        truth = _true_mean(cert.map, cert.temperature)
        bad = cert.p_lower > truth[cert.prediction] + 1e-12
        if mode == "multi":
            bad |= cert.p_upper < np.delete(truth, cert.prediction).max() - 1e-12
        fails += int(bad)
    return fails, issued, chosen


def _sound(rng, *, n0: int, n: int, alpha: float, mode: str, maps=MAPS, temps=(0.1, 0.5, 1.0, 3.0)):
    z0 = SUPPORT[rng.choice(len(WEIGHTS), size=n0, p=WEIGHTS)]
    z = SUPPORT[rng.choice(len(WEIGHTS), size=n, p=WEIGHTS)]
    return certify_lvm(z0, z, sigma=1.0, alpha=alpha, maps=maps, temperatures=temps, mode=mode)


@pytest.mark.parametrize("mode", ["multi", "mono"])
def test_sound_variant_covers_at_rate_one_minus_alpha(mode):
    reps, alpha = 2000, 0.05
    tolerance = stats.binom.ppf(0.999, reps, alpha)  # a rate ≤ α exceeds this with probability ≤ 0.001
    fails, issued, chosen = _failure_rate(reps, mode, n0=20, n=300, alpha=alpha)
    assert issued >= reps // 2 and len(chosen) >= 3  # not vacuous: certificates issued, several maps/T
    assert fails <= tolerance


def test_uncertified_variant_fails_coverage_where_the_sound_one_holds():
    """Two tied classes (true vote probability 1/2 each), mono mode, votes: picking the class on the same
    samples that bound it doubles the error (either class may look significant); choosing it on the
    separate selection samples does not. This is why the reference's best-of-candidates is no certificate."""
    reps, alpha, n = 2000, 0.05, 100
    tie = np.array([[1.0, 0.0], [0.0, 1.0]])
    rng = np.random.default_rng(7)
    sound_fail = unc_fail = 0
    for _ in range(reps):
        z0, z = tie[rng.integers(0, 2, 20)], tie[rng.integers(0, 2, n)]
        kw = {"sigma": 1.0, "alpha": alpha, "maps": ("hardmax",), "mode": "mono"}
        sound_fail += not certify_lvm(z0, z, **kw).abstained  # any certificate is wrong: f̃ = 1/2
        unc_fail += not lvm_best_of_candidates_uncertified(z, **kw).abstained
    tolerance = stats.binom.ppf(0.999, reps, alpha)
    assert 0 < sound_fail <= tolerance  # Clopper–Pearson is nearly exact here: failures occur, within α
    assert unc_fail > tolerance
    # exact rate of the uncertified variant here, by enumeration: P(CP lower of either count > 1/2)
    k = np.arange(n + 1)
    sig = np.asarray(clopper_pearson_lower(k, n, alpha)) > 0.5
    exact = stats.binom.pmf(k, n, 0.5)[sig | sig[::-1]].sum()
    assert exact > alpha and unc_fail / reps == pytest.approx(exact, abs=4 * math.sqrt(exact / reps))


# ------------------------------------------------------- radii vs the true distance on 1-D classifiers
# base logits z(x) = (−c(x − a), c(x − a)): sparsemax(z/T)_1 = clip(c(x − a)/T + 1/2, 0, 1) is a ramp,
# softmax(z/T)_1 = sigmoid(2c(x − a)/T), hardmax a step; each smoothed score is 1/2 exactly at x = a (odd
# symmetry) and monotone, so the true distance to the smoothed decision boundary is |x − a|.
A, C = 0.2, 1.5


def _logits_1d(x: np.ndarray) -> np.ndarray:
    u = C * (np.asarray(x, float) - A)
    return np.stack([-u, u], axis=-1)


def _smoothed_class1(name: str, t: float, x: float, sigma: float) -> float:
    """E map(z(x + δ)/T)_1 in closed form (ramp, step) or by quadrature (sigmoid)."""
    if name == "hardmax":
        return float(stats.norm.cdf((x - A) / sigma))
    if name == "sparsemax":  # ramp of slope L = C/T from A − T/(2C) to A + T/(2C)
        lip = C / t
        lo, hi = (A - 0.5 / lip - x) / sigma, (A + 0.5 / lip - x) / sigma
        antider = lambda v: v * stats.norm.cdf(v) + stats.norm.pdf(v)  # noqa: E731
        return float(1 - lip * sigma * (antider(hi) - antider(lo)))

    def integrand(d: float) -> float:
        return special.expit(2 * C * (x + d - A) / t) * stats.norm.pdf(d, scale=sigma)

    return integrate.quad(integrand, -12 * sigma, 12 * sigma, epsabs=1e-14, epsrel=1e-12, limit=200)[0]


def test_radius_formulas_from_true_scores_never_exceed_the_distance():
    checked = 0
    for sigma in (0.12, 0.5, 1.0):
        for name, t in [
            ("hardmax", 0.0),
            ("sparsemax", 0.3),
            ("sparsemax", 3.0),
            ("softmax", 0.2),
            ("softmax", 2.0),
        ]:
            for off in (-2.0, -0.7, -0.1, 0.03, 0.4, 1.5):
                x = A + off * sigma
                f1 = _smoothed_class1(name, t, x, sigma)
                p = max(f1, 1 - f1)
                if not (0.5 + 1e-9 < p < 1 - 1e-6):
                    continue
                dist = abs(x - A)
                for r in (
                    cohen_radius(p, sigma).radius,
                    cohen_multi_radius(p, 1 - p, sigma).radius,
                    margin_radius(p, 1 - p, math.inf, sigma).radius,  # σ√(π/2)(p_A − p_B)
                ):
                    assert r <= dist * (1 + REL), (name, t, sigma, x)
                checked += 1
    assert checked >= 60


def test_certify_lvm_on_noisy_1d_copies_stays_inside_the_true_distance():
    rng = np.random.default_rng(8)
    temps = (0.1, 0.3, 1.0, 3.0)
    certified = 0
    for sigma in (0.25, 0.5):
        for off in (-1.5, -0.6, 0.3, 0.8, 2.0):
            x = A + off * sigma
            z0 = _logits_1d(x + rng.normal(0, sigma, 50))
            z = _logits_1d(x + rng.normal(0, sigma, 3000))
            for fn in ("sound", "multi-mono"):
                mode = "multi" if fn == "sound" else "mono"
                cert = certify_lvm(z0, z, sigma=sigma, alpha=0.001, temperatures=temps, mode=mode)
                if cert.abstained:
                    continue
                certified += 1
                assert cert.prediction == int(x > A)
                assert cert.radius <= abs(x - A)
                truth = _smoothed_class1(cert.map, cert.temperature, x, sigma)
                assert cert.p_lower <= (truth if cert.prediction == 1 else 1 - truth)
    assert certified >= 12


def test_default_temperatures_match_the_paper_range():
    assert len(DEFAULT_TEMPERATURES) == 50
    assert DEFAULT_TEMPERATURES[0] == pytest.approx(0.01) and DEFAULT_TEMPERATURES[-1] == pytest.approx(50.0)
