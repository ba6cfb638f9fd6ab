"""stablecore.smoothing.lipschitz: the smoothed constant vs the exact smoothed ramp, the softmax-score
constant vs autograd, logits-Bound handling, docs/chapters/ch06.md §7.2(a)'s [num] tables, and soundness of
every radius against the true distance to the smoothed decision boundary of 1-D ramp and step classifiers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats
from torch import nn

from stablecore.smoothing.lipschitz import (
    Radius,
    cohen_multi_radius,
    cohen_radius,
    margin_radius,
    monolip_radius,
    multi_ode_radius,
    multilip_radius,
    ode_radius,
    phi_lipschitz,
    ramp_start,
    score_lipschitz,
    smoothed_lipschitz,
    smoothed_lipschitz_code,
    smoothed_ramp_slope,
    smoothed_score_lipschitz,
    softmax_score_lipschitz,
)
from stablecore.spectral import lipschitz_bound
from stablecore.types import Bound

REL = 1e-9  # soundness tolerance (issue 14, Done-when (4))


# ------------------------------------------------------------------ closed forms, computed independently
def smoothed_clip(x: float, lipschitz: float, sigma: float, lo: float, hi: float, a: float = 0.0) -> float:
    """E clip(L(x + δ − a), lo, hi), δ ~ N(0, σ²), by the layer-cake formula
    lo + ∫_lo^hi P(L(x + δ − a) > u) du (quadrature of a Gaussian tail; independent of the module)."""

    def tail(u: float) -> float:  # P(δ > a + u/L − x)
        return 0.5 * math.erfc((a + u / lipschitz - x) / (sigma * math.sqrt(2)))

    kink = lipschitz * (x - a)  # where the tail is 1/2
    points = [kink] if lo < kink < hi else None
    return lo + integrate.quad(tail, lo, hi, points=points, epsabs=1e-15, epsrel=1e-13, limit=200)[0]


def boundary(fn, sigma: float, lipschitz: float, a: float) -> float:
    """The smoothed decision boundary (f̃ = 1/2) by root finding."""
    span = 12 * sigma + 1 / lipschitz
    return optimize.brentq(
        lambda x: fn(x) - 0.5, a - span, a + span, xtol=1e-15, rtol=4 * np.finfo(float).eps
    )


# -------------------------------------------------------------------------- Weierstrass constants
@pytest.mark.parametrize(
    ("lip", "sigma", "r"),
    [(2.0, 0.5, 1.0), (0.3, 1.0, 1.0), (8.0, 0.25, 1.0), (1.0, 0.5, 3.0), (50.0, 0.1, 1.0)],
)
def test_smoothed_lipschitz_is_the_max_slope_of_the_smoothed_ramp(lip, sigma, r):
    h = 1e-4 * sigma

    def slope(x: float, lo: float, hi: float) -> float:
        return (smoothed_clip(x + h, lip, sigma, lo, hi) - smoothed_clip(x - h, lip, sigma, lo, hi)) / (2 * h)

    # [0, r]: the tight constant L·erf(r/(2√2Lσ)), attained at the ramp's midpoint r/(2L)
    grid = np.linspace(-4 * sigma, r / lip + 4 * sigma, 61)
    best = max(slope(x, 0.0, r) for x in grid)
    res = optimize.minimize_scalar(
        lambda x: -slope(x, 0.0, r), bounds=(-sigma, r / lip + sigma), method="bounded"
    )
    best = max(best, -res.fun)
    assert best == pytest.approx(smoothed_lipschitz(lip, sigma, r), rel=1e-6)
    # [−r, r]: the Bridging code's L·erf(r/(√2Lσ)) is the constant of the range-2r ramp
    best2 = max(slope(x, -r, r) for x in np.linspace(-r / lip - 2 * sigma, r / lip + 2 * sigma, 61))
    assert best2 == pytest.approx(smoothed_lipschitz(lip, sigma, 2 * r), rel=1e-6)
    assert best2 == pytest.approx(lip * special.erf(r / (math.sqrt(2) * lip * sigma)), rel=1e-6)


def test_smoothed_lipschitz_caveat_numbers_limits_and_broadcasting():
    assert smoothed_lipschitz(2.0, 0.5) == pytest.approx(0.766, abs=5e-4)  # docs/chapters/ch05.md §6.1 caveat
    assert smoothed_lipschitz(2.0, 0.5, value_range=2.0) == pytest.approx(1.365, abs=5e-4)  # code formula
    assert smoothed_lipschitz(1e-6, 1.0) == pytest.approx(1e-6, rel=1e-9)  # → L as L → 0
    assert smoothed_lipschitz(1e9, 0.5) == pytest.approx(1 / (0.5 * math.sqrt(2 * math.pi)), rel=1e-9)
    assert smoothed_lipschitz(math.inf, 0.5) == 1 / (0.5 * math.sqrt(2 * math.pi))
    out = smoothed_lipschitz(np.array([0.5, 1.0, np.inf]), np.array([[0.25], [1.0]]))
    assert out.shape == (2, 3)
    assert out[1, 1] == smoothed_lipschitz(1.0, 1.0)
    assert isinstance(smoothed_lipschitz(1.0, 1.0), float)
    lips = np.geomspace(1e-3, 1e3, 50)  # increasing in L (so an upper bound of L gives one of L(f̃))
    assert np.all(np.diff(smoothed_lipschitz(lips, 0.5)) > 0)


def _softmax_grad_norms(z: torch.Tensor, temperature: float, c: int) -> torch.Tensor:
    z = z.detach().requires_grad_(True)
    s = torch.softmax(z / temperature, dim=-1)[:, c]
    (g,) = torch.autograd.grad(s.sum(), z)
    return g.norm(dim=-1)


@pytest.mark.parametrize("temperature", [0.1, 1.0, 7.0])
def test_softmax_score_constant_vs_autograd(temperature):
    bound = softmax_score_lipschitz(temperature)
    assert bound == pytest.approx(1 / (2 * math.sqrt(2) * temperature), rel=1e-15)
    gen = torch.Generator().manual_seed(0)
    for k in (2, 3, 10):
        # random logits at three scales, and the adversarial family around the maximiser: the class logit
        # 0, one rival at t, the others at −u (the sup needs t = 0, u → ∞)
        z = torch.randn(3, 3000, k, generator=gen, dtype=torch.float64) * temperature
        z = (z * torch.tensor([0.1, 1.0, 10.0], dtype=torch.float64)[:, None, None]).reshape(-1, k)
        t, u = torch.meshgrid(
            torch.linspace(-3, 3, 61, dtype=torch.float64),
            torch.linspace(0, 60, 61, dtype=torch.float64),
            indexing="ij",
        )
        family = torch.zeros(t.numel(), k, dtype=torch.float64)
        family[:, 1] = t.reshape(-1)
        family[:, 2:] = -u.reshape(-1, 1)
        norms = _softmax_grad_norms(torch.cat([z, family * temperature]), temperature, 0)
        assert norms.max() <= bound * (1 + 1e-12)
        assert norms.max() >= bound * (1 - 1e-12)  # attained (K = 2) or approached to rounding (K > 2)
    # attained: K = 2 at equal logits; approached for K > 2 (one rival tied, the others → −∞)
    tied = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    assert _softmax_grad_norms(tied, temperature, 0).item() == pytest.approx(bound, rel=1e-12)
    far = torch.tensor([[0.0, 0.0, -60.0, -60.0, -60.0]], dtype=torch.float64) * temperature
    assert _softmax_grad_norms(far, temperature, 0).item() == pytest.approx(bound, rel=1e-12)


def test_softmax_score_constant_survives_gradient_ascent():
    """Gradient ascent on ‖∇_z s_c‖ from random starts (K = 5, T = 1; the norm scales exactly as 1/T) gets
    close to the bound and never above it."""
    bound = softmax_score_lipschitz(1.0)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(128, 5, generator=gen, dtype=torch.float64).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.1)
    best = 0.0
    for _ in range(60):
        s = torch.softmax(z, dim=-1)[:, 0]
        (g,) = torch.autograd.grad(s.sum(), z, create_graph=True)
        norms = g.norm(dim=-1)
        best = max(best, norms.max().item())
        assert best <= bound * (1 + 1e-12)
        opt.zero_grad()
        (-norms.sum()).backward()
        opt.step()
    assert best >= 0.99 * bound


def test_score_lipschitz_composes_with_a_network_bound_and_refuses_estimates():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3)).double()
    logits = lipschitz_bound(model, (2,))
    assert logits.certifiable
    temperature = 0.5
    b = score_lipschitz(logits, temperature)
    assert b.kind == "upper_bound" and b.value >= logits.value / (2 * math.sqrt(2) * temperature)
    x = (torch.randn(5000, 2, dtype=torch.float64) * 3).requires_grad_(True)
    for c in range(3):
        (g,) = torch.autograd.grad(torch.softmax(model(x) / temperature, -1)[:, c].sum(), x)
        assert g.norm(dim=-1).max().item() <= b.value
    sm = smoothed_score_lipschitz(logits, temperature=temperature, sigma=0.25)
    assert sm.kind == "upper_bound"
    assert sm.value >= smoothed_lipschitz(b.value, 0.25) and sm.value <= b.value
    sp = score_lipschitz(Bound(2.0, "exact", "given"), 0.5, map="sparsemax", num_classes=4)
    assert sp.value >= 2.0 * math.sqrt(0.75) / 0.5
    for kind in ("estimate", "lower_bound"):
        with pytest.raises(ValueError, match=kind):
            score_lipschitz(Bound(1.0, kind, "power"), 1.0)
        with pytest.raises(ValueError, match="logits_bound"):
            smoothed_score_lipschitz(Bound(1.0, kind, "power"), temperature=1.0, sigma=0.5)
    with pytest.raises(ValueError, match="estimate"):
        score_lipschitz(lipschitz_bound(model, (2,), method="power"), 1.0)
    with pytest.raises(TypeError, match="logits_bound"):
        score_lipschitz(2.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="temperature"):
        score_lipschitz(logits, 0.0)
    with pytest.raises(ValueError, match="num_classes"):
        score_lipschitz(logits, 1.0, map="sparsemax")
    with pytest.raises(ValueError, match="map"):
        score_lipschitz(logits, 1.0, map="hardmax")


# ----------------------------------------------------------------- docs/chapters/ch06.md §7.2(a) [num] tables
MONOLIP = {  # docs/chapters/ch06.md §7.2(a), σ = 0.5: p -> (Cohen, L = 0.5, 1, 2, 10, 100)
    0.60: (0.127, 0.209, 0.148, 0.132, 0.127, 0.127),
    0.80: (0.421, 0.637, 0.487, 0.438, 0.422, 0.421),
    0.90: (0.641, 0.898, 0.733, 0.666, 0.642, 0.641),
    0.99: (1.163, 1.427, 1.289, 1.206, 1.165, 1.163),
}
ODE = {0.80: (0.679, 0.490), 0.90: (0.999, 0.743), 0.99: (1.680, 1.331)}  # L = 0.5, 1
LPHI = {0.51: 1.196, 0.9: 1.427, 0.99: 1.630}  # L = 0.5


def test_thesis_tables_to_three_decimals():
    for p, (cohen, *mono) in MONOLIP.items():
        assert round(cohen_radius(p, 0.5).radius, 3) == cohen
        got = monolip_radius(p, np.array([0.5, 1, 2, 10, 100]), 0.5).radius
        assert [round(float(v), 3) for v in got] == list(mono)
    for p, expected in ODE.items():
        assert [round(ode_radius(p, lip, 0.5).radius, 3) for lip in (0.5, 1.0)] == list(expected)
    for p, expected in LPHI.items():
        assert round(phi_lipschitz(p, 0.5, 0.5), 3) == expected


def test_ramp_start_bracket_reaches_far_for_small_lipschitz():
    # docs/chapters/ch06.md §7.2(a) note: L = 0.1, p = 0.6, σ = 0.5 has s₀ ≈ σΦ⁻¹(1−p) − 1/(2L) ≈ −6.0
    assert ramp_start(0.6, 0.1, 0.5) == pytest.approx(-6.0, abs=1e-6)
    for p, lip, sigma in [(0.6, 0.01, 0.5), (0.999, 0.02, 2.0), (0.3, 0.05, 0.1), (0.9999, 500.0, 0.5)]:
        s0 = ramp_start(p, lip, sigma)
        value = smoothed_clip(0.0, lip, sigma, 0.0, 1.0, a=s0)  # the ramp starting at s₀, smoothed at 0
        assert value == pytest.approx(p, abs=1e-12)


# --------------------------------------------------------------------------- properties and conventions
def test_phi_lipschitz_symmetric_increasing_and_below_one_over_sigma():
    ps = np.linspace(0.501, 0.999, 60)
    for lip in (0.2, 1.0, 5.0):
        lp = phi_lipschitz(ps, lip, 0.5)
        assert np.all(np.diff(lp) > 0) and np.all(lp <= 2.0 * (1 + 1e-12))
        assert np.allclose(phi_lipschitz(1 - ps, lip, 0.5), lp, rtol=1e-10)
    assert phi_lipschitz(0.8, math.inf, 0.5) == 2.0


def test_radii_orderings_and_limits():
    ps = np.array([0.55, 0.7, 0.9, 0.99, 0.9999])
    for lip in (0.3, 1.0, 4.0):
        cohen = cohen_radius(ps, 0.5).radius
        mono = monolip_radius(ps, lip, 0.5).radius
        ode = ode_radius(ps, lip, 0.5).radius
        assert np.all(cohen <= mono * (1 + 1e-12)) and np.all(mono <= ode * (1 + 1e-12))
        assert np.allclose(multilip_radius(ps, 1 - ps, lip, 0.5).radius, mono, rtol=1e-10)
        assert np.allclose(multi_ode_radius(ps, 1 - ps, lip, 0.5).radius, ode, rtol=1e-10)
        pb = np.array([0.3, 0.2, 0.05, 0.001, 1e-6])
        assert np.all(multilip_radius(ps, pb, lip, 0.5).radius <= multi_ode_radius(ps, pb, lip, 0.5).radius)
    assert np.allclose(monolip_radius(ps, 1e7, 0.5).radius, cohen_radius(ps, 0.5).radius, rtol=1e-6)
    assert np.allclose(ode_radius(ps, math.inf, 0.5).radius, cohen_radius(ps, 0.5).radius, rtol=1e-15)
    pa, pb = np.meshgrid(np.linspace(0.01, 0.99, 40), np.linspace(0.01, 0.99, 40))
    lvm = margin_radius(pa, pb, math.inf, 0.7).radius  # σ√(π/2)(p̲_A − p̄_B)
    assert np.allclose(lvm, np.where(pa > pb, 0.7 * math.sqrt(math.pi / 2) * (pa - pb), 0.0), rtol=1e-12)
    assert np.all(lvm <= cohen_multi_radius(pa, pb, 0.7).radius * (1 + 1e-12))
    assert np.allclose(
        multi_ode_radius(pa, pb, math.inf, 0.7).radius, cohen_multi_radius(pa, pb, 0.7).radius, rtol=1e-12
    )


def test_abstain_convention_zero_radius_and_flag():
    r = cohen_radius(np.array([0.2, 0.5, 0.5000001, 1.0]), 1.0)
    assert isinstance(r, Radius)
    assert r.abstain.tolist() == [True, True, False, False]
    assert r.radius[0] == 0.0 and r.radius[1] == 0.0 and 0 < r.radius[2] < 1e-6 and r.radius[3] == math.inf
    for fn in (monolip_radius, ode_radius):
        out = fn(np.array([0.1, 0.5, 0.75]), 1.0, 0.5)
        assert out.abstain.tolist() == [True, True, False] and out.radius[:2].tolist() == [0.0, 0.0]
        assert fn(1.0, 1.0, 0.5).radius == math.inf
    # multi-class forms: p̲_A ≤ p̄_B abstains; Cohen's multi radius is valid below 1/2
    assert cohen_multi_radius(0.4, 0.3, 1.0) == (0.5 * (stats.norm.ppf(0.4) - stats.norm.ppf(0.3)), False)
    assert cohen_multi_radius(0.4, 0.4, 1.0) == (0.0, True)
    assert margin_radius(0.3, 0.35, 1.0, 0.5) == (0.0, True)
    assert multi_ode_radius(0.45, 0.2, 1.0, 0.5).abstain is False
    assert multilip_radius(0.45, 0.2, 1.0, 0.5) == (0.0, True)  # needs p̲_A > 1/2
    # a loose p̄_B > 1 − p̲_A is clamped, so R_multiLip is at least R_monoLip
    assert multilip_radius(0.9, 0.6, 1.0, 0.5).radius == pytest.approx(monolip_radius(0.9, 1.0, 0.5).radius)
    for value in (cohen_radius(0.7, 1.0).radius, ode_radius(0.7, 1.0, 1.0).radius):
        assert isinstance(value, float)
    assert isinstance(monolip_radius(0.7, 1.0, 1.0).abstain, bool)


def test_vectorised_equals_scalar_loop():
    ps = np.array([[0.3, 0.6, 0.8], [0.95, 0.999, 0.51]])
    lips = np.array([0.5, 2.0, math.inf])
    for fn in (monolip_radius, ode_radius):
        arr = fn(ps, lips, 0.25)
        for i, j in np.ndindex(ps.shape):
            assert arr.radius[i, j] == fn(float(ps[i, j]), float(lips[j]), 0.25).radius
    arr = multilip_radius(ps, 0.05, lips, 0.25).radius
    assert arr[1, 2] == multilip_radius(0.51, 0.05, math.inf, 0.25).radius


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="sigma"):
        cohen_radius(0.9, 0.0)
    with pytest.raises(ValueError, match="sigma"):
        ode_radius(0.9, 1.0, -1.0)
    with pytest.raises(ValueError, match="sigma"):
        smoothed_lipschitz(1.0, math.inf)
    with pytest.raises(ValueError, match="p_lower"):
        monolip_radius(1.2, 1.0, 0.5)
    with pytest.raises(ValueError, match="p_lower"):
        cohen_radius(math.nan, 0.5)
    with pytest.raises(ValueError, match="p_upper"):
        multilip_radius(0.9, -0.1, 1.0, 0.5)
    with pytest.raises(ValueError, match="lipschitz"):
        monolip_radius(0.9, 0.0, 0.5)
    with pytest.raises(ValueError, match="lipschitz"):
        margin_radius(0.9, 0.1, Bound(1.0, "lower_bound", "pgd"), 0.5)
    with pytest.raises(ValueError, match="value_range"):
        smoothed_lipschitz(1.0, 1.0, value_range=0.0)
    with pytest.raises(ValueError, match="p must"):
        phi_lipschitz(1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="lipschitz"):
        ramp_start(0.7, math.inf, 0.5)
    with pytest.raises(TypeError, match="p_lower"):
        cohen_radius("0.9", 0.5)
    # a certifiable Bound is accepted where a Lipschitz constant is expected
    assert monolip_radius(0.9, Bound(1.0, "upper_bound", "gram"), 0.5) == monolip_radius(0.9, 1.0, 0.5)


# ------------------------------------------------------- soundness: ramp and step, true p, true distance
def _all_radii(p: float, lip: float, sigma: float) -> dict[str, float]:
    """Every radius computed from the true top-class probability p (two classes: p_B = 1 − p)."""
    return {
        "cohen": cohen_radius(p, sigma).radius,
        "cohen_multi": cohen_multi_radius(p, 1 - p, sigma).radius,
        "margin": margin_radius(p, 1 - p, lip, sigma).radius,
        "monolip": monolip_radius(p, lip, sigma).radius,
        "multilip": multilip_radius(p, 1 - p, lip, sigma).radius,
        "ode": ode_radius(p, lip, sigma).radius,
        "multi_ode": multi_ode_radius(p, 1 - p, lip, sigma).radius,
    }


def _check_ramp(xs, lip: float, sigma: float, a: float = 0.3) -> int:
    """Check every radius at the points ``xs`` against the true distance; return how many were checked."""

    def f_tilde(t: float) -> float:
        return smoothed_clip(t, lip, sigma, 0.0, 1.0, a=a)

    b = boundary(f_tilde, sigma, lip, a)
    assert b == pytest.approx(a + 0.5 / lip, abs=1e-12)  # the ramp's midpoint, by symmetry
    checked = 0
    for x in xs:
        value = f_tilde(float(x))
        p = max(value, 1 - value)  # the smoothed prediction's probability (class 1 right of b, 0 left)
        dist = abs(x - b)
        if not (0.5 + 1e-9 < p < 1 - 1e-6):  # beyond 1 − 1e-6 a float p cannot pin the radius to 1e-9
            continue
        radii = _all_radii(p, lip, sigma)
        for name, r in radii.items():
            assert r <= dist * (1 + REL), (name, x, lip, sigma, r, dist)
        assert radii["ode"] == pytest.approx(dist, rel=REL)  # exact on the worst-case ramp
        assert radii["multi_ode"] == pytest.approx(dist, rel=REL)
        checked += 1
    return checked


@pytest.mark.parametrize("lip", [0.05, 0.5, 2.0, 30.0, 1000.0])
@pytest.mark.parametrize("sigma", [0.12, 0.5, 2.0])
def test_radii_never_exceed_the_ramp_distance_and_ode_is_exact(lip, sigma):
    a = 0.3
    mid = a + 0.5 / lip
    offsets = sigma * np.array([-4.0, -2.5, -1.0, -0.3, -0.05, 0.05, 0.3, 1.0, 2.5, 4.0])
    xs = np.r_[mid + offsets, mid + 0.4 / lip * np.array([-1.0, -0.2, 0.2, 1.0]), np.linspace(-3.0, 3.5, 9)]
    assert _check_ramp(xs, lip, sigma, a) >= 14


@given(
    x=st.floats(-4.0, 4.0),
    lip=st.floats(0.02, 200.0),
    sigma=st.floats(0.05, 3.0),
)
@settings(max_examples=40)
def test_radii_never_exceed_the_ramp_distance_hypothesis(x, lip, sigma):
    _check_ramp([x], lip, sigma)


@pytest.mark.parametrize("sigma", [0.12, 0.5, 2.0])
def test_radii_on_the_step_classifier(sigma):
    """Base f = 1{x > a} (hard votes, not Lipschitz): f̃ = Φ((x − a)/σ). Cohen's radius is exact; the
    Lipschitz-aware radii with L = ∞ coincide with it, and with any L they never exceed it for the ramp of
    slope L (checked above) — for the step only L = ∞ applies."""
    a = -0.2

    def f_tilde(t: float) -> float:
        return float(stats.norm.cdf((t - a) / sigma))

    b = boundary(f_tilde, sigma, math.inf, a)
    assert b == pytest.approx(a, abs=1e-12)
    for x in np.linspace(-2.5, 2.5, 11):
        p = max(f_tilde(x), 1 - f_tilde(x))
        if not (0.5 + 1e-9 < p < 1 - 1e-6):
            continue
        dist = abs(x - b)
        for name, r in _all_radii(p, math.inf, sigma).items():
            assert r <= dist * (1 + REL), name
            if name != "margin":
                assert r == pytest.approx(dist, rel=REL), name  # Cohen is exact on the step


# ------------------------------------------------------------------ the smoothed ramp (from chapter 5)
def _smoothed_ramp(x: float, lip: float, sigma: float, r: float) -> float:
    """E[clip(L(x+δ), 0, r)] by quadrature (independent of the module's closed forms)."""
    f = lambda d: min(max(lip * (x + d), 0.0), r) * stats.norm.pdf(d, scale=sigma)  # noqa: E731
    return integrate.quad(f, -12 * sigma, 12 * sigma, points=[-x, r / lip - x], limit=200)[0]


@pytest.mark.parametrize("lip, sigma, r", [(2.0, 0.5, 1.0), (0.3, 0.25, 1.0), (10.0, 1.0, 2.0)])
def test_smoothed_ramp_slope_is_the_derivative_of_the_smoothed_ramp(lip, sigma, r):
    h = 1e-5
    for x in (-0.3 * sigma, r / (2 * lip), r / lip + 0.2 * sigma):
        fd = (_smoothed_ramp(x + h, lip, sigma, r) - _smoothed_ramp(x - h, lip, sigma, r)) / (2 * h)
        assert float(smoothed_ramp_slope(x, lip, sigma, r)) == pytest.approx(fd, rel=1e-5, abs=1e-9)
    # its maximum (the ramp's middle) is the library's tight constant, never exceeded on a grid
    tight = smoothed_lipschitz(lip, sigma, r)
    assert float(smoothed_ramp_slope(r / (2 * lip), lip, sigma, r)) == pytest.approx(tight, rel=1e-12)
    xs = np.linspace(-5 * sigma, r / lip + 5 * sigma, 4001)
    assert smoothed_ramp_slope(xs, lip, sigma, r).max() <= tight + 1e-12
    with pytest.raises(ValueError, match="lipschitz"):
        smoothed_ramp_slope(0.0, -1.0, 0.5)


def test_code_formula_is_the_range_2r_constant_and_an_upper_bound():
    sigma = 0.5
    for lip in (0.5, 2.0, 30.0):
        code = smoothed_lipschitz_code(lip, sigma, 1.0)
        assert code == pytest.approx(lip * math.erf(1.0 / (math.sqrt(2) * lip * sigma)), rel=1e-12)
        assert code >= smoothed_lipschitz(lip, sigma, 1.0)
    with pytest.raises(ValueError, match="value_range"):
        smoothed_lipschitz_code(1.0, sigma, 0.0)
