"""landscape_flatness against the direct mean over the disk (closed-form quadratic losses); a NaN or inf
loss inside the radius gives inf, never the mean of the finite points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stablecore.landscape import Landscape, landscape_flatness


def test_landscape_flatness_against_direct_mean() -> None:
    grid = np.linspace(-1.0, 1.0, 9)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    loss = 3.0 + a**2 + 2 * b**2
    land = Landscape(grid, grid.copy(), loss, np.full_like(loss, np.nan), {"dims": 2})
    for r in (0.3, 0.5, 1.0):
        vals = [(3.0 + x * x + 2 * y * y) - 3.0 for x in grid for y in grid if math.hypot(x, y) <= r + 1e-12]
        assert landscape_flatness(land, r) == pytest.approx(sum(vals) / len(vals), rel=1e-12)
    one = Landscape(grid, None, 1.0 + grid**2, np.full(9, np.nan), {"dims": 1})
    assert landscape_flatness(one, 0.5) == pytest.approx(np.mean(grid[np.abs(grid) <= 0.5] ** 2))
    assert landscape_flatness(land.to_frame(), 1.0) == landscape_flatness(land, 1.0)
    for bad in (0.0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="radius"):
            landscape_flatness(land, bad)
    coarse = Landscape(np.array([-1.0, 1.0]), None, np.array([2.0, 2.0]), np.full(2, np.nan), {"dims": 1})
    with pytest.raises(ValueError, match="no evaluated grid point"):
        landscape_flatness(coarse, 0.5)


def test_landscape_flatness_never_averages_over_a_nonfinite_loss() -> None:
    """A NaN or inf loss inside the radius makes the increase unbounded (inf), never the mean of the
    finite points; one outside the radius changes nothing; an unevaluated point is skipped."""
    grid = np.linspace(-1.0, 1.0, 9)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    clean = Landscape(grid, grid.copy(), 3.0 + a**2 + b**2, np.full((9, 9), np.nan), {"dims": 2})
    for bad in (np.nan, np.inf):
        loss = clean.loss.copy()
        loss[5, 4] = bad  # at distance 0.25 from the centre
        land = Landscape(grid, grid.copy(), loss, clean.accuracy, {"dims": 2})
        assert landscape_flatness(land, 0.5) == math.inf
        assert landscape_flatness(land, 0.2) == landscape_flatness(clean, 0.2)
        skipped = Landscape(grid, grid.copy(), loss, clean.accuracy, {"dims": 2}, evaluated=np.isfinite(loss))
        assert math.isfinite(landscape_flatness(skipped, 0.5))
