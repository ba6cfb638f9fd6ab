r"""Landscape flatness: the mean loss increase on a disk of a slice (Li et al. 2018).

.. math::

    F_r = \operatorname{mean}_{\{(\alpha,\beta)\ \text{on the grid}:\ \alpha^2+\beta^2\le r^2\}}
    \bigl[\mathcal L(\theta+\alpha\delta+\beta\eta) - \mathcal L(\theta)\bigr]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from stablecore.landscape.slices import as_landscape

__all__ = ["landscape_flatness"]


def landscape_flatness(landscape: Any, radius: float) -> float:
    r"""Mean loss increase on the disk (2-D) or interval (1-D) of radius ``radius`` around the model,

    .. math::

        F_r = \operatorname{mean}_{\{(\alpha,\beta)\ \text{on the grid}:\ \alpha^2+\beta^2\le r^2\}}
        \bigl[\mathcal L(\theta+\alpha\delta+\beta\eta) - \mathcal L(\theta)\bigr],

    in the coordinates of the slice (filter-normalised directions: :math:`r = 1` moves each filter by its
    own norm, Li et al. 2018). Smaller is flatter; it can be negative when the model is not at a minimum
    of the plane. An ``estimate``: it depends on the random plane drawn. ``inf`` when a grid point
    within the radius has a NaN or infinite loss (never the mean of the finite points alone).

    Args:
        landscape: a :class:`~stablecore.landscape.Landscape` or its ``to_frame()`` table.
        radius: :math:`r > 0`.

    Raises:
        ValueError: ``radius`` not a positive number, or no evaluated grid point within it.
    """
    land = as_landscape(landscape)
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius):
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    if not radius > 0:
        raise ValueError(f"radius must be a finite number > 0, got {radius!r}")
    if land.betas is None:
        dist = np.abs(land.alphas)
    else:
        a, b = np.meshgrid(land.alphas, land.betas, indexing="ij")
        dist = np.sqrt(a * a + b * b)
    inside = (dist <= radius * (1 + 1e-9)) & land.evaluated
    if not inside.any():
        raise ValueError(f"no evaluated grid point within radius {radius} of the centre")
    if not np.isfinite(land.loss[inside]).all():
        return math.inf  # a NaN or infinite loss within the radius: the increase is unbounded
    return float(np.mean(land.loss[inside] - land.centre_loss))
