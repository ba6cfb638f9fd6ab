r"""Top-k eigenpairs (Lanczos, power iteration) and the spectral density (stochastic Lanczos quadrature)
of a symmetric :class:`~stablecore.curvature.LinearOperator` (:func:`eigenvalues`, :func:`density`); the
loss Hessian's (:func:`hessian_eigenvalues`, :func:`hessian_density`) are thin wrappers building a
:class:`~stablecore.curvature.HessianOperator`.

**Lanczos** (Lanczos 1950; Golub & Van Loan, *Matrix Computations* §10.1) builds an orthonormal Krylov
basis :math:`V_m` with :math:`V_m^\top H V_m = T_m` tridiagonal, with full reorthogonalisation in float64.
The Ritz pairs :math:`(\theta_i, V_m y_i)` of :math:`T_m` have residuals
:math:`r_i = \|H V_m y_i - \theta_i V_m y_i\| = |\beta_m\, y_{i,m}|`; for a symmetric operator some
eigenvalue lies within :math:`r_i` of :math:`\theta_i`, and within :math:`r_i^2/\delta_i` when the rest of
the spectrum is at distance :math:`\delta_i` (Parlett, *The Symmetric Eigenvalue Problem*, Thm 11.7.1,
the gap theorem). ``criterion="error"`` (default) stops when the ``k`` wanted Ritz values all have the
error estimate :math:`e_i = \min(r_i, r_i^2/\hat\delta_i)` ≤ ``tol``·|θ_i|, with the gap estimated
conservatively from the other Ritz values, :math:`\hat\delta_i = \min_{j\ne i}(|\theta_i-\theta_j| - r_j)`
(each :math:`\theta_j` has an eigenvalue within :math:`r_j`); ``criterion="residual"`` stops on
:math:`r_i` ≤ ``tol``·|θ_i| (a rigorous distance, needing about 1.5× the steps: the eigenvalue error
falls like the residual squared). Both use max(|θ_i|, ‖T‖·1e-12) as the scale. ``which``: ``"LA"``
largest algebraic (sharpness), ``"SA"`` smallest algebraic, ``"LM"`` largest magnitude (what
PyHessian's power iteration returns).

**Step budget.** By default Lanczos extends the Krylov basis until every wanted value meets ``tol`` or
:data:`DEFAULT_MAX_STEPS` steps (capped at the size, and at what the basis may take under
:func:`stablecore.limits.max_memory`) are spent; the basis grows as needed. The smallest eigenvalues of a
trained network sit at the edge of a dense cluster around 0 and need hundreds of steps where the largest
need tens (the digits MLPs of chapter 4: up to about 450 products for ``SA``). Once every wanted value
meets ``tol``, Lanczos goes on for about 10 % more steps and stops only if the values moved by less than
``tol`` meanwhile: an eigenvalue close to a wanted one that the Krylov space has not resolved yet (the
start vector barely touches it) has no Ritz value, so the gap estimate cannot see it, and the wanted Ritz
values move while it emerges (they are monotone in the step count, Cauchy interlacing). This lowers the
risk of such a miss but cannot rule it out. Each value carries a ``converged`` flag;
:func:`hessian_eigenvalues` warns (:class:`ConvergenceWarning`) when one is False, or raises
:class:`ConvergenceError` with ``strict=True``. After an invariant subspace (breakdown) with fewer than
``k`` values, Lanczos restarts from a fresh random vector orthogonal to the basis.

**Power iteration** (PyHessian, Yao et al. 2020) is kept as a baseline: ``LM`` on :math:`H`, ``LA`` on
:math:`H + sI` and ``SA`` on :math:`sI - H` with :math:`s = |\lambda_{LM}|`, deflating the pairs found.

**SLQ** (Ubaru, Chen & Saad 2017; Ghorbani, Krishnan & Xiao 2019): for random unit ``v``,
:math:`v^\top \phi(H) v \approx \sum_i \tau_i^2 \phi(\theta_i)` with :math:`\tau_i` the first entries of
the eigenvectors of :math:`T_m`; the density is the average over runs of
:math:`\sum_i \tau_i^2\, \mathcal N(x; \theta_i, \sigma^2)`, normalised to integrate to 1 on the grid.

All values are ``estimate``\ s (the operator is evaluated in floating point and iterations stop early).
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.linalg import eigh_tridiagonal
from torch import nn
from tqdm.auto import tqdm

from stablecore.curvature.operators import HessianOperator, LossFn, ParamFilter, Products, as_operator
from stablecore.limits import check_memory, check_work, max_memory

__all__ = [
    "DEFAULT_MAX_STEPS",
    "ConvergenceError",
    "ConvergenceWarning",
    "EigenResult",
    "SpectralDensity",
    "density",
    "eigenvalues",
    "hessian_density",
    "hessian_eigenvalues",
    "lanczos",
    "smooth_density",
]

WHICH = ("LA", "SA", "LM")
CRITERIA = ("error", "residual")
METHODS = ("lanczos", "power")
#: Lanczos steps (Hessian-vector products) spent at most by default, before the size and memory caps.
DEFAULT_MAX_STEPS = 1000
_BASIS_BYTES = 8 * 3 // 2  # float64 basis entries, and half again while it grows (copy)


class ConvergenceWarning(UserWarning):
    """An eigenvalue did not meet the requested tolerance within the step budget."""


class ConvergenceError(RuntimeError):
    """Raised instead of :class:`ConvergenceWarning` when ``strict=True``."""


@dataclass(frozen=True)
class EigenResult:
    """Eigenvalues of the loss Hessian, ordered by ``which`` (LA: descending, SA: ascending, LM: by
    decreasing magnitude), with unit eigenvectors ``(k, n)`` in the operator's flat parameter order (or
    None), residual norms :math:`\\|Hv - \\lambda v\\|`, the Hessian-vector products spent, and per value
    whether it met ``tol`` (Lanczos: its error estimate, see ``criterion``; power: the relative change of
    the Rayleigh quotient) within the step budget (``converged``)."""

    eigenvalues: np.ndarray
    eigenvectors: torch.Tensor | None
    residuals: np.ndarray
    n_hvp: int
    which: str
    method: str
    n_params: int
    converged: np.ndarray
    tol: float
    kind: str = "estimate"
    history: tuple[float, ...] = field(default=(), repr=False)

    @property
    def all_converged(self) -> bool:
        """Every value met ``tol``."""
        return bool(np.all(self.converged))

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(self.eigenvalues) + 1),
                "eigenvalue": self.eigenvalues,
                "residual": self.residuals,
                "converged": np.asarray(self.converged, dtype=bool),
                "which": self.which,
                "method": self.method,
                "kind": self.kind,
                "n_hvp": self.n_hvp,
            }
        )


@dataclass(frozen=True)
class SpectralDensity:
    """A smoothed spectral density: ``density`` on ``grid`` (integrating to 1), the raw Lanczos ``nodes``
    and ``weights`` (``(num_runs, m)``; weights of each run sum to 1) and the Gaussian width ``sigma``."""

    grid: np.ndarray
    density: np.ndarray
    nodes: np.ndarray
    weights: np.ndarray
    sigma: float
    n_hvp: int
    kind: str = "estimate"

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"eigenvalue": self.grid, "density": self.density})


# ----------------------------------------------------------------------------------------- checks
def _check_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (0 < tol < 1):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    return float(tol)


def _start_vector(n: int, seed: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed))
    v = torch.randn(n, generator=g, dtype=torch.float64).to(device)
    return v / torch.linalg.vector_norm(v)


def _tridiagonal_eigh(alphas: Any, betas: Any) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of the symmetric tridiagonal ``T`` (LAPACK ``stemr``: no BLAS threads, O(m²))."""
    a = np.asarray(alphas, dtype=float)
    if a.size == 1:
        return a.copy(), np.ones((1, 1))
    return eigh_tridiagonal(a, np.asarray(betas, dtype=float)[: a.size - 1])


def _order(values: np.ndarray, which: str) -> np.ndarray:
    if which == "LA":
        return np.argsort(-values, kind="stable")
    if which == "SA":
        return np.argsort(values, kind="stable")
    return np.argsort(-np.abs(values), kind="stable")


# ----------------------------------------------------------------------------------------- Lanczos
def _error_estimates(
    theta: np.ndarray, y: np.ndarray, beta: float, idx: np.ndarray, criterion: str
) -> tuple[np.ndarray, np.ndarray]:
    """Residuals ``r_i = |β y_{m,i}|`` of the wanted Ritz pairs ``idx`` and their eigenvalue error
    estimates: ``r_i`` (``"residual"``) or ``min(r_i, r_i²/δ̂_i)`` with the conservative Ritz gap
    ``δ̂_i = min_{j≠i}(|θ_i − θ_j| − r_j)`` (``"error"``; module docstring)."""
    res_all = np.abs(beta * y[-1, :])
    res = res_all[idx]
    if criterion == "residual" or theta.size < 2:
        return res, res
    est = res.copy()
    for n, i in enumerate(idx):
        gaps = np.abs(theta[i] - theta) - res_all
        gaps[i] = np.inf
        gap = float(gaps.min())
        if gap > 0:
            est[n] = min(res[n], res[n] ** 2 / gap)
    return res, est


@dataclass(frozen=True)
class _Krylov:
    """What one Lanczos run found: the ``k`` wanted Ritz pairs with their residuals, error estimates and
    convergence flags, the tridiagonal's entries, and the steps taken."""

    values: np.ndarray
    vectors: torch.Tensor | None
    residuals: np.ndarray
    errors: np.ndarray
    converged: np.ndarray
    alphas: np.ndarray
    betas: np.ndarray
    steps: int
    cap: int


def _step_cap(n: int, k: int, max_steps: int | None) -> int:
    """Most Lanczos steps: ``max_steps`` (checked against the memory limit), else
    :data:`DEFAULT_MAX_STEPS` capped at the size and at what the float64 basis may take in memory."""
    if max_steps is not None:
        cap = min(n, _check_int(max_steps, "max_steps"))
        check_memory(cap * n * _BASIS_BYTES, argument="max_steps", what="the Lanczos basis")
        return cap
    floor = min(n, max(3 * k + 30, 2 * k + 60))  # the old fixed budget: always allowed
    check_memory(floor * n * _BASIS_BYTES, argument="max_steps", what="the Lanczos basis")
    return max(floor, min(n, max(DEFAULT_MAX_STEPS, 3 * k + 30), max_memory() // (n * _BASIS_BYTES)))


def _krylov(
    apply: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    k: int,
    which: str,
    tol: float,
    criterion: str,
    max_steps: int | None,
    seeds: Sequence[int],
    device: torch.device | str,
    start: torch.Tensor | None,
    stop: bool,
    progress: bool,
) -> list[_Krylov]:
    """Lanczos with full reorthogonalisation and a growing basis (module docstring), one run per seed
    in lockstep: ``apply`` maps the ``(n, R)`` current vectors of the ``R`` active runs to their products
    (one batched ``matmat``). Stopping on convergence (``stop``) needs a single run."""
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if stop and len(seeds) != 1:
        raise ValueError("stopping on convergence needs a single Lanczos run")
    device = torch.device(device)
    cap = _step_cap(n, k, max_steps)
    runs = len(seeds)
    first = (
        torch.stack([_start_vector(n, s, device) for s in seeds])
        if start is None
        else (start / torch.linalg.vector_norm(start)).to(device, torch.float64)[None]
    )
    basis = torch.empty((runs, min(cap, max(3 * k + 30, 2 * k + 60)), n), dtype=torch.float64, device=device)
    basis[:, 0] = first
    alphas: list[list[float]] = [[] for _ in seeds]
    betas: list[list[float]] = [[] for _ in seeds]
    found: list[_Krylov | None] = [None] * runs
    norm_t, restarts = [0.0] * runs, [0] * runs
    ritz = agreed = None
    check_at = k
    bar = tqdm(total=cap, desc=f"Lanczos {which}", disable=not progress, leave=False)
    for j in range(cap):
        active = [r for r in range(runs) if found[r] is None]
        if not active:
            break
        idx_t = torch.tensor(active, device=device)
        cur = basis[idx_t, j]
        w = apply(cur.T.contiguous()).to(torch.float64).T
        alpha = (w * cur).sum(1)
        w = w - alpha[:, None] * cur
        if j > 0:
            w = (
                w
                - torch.tensor([betas[r][-1] for r in active], dtype=torch.float64, device=device)[:, None]
                * basis[idx_t, j - 1]
            )
        past = basis[idx_t, : j + 1]
        for _ in range(2):  # full reorthogonalisation, twice is enough (Giraud et al. 2005)
            w = w - torch.bmm(past.transpose(1, 2), torch.bmm(past, w[:, :, None]))[:, :, 0]
        beta = torch.linalg.vector_norm(w, dim=1).tolist()
        m = j + 1
        bar.update(1)
        if m == basis.shape[1] and m < cap:  # grow the basis (doubling, up to the cap)
            grown = torch.empty((runs, min(cap, 2 * m), n), dtype=torch.float64, device=device)
            grown[:, :m] = basis[:, :m]
            basis = grown
        for i, r in enumerate(active):
            alphas[r].append(float(alpha[i]))
            norm_t[r] = max(norm_t[r], abs(alphas[r][-1]), beta[i], betas[r][-1] if betas[r] else 0.0)
            breakdown = beta[i] <= 1e-12 * max(norm_t[r], 1e-300)  # an invariant subspace: exact Ritz values
            last = m == cap or (breakdown and m >= k)
            if last or (stop and m >= check_at):  # Ritz pairs: to test convergence, or to return
                theta, y = _tridiagonal_eigh(alphas[r], betas[r])
                idx = _order(theta, which)[: min(k, m)]
                ritz, vecs = theta[idx], y[:, idx]
                res, err = _error_estimates(theta, y, beta[i], idx, criterion)
                scale = max(np.abs(theta).max(initial=0.0), 1e-300)
                allowed = tol * np.maximum(np.abs(ritz), 1e-12 * scale)
                conv = err <= allowed
                done = last
                if not last and m >= k and bool(np.all(conv)):
                    # confirm after ~10 % more steps: a close neighbour that the Krylov space has not yet
                    # resolved moves the wanted Ritz values meanwhile (they are monotone in m)
                    done = agreed is not None and bool(np.all(np.abs(ritz - agreed) <= allowed))
                    agreed, check_at = ritz.copy(), m + max(3, m // 10)
                elif not last:
                    # every step at first, then every ~4 % of the steps: the tridiagonal eigensolve is O(m²)
                    agreed, check_at = None, m + (1 if m < 100 else m // 25)
                if done:
                    vectors = (
                        torch.as_tensor(vecs.T.copy(), dtype=torch.float64, device=device) @ basis[r, :m]
                    )
                    found[r] = _Krylov(
                        values=ritz, vectors=vectors, residuals=res, errors=err,
                        converged=np.asarray(conv, dtype=bool), alphas=np.asarray(alphas[r]),
                        betas=np.asarray(betas[r][: m - 1]), steps=m, cap=cap,
                    )  # fmt: skip
                    continue
            if breakdown:  # fewer than k values so far: go on from a fresh vector orthogonal to the basis
                restarts[r] += 1
                fresh = _start_vector(n, seeds[r] + restarts[r], device)
                for _ in range(2):
                    fresh = fresh - basis[r, :m].T @ (basis[r, :m] @ fresh)
                betas[r].append(0.0)
                basis[r, m] = fresh / torch.linalg.vector_norm(fresh)
            else:
                betas[r].append(beta[i])
                basis[r, m] = w[i] / beta[i]
    bar.close()
    return found  # type: ignore[return-value]


def lanczos(
    matvec: Any,
    n: int,
    *,
    k: int = 1,
    which: str = "LA",
    tol: float = 1e-4,
    criterion: str = "error",
    max_steps: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    start: torch.Tensor | None = None,
    stop: bool = True,
    progress: bool = False,
) -> tuple[np.ndarray, torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
    """Lanczos with full reorthogonalisation on a symmetric ``matvec`` of size ``n`` (module docstring).

    Args:
        max_steps: most steps; default :data:`DEFAULT_MAX_STEPS` (capped at ``n`` and the memory limit).
        stop: stop as soon as the ``k`` wanted values meet ``tol`` (else run all ``max_steps``).

    Returns:
        ``(ritz_values, ritz_vectors (k, n), residuals, alphas, betas)`` for the ``k`` wanted pairs;
        ``alphas``/``betas`` are the tridiagonal's entries (for quadrature). Whether each value met
        ``tol`` is in :func:`hessian_eigenvalues`'s :class:`EigenResult`.
    """
    (out,) = _krylov(
        lambda vs: matvec(vs[:, 0])[:, None], n, k=k, which=which, tol=tol, criterion=criterion,
        max_steps=max_steps, seeds=[seed], device=device, start=start, stop=stop, progress=progress,
    )  # fmt: skip
    return out.values, out.vectors, out.residuals, out.alphas, out.betas


def _power(
    hv: Callable[[torch.Tensor], torch.Tensor], n: int, device: torch.device, k: int, which: str,
    tol: float, max_iter: int, seed: int,
) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:  # fmt: skip
    """Power iteration with deflation (the PyHessian baseline), shifted for LA/SA; per value whether the
    Rayleigh quotient's relative change met ``tol`` within ``max_iter`` iterations."""

    def run(apply, count: int) -> tuple[list[float], list[torch.Tensor], list[bool]]:
        values, vectors, converged = [], [], []
        for i in range(count):
            v = _start_vector(n, seed + i, device)
            mu, done = None, False
            for _ in range(max_iter):
                for u in vectors:
                    v = v - torch.dot(u, v) * u
                v = v / torch.linalg.vector_norm(v)
                w = apply(v)
                new = float(torch.dot(v, w))
                v = w
                done = mu is not None and abs(new - mu) <= tol * max(abs(mu), 1e-300)
                mu = new
                if done:
                    break
            values.append(mu)
            converged.append(done)
            for u in vectors:
                v = v - torch.dot(u, v) * u
            vectors.append(v / torch.linalg.vector_norm(v))
        return values, vectors, converged

    if which == "LM":
        values, vectors, converged = run(hv, k)
        return np.asarray(values), torch.stack(vectors), np.asarray(converged, dtype=bool)
    (lam,), _, _ = run(hv, 1)
    s = abs(lam)
    sign = 1.0 if which == "LA" else -1.0
    values, vectors, converged = run(lambda x: sign * hv(x) + s * x, k)
    shifted = np.asarray([sign * (mu - s) for mu in values])
    return shifted, torch.stack(vectors), np.asarray(converged, dtype=bool)


def _report_convergence(result: EigenResult, steps: str, strict: bool) -> None:
    """Warn (or raise with ``strict``) when a value of ``result`` did not meet its tolerance."""
    if result.all_converged:
        return
    bad = np.flatnonzero(~np.asarray(result.converged, dtype=bool))
    worst = float(np.max(result.residuals[bad] / np.maximum(np.abs(result.eigenvalues[bad]), 1e-300)))
    message = (
        f"eigenvalues: {bad.size} of {result.converged.size} eigenvalues (which={result.which!r}, "
        f"ranks {[int(i) + 1 for i in bad]}) did not meet tol={result.tol:g} after {steps} "
        f"({result.method}, {result.n_hvp} operator products; largest relative residual "
        f"{worst:.2g}): they may be far from the true ones; pass a larger max_steps or tol"
    )
    if strict:
        raise ConvergenceError(message)
    warnings.warn(message, ConvergenceWarning, stacklevel=3)


def eigenvalues(
    op: Any,
    *,
    k: int = 1,
    which: str = "LA",
    method: str = "lanczos",
    tol: float = 1e-4,
    criterion: str = "error",
    max_steps: int | None = None,
    seed: int = 0,
    return_eigenvectors: bool = False,
    strict: bool = False,
    progress: bool = False,
) -> EigenResult:
    """Top-``k`` eigenvalues of a symmetric operator (module docstring for ``which`` and ``method``).

    Args:
        op: a :class:`~stablecore.curvature.LinearOperator` (:class:`~stablecore.curvature.HessianOperator`,
            :class:`~stablecore.curvature.GGNOperator`) or anything :func:`~stablecore.curvature.as_operator`
            wraps (a SciPy ``LinearOperator``, a curvlinops operator).
        k: number of eigenpairs, at most the operator's size.
        which: ``"LA"``, ``"SA"`` or ``"LM"``.
        method: ``"lanczos"`` (default) or ``"power"`` (baseline).
        tol: relative eigenvalue error (Lanczos; its estimate, see ``criterion``) or relative change of
            the Rayleigh quotient (power).
        criterion: Lanczos stopping rule: ``"error"`` (default) the gap-theorem error estimate
            min(r, r²/gap), or ``"residual"`` the residual norm r (module docstring).
        max_steps: most Lanczos steps (default :data:`DEFAULT_MAX_STEPS`, capped at the size and the
            memory limit; Lanczos stops as soon as every value meets ``tol``) or power iterations per
            pair (default 100).
        seed: seed of the start vectors.
        return_eigenvectors: keep the ``(k, n)`` eigenvectors (in the operator's dtype).
        strict: raise :class:`ConvergenceError` instead of warning when a value did not meet ``tol``.

    Warns:
        ConvergenceWarning: a value did not meet ``tol`` within ``max_steps`` (see ``converged``).

    Raises:
        ValueError: bad ``k`` (larger than the size), ``which``, ``method``, ``tol``, ``max_steps``.
        ConvergenceError: with ``strict=True``, a value did not meet ``tol``.

    Example:
        >>> import scipy.sparse.linalg as sla
        >>> op = sla.aslinearoperator(np.diag([3.0, 1.0, 2.0]))
        >>> round(float(eigenvalues(op, k=1).eigenvalues[0]), 6)
        3.0
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not isinstance(strict, bool):
        raise TypeError(f"strict must be a bool, got {type(strict).__name__}")
    k = _check_int(k, "k")
    tol = _check_tol(tol)
    if max_steps is not None:
        _check_int(max_steps, "max_steps")
    op = as_operator(op)
    hv = Products(op)
    n, device = op.shape[0], torch.device(op.device)
    if k > n:
        raise ValueError(f"k must be at most the operator's size ({n}), got {k}")
    if method == "lanczos":
        (run,) = _krylov(
            hv.block, n, k=k, which=which, tol=tol, criterion=criterion, max_steps=max_steps,
            seeds=[seed], device=device, start=None, stop=True, progress=progress,
        )  # fmt: skip
        values, vectors, residuals, converged = run.values, run.vectors, run.residuals, run.converged
        steps = f"{run.steps} Lanczos steps (at most {run.cap})"
    else:
        values, vectors, converged = _power(hv, n, device, k, which, tol, max_steps or 100, seed)
        residuals = np.asarray(
            [float(torch.linalg.vector_norm(hv(v) - lam * v)) for lam, v in zip(values, vectors)]
        )
        steps = f"at most {max_steps or 100} iterations per value"
    result = EigenResult(
        eigenvalues=np.asarray(values, dtype=float),
        eigenvectors=vectors.to(op.dtype) if return_eigenvectors else None,
        residuals=np.asarray(residuals, dtype=float),
        n_hvp=hv.count,
        which=which,
        method=method,
        n_params=n,
        converged=np.asarray(converged, dtype=bool),
        tol=tol,
    )
    _report_convergence(result, steps, strict)
    return result


def hessian_eigenvalues(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    param_filter: ParamFilter = None,
    mode: str = "eval",
    reduction: str | None = None,
    **kwargs: Any,
) -> EigenResult:
    """Top-``k`` eigenvalues of the loss Hessian: :func:`eigenvalues` of a
    :class:`~stablecore.curvature.HessianOperator`.

    Args:
        model, loss_fn, data, param_filter, mode, reduction: see
            :class:`~stablecore.curvature.HessianOperator` (the model is never modified; BatchNorm/dropout
            in eval mode by default).
        **kwargs: ``k``, ``which``, ``method``, ``tol``, ``criterion``, ``max_steps``, ``seed``,
            ``return_eigenvectors``, ``strict``, ``progress`` of :func:`eigenvalues`.

    Example:
        >>> lin = nn.Linear(3, 1, bias=False)
        >>> x, y = torch.eye(3), torch.zeros(3, 1)
        >>> res = hessian_eigenvalues(lin, nn.MSELoss(), (x, y), k=1)  # H = 2/3 · I
        >>> round(float(res.eigenvalues[0]), 4), bool(res.converged[0])
        (0.6667, True)
    """
    _check_keywords(kwargs, eigenvalues, "hessian_eigenvalues")
    op = HessianOperator(model, loss_fn, data, param_filter=param_filter, mode=mode, reduction=reduction)
    return eigenvalues(op, **kwargs)


def _check_keywords(kwargs: dict[str, Any], target: Callable, caller: str) -> None:
    allowed = set(inspect.signature(target).parameters) - {"op"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"{caller}() got unexpected keyword arguments {unknown}")


def density(
    op: Any,
    *,
    lanczos_steps: int = 80,
    num_runs: int = 1,
    sigma: float | None = None,
    grid_points: int = 1000,
    seed: int = 0,
    runs: Sequence[int] | None = None,
    block_size: int = 16,
    progress: bool = False,
) -> SpectralDensity:
    """Spectral density of a symmetric operator by stochastic Lanczos quadrature (module docstring).

    Up to ``block_size`` runs advance in lockstep, their products computed in one batched ``matmat``
    (results equal those of one run at a time up to rounding).

    Args:
        op: a :class:`~stablecore.curvature.LinearOperator` or anything
            :func:`~stablecore.curvature.as_operator` wraps.
        lanczos_steps: Lanczos steps per run (capped at the size).
        num_runs: independent random start vectors averaged.
        sigma: Gaussian width; default 1 % of the spectral range (at least 1e-12).
        grid_points: evaluation points, spanning the nodes ± 5·sigma.
        seed: seed of run ``r`` is ``seed + r``.
        runs: the run indices to compute (default ``range(num_runs)``), so shards can share the runs;
            :func:`smooth_density` pools their nodes and weights.
        block_size: runs advanced together (memory: one Lanczos basis per run).
    """
    steps = _check_int(lanczos_steps, "lanczos_steps", 2)
    num_runs = _check_int(num_runs, "num_runs")
    block = _check_int(block_size, "block_size")
    ids = list(range(num_runs)) if runs is None else [int(r) for r in runs]
    if not ids:
        raise ValueError("runs must not be empty")
    op = as_operator(op)
    hv = Products(op)
    n = op.shape[0]
    m = min(steps, n)
    check_memory(m * n * _BASIS_BYTES, argument="lanczos_steps", what="the Lanczos basis")
    block = max(1, min(block, len(ids), max_memory() // max(m * n * _BASIS_BYTES, 1)))
    all_nodes, all_weights = [], []
    for start in tqdm(range(0, len(ids), block), desc="SLQ", disable=not progress, leave=False):
        found = _krylov(
            hv.block, n, k=1, which="LA", tol=0.5, criterion="error", max_steps=m,
            seeds=[seed + r for r in ids[start : start + block]], device=op.device, start=None, stop=False,
            progress=False,
        )  # fmt: skip
        for run in found:
            theta, y = _tridiagonal_eigh(run.alphas, run.betas)
            nodes, weights = np.full(m, np.nan), np.zeros(m)
            nodes[: len(theta)], weights[: len(theta)] = theta, y[0, :] ** 2
            all_nodes.append(nodes)
            all_weights.append(weights)
    return smooth_density(
        np.vstack(all_nodes), np.vstack(all_weights), sigma=sigma, grid_points=grid_points, n_hvp=hv.count
    )


def hessian_density(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    param_filter: ParamFilter = None,
    mode: str = "eval",
    reduction: str | None = None,
    **kwargs: Any,
) -> SpectralDensity:
    """Spectral density of the loss Hessian: :func:`density` of a
    :class:`~stablecore.curvature.HessianOperator`, its work checked first (:mod:`stablecore.limits`).

    Args:
        model, loss_fn, data, param_filter, mode, reduction: see
            :class:`~stablecore.curvature.HessianOperator`.
        **kwargs: ``lanczos_steps``, ``num_runs``, ``sigma``, ``grid_points``, ``seed``, ``runs``,
            ``block_size``, ``progress`` of :func:`density`.
    """
    _check_keywords(kwargs, density, "hessian_density")
    steps = _check_int(kwargs.get("lanczos_steps", 80), "lanczos_steps", 2)
    num_runs = _check_int(kwargs.get("num_runs", 1), "num_runs")
    runs = kwargs.get("runs")
    if runs is not None and not len(runs):
        raise ValueError("runs must not be empty")
    op = HessianOperator(model, loss_fn, data, param_filter=param_filter, mode=mode, reduction=reduction)
    m = min(steps, op.size)
    check_memory(m * op.size * _BASIS_BYTES, argument="lanczos_steps", what="the Lanczos basis")
    work = 3 * op.data.total * m * (num_runs if runs is None else len(runs))  # ~3 passes per product
    check_work(work, argument="num_runs", what="the Lanczos runs' Hessian-vector products")
    return density(op, **kwargs)


def smooth_density(
    nodes: np.ndarray,
    weights: np.ndarray,
    *,
    sigma: float | None = None,
    grid_points: int = 1000,
    n_hvp: int = 0,
) -> SpectralDensity:
    """Gaussian-smoothed SLQ density from ``(runs, m)`` nodes and weights (NaN nodes are padding)."""
    points = _check_int(grid_points, "grid_points", 2)
    if sigma is not None and not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number or None, got {sigma!r}")
    nodes, weights = np.atleast_2d(np.asarray(nodes, float)), np.atleast_2d(np.asarray(weights, float))
    if nodes.shape != weights.shape or not np.isfinite(nodes).any():
        raise ValueError(
            f"nodes and weights must have the same (runs, m) shape with finite nodes, "
            f"got {nodes.shape}, {weights.shape}"
        )
    lo, hi = np.nanmin(nodes), np.nanmax(nodes)
    width = float(sigma) if sigma is not None else max(0.01 * (hi - lo), 1e-12 * max(abs(lo), abs(hi), 1.0))
    grid = np.linspace(lo - 5 * width, hi + 5 * width, points)
    density = np.zeros_like(grid)
    for node_row, weight_row in zip(nodes, weights):
        ok = np.isfinite(node_row)
        z = (grid[:, None] - node_row[ok][None, :]) / width
        density += (np.exp(-0.5 * z**2) * weight_row[ok][None, :]).sum(1) / (width * math.sqrt(2 * math.pi))
    density /= len(nodes)
    density /= np.trapezoid(density, grid)
    return SpectralDensity(grid=grid, density=density, nodes=nodes, weights=weights, sigma=width, n_hvp=n_hvp)
