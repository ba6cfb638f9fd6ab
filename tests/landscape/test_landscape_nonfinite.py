"""Landscapes with NaN / inf losses, grids beyond the memory and work limits, and spans that cannot make a
grid: non-finite points are kept, counted (told apart from points a shard skipped) and warned about;
oversized grids and bad spans are refused with a ValueError / TypeError naming the argument."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stablecore.landscape import (
    Landscape,
    LandscapeSummary,
    check_grid_size,
    evaluate_points,
    landscape_grid,
    random_directions,
    slice_1d,
    slice_2d,
)

# α over ±1e200 in 5 steps: w + α < 0 (sqrt is NaN) at the first two points, (w + α)² overflows to +inf at
# the last two, and the model itself (α = 0) is finite
SPAN, STEPS, W0 = (-1e200, 1e200), 5, 0.5


def sqrt4(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``mean(sqrt(out - y)⁴)``: ``(out - y)²`` where ``out ≥ y``, NaN below, +inf once it overflows."""
    return (out - y).sqrt().pow(4).mean()


def line_model() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]:
    model = nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(W0)
    data = (torch.ones(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    return model, data, {"weight": torch.ones(1, 1, dtype=torch.float64)}


def oracle(alphas: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sqrt(W0 + alphas) ** 4


def test_nonfinite_losses_are_kept_counted_and_warned():
    model, data, direction = line_model()
    with pytest.warns(RuntimeWarning, match="4 of 5 evaluated grid points have a non-finite loss"):
        land = slice_1d(model, sqrt4, data, direction=direction, span=SPAN, steps=STEPS, progress=False)
    expected = oracle(land.alphas)
    assert np.isnan(expected[:2]).all() and np.isposinf(expected[3:]).all()
    np.testing.assert_array_equal(land.loss, expected)  # NaN where NaN, inf where inf, exact elsewhere
    centre = float(expected[2])  # sqrt(0.5)⁴ in float64
    assert land.centre_loss == centre
    assert land.evaluated.all() and land.n_nonfinite == 4
    assert land.finite.tolist() == [False, False, True, False, False]
    summary = land.summary()
    assert summary == LandscapeSummary(
        points=5, evaluated=5, nan=2, inf=2, centre_loss=centre, loss_min=centre, loss_max=centre
    )
    assert summary.nonfinite == 4 and summary.complete
    text = str(summary)
    assert text.startswith("5 of 5 grid points evaluated, 4 non-finite (2 NaN, 2 inf loss")
    assert "(complete)" not in text and "finite loss range [0.25, 0.25]" in text


def test_shard_skipped_points_are_not_counted_as_nonfinite():
    model, data, direction = line_model()
    with pytest.warns(RuntimeWarning, match="2 of 2 evaluated"):
        part = slice_1d(
            model, sqrt4, data, direction=direction, span=SPAN, steps=STEPS, shard="1/2", progress=False
        )
    assert part.evaluated.tolist() == [False, True, False, True, False]
    assert part.n_nonfinite == 2  # α = -5e199 (NaN) and 5e199 (inf); the three skipped are not counted
    summary = part.summary()
    assert (summary.points, summary.evaluated, summary.nan, summary.inf) == (5, 2, 1, 1)
    assert summary.centre_loss is None and summary.loss_min is None and not summary.complete
    assert str(summary).endswith("; no finite loss")
    frame = part.to_frame()  # evaluated rows only, their non-finite losses kept
    assert frame["alpha"].tolist() == [-5e199, 5e199]
    assert np.isnan(frame["loss"].iloc[0]) and np.isposinf(frame["loss"].iloc[1])
    back = Landscape.from_frame(frame)
    assert back.evaluated.all() and back.n_nonfinite == 2
    # a frame pooled from tables: absent points are not evaluated, present NaN rows are
    grid = np.array([-1.0, 0.0, 1.0])
    table = pd.DataFrame({"alpha": grid[[0, 2]], "beta": 0.0, "loss": [np.nan, 1.0], "accuracy": np.nan})
    pooled = Landscape.from_frame(table)
    assert pooled.evaluated.tolist() == [True, True] and pooled.n_nonfinite == 1


def test_accuracy_is_nan_where_the_output_is_not_finite():
    torch.manual_seed(0)
    model = nn.Linear(2, 3).double()
    x = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2))
    direction = {"weight": torch.full((3, 2), 1e10, dtype=torch.float64), "bias": torch.zeros(3).double()}
    with pytest.warns(RuntimeWarning, match="non-finite loss"):
        land = slice_1d(
            model, nn.CrossEntropyLoss(), (x, y), direction=direction, span=(-1e300, 1e300), steps=3,
            progress=False,
        )  # fmt: skip
    # the ends move every weight by ±1e310: logits are ±inf or NaN, so the argmax is no prediction
    assert land.alphas.tolist() == [-1e300, 0.0, 1e300]
    assert np.isnan(land.loss[[0, 2]]).all() and np.isnan(land.accuracy[[0, 2]]).all()
    with torch.no_grad():
        logits = x @ model.weight.T + model.bias
        dense_loss = float(nn.functional.cross_entropy(logits, y))
        dense_acc = float((logits.argmax(1) == y).double().mean())
    assert land.loss[1] == pytest.approx(dense_loss, rel=1e-12) and land.accuracy[1] == dense_acc


def test_finite_landscape_unchanged_and_silent():
    model, data, direction = line_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        land = slice_2d(
            model, sqrt4, data, directions=[direction, direction], span=(-0.25, 0.25), steps=3, progress=False
        )
    a, b = np.meshgrid(land.alphas, land.betas, indexing="ij")
    np.testing.assert_allclose(land.loss, (W0 + a + b) ** 2, rtol=1e-15)
    summary = land.summary()
    assert (
        summary.nonfinite == 0
        and summary.complete
        and str(summary).startswith(
            "9 of 9 grid points evaluated (complete); loss at the model 0.25; range [0, 1]"
        )
    )
    assert len(land.to_frame()) == 9


# ---------------------------------------------------------------------------------------- limits
def test_grids_beyond_the_memory_limit_are_refused_before_allocating():
    model, data, direction = line_model()
    # 10¹² points would be a multi-TiB allocation (MemoryError) before the check
    with pytest.raises(ValueError, match=r"^steps: the 2-D landscape grid .* \$STABLECORE_MAX_MEMORY"):
        slice_2d(model, sqrt4, data, directions=[direction, direction], steps=10**6, progress=False)
    with pytest.raises(ValueError, match=r"^steps: .*STABLECORE_MAX_MEMORY"):
        landscape_grid((-1, 1), 10**13)
    with pytest.raises(ValueError, match=r"^--steps: the 1-D landscape grid"):
        check_grid_size(10**12, 1, argument="--steps")


def test_work_and_chunk_limits_name_the_argument(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    ce = nn.CrossEntropyLoss()
    monkeypatch.setenv("STABLECORE_MAX_WORK", "1000")
    # about 11² points × 32 examples = 3872 model evaluations > 1000
    with pytest.raises(ValueError, match=r"^steps: the 2-D landscape .* \$STABLECORE_MAX_WORK"):
        slice_2d(model, ce, (x, y), steps=11, progress=False)
    dirs = random_directions(model, 2)
    with pytest.raises(ValueError, match=r"^coordinates: .* \$STABLECORE_MAX_WORK"):
        evaluate_points(model, ce, (x, y), dirs, np.zeros((40, 2)), progress=False)
    assert slice_1d(model, ce, (x, y), steps=5, progress=False).loss.shape == (5,)  # 7 × 32 < 1000
    monkeypatch.delenv("STABLECORE_MAX_WORK")
    monkeypatch.setenv("STABLECORE_MAX_MEMORY", "16K")
    # 64 points × 83 float32 parameters, stacked and perturbed: 42 KiB > 16 KiB
    with pytest.raises(ValueError, match=r"^chunk_size: .* \$STABLECORE_MAX_MEMORY"):
        evaluate_points(model, ce, (x, y), dirs, np.zeros((64, 2)), chunk_size=64, progress=False)


# ------------------------------------------------------------------------------------------ span
@pytest.mark.parametrize(
    ("span", "steps", "exc", "match"),
    [
        ((-1e308, 1e308), 5, ValueError, "finite width"),  # linspace gave inf and NaN values
        ((1.0, 1.0 + 2**-52), 9, ValueError, "too narrow"),  # 9 coinciding values
        ((0.0, 5e-324), 3, ValueError, "too narrow"),
        (("-1", "1"), 3, TypeError, "two numbers"),  # strings were parsed
        ((True, 2.0), 3, TypeError, "two numbers"),
        ((0.0, float("inf")), 3, ValueError, "finite"),
        ((0.5, 0.5), 3, ValueError, "start < stop"),
    ],
)
def test_spans_that_make_no_grid_are_refused(span, steps, exc, match):
    model, data, direction = line_model()
    with pytest.raises(exc, match=match):
        landscape_grid(span, steps)
    with pytest.raises(exc, match="span"):
        slice_1d(model, sqrt4, data, direction=direction, span=span, steps=steps, progress=False)


def test_negative_and_tiny_spans_and_array_spans_work():
    assert landscape_grid(np.array([-1e-3, 1e-3]), 3).tolist() == [-1e-3, 0.0, 1e-3]
    tiny = landscape_grid((-1e-300, 1e-300), 5)
    assert (np.diff(tiny) > 0).all() and tiny[2] == 0.0 and tiny[0] == -1e-300
