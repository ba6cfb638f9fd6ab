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
:math:`W' = 2^{-e} W` with :math:`\max|W'| \in [1/2, 1)` (exact), and the bound of :math:`W'` is
multiplied by :math:`2^e` (helpers of :mod:`stablecore.numerics`), rounded up where it falls in the
subnormal range: every finite matrix, subnormal entries included, gets a bound
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
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from stablecore.numerics import (
    SAFETY_FLOOR,
    cast_up,
    gram_rounding_margin,
    pow2_normalize,
    power_lower_margin,
    round_down,
    round_up,  # noqa: F401  (re-exported: curvature.bounds imports it from here)
    unit_roundoff,
    unscale_bound,
    unscale_up,
    upper_history,
)
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

_METHODS = ("gram", "power", "exact")


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
    matrix); ``max_abs_log`` is the largest :math:`|\log r_t|` met (for the rounding margin).
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
def _seeded_normal(
    shape: tuple[int, ...], seed: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=device, dtype=dtype)


def power_iterate(
    op: Callable[[torch.Tensor], torch.Tensor],
    adjoint: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    n_iter: int,
    tol: float,
    slack: float,
    restart: Callable[[int], torch.Tensor] | None = None,
) -> tuple[float, list[float], int]:
    r"""Power iteration on :math:`A^\top A` (``A`` given by ``op`` and its ``adjoint``) from ``x``, float64.

    Returns ``(best, history, iterations)``: the best Rayleigh value :math:`\|Ax\|/\|x\|` as a lower
    bound, :math:`\sigma(1 - 8u) -` ``slack`` deflated by :data:`~stablecore.numerics.SAFETY_FLOOR` and
    rounded down, where ``slack`` bounds the error of the computed :math:`\|Ax\|`
    (:func:`~stablecore.numerics.power_lower_margin`). When :math:`Ax = 0` it restarts from
    ``restart(it)`` if given, else stops; ``tol > 0`` stops when the relative improvement is at most
    ``tol`` (Golub & Van Loan, *Matrix Computations*, §8.2.1).
    """
    u = unit_roundoff(torch.float64)
    x = x / torch.linalg.vector_norm(x)
    best, history, it = 0.0, [], 0
    with torch.no_grad():
        for it in range(1, n_iter + 1):
            y = op(x)
            sigma = float(torch.linalg.vector_norm(y) / torch.linalg.vector_norm(x))
            prev = best
            best = max(best, round_down(sigma * (1 - 8 * u) - slack, SAFETY_FLOOR))
            history.append(best)
            if sigma == 0.0 and restart is not None:
                x = restart(it)
                x = x / torch.linalg.vector_norm(x)
                continue
            x = adjoint(y)
            nx = torch.linalg.vector_norm(x)
            if not bool(nx > 0):
                break
            x = x / nx
            if tol > 0 and it >= 2 and best > 0 and best - prev <= tol * best:
                break
    return best, history, it


def _power_dense(W64: torch.Tensor, n_iter: int, tol: float, seed: int) -> tuple[float, list[float], int]:
    n = W64.shape[1]
    slack = power_lower_margin(unit_roundoff(torch.float64), n) * float(torch.linalg.matrix_norm(W64, "fro"))
    return power_iterate(
        lambda v: W64 @ v,
        lambda y: W64.T @ y,
        _seeded_normal((n,), seed, W64.dtype, W64.device),
        n_iter,
        tol,
        slack,
        restart=lambda it: _seeded_normal((n,), seed + it, W64.dtype, W64.device),
    )


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
    """:func:`matrix_norm` of a float64 matrix already scaled by ``pow2_normalize``."""
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
    history = upper_history(logs, margin)
    details["margin"] = margin
    return Bound(
        history[-1], "upper_bound", "gram", n_iter=len(logs), history=tuple(history), details=details
    )
