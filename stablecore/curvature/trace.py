r"""Trace of the loss Hessian: Hutchinson and Hutch++ estimators with a standard error.

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

from stablecore.curvature.operators import HessianOperator, LossFn, ParamFilter
from stablecore.limits import check_work

__all__ = ["TraceEstimate", "hessian_trace", "probe_generator", "rademacher"]

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
    progress: bool = False,
) -> TraceEstimate:
    """Estimate :math:`\\operatorname{tr}\\nabla^2_\\theta\\mathcal L` (module docstring).

    Args:
        num_samples: Hessian-vector products in all (Hutch++ needs at least 3).
        method: ``"hutchinson"`` or ``"hutch++"``.
        seed: seed of the probe vectors (a CPU generator, so results do not depend on the device).
        probes: Hutchinson only: the probe indices to draw (default ``range(num_samples)``); probe ``j`` is
            always the same vector (:func:`probe_generator`), so shards ``j ≡ i (mod n)`` of one estimate
            can be computed apart and their samples pooled.
        model, loss_fn, data, param_filter, mode, reduction: see
            :class:`~stablecore.curvature.HessianOperator`.

    Example:
        >>> lin = nn.Linear(3, 1, bias=False)
        >>> est = hessian_trace(lin, nn.MSELoss(), (torch.eye(3), torch.zeros(3, 1)), num_samples=4)
        >>> round(est.mean, 6), est.stderr  # H = 2/3 · I: every Rademacher probe gives the trace 2
        (2.0, 0.0)
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    minimum = 3 if method == "hutch++" else 1
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < minimum:
        raise ValueError(f"num_samples must be an int >= {minimum} for {method}, got {num_samples!r}")
    if probes is not None and method != "hutchinson":
        raise ValueError("probes can only be chosen for method='hutchinson' (Hutch++ needs one sketch)")
    if probes is not None and not len(probes):
        raise ValueError("probes must not be empty")
    op = HessianOperator(model, loss_fn, data, param_filter=param_filter, mode=mode, reduction=reduction)
    count = num_samples if probes is None else len(probes)
    # a Hessian-vector product evaluates every example about three times (forward, two backward passes)
    check_work(3 * op.data.total * count, argument="num_samples", what="the probes' Hessian-vector products")
    g = torch.Generator().manual_seed(int(seed))

    def hv(v: torch.Tensor) -> torch.Tensor:
        return op.matvec(v).to(torch.float64)

    exact = 0.0
    if method == "hutchinson":
        ids = list(range(num_samples)) if probes is None else [int(j) for j in probes]
        samples = []
        for j in tqdm(ids, desc="Hutchinson", disable=not progress, leave=False):
            v = rademacher(op.size, probe_generator(seed, j), op.device)
            samples.append(float(torch.dot(v, hv(v))))
    else:
        sketch = min(num_samples // 3, op.size)
        rest = num_samples - 2 * sketch
        s = torch.stack([rademacher(op.size, g, op.device) for _ in range(sketch)], dim=1)
        hs = torch.stack([hv(s[:, i]) for i in range(sketch)], dim=1)
        q, _ = torch.linalg.qr(hs)
        hq = torch.stack([hv(q[:, i]) for i in range(q.shape[1])], dim=1)
        exact = float(torch.trace(q.T @ hq))
        samples = []
        for _ in tqdm(range(rest), desc="Hutch++", disable=not progress, leave=False):
            v = rademacher(op.size, g, op.device)
            v = v - q @ (q.T @ v)
            w = hv(v)
            samples.append(float(torch.dot(v, w - q @ (q.T @ w))))
    arr = np.asarray(samples, dtype=float)
    mean = exact + (float(arr.mean()) if arr.size else 0.0)
    stderr = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.nan
    return TraceEstimate(
        mean=mean, stderr=stderr, samples=arr, method=method, n_hvp=op.n_hvp, exact_part=exact
    )
