"""Training figures of stablecore.plots: loss left and accuracy right per epoch, chosen metrics only,
refusal of tables without an epoch or with unknown metrics; input never changed."""

from __future__ import annotations

import pandas as pd
import pytest

from stablecore import plots


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6],
         "train_accuracy": [0.5, 0.8, 0.9], "lr": [0.1, 0.1, 0.01]}
    )  # fmt: skip


def test_training_curves_panels_and_values() -> None:
    history = _history()
    before = history.copy()
    fig = plots.training_curves(history, title="t")
    assert [t.name for t in fig.data] == ["train_loss", "val_loss", "train_accuracy"]  # lr is no metric
    assert [t.xaxis for t in fig.data] == ["x", "x", "x2"]
    assert list(fig.data[1].y) == [1.1, 0.7, 0.6] and list(fig.data[2].x) == [1, 2, 3]
    assert tuple(fig.layout.yaxis2.range) == (0, 1.02) and fig.layout.title.text == "t"
    pd.testing.assert_frame_equal(history, before)
    assert len(plots.training_curves(history, metrics=["val_loss"]).data) == 1


def test_training_curves_refuses_bad_tables() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        plots.training_curves(_history().to_dict())
    with pytest.raises(ValueError, match="epoch"):
        plots.training_curves(_history().drop(columns="epoch"))
    with pytest.raises(ValueError, match="nope"):
        plots.training_curves(_history(), metrics=["nope"])
