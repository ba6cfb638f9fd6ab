"""certify_dataset's LVM-RS and Lipschitz methods: their rows equal the one-shot library functions on the
same noise (drawn from the example's generator), the streamed LVM-RS equals ``certify_lvm`` on the full
logits, torch sparsemax equals the numpy one, and the options are validated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.results import create_run
from stablecore.smoothing import (
    Smooth,
    certify_dataset,
    certify_from_counts,
    certify_lvm,
    example_generator,
    lvm,
    ode_radius,
    score_lipschitz,
    sparsemax_score_lipschitz,
)
from stablecore.smoothing.core import sparsemax_torch
from stablecore.spectral import lipschitz_bound
from stablecore.types import Bound

COMMON = {"n0": 30, "n": 400, "alpha": 0.01, "batch_size": 64, "progress": False}
TEMPS = (0.1, 0.5, 2.0)


def _setup(k: int = 3):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, k)).double()
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = model(x).argmax(1)
    return Smooth(model, k, 0.3), TensorDataset(x, y)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 5),
    k=st.integers(2, 7),
    scale=st.floats(0.01, 30.0),
    ties=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_torch_sparsemax_equals_numpy(rows, k, scale, ties, seed):
    z = np.random.default_rng(seed).normal(size=(rows, k)) * scale
    if ties:
        z[:, 1] = z[:, 0]
    ours = sparsemax_torch(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(ours, lvm.sparsemax(z), atol=1e-12)
    np.testing.assert_allclose(ours.sum(-1), 1.0, atol=1e-12)


def test_sample_logits_draws_the_noise_of_sample():
    smooth, data = _setup()
    x = data[0][0]
    logits = smooth.sample_logits(x, 150, 40, generator=example_generator(3, 0))
    assert logits.shape == (150, 3) and logits.dtype == np.float64
    for score_map in ("softmax", "sparsemax", "hardmax"):
        stats = smooth.sample(
            x, 150, 64, generator=example_generator(3, 0), score_map=score_map, temperature=0.7
        )
        np.testing.assert_array_equal(stats.counts, np.bincount(logits.argmax(1), minlength=3))
        mapped = lvm.simplex_map(logits, score_map, 0.7) if score_map != "hardmax" else lvm.hardmax(logits)
        np.testing.assert_allclose(stats.score_mean, mapped.mean(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(stats.score_variance, mapped.var(0, ddof=1), rtol=1e-9, atol=1e-14)
    with pytest.raises(ValueError, match="score_map"):
        smooth.sample(x, 10, 10, score_map="argmax")


@pytest.mark.parametrize("maps", [lvm.MAPS, ("softmax", "sparsemax")])
def test_lvm_rows_equal_certify_lvm_on_the_same_noise(tmp_path, maps):
    smooth, data = _setup()
    table = certify_dataset(
        smooth,
        data,
        out=create_run("lvm", home=tmp_path),
        method="lvm",
        temperatures=TEMPS,
        maps=maps,
        **COMMON,
    )
    assert set(table["map"]) <= set(maps) and (table["radius"] > 0).sum() >= 5
    assert list(table["index"]) == list(range(len(data)))
    cohen = certify_dataset(smooth, data, out=create_run("cohen", home=tmp_path), **COMMON)
    for i, row in table.iterrows():
        x, label = data[i]
        gen = example_generator(0, i)
        sel = smooth.sample_logits(x, COMMON["n0"], 64, generator=gen)
        est = smooth.sample_logits(x, COMMON["n"], 64, generator=gen)
        cert = certify_lvm(sel, est, sigma=smooth.sigma, alpha=COMMON["alpha"], temperatures=TEMPS, maps=maps)
        assert (row["prediction"], row["map"], row["temperature"]) == (
            cert.prediction,
            cert.map,
            cert.temperature,
        )
        assert row["radius"] == pytest.approx(cert.radius, rel=1e-9, abs=1e-12)
        assert row["p_lower"] == pytest.approx(cert.p_lower, rel=1e-9)
        assert row["correct"] == (cert.prediction == int(label))
        # every method draws the same noise: the votes equal Cohen's
        assert list(row["counts_estimation"]) == list(cohen.loc[i, "counts_estimation"])
    assert (table.loc[table["prediction"] == -1, "radius"] == 0).all()


def test_lipschitz_rows_follow_their_definition(tmp_path):
    smooth, data = _setup()
    bound = lipschitz_bound(smooth.base_classifier, (2,))
    table = certify_dataset(
        smooth,
        data,
        out=create_run("lip", home=tmp_path),
        method="lipschitz",
        logits_bound=bound,
        temperature=0.25,
        **COMMON,
    )
    lip = score_lipschitz(bound, 0.25).value
    assert (table["radius"] > 0).sum() >= 5 and (table["prediction"] == -1).any()
    assert (table["score_lipschitz"] == lip).all() and lip >= bound.value / (2 * np.sqrt(2) * 0.25)
    for i, row in table.iterrows():
        x, _ = data[i]
        gen = example_generator(0, i)
        sel = smooth.sample(x, COMMON["n0"], 64, generator=gen, temperature=0.25)
        est = smooth.sample(x, COMMON["n"], 64, generator=gen, temperature=0.25)
        c_a = int(np.argmax(sel.score_mean))
        from stablecore.smoothing import bounds

        p_lower = bounds.empirical_bernstein_lower(
            est.score_mean[c_a], est.score_variance[c_a], COMMON["n"], COMMON["alpha"]
        )
        assert row["p_lower"] == pytest.approx(p_lower, rel=1e-12)
        ode = ode_radius(p_lower, lip, smooth.sigma)
        assert row["radius"] == pytest.approx(ode.radius, rel=1e-12)
        assert row["prediction"] == (-1 if ode.abstain else c_a)
        assert row["radius"] >= row["radius_monolip"] - 1e-12 >= row["radius_cohen_score"] - 2e-12
        votes = certify_from_counts(sel.counts, est.counts, COMMON["alpha"], smooth.sigma)
        assert (row["prediction_votes"], row["radius_votes"]) == (votes.prediction, votes.radius)


def test_method_options_are_validated(tmp_path):
    smooth, data = _setup()
    run = create_run("bad", home=tmp_path)
    with pytest.raises(ValueError, match="logits_bound"):
        certify_dataset(smooth, data, out=run, method="lipschitz", **COMMON)
    with pytest.raises(ValueError, match="logits_bound"):
        certify_dataset(
            smooth, data, out=run, method="lipschitz", logits_bound=Bound(1.0, "estimate", "x"), **COMMON
        )
    with pytest.raises(ValueError, match="temperatures"):
        certify_dataset(smooth, data, out=run, method="cohen", temperatures=TEMPS, **COMMON)
    with pytest.raises(ValueError, match="map"):
        certify_dataset(smooth, data, out=run, method="lvm", maps=("argmax",), **COMMON)
    assert sparsemax_score_lipschitz(1.0, 3) > 0  # the sparsemax constant exists for the lvm maps


def test_lvm_resume_equals_uninterrupted(tmp_path):
    smooth, data = _setup()
    kwargs = {"method": "lvm", "temperatures": TEMPS, **COMMON}
    whole = certify_dataset(smooth, data, out=create_run("w", home=tmp_path), **kwargs)
    run = create_run("r", home=tmp_path)
    certify_dataset(smooth, torch.utils.data.Subset(data, range(4)), out=run, **kwargs)
    resumed = certify_dataset(smooth, data, out=run, **kwargs)

    def strip(t: pd.DataFrame) -> pd.DataFrame:
        return t.drop(columns=["seconds"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(strip(resumed), strip(whole))
