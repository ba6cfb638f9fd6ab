"""certify_dataset stores its settings with the table and refuses a resume with other ones (issue 22,
item 5); stored rows are checked when read back (item 8); work and batch memory are bounded (item 7)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.limits import MAX_MEMORY_ENV, MAX_WORK_ENV
from stablecore.results import create_run, read_table
from stablecore.smoothing import Smooth
from stablecore.smoothing.dataset import certify_dataset, model_sha256, settings_path
from stablecore.smoothing.lvm import MAPS
from stablecore.spectral import lipschitz_bound

BASE = {"n0": 10, "n": 60, "alpha": 0.01, "batch_size": 32, "progress": False}


def _model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))


def _data(size: int = 6) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(size, 2, generator=g), torch.randint(0, 3, (size,), generator=g))


def _strip(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="seconds").sort_values("index").reset_index(drop=True)


def _stored(run, name: str = "certify-cohen") -> dict:
    return json.loads(settings_path(run, name).read_text())


def test_settings_are_stored_with_the_table(tmp_path):
    run = create_run("s", home=tmp_path)
    model = _model()
    certify_dataset(Smooth(model, 3, 0.25), _data(), out=run, seed=3, every=2, **BASE)
    stored = _stored(run)
    assert {k: stored[k] for k in ("method", "sigma", "n0", "n", "alpha", "seed", "every", "shards")} == {
        "method": "cohen", "sigma": 0.25, "n0": 10, "n": 60, "alpha": 0.01, "seed": 3, "every": 2,
        "shards": 1,
    }  # fmt: skip
    assert stored["model_sha256"] == model_sha256(model) != model_sha256(_model(1))
    assert read_table(run.path, "certify-cohen")["index"].tolist() == [0, 2, 4]
    assert run.table_names() == ["certify-cohen"]  # the settings file is not a table


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"sigma": 1.0}, "sigma"),
        ({"n": 200}, "n"),
        ({"n0": 20}, "n0"),
        ({"alpha": 0.001}, "alpha"),
        ({"seed": 1}, "seed"),
        ({"every": 2}, "every"),
        ({"model_seed": 1}, "model_sha256"),
    ],
)
def test_resume_with_other_settings_is_refused_and_the_table_kept(tmp_path, change, key):
    run = create_run("r", home=tmp_path)
    data = _data()
    first = certify_dataset(
        Smooth(_model(), 3, 0.25), torch.utils.data.Subset(data, range(3)), out=run, **BASE
    )
    settings = {**BASE, "seed": 0, "every": 1, **change}
    sigma, model_seed = settings.pop("sigma", 0.25), settings.pop("model_seed", 0)
    with pytest.raises(ValueError, match=rf"other settings \(.*{key}: stored") as info:
        certify_dataset(Smooth(_model(model_seed), 3, sigma), data, out=run, **settings)
    message = str(info.value)
    assert "\n" not in message and "table='NAME'" in message and "--table NAME" in message
    pd.testing.assert_frame_equal(_strip(read_table(run.path, "certify-cohen")), _strip(first))
    # a new table takes the new settings; the old one is untouched
    other = certify_dataset(Smooth(_model(model_seed), 3, sigma), data, out=run, table="other", **settings)
    assert len(other) == len(range(0, 6, settings["every"]))
    assert sorted(run.table_names()) == ["certify-cohen", "other"]


def test_same_settings_resume_even_with_another_batch_size(tmp_path):
    run, data, smooth = create_run("b", home=tmp_path), _data(), Smooth(_model(), 3, 0.25)
    certify_dataset(smooth, torch.utils.data.Subset(data, range(2)), out=run, **BASE)
    table = certify_dataset(smooth, data, out=run, **{**BASE, "batch_size": 7})
    assert table["index"].tolist() == list(range(6))


def test_method_options_are_settings(tmp_path):
    run, data, model = create_run("m", home=tmp_path), _data(), _model()
    smooth = Smooth(model, 3, 0.25)
    lvm = {"method": "lvm", "temperatures": (0.5, 1.0)}
    certify_dataset(smooth, torch.utils.data.Subset(data, range(2)), out=run, **lvm, **BASE)
    stored = _stored(run, "certify-lvm")
    assert stored["temperatures"] == [0.5, 1.0] and stored["mode"] == "multi"  # defaults filled in
    assert stored["maps"] == list(MAPS) and stored["soft_bound"] == "empirical_bernstein"
    with pytest.raises(ValueError, match="temperatures: stored"):
        certify_dataset(smooth, data, out=run, method="lvm", temperatures=(0.5, 2.0), **BASE)
    with pytest.raises(ValueError, match="mode: stored 'multi', now 'mono'"):
        certify_dataset(smooth, data, out=run, mode="mono", **lvm, **BASE)
    bound = lipschitz_bound(model, (2,))
    certify_dataset(smooth, data, out=run, method="lipschitz", logits_bound=bound, **BASE)
    with pytest.raises(ValueError, match=r"temperature: stored 1\.0, now 2\.0"):
        certify_dataset(
            smooth, data, out=run, method="lipschitz", logits_bound=bound, temperature=2.0, **BASE
        )


def test_shards_of_one_table_share_settings(tmp_path):
    run, data = create_run("sh", home=tmp_path), _data()
    certify_dataset(Smooth(_model(), 3, 0.25), data, out=run, shard="0/2", **BASE)
    with pytest.raises(ValueError, match=r"sigma: stored 0\.25, now 0\.5"):
        certify_dataset(Smooth(_model(), 3, 0.5), data, out=run, shard="1/2", **BASE)
    with pytest.raises(ValueError, match="shards: stored 2, now 3"):
        certify_dataset(Smooth(_model(), 3, 0.25), data, out=run, shard="1/3", **BASE)
    with pytest.raises(ValueError, match="shards: stored 2, now 1"):
        certify_dataset(Smooth(_model(), 3, 0.25), data, out=run, **BASE)
    certify_dataset(Smooth(_model(), 3, 0.25), data, out=run, shard="1/2", **BASE)
    assert sorted(read_table(run.path, "certify-cohen")["index"]) == list(range(6))


def test_rows_without_settings_are_refused_and_stale_settings_replaced(tmp_path):
    run, data, smooth = create_run("l", home=tmp_path), _data(), Smooth(_model(), 3, 0.25)
    certify_dataset(smooth, torch.utils.data.Subset(data, range(2)), out=run, **BASE)
    path = settings_path(run, "certify-cohen")
    path.unlink()  # a table written before settings were stored
    with pytest.raises(ValueError, match="has rows but no stored settings"):
        certify_dataset(smooth, data, out=run, **BASE)
    # settings of a start that wrote no row do not bind
    fresh = create_run("f", home=tmp_path)
    stale = settings_path(fresh, "certify-cohen")
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps({"sigma": 9.0}))
    assert len(certify_dataset(smooth, data, out=fresh, **BASE)) == 6
    assert _stored(fresh)["sigma"] == 0.25
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        certify_dataset(smooth, data, out=run, **BASE)


class ChangesSettings(torch.utils.data.Dataset):
    """Rewrites the table's settings (as a shard started with other settings would) at item ``at``."""

    def __init__(self, data, path, at: int) -> None:
        self.data, self.path, self.at = data, path, at

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i):
        if i == self.at:
            stored = json.loads(self.path.read_text())
            self.path.write_text(json.dumps({**stored, "sigma": 0.5}))
        return self.data[i]


def test_a_writer_whose_settings_were_replaced_stops_before_writing(tmp_path):
    run, smooth = create_run("c", home=tmp_path), Smooth(_model(), 3, 0.25)
    path = settings_path(run, "certify-cohen")
    with pytest.raises(ValueError, match="changed by another writer"):
        certify_dataset(smooth, ChangesSettings(_data(), path, 1), out=run, **BASE)
    assert not run.table_path("certify-cohen").exists()


def _write(run, frame: pd.DataFrame) -> None:
    run.table_path("certify-cohen").parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(run.table_path("certify-cohen"), index=False)


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda t: t.drop(columns="index"), r"lacks the column\(s\) \['index'\]"),
        (lambda t: t.drop(columns=["radius", "p_lower"]), "lacks the column"),
        (lambda t: t.assign(index=t["index"].astype(float) + 0.5), "integers >= 0"),
        (lambda t: t.assign(index=-t["index"] - 1), "integers >= 0"),
        (lambda t: t.assign(index=0), "index 0 appears more than once"),
        (lambda t: t.assign(counts_estimation=[[1, 2, 3]] * len(t)), "counts_estimation"),
        (lambda t: t.assign(counts_selection=[[10]] * len(t)), "counts_selection"),
        (lambda t: b"PAR1 not really parquet", "not a readable certify table"),
        (lambda t: b"", "not a readable certify table"),
    ],
)
def test_malformed_stored_rows_are_a_value_error(tmp_path, corrupt, match):
    run, data, smooth = create_run("x", home=tmp_path), _data(), Smooth(_model(), 3, 0.25)
    table = certify_dataset(smooth, torch.utils.data.Subset(data, range(3)), out=run, **BASE)
    bad = corrupt(table)
    if isinstance(bad, bytes):
        run.table_path("certify-cohen").write_bytes(bad)
    else:
        _write(run, bad)
    with pytest.raises(ValueError, match=match) as info:
        certify_dataset(smooth, data, out=run, **BASE)
    assert "\n" not in str(info.value) and "certify-cohen" in str(info.value)


def test_work_and_memory_are_checked_before_drawing(tmp_path, monkeypatch):
    run, data, smooth = create_run("w", home=tmp_path), _data(), Smooth(_model(), 3, 0.25)
    with pytest.raises(ValueError, match=r"^n: .*6 examples.*STABLECORE_MAX_WORK"):
        certify_dataset(smooth, data, out=run, **{**BASE, "n": 10**23})
    with pytest.raises(ValueError, match=r"^n0: "):
        certify_dataset(smooth, data, out=run, **{**BASE, "n0": 10**23})
    with pytest.raises(ValueError, match=r"^n: "):
        smooth.certify(torch.zeros(2), 10, 10**23, 0.01, 100)
    with pytest.raises(ValueError, match=r"^n: "):
        smooth.predict(torch.zeros(2), 10**23, 0.01, 100)
    monkeypatch.setenv(MAX_WORK_ENV, "400")  # 6 examples x 70 draws = 420
    with pytest.raises(ValueError, match=r"^n: .*420 model evaluations"):
        certify_dataset(smooth, data, out=run, **BASE)
    assert not run.table_path("certify-cohen").exists()
    monkeypatch.setenv(MAX_WORK_ENV, "420")
    assert len(certify_dataset(smooth, data, out=run, **BASE)) == 6
    monkeypatch.delenv(MAX_WORK_ENV)
    monkeypatch.setenv(MAX_MEMORY_ENV, "1M")  # 3 x 50000 x 2 x 4 B + logits: about 4.6 MB
    with pytest.raises(ValueError, match=r"^batch_size: a batch of 50000 noisy copies"):
        smooth.sample(torch.zeros(2), 50_000, 10**12)
    with pytest.raises(ValueError, match=r"^num: the logits of 50000 draws"):
        smooth.sample_logits(torch.zeros(2), 50_000, 10)
    assert smooth.sample(torch.zeros(2), 50_000, 10_000).counts.sum() == 50_000  # batched: fits
    assert np.isfinite(smooth.sample(torch.zeros(2), 10, 10**12).score_mean).all()  # batch <= num
