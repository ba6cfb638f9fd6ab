"""The one certified-accuracy rule (correct, not abstained, radius ≥ r; Cohen et al. 2019) against a
brute-force count on hand-made rows: abstentions, radius exactly r, r = 0, incorrect with a large radius."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

from stablecore.certify import certified_accuracy, certified_accuracy_curve, certified_mask
from stablecore.smoothing import certified_accuracy_curve as smoothing_curve

# (prediction, label, radius): -1 = abstain
ROWS = [
    (1, 1, 0.0),  # correct, radius 0 (a tie of a margin certificate): counts at r = 0 only
    (1, 1, 0.25),  # correct, radius exactly 0.25: counts at r = 0.25
    (2, 2, 0.5),
    (0, 1, 9.0),  # incorrect with a large radius: never counts
    (-1, 1, 0.0),  # abstention: never counts, not even at r = 0
    (3, 3, math.inf),  # counts everywhere
    (2, 2, math.nan),  # no radius: never counts
]
RADII = [0.0, 0.1, 0.25, 0.5, 1.0, 10.0]


def _table(rows=ROWS) -> pd.DataFrame:
    pred, label, radius = zip(*rows, strict=True)
    frame = pd.DataFrame({"prediction": pred, "label": label, "radius": radius})
    frame["correct"] = frame["prediction"] == frame["label"]
    return frame


def _brute_force(rows, r: float) -> float:
    hits = 0
    for pred, label, radius in rows:
        if pred != -1 and pred == label and not math.isnan(radius) and radius >= r:
            hits += 1
    return hits / len(rows)


def test_curve_equals_the_brute_force_count():
    curve = certified_accuracy_curve(_table(), RADII)
    assert list(curve.columns) == ["eps", "certified_accuracy"]
    assert curve["eps"].tolist() == RADII
    assert curve["certified_accuracy"].tolist() == [_brute_force(ROWS, r) for r in RADII]
    # by hand: r = 0 counts the correct, non-abstained points with a radius
    assert curve["certified_accuracy"].tolist() == [4 / 7, 3 / 7, 3 / 7, 2 / 7, 1 / 7, 1 / 7]


def test_abstention_marked_correct_is_still_not_counted():
    table = _table([(-1, -1, 0.0), (1, 1, 0.2)])  # a label equal to the abstain code
    assert table["correct"].all()
    assert certified_accuracy_curve(table, [0.0])["certified_accuracy"].tolist() == [0.5]
    # without the prediction column, the correct flag alone decides
    assert certified_accuracy_curve(table, [0.0], prediction=None)["certified_accuracy"].tolist() == [1.0]


def test_grouped_curves_and_the_smoothing_reexport():
    rng = np.random.default_rng(0)
    rows = [(int(p), int(y), float(r)) for p, y, r in zip(rng.integers(-1, 3, 40), rng.integers(0, 3, 40),
                                                          rng.exponential(0.5, 40), strict=True)]  # fmt: skip
    table = _table(rows).assign(method=["a", "b"] * 20)
    curve = certified_accuracy_curve(table, RADII, by=["method"])
    assert list(curve.columns) == ["method", "eps", "certified_accuracy"]
    for method in ("a", "b"):
        part = [row for row, m in zip(rows, table["method"], strict=True) if m == method]
        got = curve[curve["method"] == method]["certified_accuracy"].tolist()
        assert got == [_brute_force(part, r) for r in RADII]
    assert smoothing_curve is certified_accuracy_curve


def test_scalar_and_mask_follow_the_same_rule():
    radii = [0.0, 0.1, 0.5, 0.5, 2.0, math.inf]
    correct = [True, True, True, False, True, True]
    assert certified_accuracy(radii, correct, 0.0) == pytest.approx(5 / 6)
    assert certified_accuracy(radii, correct, 0.5) == pytest.approx(3 / 6)  # radius exactly r counts
    assert certified_accuracy(torch.tensor(radii), torch.tensor(correct), 3.0) == pytest.approx(1 / 6)
    mask = certified_mask(radii, correct, 0.1, prediction=[0, -1, 0, 0, 0, 0])
    assert mask.tolist() == [False, False, True, False, True, True]


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="radius and correct"):
        certified_accuracy([0.1, 0.2], [True], 0.1)
    with pytest.raises(ValueError, match="eps"):
        certified_accuracy([0.1], [True], -1.0)
    with pytest.raises(TypeError, match="correct"):
        certified_accuracy([0.1], [1], 0.1)
    with pytest.raises(ValueError, match="radius"):
        certified_accuracy([-0.1], [True], 0.1)
    with pytest.raises(ValueError, match="column"):
        certified_accuracy_curve(pd.DataFrame({"radius": [1.0]}), [0.1])
    with pytest.raises(ValueError, match="radii"):
        certified_accuracy_curve(_table(), [math.inf])
    with pytest.raises(TypeError, match="DataFrame"):
        certified_accuracy_curve({"radius": [1.0]}, [0.1])
