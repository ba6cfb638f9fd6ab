r"""Lipschitz constants of smoothed scores and Lipschitz-aware certified radii (docs/chapters/ch05.md §6.1,
docs/chapters/ch06.md §7.2(a)).

Setting: a base score :math:`f_c:\mathbb R^d\to[0,1]` (a vote, or :math:`s_c(z(x))` with
:math:`s = \mathrm{softmax}(z/T)` of the logits :math:`z`), its Gaussian smoothing (Weierstrass transform)
:math:`\tilde f_c(x) = \mathbb E_{\delta\sim\mathcal N(0,\sigma^2 I)} f_c(x+\delta)`, and bounds
:math:`\underline p_A \le \tilde f_A(x)`, :math:`\overline p_B \ge \max_{c\ne A}\tilde f_c(x)` that hold
(jointly) with probability ≥ 1 − α (:mod:`stablecore.smoothing.bounds`,
:mod:`stablecore.smoothing.intervals`).
The smoothed scores sum to at most 1 (votes and simplex maps), so :math:`\tilde f_A > 1/2` makes ``A`` the
smoothed argmax. ``lipschitz`` is always the ℓ₂ Lipschitz constant of each base score coordinate
:math:`f_c` (``math.inf`` for hard votes: the radii then reduce to Cohen et al.'s).

* :func:`smoothed_lipschitz`: :math:`L(\tilde f) = L\,\mathrm{erf}(r/(2\sqrt2 L\sigma))`, tight for outputs
  in an interval of width ``r`` (the Bridging code's :math:`L\,\mathrm{erf}(r/(\sqrt2 L\sigma))` is this with
  width 2r, i.e. outputs in [−r, r]).
* :func:`softmax_score_lipschitz`, :func:`sparsemax_score_lipschitz`, :func:`score_lipschitz`,
  :func:`smoothed_score_lipschitz`: from a logits :class:`~stablecore.types.Bound` to the constant of
  :math:`s_c\circ z` and of its smoothing (``exact``/``upper_bound`` logits bounds only).
* Radii: :func:`cohen_radius` :math:`\sigma\Phi^{-1}(\underline p_A)`, :func:`cohen_multi_radius`
  :math:`\frac\sigma2(\Phi^{-1}(\underline p_A)-\Phi^{-1}(\overline p_B))` (Cohen et al. 2019; Salman et
  al. 2019), :func:`margin_radius` :math:`(\underline p_A-\overline p_B)/(2L(\tilde f))`,
  :func:`monolip_radius`, :func:`multilip_radius` (Delattre et al. AISTATS 2025), :func:`ode_radius`,
  :func:`multi_ode_radius` (comparison ODE, docs/chapters/ch06.md §7.2(a)), with :func:`ramp_start` and
  :func:`phi_lipschitz` (:math:`L_\Phi`).

**Abstain convention.** Every radius function returns :class:`Radius` ``(radius, abstain)``: ``radius`` is
0.0 where ``abstain`` is True, else > 0 (never NaN, never negative). One-probability ("mono") radii abstain
iff :math:`\underline p_A \le 1/2`; :func:`cohen_multi_radius`, :func:`margin_radius` and
:func:`multi_ode_radius` abstain iff :math:`\underline p_A \le \overline p_B` (valid below 1/2, Cohen et
al.'s Theorem 1); :func:`multilip_radius` abstains iff :math:`\underline p_A \le 1/2` (its soundness proof
below needs it). :math:`\underline p_A = 1` (or :math:`\overline p_B = 0` in the multi-class forms of Cohen)
gives ``inf``. Inputs broadcast; scalars in, Python scalars out.

**Why the Lipschitz-aware radii are sound** (docs/chapters/ch06.md §7.2(a)). For an L-Lipschitz
:math:`f:\mathbb R^d\to[0,1]` the gradient of :math:`\Phi^{-1}\circ\tilde f` at a point where :math:`\tilde f
= q` is at most :math:`L_\Phi(q)`, attained by the ramp of slope L (Delattre et al. 2025); :math:`L_\Phi(q) =
L_\Phi(1-q)` and it increases on (1/2, 1). Along a segment, :math:`g = \Phi^{-1}(\tilde f_A)` obeys
:math:`|\dot g| \le L_\Phi(\Phi(g))`, so :math:`\tilde f_A` cannot reach 1/2 before
:math:`R_{ode} = T(\Phi^{-1}(\underline p_A))`, :math:`T(g) = \int_0^g du/L_\Phi(\Phi(u))` (exact on the
ramp). Since :math:`L_\Phi` grows away from 1/2, :math:`R_{monoLip} = g/L_\Phi(\Phi(g)) \le T(g)`. With a
runner-up, the first point where some class ties with ``A`` at value v needs time
:math:`\ge T(g_A) - T(\Phi^{-1}v)` and :math:`\ge T(\Phi^{-1}v) - T(\Phi^{-1}\overline p_B)`, hence
:math:`\ge \frac12[T(g_A) - T(\Phi^{-1}\overline p_B)]` (:func:`multi_ode_radius`); for
:math:`\overline p_B < 1/2 < \underline p_A` this is ≥ R_multiLip term by term (``T`` is odd).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from scipy import integrate, optimize, special

from stablecore.types import Bound, product_bound

__all__ = [
    "Radius",
    "cohen_multi_radius",
    "cohen_radius",
    "margin_radius",
    "monolip_radius",
    "multi_ode_radius",
    "multilip_radius",
    "ode_radius",
    "phi_lipschitz",
    "ramp_start",
    "score_lipschitz",
    "smoothed_lipschitz",
    "smoothed_lipschitz_code",
    "smoothed_ramp_slope",
    "smoothed_score_lipschitz",
    "softmax_score_lipschitz",
    "sparsemax_score_lipschitz",
]

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(32)
_ULP_MARGIN = 1 + 8 * np.finfo(float).eps  # covers the rounding of erf / products in a few operations


class Radius(NamedTuple):
    """A certified radius and its abstain flag (``radius`` is 0.0 exactly where ``abstain`` is True)."""

    radius: Any
    abstain: Any


# ----------------------------------------------------------------------------------------------- checks
def _scalar_out(value: np.ndarray, scalar: bool) -> Any:
    if scalar:
        item = np.asarray(value).item()
        return bool(item) if isinstance(item, (bool, np.bool_)) else float(item)
    return value


def _number_array(value: Any, name: str) -> np.ndarray:
    raw = np.asarray(value)
    if isinstance(value, bool) or raw.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a number or an array of numbers, got {type(value).__name__}")
    arr = raw.astype(float)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not contain NaN")
    return arr


def _prob(value: Any, name: str) -> np.ndarray:
    arr = _number_array(value, name)
    if np.any((arr < 0) | (arr > 1)):
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return arr


def _positive(value: Any, name: str, *, allow_inf: bool = False) -> np.ndarray:
    if isinstance(value, Bound):
        value = value.require_certifiable(name).value
    arr = _number_array(value, name)
    bad = ~(arr > 0) | (np.isinf(arr) & (not allow_inf))
    if np.any(bad):
        what = "> 0 (inf allowed)" if allow_inf else "finite and > 0"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return arr


def check_temperature(temperature: Any) -> float:
    """``temperature`` as a float; ``TypeError`` unless a number, ``ValueError`` unless finite and > 0."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating, np.integer)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    t = float(temperature)
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"temperature must be finite and > 0, got {temperature!r}")
    return t


def _is_scalar(*values: Any) -> bool:
    return all(np.ndim(v) == 0 for v in values)


# ------------------------------------------------------------------------------- smoothed constants
def smoothed_lipschitz(lipschitz: Any, sigma: Any, value_range: Any = 1.0) -> Any:
    r"""Tight Lipschitz constant of the Gaussian smoothing of an L-Lipschitz function with values in an
    interval of width ``value_range`` (docs/chapters/ch05.md §6.1):

    .. math:: L(\tilde f) = L\,\mathrm{erf}\Bigl(\frac{r}{2\sqrt2\,L\sigma}\Bigr)
       \;\xrightarrow[L\to\infty]{}\; \frac{r}{\sigma\sqrt{2\pi}}.

    Proof: the derivative of :math:`\tilde f` along a unit direction u is that of the 1-D function
    :math:`h(t) = \mathbb E f(x+tu+\delta_\perp)` smoothed by :math:`\varphi_\sigma`:
    :math:`\int h'\varphi_\sigma = \int_0^\infty(\int_{\{\varphi_\sigma>\lambda\}}h')\,d\lambda` with each
    level set an interval, on which :math:`\int h' \le \min(r, L\cdot\text{length})`; the ramp of slope L
    centred at x (width r/L) attains it. For outputs in [−r, r] pass ``value_range=2r``: that gives the
    Bridging code's :math:`L\,\mathrm{erf}(r/(\sqrt2 L\sigma))` (Salman et al. 2019 for L = ∞, range 1:
    :math:`1/(\sigma\sqrt{2\pi})` per coordinate, :math:`\sqrt{2/\pi}/\sigma` for a range-2 margin).

    Args:
        lipschitz: L > 0 (``inf`` allowed; a certifiable :class:`~stablecore.types.Bound` is accepted).
        sigma: noise level σ > 0.
        value_range: width r > 0 of the output interval.

    Returns:
        float (or array, broadcast).

    Example:
        >>> round(smoothed_lipschitz(2.0, 0.5), 4), round(smoothed_lipschitz(2.0, 0.5, value_range=2.0), 4)
        (0.7658, 1.3654)
    """
    scalar = _is_scalar(lipschitz, sigma, value_range)
    lip = _positive(lipschitz, "lipschitz", allow_inf=True)
    sig = _positive(sigma, "sigma")
    r = _positive(value_range, "value_range")
    lip, sig, r = np.broadcast_arrays(lip, sig, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        finite = lip * special.erf(r / (2 * _SQRT2 * lip * sig))
    out = np.where(np.isinf(lip), r / (sig * _SQRT_2PI), finite)
    return _scalar_out(out, scalar)


def smoothed_ramp_slope(x: Any, lipschitz: Any, sigma: Any, value_range: Any = 1.0) -> Any:
    r"""Slope of the Gaussian smoothing of the 1-D ramp :math:`h(t)=\min(\max(Lt,0), r)` at ``x``:

    .. math:: (\tilde h)'(x) = L\,[\Phi((r/L - x)/\sigma) - \Phi(-x/\sigma)].

    Its maximum over ``x`` (at :math:`x = r/(2L)`) is :func:`smoothed_lipschitz`
    :math:`L\,\mathrm{erf}(r/(2\sqrt2 L\sigma))`: the ramp is the worst case that makes that constant
    tight (docs/chapters/ch05.md §6.1). ``lipschitz``, ``sigma``, ``value_range``: finite and > 0. Returns an
    array."""
    lip = _positive(lipschitz, "lipschitz")
    sig = _positive(sigma, "sigma")
    r = _positive(value_range, "value_range")
    x = np.asarray(x, dtype=float)
    return lip * (special.ndtr((r / lip - x) / sig) - special.ndtr(-x / sig))


def smoothed_lipschitz_code(lipschitz: Any, sigma: Any, value_range: Any = 1.0) -> Any:
    r""":math:`L\,\mathrm{erf}(r/(\sqrt2\,L\sigma))`, the Bridging code's formula
    (``compute_lipschitz_constant_smoothed_classifier``): :func:`smoothed_lipschitz` of a function with
    range 2r (outputs in [−r, r]), hence an upper bound (valid, looser) for outputs in [0, r]."""
    return smoothed_lipschitz(lipschitz, sigma, 2 * np.asarray(_positive(value_range, "value_range")))


def softmax_score_lipschitz(temperature: float) -> float:
    r"""ℓ₂ Lipschitz constant in the logits z of one coordinate :math:`s_c(z) = \mathrm{softmax}(z/T)_c`:

    .. math:: \sup_z\|\nabla_z s_c\|_2 = \frac{1}{2\sqrt2\,T}.

    Derivation: :math:`\partial s_c/\partial z_j = s_c(\delta_{cj} - s_j)/T`, so
    :math:`\|\nabla s_c\|^2 = \frac{s_c^2}{T^2}[(1-s_c)^2 + \sum_{j\ne c}s_j^2]
    \le \frac{2s_c^2(1-s_c)^2}{T^2} \le \frac{1}{8T^2}`, using
    :math:`\sum_{j\ne c}s_j^2 \le (\sum_{j\ne c}s_j)^2 = (1-s_c)^2` and then :math:`s_c(1-s_c) \le 1/4`.
    It is attained for K = 2 at :math:`z_1 = z_2` and approached for K > 2 (one rival logit equal to
    :math:`z_c`, the others → −∞), so it is the exact supremum for every K ≥ 2; the simpler
    :math:`1/(2T)` is valid but loose by √2.

    Example:
        >>> round(softmax_score_lipschitz(1.0), 6)
        0.353553
    """
    return 1.0 / (2.0 * _SQRT2 * check_temperature(temperature))


def sparsemax_score_lipschitz(temperature: float, num_classes: int) -> float:
    r"""ℓ₂ Lipschitz constant in z of one coordinate of :math:`\mathrm{sparsemax}(z/T)` (Martins &
    Astudillo 2016): :math:`\sqrt{1-1/K}/T`.

    Sparsemax is continuous and piecewise linear; on a piece with support S its Jacobian is
    :math:`(I_S - 1_S1_S^\top/|S|)/T`, whose row c ∈ S has squared norm :math:`(|S|-1)/|S|`, largest for
    :math:`|S| = K` (all logits equal), so the sup is :math:`\sqrt{(K-1)/K}/T`.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be an int >= 1, got {num_classes!r}")
    return math.sqrt(1.0 - 1.0 / int(num_classes)) / check_temperature(temperature)


def _map_constant(map: str, temperature: float, num_classes: int | None) -> float:
    if map == "softmax":
        return softmax_score_lipschitz(temperature)
    if map == "sparsemax":
        if num_classes is None:
            raise ValueError("num_classes is required for map='sparsemax'")
        return sparsemax_score_lipschitz(temperature, num_classes)
    raise ValueError(f"map must be 'softmax' or 'sparsemax' (hard votes are not Lipschitz), got {map!r}")


def score_lipschitz(
    logits_bound: Bound, temperature: float, *, map: str = "softmax", num_classes: int | None = None
) -> Bound:
    r"""Lipschitz bound of the base score :math:`x\mapsto s_c(z(x))`: :math:`L(s_c)\cdot L(z)` with
    :math:`L(s_c)` from :func:`softmax_score_lipschitz` (or :func:`sparsemax_score_lipschitz`) and
    :math:`L(z)` the logits' bound (e.g. :func:`stablecore.spectral.lipschitz_bound`).

    Args:
        logits_bound: a :class:`~stablecore.types.Bound` of kind ``exact`` or ``upper_bound``.
        temperature: T > 0.
        map: ``"softmax"`` (default) or ``"sparsemax"`` (needs ``num_classes``).

    Returns:
        An ``upper_bound`` :class:`~stablecore.types.Bound` (rounded up).

    Raises:
        TypeError: ``logits_bound`` is not a Bound.
        ValueError: its kind is ``estimate`` or ``lower_bound`` (no certificate from those).
    """
    if not isinstance(logits_bound, Bound):
        raise TypeError(f"logits_bound must be a stablecore.types.Bound, got {type(logits_bound).__name__}")
    logits_bound.require_certifiable("logits_bound")
    const = math.nextafter(_map_constant(map, temperature, num_classes), math.inf)
    factor = Bound(const, "upper_bound", f"{map}_score(T={float(temperature):g})")
    return product_bound([factor, logits_bound], method=f"{map}_score*{logits_bound.method}")


def smoothed_score_lipschitz(
    logits_bound: Bound,
    *,
    temperature: float,
    sigma: float,
    map: str = "softmax",
    num_classes: int | None = None,
) -> Bound:
    r"""``upper_bound`` on the Lipschitz constant of the smoothed score
    :math:`\tilde f_c = \mathbb E\,s_c(z(x+\delta))`: :func:`smoothed_lipschitz` of
    :func:`score_lipschitz` with range 1 (it is increasing in L, so an upper bound of L gives one of
    :math:`L(\tilde f)`), inflated by a few ulps for the rounding of erf."""
    base = score_lipschitz(logits_bound, temperature, map=map, num_classes=num_classes)
    value = float(smoothed_lipschitz(base.value, sigma)) * _ULP_MARGIN
    return Bound(value, "upper_bound", f"smoothed({base.method}, sigma={float(sigma):g})", n_iter=base.n_iter)


# -------------------------------------------------------------------------------------- Cohen radii
def _ppf(p: np.ndarray) -> np.ndarray:
    return special.ndtri(p)


def _finish(value: np.ndarray, abstain: np.ndarray, scalar: bool) -> Radius:
    radius = np.where(abstain, 0.0, value)
    return Radius(_scalar_out(radius, scalar), _scalar_out(abstain, scalar))


def cohen_radius(p_lower: Any, sigma: Any) -> Radius:
    r"""Cohen et al. (2019)'s radius :math:`\sigma\Phi^{-1}(\underline p_A)`; abstain iff
    :math:`\underline p_A \le 1/2`.

    Example:
        >>> r = cohen_radius(0.9, 0.5); round(r.radius, 4), r.abstain
        (0.6408, False)
    """
    scalar = _is_scalar(p_lower, sigma)
    p = _prob(p_lower, "p_lower")
    sig = _positive(sigma, "sigma")
    p, sig = np.broadcast_arrays(p, sig)
    abstain = p <= 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        value = sig * _ppf(p)
    return _finish(value, abstain, scalar)


def cohen_multi_radius(p_lower: Any, p_upper: Any, sigma: Any) -> Radius:
    r"""Multi-class radius :math:`\frac\sigma2(\Phi^{-1}(\underline p_A) - \Phi^{-1}(\overline p_B))`
    (Cohen et al. 2019, Theorem 1; Salman et al. 2019: :math:`\Phi^{-1}\circ\tilde f_c` is
    1/σ-Lipschitz); abstain iff :math:`\underline p_A \le \overline p_B`."""
    scalar = _is_scalar(p_lower, p_upper, sigma)
    pa, pb = _prob(p_lower, "p_lower"), _prob(p_upper, "p_upper")
    sig = _positive(sigma, "sigma")
    pa, pb, sig = np.broadcast_arrays(pa, pb, sig)
    abstain = pa <= pb
    with np.errstate(invalid="ignore", divide="ignore"):
        value = 0.5 * sig * (_ppf(pa) - _ppf(pb))
    return _finish(value, abstain, scalar)


def margin_radius(p_lower: Any, p_upper: Any, lipschitz: Any, sigma: Any) -> Radius:
    r"""Lipschitz-margin radius of the smoothed scores (Tsuzuku et al. 2018 style):

    .. math:: R = \frac{\underline p_A - \overline p_B}{2\,L(\tilde f_c)},\qquad
       L(\tilde f_c) = L\,\mathrm{erf}\Bigl(\frac{1}{2\sqrt2 L\sigma}\Bigr)
       \;(\text{:func:`smoothed_lipschitz`, range 1}).

    Each margin :math:`\tilde f_A - \tilde f_c` is :math:`2L(\tilde f_c)`-Lipschitz: it is the smoothing of
    a 2L-Lipschitz function with range 2, whose tight constant is :math:`2L\,\mathrm{erf}(1/(2\sqrt2
    L\sigma))`; equivalently margin/(√2·Λ) with Λ = √2·L(f̃_c) the ℓ₂ constant of the pair
    :math:`(\tilde f_A, \tilde f_c)`. With ``lipschitz=inf`` this is LVM-RS's
    :math:`\sigma\sqrt{\pi/2}(\underline p_A - \overline p_B)` (Delattre et al. ICLR 2024), which never
    exceeds :func:`cohen_multi_radius` (:math:`(\Phi^{-1})' \ge \sqrt{2\pi}`). For the two-class/mono form
    pass ``p_upper = 1 - p_lower``: :math:`(\underline p_A - 1/2)/L(\tilde f_c)`. Abstain iff
    :math:`\underline p_A \le \overline p_B`. The Bridging code uses margin/(√2·L erf(1/(√2Lσ))), which is
    below 2L(f̃) only for large L (it is not a bound of the margin's constant as L → 0).
    """
    scalar = _is_scalar(p_lower, p_upper, lipschitz, sigma)
    pa, pb = _prob(p_lower, "p_lower"), _prob(p_upper, "p_upper")
    lip_f = np.asarray(smoothed_lipschitz(lipschitz, sigma), dtype=float) * _ULP_MARGIN
    pa, pb, lip_f = np.broadcast_arrays(pa, pb, lip_f)
    abstain = pa <= pb
    return _finish((pa - pb) / (2.0 * lip_f), abstain, scalar)


# ------------------------------------------------------------------------- worst-case ramp, L_Φ, radii
def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def _pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT_2PI


def _int_cdf(u: float) -> float:
    """Antiderivative of Φ: :math:`\\int_{-\\infty}^u \\Phi = u\\Phi(u) + \\varphi(u)`."""
    return u * _cdf(u) + _pdf(u)


def _mean_cdf(a: float, b: float) -> float:
    """Average of Φ over [a, b] (a < b): closed form for wide intervals, 32-point Gauss–Legendre for
    narrow ones (where the closed form would cancel)."""
    w = b - a
    if w > 0.5:
        return (_int_cdf(b) - _int_cdf(a)) / w
    nodes = 0.5 * (a + b) + 0.5 * w * _GL_X
    return 0.5 * float(special.ndtr(nodes) @ _GL_W)


def _cdf_diff(a: float, b: float) -> float:
    """Φ(b) − Φ(a) for a < b without cancellation against 1."""
    return _cdf(-a) - _cdf(-b) if a > 0 else _cdf(b) - _cdf(a)


def _ramp_midpoint(g: float, lip: float, sig: float) -> float:
    r"""Midpoint m ≤ 0 of the worst-case ramp (slope L, 0 → 1 over [m − 1/(2L), m + 1/(2L)]) whose
    smoothing at 0 equals :math:`\Phi(g)`, g ≥ 0: solves :math:`\mathrm{mean}_{[m\mp 1/(2L)]/\sigma}\Phi =
    \Phi(-g)` (brentq). The true root lies in :math:`[-\sigma g - 1/(2L), -\sigma g + 1/(2L)]` because the
    ramp lies between the steps at its two ends; the bracket adds σ either side (docs/chapters/ch06.md
    §7.2(a)'s note: the start :math:`s_0 = m - 1/(2L)` is about :math:`\sigma\Phi^{-1}(1-p) - 1/(2L)`, far
    left for small L)."""
    q = _cdf(-g)
    h = 0.5 / lip
    if g == 0.0:
        return 0.0

    def f(m: float) -> float:
        return _mean_cdf((m - h) / sig, (m + h) / sig) - q

    c = -sig * g
    lo, hi = c - h - sig, min(c + h + sig, 0.0)
    return float(
        optimize.brentq(f, lo, hi, xtol=1e-15 * max(sig, h), rtol=4 * np.finfo(float).eps, maxiter=500)
    )


def _lphi_g(g: float, lip: float, sig: float) -> float:
    """:math:`L_\\Phi(\\Phi(g))` for g ≥ 0 (symmetric in g)."""
    if math.isinf(lip):
        return 1.0 / sig
    m = _ramp_midpoint(g, lip, sig)
    h = 0.5 / lip
    slope = lip * _cdf_diff((m - h) / sig, (m + h) / sig)
    return slope / _pdf(g)


def _ode_time(g: float, lip: float, sig: float) -> float:
    """:math:`T(g) = \\int_0^g du / L_\\Phi(\\Phi(u))` (odd in g; ``inf`` for g = ±inf)."""
    if g == 0.0:
        return 0.0
    if math.isinf(g):
        return math.copysign(math.inf, g)
    if math.isinf(lip):
        return sig * g
    val, _ = integrate.quad(
        lambda u: 1.0 / _lphi_g(u, lip, sig), 0.0, abs(g), epsabs=0.0, epsrel=1e-12, limit=200
    )
    return math.copysign(val, g)


def _lip_sigma(lipschitz: Any, sigma: Any) -> tuple[np.ndarray, np.ndarray]:
    return _positive(lipschitz, "lipschitz", allow_inf=True), _positive(sigma, "sigma")


def ramp_start(p: Any, lipschitz: Any, sigma: Any) -> Any:
    r"""Start :math:`s_0` of the worst-case 1-D ramp :math:`t\mapsto\mathrm{clip}(L(t-s_0), 0, 1)` whose
    Gaussian smoothing at 0 equals ``p`` (docs/chapters/ch06.md §7.2(a); Delattre et al. AISTATS 2025):

    .. math:: p = 1 - L\int_{s_0}^{s_0+1/L}\Phi(s/\sigma)\,ds.

    Solved by brentq on the ramp's midpoint in a bracket that provably contains the root. The smoothed
    ramp's decision boundary (value 1/2) is at distance :math:`|s_0 + 1/(2L)|` (= :func:`ode_radius`).
    ``p`` in (0, 1); L finite.
    """
    scalar = _is_scalar(p, lipschitz, sigma)
    pp = _prob(p, "p")
    if np.any((pp <= 0) | (pp >= 1)):
        raise ValueError(f"p must lie in (0, 1), got {p!r}")
    lip, sig = _lip_sigma(lipschitz, sigma)
    if np.any(np.isinf(lip)):
        raise ValueError("lipschitz must be finite for ramp_start")
    pp, lip, sig = np.broadcast_arrays(pp, lip, sig)
    out = np.empty(pp.shape)
    for idx in np.ndindex(pp.shape):
        pi = float(pp[idx])
        g = float(_ppf(np.float64(pi)))
        m = _ramp_midpoint(abs(g), float(lip[idx]), float(sig[idx]))
        out[idx] = math.copysign(1.0, g) * m - 0.5 / float(lip[idx]) if g != 0 else -0.5 / float(lip[idx])
    return _scalar_out(out, scalar)


def phi_lipschitz(p: Any, lipschitz: Any, sigma: Any) -> Any:
    r"""Local Lipschitz constant of :math:`\Phi^{-1}\circ\tilde f` at a point where :math:`\tilde f = p`,
    for an L-Lipschitz :math:`f` with values in [0, 1] (Delattre et al. AISTATS 2025):

    .. math:: L_\Phi(p) = \frac{L\,[\Phi((s_0+1/L)/\sigma) - \Phi(s_0/\sigma)]}{\varphi(\Phi^{-1}(p))},

    the worst-case ramp's slope (:func:`ramp_start`) over :math:`\varphi(\Phi^{-1}(p))`. Symmetric
    (:math:`L_\Phi(p) = L_\Phi(1-p)`), increasing on (1/2, 1), ≤ 1/σ (= 1/σ for ``lipschitz=inf``).
    ``p`` in (0, 1).

    Example:
        >>> round(phi_lipschitz(0.9, 0.5, 0.5), 3)
        1.427
    """
    scalar = _is_scalar(p, lipschitz, sigma)
    pp = _prob(p, "p")
    if np.any((pp <= 0) | (pp >= 1)):
        raise ValueError(f"p must lie in (0, 1), got {p!r}")
    lip, sig = _lip_sigma(lipschitz, sigma)
    pp, lip, sig = np.broadcast_arrays(pp, lip, sig)
    out = np.empty(pp.shape)
    for idx in np.ndindex(pp.shape):
        g = abs(float(_ppf(np.float64(pp[idx]))))
        out[idx] = _lphi_g(g, float(lip[idx]), float(sig[idx]))
    return _scalar_out(out, scalar)


def _elementwise(fn: Any, *arrays: np.ndarray) -> np.ndarray:
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape)
    for idx in np.ndindex(out.shape):
        out[idx] = fn(*(float(a[idx]) for a in arrays))
    return out


def _monolip_value(p: float, lip: float, sig: float) -> float:
    g = float(_ppf(np.float64(p)))
    if math.isinf(g):
        return math.copysign(math.inf, g)
    return math.copysign(abs(g) / _lphi_g(abs(g), lip, sig), g)


def monolip_radius(p_lower: Any, lipschitz: Any, sigma: Any) -> Radius:
    r""":math:`R_{monoLip} = \Phi^{-1}(\underline p_A)/L_\Phi(\underline p_A)` (Delattre et al. AISTATS
    2025, docs/chapters/ch06.md §7.2(a), the local constant at x): sound because :math:`L_\Phi` increases on
    (1/2, 1), ≤ :func:`ode_radius`, ≥ :func:`cohen_radius`. Abstain iff :math:`\underline p_A \le 1/2`.

    Example:
        >>> round(monolip_radius(0.9, 0.5, 0.5).radius, 3)
        0.898
    """
    scalar = _is_scalar(p_lower, lipschitz, sigma)
    pa = _prob(p_lower, "p_lower")
    lip, sig = _lip_sigma(lipschitz, sigma)
    abstain = np.broadcast_to(pa <= 0.5, np.broadcast_shapes(pa.shape, lip.shape, sig.shape))
    value = _elementwise(lambda p, ll, s: _monolip_value(p, ll, s) if p > 0.5 else 0.0, pa, lip, sig)
    return _finish(value, abstain, scalar)


def multilip_radius(p_lower: Any, p_upper: Any, lipschitz: Any, sigma: Any) -> Radius:
    r""":math:`R_{multiLip} = \frac12\bigl[\frac{\Phi^{-1}(\underline p_A)}{L_\Phi(\underline p_A)} -
    \frac{\Phi^{-1}(\overline p_B)}{L_\Phi(\overline p_B)}\bigr]` (Delattre et al. AISTATS 2025).

    Abstain iff :math:`\underline p_A \le 1/2`. :math:`\overline p_B` is first replaced by
    :math:`\min(\overline p_B, 1-\underline p_A)` (valid: the smoothed scores sum to ≤ 1), so
    :math:`\overline p_B < 1/2` and the formula is ≤ :func:`multi_ode_radius` term by term (module
    docstring). With :math:`\overline p_B = 1-\underline p_A` (two classes) it equals
    :func:`monolip_radius`.
    """
    scalar = _is_scalar(p_lower, p_upper, lipschitz, sigma)
    pa, pb = _prob(p_lower, "p_lower"), _prob(p_upper, "p_upper")
    lip, sig = _lip_sigma(lipschitz, sigma)
    pa, pb, lip, sig = np.broadcast_arrays(pa, pb, lip, sig)
    abstain = pa <= 0.5
    pb = np.minimum(pb, 1.0 - pa)

    def one(a: float, b: float, ll: float, s: float) -> float:
        if a <= 0.5:
            return 0.0
        return 0.5 * (_monolip_value(a, ll, s) - _monolip_value(b, ll, s))

    return _finish(_elementwise(one, pa, pb, lip, sig), abstain, scalar)


def ode_radius(p_lower: Any, lipschitz: Any, sigma: Any) -> Radius:
    r"""Comparison-ODE radius (docs/chapters/ch06.md §7.2(a)):

    .. math:: R_{ode} = \int_0^{\Phi^{-1}(\underline p_A)} \frac{dg}{L_\Phi(\Phi(g))}

    (``scipy.integrate.quad``, relative tolerance 1e-12). Sound, ≥ :func:`monolip_radius`, and exact on
    the worst-case ramp: it equals the distance :math:`|s_0 + 1/(2L)|` from x to the smoothed ramp's
    decision boundary. ``lipschitz=inf`` gives Cohen's radius. Abstain iff :math:`\underline p_A \le 1/2`.

    Example:
        >>> round(ode_radius(0.9, 0.5, 0.5).radius, 3)
        0.999
    """
    scalar = _is_scalar(p_lower, lipschitz, sigma)
    pa = _prob(p_lower, "p_lower")
    lip, sig = _lip_sigma(lipschitz, sigma)
    abstain = np.broadcast_to(pa <= 0.5, np.broadcast_shapes(pa.shape, lip.shape, sig.shape))

    def one(p: float, ll: float, s: float) -> float:
        return _ode_time(float(_ppf(np.float64(p))), ll, s) if p > 0.5 else 0.0

    return _finish(_elementwise(one, pa, lip, sig), abstain, scalar)


def multi_ode_radius(p_lower: Any, p_upper: Any, lipschitz: Any, sigma: Any) -> Radius:
    r"""Multi-class comparison-ODE radius :math:`\frac12[T(\Phi^{-1}(\underline p_A)) -
    T(\Phi^{-1}(\overline p_B))]`, :math:`T(g) = \int_0^g du/L_\Phi(\Phi(u))` (odd): a class that ties with
    ``A`` at value v must have travelled in Φ⁻¹-space from :math:`\le\Phi^{-1}(\overline p_B)` up to
    :math:`\Phi^{-1}(v)` while ``A`` came down from :math:`\ge\Phi^{-1}(\underline p_A)`. Sound for any
    :math:`\underline p_A > \overline p_B` (abstain otherwise); ≥ :func:`multilip_radius`; equals
    :func:`ode_radius` for :math:`\overline p_B = 1 - \underline p_A`; ``lipschitz=inf`` gives
    :func:`cohen_multi_radius`. (Our extension of docs/chapters/ch06.md §7.2(a)'s R_ode, not in the paper.)"""
    scalar = _is_scalar(p_lower, p_upper, lipschitz, sigma)
    pa, pb = _prob(p_lower, "p_lower"), _prob(p_upper, "p_upper")
    lip, sig = _lip_sigma(lipschitz, sigma)
    pa, pb, lip, sig = np.broadcast_arrays(pa, pb, lip, sig)
    abstain = pa <= pb

    def one(a: float, b: float, ll: float, s: float) -> float:
        if a <= b:
            return 0.0
        ga, gb = float(_ppf(np.float64(a))), float(_ppf(np.float64(b)))
        return 0.5 * (_ode_time(ga, ll, s) - _ode_time(gb, ll, s))

    return _finish(_elementwise(one, pa, pb, lip, sig), abstain, scalar)
