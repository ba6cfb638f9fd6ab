r"""Rounding: unit roundoff (TF32 aware), outward-rounded helpers, power-of-two scaling, margins.

The one place where the package decides how a floating-point computation stays a *bound*
(ARCHITECTURE.md, "Honest kinds"). With unit roundoff :math:`u` a dot product of length :math:`n`
satisfies :math:`|\mathrm{fl}(x^\top y) - x^\top y| \le \gamma_n |x|^\top|y|`,
:math:`\gamma_n = nu/(1-nu)` (Higham 2002, §3.1); the margins below are built on it.

* :func:`unit_roundoff` -- ``u`` of matrix products in a dtype *on a device*: float32 products on CUDA
  round to 10 (TF32) or 7 (bfloat16) mantissa bits when torch allows it.
* :func:`gamma`, :func:`gram_rounding_margin`, :func:`power_lower_margin` -- relative margins of Gram
  bounds and power-iteration lower bounds; :data:`SAFETY_FLOOR` is added to every float64 bound.
* :func:`round_up`, :func:`round_down`, :func:`exp_up`, :func:`ldexp_round`, :func:`cast_up` --
  directed rounding of Python floats and tensors (an upper bound stays one after the operation).
* :func:`scale_pow2`, :func:`pow2_normalize`, :func:`unscale_up`, :func:`unscale_bound` -- exact
  power-of-two prescaling, so that no Gram step under- or overflows whatever the magnitude, and the
  way back, rounded outwards in the subnormal range.

Reference:
    N. J. Higham. *Accuracy and Stability of Numerical Algorithms.* SIAM, 2nd ed., 2002.
"""

from __future__ import annotations

import math
import sys

import torch

from stablecore.types import Bound

__all__ = [
    "SAFETY_FLOOR",
    "U64",
    "cast_up",
    "exp_up",
    "fft_rounding_margin",
    "gamma",
    "gram_rounding_margin",
    "ldexp_round",
    "pow2_normalize",
    "power_lower_margin",
    "round_down",
    "round_up",
    "scale_pow2",
    "unit_roundoff",
    "unscale_bound",
    "unscale_up",
    "upper_history",
]

SAFETY_FLOOR = 2.0**-40
"""Relative margin added to every float64 upper bound (and removed from every lower bound)."""

U64 = 2.0**-53
"""Unit roundoff of float64."""

_LN2 = math.log(2.0)
_LOG_MAX = math.log(sys.float_info.max)
_LOG_TINY = math.log(sys.float_info.min) + 1.0  # exp of anything above is a normal float


def fft_rounding_margin(u: float, n_points: int, q: int) -> float:
    r"""Relative error :math:`8(\log_2 N + 1)\,u\sqrt{Nq}` of DFT blocks from an ``N``-point FFT, measured
    against :math:`\max_\omega\sigma_1 \ge \|K\|_F/\sqrt q` (normwise FFT error, Higham 2002 §24.1)."""
    return 8 * (math.log2(max(n_points, 2)) + 1) * u * math.sqrt(n_points * max(q, 1))


def gamma(n: int, u: float) -> float:
    r""":math:`\gamma_n = nu/(1-nu)`, the relative error of an ``n``-term sum (``inf`` if ``nu >= 1``)."""
    return n * u / (1 - n * u) if n * u < 1 else math.inf


def unit_roundoff(dtype: torch.dtype, device: torch.device | str | None = None) -> float:
    """Unit roundoff ``u`` of matrix products in ``dtype`` on ``device``.

    ``finfo(dtype).eps / 2``, except float32 products on CUDA when TF32 (``"high"``) or bfloat16
    (``"medium"``) matmul precision is allowed, which round to 10 or 7 mantissa bits.
    """
    real = torch.empty((), dtype=dtype).real.dtype if dtype.is_complex else dtype
    u = torch.finfo(real).eps / 2
    if real == torch.float32 and device is not None and torch.device(device).type == "cuda":
        precision = torch.get_float32_matmul_precision()
        if precision == "medium":
            u = 2.0**-8
        elif precision == "high" or torch.backends.cuda.matmul.allow_tf32:
            u = 2.0**-11
    return u


def gram_rounding_margin(u: float, inner: int, d: int, n_iter: int, max_abs_log: float = 0.0) -> float:
    r"""Relative inflation :math:`\delta` that keeps a Gram bound computed with roundoff ``u`` a bound.

    .. math::

        1 + \delta = \frac{(1 + 2^{-40})\,(1 + 2(T+3)\,u\,(1 + \max_t|\log r_t|))}
                          {1 - 4(\gamma_{n+2}\, d + \sqrt{d}\,u)}

    with :math:`n` = ``inner`` (the longest dot product), :math:`d` the Gram size and :math:`T` the number
    of iterations. The factor 4 covers the non-Hermitian rounding of the iterates (``G @ G`` instead of
    ``Gᴴ G`` after the first step) and the Frobenius norms. Returns ``inf`` when the denominator is
    not positive (the worst-case analysis is vacuous: compute in float64).
    """
    n = max(int(inner), 1) + 2
    gamma = n * u / (1 - n * u) if n * u < 1 else math.inf
    denom = 1 - 4 * (gamma * max(d, 1) + math.sqrt(max(d, 1)) * u)
    if not denom > 0:
        return math.inf
    log_term = 2 * (n_iter + 3) * u * (1 + max_abs_log)
    return (1 + SAFETY_FLOOR) * (1 + log_term) / denom - 1


def round_up(value: float, rel: float = 0.0) -> float:
    """``value * (1 + rel)`` rounded up by two ulps (a float64 upper bound stays one)."""
    if not math.isfinite(value) or value == 0.0:
        return value
    out = value * (1 + rel)
    return math.nextafter(math.nextafter(out, math.inf), math.inf)


def round_down(value: float, rel: float = 0.0) -> float:
    """``value * (1 - rel)`` rounded down by two ulps, clipped at 0 (a lower bound stays one)."""
    if not math.isfinite(value) or value <= 0.0:
        return max(value, 0.0)
    out = value * (1 - rel)
    return max(math.nextafter(math.nextafter(out, -math.inf), -math.inf), 0.0)


def exp_up(log_value: float, rel: float) -> float:
    r"""``exp(log_value)`` inflated by ``rel`` and rounded up (``inf`` past the float64 range).

    Below the normal range the exponential is taken of ``log_value + k·log 2`` (normal) and scaled
    by :math:`2^{-k}` with :func:`ldexp_round`, so a subnormal result is still rounded up; the
    rounding of ``log_value + k·log 2`` (:math:`k \le 1100`) changes the value by less than
    :math:`2^{-42}` relative, added to ``rel``.
    """
    if log_value == -math.inf:
        return 0.0
    if log_value > _LOG_MAX:
        return math.inf
    if log_value < _LOG_TINY:
        k = math.ceil((_LOG_TINY - log_value) / _LN2)
        return ldexp_round(exp_up(log_value + k * _LN2, rel + 2.0**-42), -k, "up")
    return round_up(math.exp(log_value), rel)


def upper_history(log_bounds: list[float], rel: float) -> list[float]:
    """Per-iteration upper bounds from their logs: :func:`exp_up` with margin ``rel``, as a running
    minimum (every entry is a valid bound, so the sequence is non-increasing also in floating point)."""
    history: list[float] = []
    best = math.inf
    for log_b in log_bounds:
        best = min(best, exp_up(log_b, rel))
        history.append(best)
    return history


def ldexp_round(value: float, e: int, direction: str = "nearest") -> float:
    r"""``value`` times :math:`2^e`, rounded ``"up"``, ``"down"`` or to ``"nearest"``.

    Scaling by a power of two is exact unless the result leaves the normal range: past the largest
    float it is ``inf`` (``"down"`` gives the largest float, still below the true value); in the
    subnormal range it is rounded once and moved one subnormal step in the requested direction.
    """
    if value == 0.0 or not math.isfinite(value) or e == 0:
        return value
    try:
        out = math.ldexp(value, e)
    except OverflowError:
        big = math.copysign(sys.float_info.max, value)
        if direction == "down":
            return big if value > 0 else -math.inf
        if direction == "up":
            return math.inf if value > 0 else big
        return math.copysign(math.inf, value)
    if abs(out) < sys.float_info.min:  # subnormal or zero: rounded to nearest by ldexp
        if direction == "up":
            out = math.nextafter(out, math.inf)
        elif direction == "down":
            out = math.nextafter(out, -math.inf)
    return out


def cast_up(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast a non-negative float64 tensor to ``dtype`` without rounding below it (differentiable).

    The cast rounds to nearest; a result below ``value`` (in particular a subnormal of ``dtype``) is
    moved up by one step of ``dtype``; past the range of ``dtype`` it is ``inf``.
    """
    if dtype == value.dtype:
        return value
    eps = torch.finfo(dtype).eps
    out = (value * (1 + eps)).to(dtype)
    low = out.detach().to(value.dtype) < value.detach()
    return out + _step_up(out, low)


def _step_up(x: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """The distance from ``x`` to the next float above it where ``where`` holds, else 0 (detached)."""
    d = x.detach()
    step = torch.nextafter(d, torch.full_like(d, math.inf)) - d
    return torch.where(where, step, torch.zeros_like(d))


# ----------------------------------------------------------------------------------- power-of-two scaling
def _pow2(e: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Exactly :math:`2^e` for an integer tensor ``e`` in the normal exponent range of ``dtype``."""
    if dtype == torch.float64:
        return ((e.to(torch.int64) + 1023) << 52).view(torch.float64)
    if dtype == torch.float32:
        return ((e.to(torch.int32) + 127) << 23).view(torch.float32)
    return _pow2(e, torch.float32).to(dtype)


def scale_pow2(x: torch.Tensor, e: torch.Tensor | int) -> torch.Tensor:
    r"""``x`` times :math:`2^e` (``e`` an integer, or a 0-d integer tensor: no device sync).

    Two factors :math:`2^{\lfloor e/2\rfloor}` and :math:`2^{e-\lfloor e/2\rfloor}`, each a normal
    number of ``x``'s (real) dtype even when :math:`2^e` is not (a subnormal kernel needs
    :math:`2^{1073}`): exact, except entries that leave the normal range (rounded to nearest).
    """
    real = x.real.dtype if x.is_complex() else x.dtype
    e = torch.as_tensor(e, device=x.device).to(torch.int64)
    e1 = torch.div(e, 2, rounding_mode="floor")
    return x * _pow2(e1, real) * _pow2(e - e1, real)


def pow2_normalize(x: torch.Tensor, keep: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(x·2^{-e}, e)`` with :math:`\max|x|\,2^{-e} \in [1/2, 1)` (``e = 0`` for a zero tensor).

    The power-of-two scale of the Gram iterations: the scaled tensor has Frobenius norm in
    :math:`[1/2, \sqrt{N}]`, so no square of a later step underflows or overflows, whatever the
    magnitude of ``x`` (subnormal to :math:`10^{308}`), and :math:`\sigma_1(x) = 2^e\sigma_1(x2^{-e})`.
    Scaling up is exact; scaling down rounds only entries below :math:`2^{e-1074}`, an absolute
    change :math:`\le 2^{-1074}` of the scaled entries against a norm :math:`\ge 1/2`, far inside
    :data:`SAFETY_FLOOR`. ``e`` is a 0-d int tensor (detached; no device sync). ``keep > 0`` leaves
    tensors with :math:`|e| \le` ``keep`` as they are (``e = 0``): bit-identical results in the
    ordinary range.
    """
    m = x.detach().abs().amax()
    e = torch.frexp(m).exponent.to(torch.int64)
    if keep > 0:
        e = torch.where(e.abs() > keep, e, torch.zeros_like(e))
    return scale_pow2(x, -e), e


def unscale_up(value: torch.Tensor, e: torch.Tensor | int) -> torch.Tensor:
    r"""``value`` times :math:`2^e`, rounded up where the result is subnormal (``inf`` past the range).

    For a bound computed on :func:`pow2_normalize`'d input: ``value`` is in the normal range, the first
    factor keeps it there and only the second one may round, by at most half a subnormal step, which
    the step up covers. Differentiable (the step is a detached constant).
    """
    out = scale_pow2(value, e)
    tiny = torch.finfo(out.real.dtype if out.is_complex() else out.dtype).tiny
    d = out.detach()
    return out + _step_up(out, (d < tiny) & (value.detach() > 0))


def unscale_bound(bound: Bound, e: int) -> Bound:
    """A :class:`Bound` computed on ``x·2^-e`` mapped back to ``x``: value, history and ``details``
    ``candidates`` times :math:`2^e`, upper bounds rounded up, lower bounds down, others to nearest."""
    if e == 0:
        return bound
    direction = {"upper_bound": "up", "lower_bound": "down"}.get(bound.kind, "nearest")
    details = bound.details
    if isinstance(details, dict) and isinstance(details.get("candidates"), dict):
        details = dict(details)
        details["candidates"] = {k: ldexp_round(v, e, "up") for k, v in details["candidates"].items()}
    return Bound(
        ldexp_round(bound.value, e, direction),
        bound.kind,
        bound.method,
        bound.n_iter,
        tuple(ldexp_round(h, e, direction) for h in bound.history),
        details,
    )


def power_lower_margin(u: float, inner: int) -> float:
    r"""Relative slack for a Rayleigh value :math:`\|Wv\|/\|v\|` computed with roundoff ``u``.

    The computed :math:`\widehat{Wv}` differs from :math:`Wv` by at most
    :math:`\gamma_n \||W|\|_2 \|v\| \le \gamma_n \|W\|_F \|v\|`; callers subtract
    ``margin * ‖W‖_F`` (or a bound of the absolute operator) and deflate by :math:`2^{-40}`.
    """
    n = max(int(inner), 1) + 4
    return 2 * n * u / (1 - n * u)
