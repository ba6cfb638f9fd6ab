r"""Spectral norm :math:`\sigma_1(W) = \|W\|_2` of a matrix: Gram iteration, power iteration, SVD.

Three methods, three honest kinds (:class:`~stablecore.types.Bound`):

* ``"gram"`` -- **Gram iteration** (Delattre et al., ICML 2023, arXiv 2305.16173): a deterministic
  ``upper_bound`` at every iteration, non-increasing, converging super-linearly;
* ``"power"`` -- **power iteration** from a seeded random vector: a ``lower_bound``;
* ``"exact"`` -- ``torch.linalg.matrix_norm(W, 2)`` (SVD) in float64: ``exact``.

Gram iteration. Let :math:`G_0 = W` (transposed so that the Gram matrix is the smaller one) and
:math:`G_{t+1} = G_t^{\mathsf H} G_t`. The singular values of :math:`G_t` are :math:`\sigma_i^{2^t}`, so

.. math::

    \sigma_1(W) \;\le\; \|G_t\|_F^{\,2^{-t}}
    \;=\; \Bigl(\sum_i \sigma_i^{2^{t+1}}\Bigr)^{2^{-(t+1)}}
    \;\le\; \operatorname{rank}(W)^{2^{-(t+1)}}\,\sigma_1(W),

an upper bound at every :math:`t` that decreases monotonically and whose relative excess vanishes
doubly exponentially. To avoid overflow and underflow each iterate is divided by its Frobenius norm
:math:`r_t` and the scale is carried in log space, :math:`L_{t+1} = 2 (L_t + \log r_t)`, so that the true
iterate is :math:`G_t e^{L_t}` and the bound is :math:`(\|G_t\|_F\, e^{L_t})^{2^{-t}}`. The rescaling
alone does not protect the first Frobenius norm and the first product (entries below :math:`10^{-154}`
square to 0, above :math:`10^{154}` to ``inf``), so the matrix is first multiplied by a power of two,
:math:`W' = 2^{-e} W` with :math:`\max|W'| \in [1/2, 1)` (exact, :func:`pow2_normalize`), and the
bound of :math:`W'` is multiplied by :math:`2^e` (:func:`ldexp_round`, :func:`unscale_up`), rounded up
where it falls in the subnormal range: every finite matrix, subnormal entries included, gets a bound
at least its norm; it is ``inf`` only when the norm exceeds the largest float.

Rounding (how a float64 computation stays a bound). The ``Bound`` API always computes in float64
(float32 inputs are converted exactly). With unit roundoff :math:`u`, a product of :math:`n`-term dot
products satisfies :math:`|\mathrm{fl}(AB) - AB| \le \gamma_n |A||B|`, :math:`\gamma_n = nu/(1-nu)`
(Higham 2002, §3.5), hence :math:`\|\Delta\|_F \le \gamma_n \|A\|_F\|B\|_F` and, for a Gram step on a
:math:`d`-column iterate, :math:`\sigma_1(\hat G_{t+1}) \ge \sigma_1(\hat G_t)^2 (1 - \gamma_n d)`. Unrolling
the recursion, the :math:`2^{-t}`-th root turns the accumulated factor into at most
:math:`1/(1-\gamma_n d)` whatever :math:`t`. :func:`gram_rounding_margin` adds this, the rescaling and
log/exp errors, and a floor of :math:`2^{-40}` (which also covers the error of the float64 SVD used as
the oracle in tests); the returned value is the computed bound times :math:`1+\delta`, rounded up. In
float64 :math:`\delta` grows like :math:`\gamma_n d`: about :math:`9 \cdot 10^{-11}` for a 500×400 matrix,
so Gram's relative excess plateaus there from about ten iterations on.

References:
    B. Delattre, Q. Barthélemy, A. Araujo, A. Allauzen. *Efficient Bound of Lipschitz Constant for
    Convolutional Layers by Gram Iteration.* ICML 2023, arXiv:2305.16173.
    N. J. Higham. *Accuracy and Stability of Numerical Algorithms.* SIAM, 2nd ed., 2002.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import torch

from stablecore.types import Bound

__all__ = [
    "DEFAULT_GRAM_ITERS",
    "DEFAULT_POWER_ITERS",
    "gram_norm_dense",
    "gram_rounding_margin",
    "matrix_norm",
]

DEFAULT_GRAM_ITERS = 12
"""Maximum number of Gram iterations of :func:`matrix_norm` (enough for 1e-12 on random matrices)."""

DEFAULT_POWER_ITERS = 100
"""Number of power iterations of :func:`matrix_norm` when ``n_iter`` is not given."""

DEFAULT_GRAM_TOL = 1e-12
DEFAULT_POWER_TOL = 1e-10

SAFETY_FLOOR = 2.0**-40
"""Relative margin added to every float64 upper bound (and removed from every lower bound)."""

_LN2 = math.log(2.0)
_LOG_MAX = math.log(sys.float_info.max)
_LOG_TINY = math.log(sys.float_info.min) + 1.0  # exp of anything above is a normal float

_METHODS = ("gram", "power", "exact")


# ----------------------------------------------------------------------------------- rounding helpers
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


# ----------------------------------------------------------------------------------- validation
def as_real_tensor(x: Any, name: str, ndim: int | None = None) -> torch.Tensor:
    """Validate a real, finite floating tensor (numpy arrays are accepted) with ``ndim`` dimensions."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        raise ValueError(f"{name} must be real, got complex dtype {x.dtype}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return x


def check_n_iter(n_iter: Any, default: int, name: str = "n_iter") -> int:
    """``n_iter`` as a positive int (``None`` -> ``default``)."""
    if n_iter is None:
        return default
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"{name} must be a positive int, got {n_iter!r}")
    return int(n_iter)


def check_tol(tol: Any, default: float) -> float:
    """``tol`` as a non-negative float (``None`` -> ``default``; 0 never stops early)."""
    if tol is None:
        return default
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not math.isfinite(tol) or tol < 0:
        raise ValueError(f"tol must be a non-negative finite number, got {tol!r}")
    return float(tol)


def frobenius(g: torch.Tensor) -> torch.Tensor:
    """Frobenius norm over the last two dimensions (complex through ``view_as_real``: much faster)."""
    if g.is_complex():
        return torch.linalg.vector_norm(torch.view_as_real(g), dim=(-3, -2, -1))
    return torch.linalg.vector_norm(g, dim=(-2, -1))


# ----------------------------------------------------------------------------------- Gram iteration core
def gram_iterate(
    g: torch.Tensor, n_iter: int, tol: float = 0.0, *, detach_scale: bool = True
) -> tuple[list[torch.Tensor], torch.Tensor]:
    r"""Rescaled Gram iteration on a batch of matrices ``g`` of shape ``(..., p, q)`` with ``q <= p``.

    Returns ``(log_bounds, max_abs_log)``: ``log_bounds[t-1]`` holds, per batch element, the log of
    the Gram bound after ``t`` iterations, :math:`2^{-t}(\log\|G_t\|_F + L_t)` (``-inf`` for a zero
    matrix); ``max_abs_log`` is the largest :math:`|\log r_t|` met (for :func:`gram_rounding_margin`).
    ``tol > 0`` stops when the largest bound changed by less than ``tol`` (relative). The scales are
    detached: the bound does not depend on them, so gradients are exact.
    """
    real = g.real.dtype if g.is_complex() else g.dtype
    log_scale = torch.zeros(g.shape[:-2], dtype=real, device=g.device)
    max_abs_log = torch.zeros((), dtype=real, device=g.device)
    log_bounds: list[torch.Tensor] = []
    stop_log = math.log1p(tol) if tol > 0 else -1.0
    r = frobenius(g)
    for t in range(1, n_iter + 1):
        r_d = r.detach() if detach_scale else r
        positive = r_d > 0
        r_safe = torch.where(positive, r_d, torch.ones_like(r_d))
        log_r = torch.log(r_safe)
        max_abs_log = torch.maximum(max_abs_log, log_r.abs().max())
        g = g / r_safe[..., None, None]
        log_scale = 2 * (log_scale + log_r)
        if t == 1:
            # contiguous copy of the adjoint: batched products on transposed views are much slower
            g = (g.mH if g.is_complex() else g.mT).contiguous() @ g
        else:
            g = g @ g  # Gram of a Hermitian iterate: same as gᴴ g, and faster (no transposed copy)
        r = frobenius(g)
        log_b = (torch.log(r) + log_scale) * 2.0**-t
        log_bounds.append(log_b)
        if stop_log > 0 and t >= 2:
            prev, cur = log_bounds[-2].max(), log_b.max()
            if bool(prev - cur < stop_log):
                break
    return log_bounds, max_abs_log


def _orient(w: torch.Tensor) -> torch.Tensor:
    """``w`` or its transpose, whichever has no more columns than rows (smaller Gram matrix)."""
    return w.T if w.shape[1] > w.shape[0] else w


def gram_norm_dense(
    W: torch.Tensor, n_iter: int = 6, *, compute_dtype: torch.dtype | None = torch.float64
) -> torch.Tensor:
    r"""Differentiable Gram-iteration upper bound of :math:`\|W\|_2` (a 0-d tensor).

    .. math::

        \|W\|_2 \le \bigl(\|G_T\|_F\, e^{L_T}\bigr)^{2^{-T}} (1 + \delta)

    with :math:`G_T` the rescaled Gram iterate and :math:`\delta` the rounding margin of
    :func:`gram_rounding_margin`. The result has ``W``'s dtype and device and gradients flow to ``W``
    (plain autograd through the iteration; the rescaling factors are detached, which does not change
    the gradient because the bound does not depend on them).

    Any finite magnitude is handled (power-of-two prescaling, see the module docstring); the result
    is ``inf`` only past the range of ``W.dtype``.

    Args:
        W: real matrix of shape ``(m, n)``.
        n_iter: number of Gram iterations :math:`T \ge 1`.
        compute_dtype: precision of the iteration. The default float64 keeps the margin negligible and
            the cast back to ``W.dtype`` rounds up, so the result is a bound also for float32 ``W``.
            ``None`` computes in ``W.dtype`` (faster on GPUs) with the worst-case margin of that
            precision, which grows like ``n·d·u`` and may be large (or ``inf``) for big matrices.

    Returns:
        0-d tensor, an upper bound of the spectral norm of ``W``.

    Raises:
        TypeError: ``W`` is not a floating tensor.
        ValueError: ``W`` is not 2-D, is empty, complex or not finite, or ``n_iter < 1``.

    Example:
        >>> W = torch.tensor([[3.0, 0.0], [0.0, 1.0]], requires_grad=True)
        >>> b = gram_norm_dense(W, n_iter=8)
        >>> round(float(b.detach()), 6)
        3.0
        >>> b.backward(); W.grad.shape
        torch.Size([2, 2])
    """
    W = as_real_tensor(W, "W", ndim=2)
    n_iter = check_n_iter(n_iter, 6)
    dtype = compute_dtype or W.dtype
    g, e = pow2_normalize(_orient(W.to(dtype)))  # any finite magnitude: no under/overflow below
    log_bounds, max_abs_log = gram_iterate(g, n_iter)
    u = unit_roundoff(dtype, W.device)
    margin = gram_rounding_margin(u, max(g.shape), g.shape[1], n_iter, 0.0)
    # the log-term of the margin depends on the scales met: a tensor expression, no device sync
    log_term = 1 + 2 * (n_iter + 3) * u * max_abs_log
    value = torch.exp(log_bounds[-1]) * (1 + margin) * log_term
    return cast_up(unscale_up(value, e), W.dtype)


# ----------------------------------------------------------------------------------- power iteration
def power_lower_margin(u: float, inner: int) -> float:
    r"""Relative slack for a Rayleigh value :math:`\|Wv\|/\|v\|` computed with roundoff ``u``.

    The computed :math:`\widehat{Wv}` differs from :math:`Wv` by at most
    :math:`\gamma_n \||W|\|_2 \|v\| \le \gamma_n \|W\|_F \|v\|`; callers subtract
    ``margin * ‖W‖_F`` (or a bound of the absolute operator) and deflate by :math:`2^{-40}`.
    """
    n = max(int(inner), 1) + 4
    return 2 * n * u / (1 - n * u)


def _seeded_normal(
    shape: tuple[int, ...], seed: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)


def _power_dense(W64: torch.Tensor, n_iter: int, tol: float, seed: int) -> tuple[float, list[float], int]:
    n = W64.shape[1]
    fro = float(torch.linalg.matrix_norm(W64, "fro"))
    slack = power_lower_margin(unit_roundoff(torch.float64), n) * fro
    v = _seeded_normal((n,), seed, W64.dtype, W64.device)
    v = v / torch.linalg.vector_norm(v)
    history: list[float] = []
    best = 0.0
    it = 0
    for it in range(1, n_iter + 1):
        wv = W64 @ v
        sigma = float(torch.linalg.vector_norm(wv))  # ‖v‖ = 1 up to rounding, covered below
        lower = round_down(sigma * (1 - 8 * unit_roundoff(torch.float64)) - slack, SAFETY_FLOOR)
        prev = best
        best = max(best, lower)
        history.append(best)
        if sigma == 0.0:
            v = _seeded_normal((n,), seed + it, W64.dtype, W64.device)
            v = v / torch.linalg.vector_norm(v)
            continue
        v = W64.T @ wv
        v = v / torch.linalg.vector_norm(v)
        if tol > 0 and it >= 2 and best > 0 and (best - prev) <= tol * best:
            break
    return best, history, it


# ----------------------------------------------------------------------------------- public API
def matrix_norm(
    W: torch.Tensor,
    *,
    method: str = "gram",
    n_iter: int | None = None,
    tol: float | None = None,
    seed: int = 0,
) -> Bound:
    r"""Spectral norm :math:`\|W\|_2` of a real matrix as an honest :class:`~stablecore.types.Bound`.

    Methods:

    * ``"gram"`` (default): Gram iteration in float64 (Delattre et al. 2023), ``upper_bound``.
      ``n_iter`` (default 12) is the maximum number of iterations; it stops earlier when the bound
      changed by less than ``tol`` (relative, default ``1e-12``; ``0`` never stops early). ``history``
      holds the bound after each iteration (running minimum: each entry is a valid bound, so the
      sequence is non-increasing also in floating point), inflated by the rounding margin.
    * ``"power"``: power iteration on :math:`W^\top W` from a standard normal vector drawn with
      ``seed``; returns the best Rayleigh value :math:`\|Wv\|/\|v\|`, a ``lower_bound``. Rounding:
      the computed :math:`\|Wv\|` is within :math:`\gamma_n\|W\|_F` of the exact one, which is
      subtracted, and the result is deflated by :math:`2^{-40}`. ``n_iter`` defaults to 100 and ``tol``
      to ``1e-10`` (relative improvement below which it stops).
    * ``"exact"``: ``torch.linalg.matrix_norm(W, 2)`` in float64 (SVD), ``exact``.

    .. math::

        \text{power} \;\le\; \|W\|_2 = \sigma_1(W) \;\le\; \bigl(\|G_t\|_F\,e^{L_t}\bigr)^{2^{-t}}
        \quad\text{for every } t.

    Args:
        W: real matrix ``(m, n)`` (tensor or numpy array, any floating dtype; computed in float64).
        method: ``"gram"``, ``"power"`` or ``"exact"``.
        n_iter: number of iterations (see above).
        tol: early-stopping tolerance (see above).
        seed: seed of the power-iteration start vector.

    Returns:
        A :class:`~stablecore.types.Bound` with ``details`` = ``{"shape", "dtype", "margin"}``.

    Raises:
        TypeError: ``W`` is not a floating tensor.
        ValueError: bad shape, complex or non-finite ``W``; unknown ``method``; bad ``n_iter``/``tol``.

    Example:
        >>> W = torch.diag(torch.tensor([4.0, 1.0, 0.5]))
        >>> b = matrix_norm(W)
        >>> b.kind, abs(b.value - 4.0) < 1e-9
        ('upper_bound', True)
        >>> matrix_norm(W, method="exact").value
        4.0
    """
    W = as_real_tensor(W, "W", ndim=2)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    W64, e = pow2_normalize(W.detach().to(torch.float64))
    bound = _matrix_norm_scaled(W64, method, n_iter, tol, seed)
    details = {"shape": tuple(W.shape), "dtype": str(W.dtype), **bound.details}
    bound = Bound(bound.value, bound.kind, bound.method, bound.n_iter, bound.history, details)
    return unscale_bound(bound, int(e))


def _matrix_norm_scaled(W64: torch.Tensor, method: str, n_iter: Any, tol: Any, seed: int) -> Bound:
    """:func:`matrix_norm` of a float64 matrix already scaled by :func:`pow2_normalize`."""
    details: dict[str, Any] = {}
    if method == "exact":
        value = float(torch.linalg.matrix_norm(W64, 2))
        return Bound(value, "exact", "exact", n_iter=0, details=details)
    if method == "power":
        n_iter = check_n_iter(n_iter, DEFAULT_POWER_ITERS)
        tol_ = check_tol(tol, DEFAULT_POWER_TOL)
        value, history, done = _power_dense(W64, n_iter, tol_, seed)
        details["margin"] = SAFETY_FLOOR
        return Bound(value, "lower_bound", "power", n_iter=done, history=tuple(history), details=details)
    n_iter = check_n_iter(n_iter, DEFAULT_GRAM_ITERS)
    tol_ = check_tol(tol, DEFAULT_GRAM_TOL)
    g = _orient(W64)
    with torch.no_grad():
        log_bounds, max_abs_log = gram_iterate(g, n_iter, tol_)
    logs = torch.stack(log_bounds).tolist()
    margin = gram_rounding_margin(
        unit_roundoff(torch.float64), max(g.shape), g.shape[1], len(logs), float(max_abs_log)
    )
    history: list[float] = []
    best = math.inf
    for log_b in logs:
        best = min(best, exp_up(log_b, margin))
        history.append(best)
    details["margin"] = margin
    return Bound(
        history[-1], "upper_bound", "gram", n_iter=len(logs), history=tuple(history), details=details
    )
