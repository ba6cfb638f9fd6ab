r"""Trace of a symmetric operator (:func:`trace`; the loss Hessian's: :func:`hessian_trace`): Hutchinson
and Hutch++ estimators with a standard error, the probes applied in batched products.

* **Hutchinson** (1989): :math:`\operatorname{tr} H = \mathbb E[v^\top H v]` for Rademacher ``v``; the
  estimate is the mean of ``num_samples`` probes and its standard error the sample standard deviation
  over :math:`\sqrt{m}`.
* **Hutch++** (Meyer, Musco, Musco & Woodruff, SOSA 2021): a third of the budget sketches the top
  subspace :math:`Q = \operatorname{orth}(HS)`, whose trace :math:`\operatorname{tr}(Q^\top H Q)` is exact,
  and Hutchinson estimates the rest on :math:`(I - QQ^\top)H(I - QQ^\top)`; its standard error is that of
  the residual part. For a spectrum dominated by a few large eigenvalues the variance drops sharply.

Both are ``estimate``\ s (random, no guarantee either way); their confidence is the standard error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from stablecore.curvature.operators import HessianOperator, LossFn, ParamFilter, Products, as_operator
from stablecore.limits import check_work

__all__ = ["TraceEstimate", "hessian_trace", "probe_generator", "rademacher", "trace"]

METHODS = ("hutchinson", "hutch++")


@dataclass(frozen=True)
class TraceEstimate:
    """``mean`` ± ``stderr`` from the per-probe ``samples`` (for Hutch++ the exact sketch part is in
    ``exact_part`` and ``samples`` are the residual probes), with the products spent."""

    mean: float
    stderr: float
    samples: np.ndarray
    method: str
    n_hvp: int
    exact_part: float = 0.0
    kind: str = "estimate"


def probe_generator(seed: int, probe: int) -> torch.Generator:
    """The CPU generator of probe ``probe`` under ``seed`` (``SeedSequence([seed, probe])``): each probe is
    the same whichever shard or process draws it."""
    state = np.random.SeedSequence([int(seed), int(probe)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def rademacher(n: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """A float64 vector of independent ±1 entries (drawn on the CPU generator, then moved)."""
    return (
        (torch.randint(0, 2, (n,), generator=generator, dtype=torch.int64) * 2 - 1)
        .to(torch.float64)
        .to(device)
    )


def _blocks(hv: Products, vs: torch.Tensor, block_size: int, progress: bool, desc: str) -> torch.Tensor:
    """``H @ vs`` by batched products of at most ``block_size`` columns."""
    parts = [
        hv.block(vs[:, i : i + block_size])
        for i in tqdm(range(0, vs.shape[1], block_size), desc=desc, disable=not progress, leave=False)
    ]
    return torch.cat(parts, dim=1) if parts else vs.new_zeros(vs.shape)


def trace(
    op: Any,
    *,
    num_samples: int = 100,
    method: str = "hutchinson",
    seed: int = 0,
    probes: Sequence[int] | None = None,
    block_size: int = 16,
    progress: bool = False,
) -> TraceEstimate:
    """Estimate the trace of a symmetric operator (module docstring).

    The probes are applied ``block_size`` at a time in one batched ``matmat`` (vmap over the product);
    each probe's value equals that of a single product up to rounding.

    Args:
        op: a :class:`~stablecore.curvature.LinearOperator` or anything
            :func:`~stablecore.curvature.as_operator` wraps (a SciPy ``LinearOperator``, curvlinops).
        num_samples: products in all (Hutch++ needs at least 3).
        method: ``"hutchinson"`` or ``"hutch++"``.
        seed: seed of the probe vectors (a CPU generator, so results do not depend on the device).
        probes: Hutchinson only: the probe indices to draw (default ``range(num_samples)``); probe ``j`` is
            always the same vector (:func:`probe_generator`), so shards ``j ≡ i (mod n)`` of one estimate
            can be computed apart and their samples pooled.
        block_size: probes per batched product (memory: that many products at once).

    Example:
        >>> import scipy.sparse.linalg as sla
        >>> est = trace(sla.aslinearoperator(2.0 * np.eye(3)), num_samples=4)
        >>> est.mean, est.stderr  # every Rademacher probe of 2·I gives the trace 6
        (6.0, 0.0)
    """
    _check_arguments(num_samples, method, probes)
    block = _check_block_size(block_size)
    op = as_operator(op)
    hv, n, device = Products(op), op.shape[0], op.device
    exact = 0.0
    if method == "hutchinson":
        ids = list(range(num_samples)) if probes is None else [int(j) for j in probes]
        v = torch.stack([rademacher(n, probe_generator(seed, j), device) for j in ids], dim=1)
        samples = (v * _blocks(hv, v, block, progress, "Hutchinson")).sum(0)
    else:
        g = torch.Generator().manual_seed(int(seed))
        sketch = min(num_samples // 3, n)
        rest = num_samples - 2 * sketch
        s = torch.stack([rademacher(n, g, device) for _ in range(sketch)], dim=1)
        q, _ = torch.linalg.qr(_blocks(hv, s, block, False, "Hutch++"))
        exact = float(torch.trace(q.T @ _blocks(hv, q, block, False, "Hutch++")))
        v = torch.stack([rademacher(n, g, device) for _ in range(rest)], dim=1) if rest else s[:, :0]
        v = v - q @ (q.T @ v)
        w = _blocks(hv, v, block, progress, "Hutch++")
        samples = (v * (w - q @ (q.T @ w))).sum(0)
    arr = samples.cpu().numpy().astype(float)
    mean = exact + (float(arr.mean()) if arr.size else 0.0)
    stderr = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return TraceEstimate(
        mean=mean, stderr=stderr, samples=arr, method=method, n_hvp=hv.count, exact_part=exact
    )


def _check_arguments(num_samples: Any, method: str, probes: Sequence[int] | None) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    minimum = 3 if method == "hutch++" else 1
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < minimum:
        raise ValueError(f"num_samples must be an int >= {minimum} for {method}, got {num_samples!r}")
    if probes is not None and method != "hutchinson":
        raise ValueError("probes can only be chosen for method='hutchinson' (Hutch++ needs one sketch)")
    if probes is not None and not len(probes):
        raise ValueError("probes must not be empty")


def _check_block_size(block_size: Any) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be an int >= 1, got {block_size!r}")
    return block_size


def hessian_trace(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    num_samples: int = 100,
    method: str = "hutchinson",
    seed: int = 0,
    probes: Sequence[int] | None = None,
    param_filter: ParamFilter = None,
    mode: str = "eval",
    reduction: str | None = None,
    block_size: int = 16,
    progress: bool = False,
) -> TraceEstimate:
    """Estimate :math:`\\operatorname{tr}\\nabla^2_\\theta\\mathcal L`: :func:`trace` of a
    :class:`~stablecore.curvature.HessianOperator`, its work checked first (:mod:`stablecore.limits`).

    Args:
        num_samples, method, seed, probes, block_size, progress: see :func:`trace`.
        model, loss_fn, data, param_filter, mode, reduction: see
            :class:`~stablecore.curvature.HessianOperator`.

    Example:
        >>> lin = nn.Linear(3, 1, bias=False)
        >>> est = hessian_trace(lin, nn.MSELoss(), (torch.eye(3), torch.zeros(3, 1)), num_samples=4)
        >>> round(est.mean, 6), est.stderr  # H = 2/3 · I: every Rademacher probe gives the trace 2
        (2.0, 0.0)
    """
    _check_arguments(num_samples, method, probes)
    op = HessianOperator(model, loss_fn, data, param_filter=param_filter, mode=mode, reduction=reduction)
    count = num_samples if probes is None else len(probes)
    # a Hessian-vector product evaluates every example about three times (forward, two backward passes)
    check_work(3 * op.data.total * count, argument="num_samples", what="the probes' Hessian-vector products")
    return trace(
        op, num_samples=num_samples, method=method, seed=seed, probes=probes, block_size=block_size,
        progress=progress,
    )  # fmt: skip
