"""certify_dataset: rows in the run store, resume after an interruption to the same table, shards that
concatenate to the unsharded table, the certified-accuracy curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.results import create_run
from stablecore.smoothing import Smooth
from stablecore.smoothing.dataset import certified_accuracy_curve, certify_dataset

SETTINGS = {"n0": 20, "n": 300, "alpha": 0.01, "batch_size": 128, "progress": False}


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(13, 2, generator=g)
    y = torch.randint(0, 3, (13,), generator=g)
    return Smooth(model, 3, 0.3), TensorDataset(x, y)


class Interrupt(Exception):
    pass


class Flaky(torch.utils.data.Dataset):
    def __init__(self, data, fail_at: int) -> None:
        self.data, self.fail_at = data, fail_at

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise Interrupt
        return self.data[i]


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["seconds"]).sort_values("index").reset_index(drop=True)


def test_resume_equals_uninterrupted_and_shards_concatenate(tmp_path):
    smooth, data = _setup()
    whole = certify_dataset(smooth, data, out=create_run("a", home=tmp_path), **SETTINGS)
    assert list(whole["index"]) == list(range(13)) and len(whole.columns) >= 8
    run = create_run("b", home=tmp_path)
    with pytest.raises(Interrupt):
        certify_dataset(smooth, Flaky(data, 7), out=run, flush_every=3, **SETTINGS)
    partial = pd.read_parquet(run.table_path("certify-cohen"))
    assert 0 < len(partial) < 13  # flushed as it went
    resumed = certify_dataset(smooth, data, out=run, flush_every=3, **SETTINGS)
    pd.testing.assert_frame_equal(_strip(resumed), _strip(whole))
    sharded = create_run("c", home=tmp_path)
    parts = [certify_dataset(smooth, data, out=sharded, shard=f"{i}/3", **SETTINGS) for i in range(3)]
    pd.testing.assert_frame_equal(_strip(pd.concat(parts)), _strip(whole))
    from stablecore.results import read_table

    pd.testing.assert_frame_equal(_strip(read_table(sharded.path, "certify-cohen")), _strip(whole))


def test_every_curve_and_consistency(tmp_path):
    smooth, data = _setup()
    table = certify_dataset(smooth, data, out=create_run("d", home=tmp_path), every=4, **SETTINGS)
    assert list(table["index"]) == [0, 4, 8, 12]
    assert (table["correct"] == (table["prediction"] == table["label"])).all()
    assert (table.loc[table["prediction"] == -1, "radius"] == 0).all()
    assert all(np.sum(c) == 300 for c in table["counts_estimation"])
    curve = certified_accuracy_curve(table, [0.0, 0.1, 0.5])
    certified = [
        table["correct"] & (table["prediction"] != -1) & (table["radius"] >= r) for r in (0.0, 0.1, 0.5)
    ]
    expected = [float(np.mean(c)) for c in certified]  # Cohen et al.'s rule: correct, not abstained, R >= r
    assert curve["certified_accuracy"].tolist() == expected


def test_validation(tmp_path):
    smooth, data = _setup()
    run = create_run("e", home=tmp_path)
    with pytest.raises(ValueError, match="method"):
        certify_dataset(smooth, data, out=run, method="magic")
    with pytest.raises(ValueError, match="n0"):
        certify_dataset(smooth, data, out=run, n0=0)
    with pytest.raises(ValueError, match="empty"):
        certify_dataset(smooth, TensorDataset(torch.zeros(0, 2), torch.zeros(0)), out=run)
    with pytest.raises(ValueError, match="shard"):
        certify_dataset(smooth, data, out=run, shard="4/2")
    with pytest.raises(ValueError, match="column"):
        certified_accuracy_curve(pd.DataFrame({"radius": [1.0]}), [0.1])
