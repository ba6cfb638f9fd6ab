r"""The one certified-accuracy rule of the package (Cohen, Rosenfeld & Kolter, ICML 2019, §4).

An example counts as *certified at radius r* when it is **correct**, **not abstained** and its certified
radius is **≥ r**:

.. math::

    \mathrm{CA}(r) = \frac1N\,\bigl|\{i : \hat y_i = y_i,\ \hat y_i \ne \text{abstain},\ R_i \ge r\}\bigr|.

So ``CA(0)`` is the fraction of correct, non-abstained examples (a correct Lipschitz-margin prediction
with a tie, radius 0, counts at r = 0). A ``NaN`` radius is never certified; ``+inf`` is certified at
every r. Every caller (deterministic certificates of :mod:`stablecore.certify`, randomized smoothing
tables of :mod:`stablecore.smoothing`, the chapters and the dashboard) goes through :func:`certified_mask`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = ["certified_accuracy", "certified_accuracy_curve", "certified_mask", "check_radii"]

#: Prediction of an abstention (package-wide convention, see :data:`stablecore.smoothing.ABSTAIN`).
_ABSTAIN = -1


def check_radii(values: Any, name: str = "eps") -> list[float]:
    """``values`` (a number or a non-empty sequence) as a list of finite floats ≥ 0; errors name ``name``."""
    values = [values] if isinstance(values, int | float | np.floating | np.integer) else list(values)
    if not values:
        raise ValueError(f"{name} must be a number or a non-empty sequence of numbers")
    out = []
    for e in values:
        if isinstance(e, bool) or not isinstance(e, int | float | np.floating | np.integer):
            raise TypeError(f"{name} must contain real numbers, got {type(e).__name__}")
        e = float(e)
        if not math.isfinite(e) or e < 0:
            raise ValueError(f"{name} must contain finite values >= 0, got {e}")
        out.append(e)
    return out


def _array(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    return arr


def certified_mask(radius: Any, correct: Any, r: float, *, prediction: Any = None) -> np.ndarray:
    """Boolean mask of the examples certified at radius ``r`` (module docstring): ``correct`` and not
    abstained (``prediction != -1`` when ``prediction`` is given) and ``radius >= r``.

    Raises:
        TypeError: ``correct`` is not boolean.
        ValueError: shapes differ, a radius is negative, or ``r`` is not a finite number ≥ 0.
    """
    rad = _array(radius, "radius").astype(np.float64)
    ok = _array(correct, "correct")
    if ok.dtype != bool:
        raise TypeError(f"correct must be boolean, got {ok.dtype}")
    if rad.shape != ok.shape:
        raise ValueError(f"radius and correct must have the same length, got {rad.shape} and {ok.shape}")
    if (rad < 0).any():  # NaN compares False: allowed, never certified
        raise ValueError("radius must be >= 0 (or NaN: never certified)")
    (r,) = check_radii(r, "r")
    mask = ok & (rad >= r)
    if prediction is not None:
        pred = _array(prediction, "prediction")
        if pred.shape != rad.shape:
            raise ValueError(f"prediction must have the length of radius, got {pred.shape} and {rad.shape}")
        mask &= pred != _ABSTAIN
    return mask


def certified_accuracy(radii: Any, correct: Any, eps: float, *, prediction: Any = None) -> float:
    """Fraction of examples certified at radius ``eps`` (:func:`certified_mask`).

    Example:
        >>> certified_accuracy([0.5, 1.0, 2.0], [True, True, False], 0.5)
        0.6666666666666666
    """
    (e,) = check_radii(eps, "eps")
    return float(np.mean(certified_mask(radii, correct, e, prediction=prediction)))


def certified_accuracy_curve(
    table: pd.DataFrame,
    radii: Sequence[float] | float,
    *,
    radius: str = "radius",
    correct: str = "correct",
    prediction: str | None = "prediction",
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Certified accuracy of the rows of ``table`` at each radius of ``radii`` (module docstring).

    Args:
        table: one row per example, e.g. :func:`stablecore.certify.certify_model` or
            :func:`stablecore.smoothing.certify_dataset`.
        radii: radii r ≥ 0.
        radius, correct: the columns of the certified radius and of correctness (boolean).
        prediction: the prediction column (−1 = abstain), used when ``table`` has it; None ignores it.
        by: columns to group by (one curve per group, e.g. ``("method",)``).

    Returns:
        Columns ``*by, eps, certified_accuracy`` (groups in order of appearance).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    by = [by] if isinstance(by, str) else list(by)
    for column in (correct, radius, *by):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r} (columns: {list(table.columns)})")
    grid = check_radii(radii, "radii")
    use_pred = prediction is not None and prediction in table.columns
    groups = table.groupby(by, sort=False) if by else [((), table)]
    rows = []
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        pred = part[prediction].to_numpy() if use_pred else None
        for r in grid:
            mask = certified_mask(
                part[radius].to_numpy(dtype=float), part[correct].to_numpy(), r, prediction=pred
            )
            rows.append((*key, r, float(mask.mean())))
    return pd.DataFrame(rows, columns=[*by, "eps", "certified_accuracy"])
