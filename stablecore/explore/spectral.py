r"""Per-layer spectral norms of a model (Gram vs power vs exact) and Gram-iteration convergence.

For each leaf module :func:`stablecore.spectral.lipschitz_bound` visits, the layer's norm by three
methods: Gram iteration (``upper_bound``, Delattre et al. 2023), power iteration (``lower_bound``) and the
exact SVD (``exact``). For a Lipschitz-by-design layer (AOL, SLL, CPL, ...) every method reports the
layer's guaranteed constant. The network's bound is the product over the walk
(:math:`L(f)\le\prod_l\sigma_1(W_l)` for a chain, :math:`1 + L(\text{branch})` for a residual block).

Gram iteration on :math:`G_0 = W`: :math:`G_{t+1} = G_t^\top G_t` (rescaled), with the bound
:math:`\sigma_1(W) \le \lVert G_t\rVert_F^{2^{-t}}` after t steps; :func:`gram_convergence` records the
relative gap to the exact norm after every step, next to power iteration's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

from stablecore.spectral import lipschitz_bound, matrix_norm
from stablecore.train.evaluate import eval_mode

__all__ = ["METHODS", "gram_convergence", "layer_norms", "linear_layers", "network_bounds"]

METHODS: tuple[str, ...] = ("gram", "power", "exact")


def layer_norms(
    model: nn.Module, input_shape: Sequence[int], methods: Sequence[str] = METHODS
) -> pd.DataFrame:
    """One row per leaf module and method: ``module, type, input_shape, output_shape, method, value,
    kind``. A method that cannot bound the model is left out (its error is in ``attrs["errors"]``)."""
    frames, errors = [], {}
    with eval_mode(model):
        for method in methods:
            try:
                bound = lipschitz_bound(model, tuple(input_shape), method=method)
            except ValueError as exc:
                errors[method] = str(exc)
                continue
            table = bound.details[["module", "type", "input_shape", "output_shape", "value", "kind"]].copy()
            table.insert(4, "method", method)
            frames.append(table)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["module", "type", "input_shape", "output_shape", "method", "value", "kind"]
    )  # fmt: skip
    out.attrs["errors"] = errors
    return out


def network_bounds(
    model: nn.Module, input_shape: Sequence[int], methods: Sequence[str] = METHODS
) -> pd.DataFrame:
    """The whole network's Lipschitz value per layer-norm method: ``method, value, kind`` (``gram`` and
    ``exact`` give an ``upper_bound``; ``power`` only an ``estimate``: products of lower bounds are no
    bound of the whole)."""
    rows = []
    with eval_mode(model):
        for method in methods:
            try:
                bound = lipschitz_bound(model, tuple(input_shape), method=method)
            except ValueError as exc:
                rows.append({"method": method, "value": float("nan"), "kind": f"refused: {exc}"})
                continue
            rows.append({"method": method, "value": bound.value, "kind": bound.kind})
    return pd.DataFrame(rows, columns=["method", "value", "kind"])


def linear_layers(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """``(name, weight matrix)`` of every ``nn.Linear`` in ``model`` (parametrized weights as applied)."""
    return [(name, m.weight.detach()) for name, m in model.named_modules() if isinstance(m, nn.Linear)]


def gram_convergence(
    model: nn.Module, *, n_iter: int = 10, power_iter: int = 30, seed: int = 0
) -> pd.DataFrame:
    """Relative gap ``|bound − σ₁| / σ₁`` after each Gram step (``n_iter`` steps, no early stop) and
    each power step, for every linear layer's weight: columns ``shape`` (``"<layer> (m×n)"``),
    ``method``, ``iteration``, ``rel_error``, ``time_ms`` (total time of the method, on the last row),
    the table :func:`stablecore.plots.convergence_plot` draws."""
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}")
    rows = []
    for name, w in linear_layers(model):
        label = f"{name} ({w.shape[0]}×{w.shape[1]})"
        exact = matrix_norm(w, method="exact").value
        if exact == 0:
            continue
        for method, iters in (("gram", n_iter), ("power", power_iter)):
            start = time.perf_counter()
            bound = matrix_norm(w, method=method, n_iter=iters, tol=0.0, seed=seed)
            ms = (time.perf_counter() - start) * 1e3
            history = list(bound.history) or [bound.value]
            for i, value in enumerate(history, start=1):
                rows.append(
                    {
                        "shape": label,
                        "method": method,
                        "iteration": i,
                        "value": value,
                        "exact": exact,
                        "rel_error": abs(value - exact) / exact,
                        "time_ms": ms if i == len(history) else float("nan"),
                    }
                )
    return pd.DataFrame(
        rows, columns=["shape", "method", "iteration", "value", "exact", "rel_error", "time_ms"]
    )
