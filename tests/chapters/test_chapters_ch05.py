"""Chapter 5 (randomized smoothing I) on tiny configurations: the smoothed ramp's slope against quadrature,
bounds against SciPy, certificates against their defining formulas, and every table against the library
functions (:mod:`stablecore.smoothing`) on the same inputs (the library's own math -- simplex maps, score
constants, certificates -- is tested in ``tests/smoothing``). Research outcomes (which method certifies more)
are shown in the notebook, not asserted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta, norm

from stablecore.chapters import ch05_lvm_rs as ch05
from stablecore.data import load_dataset
from stablecore.smoothing import (
    Smooth,
    certify_from_counts,
    certify_lvm,
    example_generator,
    lvm_best_of_candidates_uncertified,
    score_lipschitz,
    smoothed_lipschitz,
)

TINY = ch05.Ch05Config.quick(
    moons_samples=120, moons_hidden=(8,), moons_epochs=2, boundary_sigmas=(0.0, 0.3), boundary_grid=5,
    boundary_samples=20, digits_epochs=1, mlp_hidden=(16,), lipschitz_width=16, lipschitz_depth=1,
    temperatures=(0.5, 2.0), map_points=3, map_samples=120, n0=20, n=300, certify_points=4,
    bound_ns=(50, 500), bound_ps=(0.7, 0.95), bound_variances=(0.01,),
)  # fmt: skip


# ----------------------------------------------------------------------------------- config and arguments
@pytest.mark.parametrize(
    "field, value",
    [("sigma", 0.0), ("alpha", 1.0), ("n", 1), ("maps", ("argmax",)), ("temperatures", (0.0,)),
     ("boundary_grid", 1), ("dataset", "imagenet"), ("mode", "fast"), ("bound_ps", (1.0,))],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ch05.Ch05Config.quick(**{field: value})


def test_config_needs_estimation_draws_in_simplex_maps():
    with pytest.raises(ValueError, match="map_samples"):
        ch05.Ch05Config.quick(n0=20, map_samples=20)


def test_quick_refuses_cifar10():
    with pytest.raises(ValueError, match="dataset"):
        ch05.Ch05Config.quick(dataset="cifar10")


def test_experiments_check_cfg_and_seed():
    with pytest.raises(TypeError, match="cfg"):
        ch05.weierstrass_lipschitz("quick")
    with pytest.raises(TypeError, match="seed"):
        ch05.weierstrass_lipschitz(TINY, seed=1.5)


def test_for_mode():
    assert ch05.Ch05Config.for_mode("quick").mode == "quick"
    assert ch05.Ch05Config.for_mode("full").dataset == "cifar10"


# ----------------------------------------------------------------------------------- Weierstrass table
def test_weierstrass_table_kinds_and_reported_cell():
    df = ch05.weierstrass_lipschitz(TINY)
    assert list(df.columns) == list(ch05.WEIERSTRASS_COLUMNS)
    grid = df[~df["id"].str.contains("ramp_L2")]
    tight = grid[grid["quantity"] == "tight"]
    np.testing.assert_allclose(
        tight["value"], [smoothed_lipschitz(lip, s) for lip, s in zip(tight["L"], tight["sigma"])], rtol=0
    )
    num = grid[grid["quantity"] == "numeric_ramp"]["value"].to_numpy()
    assert (num <= tight["value"].to_numpy() + 1e-12).all()  # a grid maximum is a lower bound
    np.testing.assert_allclose(num, tight["value"], rtol=1e-3)
    step = grid[grid["quantity"] == "step_limit"]
    np.testing.assert_allclose(step["value"], 1.0 / (step["sigma"] * math.sqrt(2 * math.pi)), rtol=1e-12)
    assert set(df.loc[df["quantity"] == "numeric_ramp", "kind"]) == {"lower_bound"}
    cell = df.set_index("id").loc["ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.exact", "value"]
    assert cell == pytest.approx(2 * math.erf(1 / (2 * math.sqrt(2) * 2 * 0.5)), rel=1e-12)


# ----------------------------------------------------------------------------------- bounds
def test_bernstein_vs_cp_table_against_scipy_and_ordering():
    df = ch05.bernstein_vs_clopper_pearson(TINY)
    assert list(df.columns) == list(ch05.BOUNDS_COLUMNS)
    cp = df[df["bound"] == "clopper_pearson"]
    for row in cp.itertuples():
        k = round(row.p * row.n)
        assert row.lower == pytest.approx(beta.ppf(TINY.alpha, k, row.n - k + 1), rel=1e-10)
    # Bernstein with a known variance never exceeds Hoeffding's width when v <= r^2/4 ... for large n
    votes = df[df["id"].str.contains("varvotes")].pivot_table(
        index=["n", "p"], columns="bound", values="width"
    )
    assert (votes["bernstein"] <= votes["hoeffding"] + 1e-12).loc[500].all()
    ok = df["lower"] > 0.5
    np.testing.assert_allclose(df.loc[ok, "radius_at_sigma1"], norm.ppf(df.loc[ok, "lower"]))


# ----------------------------------------------------------------------------------- experiments with models
@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("ch05")


def test_smoothed_boundaries_sigma0_is_the_base(home):
    df = ch05.smoothed_boundaries(TINY, seed=2, home=home)
    assert list(df.columns) == list(ch05.BOUNDARY_COLUMNS)
    assert len(df) == len(TINY.boundary_sigmas) * TINY.boundary_grid**2
    base = df[df["sigma"] == 0.0]
    model = ch05.train_noisy(TINY, "moons", "mlp", TINY.moons_train_sigma, seed=2, home=home,
                             epochs=TINY.moons_epochs, data_kwargs={"n_samples": TINY.moons_samples,
                             "noise": TINY.moons_noise, "seed": 2}).model  # fmt: skip
    with torch.no_grad():
        logits = model(torch.tensor(base[["x1", "x2"]].to_numpy(), dtype=torch.float32)).double()
    np.testing.assert_array_equal(base["p_vote"].to_numpy(), (logits.argmax(1) == 1).double().numpy())
    np.testing.assert_allclose(base["p_soft"], torch.softmax(logits, 1)[:, 1].numpy(), atol=1e-6)
    assert df["p_vote"].between(0, 1).all()


@pytest.fixture(scope="module")
def maps_table(home):
    return ch05.simplex_maps(TINY, seed=0, home=home)


@pytest.fixture(scope="module")
def certified_table(home):
    return ch05.certified_radii(TINY, seed=0, home=home)


def _redrawn_logits(family: str, index: int, num: int, seed: int, home) -> tuple[np.ndarray, int]:
    """The logits the chapter draws for test point ``index``, re-drawn through the library's Smooth with
    the engine's seeding rule (``example_generator(seed, index)``: ``n0`` selection, then the rest)."""
    data = load_dataset("digits")
    model = ch05.trained_model(TINY, family, seed=seed, home=home, dataset="digits").model
    gen = example_generator(seed, index)
    smooth = Smooth(model, data.num_classes, TINY.sigma)
    x = data.test[index][0]
    sel = smooth.sample_logits(x, TINY.n0, TINY.batch_size, generator=gen)
    est = smooth.sample_logits(x, num - TINY.n0, TINY.batch_size, generator=gen)
    return np.concatenate([sel, est]), data.num_classes


def test_simplex_maps_rows_are_their_certificates(maps_table):
    df = maps_table
    assert list(df.columns) == list(ch05.MAPS_COLUMNS)
    assert set(df["model"]) == {"mlp", TINY.lipschitz_family}
    assert set(df["base_lipschitz_kind"]) <= {"upper_bound", "exact"}
    assert (df["variance_bound"] <= 0.25).all()
    cert = df["prediction"] >= 0
    np.testing.assert_allclose(df.loc[cert, "radius"], TINY.sigma * norm.ppf(df.loc[cert, "p_lower"]))
    assert (df.loc[cert, "radius"] > 0).all()
    # abstain convention: prediction -1, radius 0.0, never correct, p_lower <= 1/2
    abst = df[~cert]
    assert (abst["prediction"] == -1).all() and (abst["radius"] == 0.0).all() and not abst["correct"].any()
    assert (abst["p_lower"] <= 0.5).all()
    assert (df["correct"] == (df["prediction"] == df["label"])).all()
    soft = df[df["map"] != "hardmax"]
    assert (soft["p_lower"] <= soft["score_top"]).all()
    summary = ch05.maps_summary(df)
    assert len(summary) == 2 * (2 * len(TINY.temperatures) + 1)
    assert (summary["mean_radius"] >= 0).all()


@pytest.mark.parametrize("family", ["mlp", TINY.lipschitz_family])
def test_simplex_maps_equals_the_library_on_the_same_draws(home, maps_table, family):
    df = maps_table
    index = int(df["index"].iloc[0])
    z, k = _redrawn_logits(family, index, TINY.map_samples, 0, home)
    rows = df[(df["model"] == family) & (df["index"] == index)]
    model = ch05.trained_model(TINY, family, seed=0, home=home, dataset="digits").model
    bound = ch05._logits_bound(model, load_dataset("digits").input_shape)
    assert rows["base_lipschitz"].iloc[0] == bound.value
    for row in rows.itertuples():
        temps = (row.temperature,) if row.map != "hardmax" else (1.0,)
        want = certify_lvm(z[: TINY.n0], z[TINY.n0 :], sigma=TINY.sigma, alpha=TINY.alpha, maps=(row.map,),
                           temperatures=temps, mode="mono")  # fmt: skip
        assert (row.prediction, row.radius, row.p_lower) == (want.prediction, want.radius, want.p_lower)
        if row.map == "hardmax":
            assert row.variance_bound == 0.25
        else:
            lip_h = score_lipschitz(bound, row.temperature, map=row.map, num_classes=k).value
            assert row.variance_bound == min(0.25, TINY.sigma**2 * lip_h**2)


def test_certified_accuracy_methods(home, certified_table):
    df = certified_table
    assert list(df.columns) == list(ch05.CERTIFIED_COLUMNS)
    assert set(df["method"]) == {"cohen", "lvm_sound", "lvm_best_of_candidates"}
    kinds = df.groupby("method")["radius_kind"].first()
    assert kinds["lvm_best_of_candidates"] == "not a certificate"
    assert kinds["cohen"] == kinds["lvm_sound"] == "certified"
    for m in ("cohen", "lvm_sound"):
        d = df[(df["method"] == m) & (df["prediction"] >= 0)]
        np.testing.assert_allclose(d["radius"], TINY.sigma * norm.ppf(d["p_lower"]), rtol=1e-12)
    # abstain convention: prediction -1 exactly where the radius is 0.0, never correct
    assert ((df["prediction"] == -1) == (df["radius"] == 0.0)).all()
    assert (df["radius"] >= 0).all() and not df.loc[df["prediction"] == -1, "correct"].any()
    curve = ch05.certified_curve(df, TINY.radii)
    assert curve.groupby("method")["certified_accuracy"].apply(lambda s: s.is_monotonic_decreasing).all()
    at0 = curve[curve["radius"] == 0.0].set_index("method")["certified_accuracy"]
    assert (at0 == df.groupby("method")["correct"].mean()[at0.index]).all()
    again = ch05.certified_radii(TINY, seed=0, home=home)
    pd.testing.assert_frame_equal(df.drop(columns="seconds"), again.drop(columns="seconds"))


def test_certified_accuracy_equals_the_library_on_the_same_draws(home, certified_table):
    df = certified_table.set_index(["method", "index"])
    options = {"sigma": TINY.sigma, "alpha": TINY.alpha, "maps": TINY.maps, "temperatures": TINY.temperatures}
    for index in sorted(set(df.index.get_level_values("index")))[:2]:
        z, k = _redrawn_logits("mlp", index, TINY.n0 + TINY.n, 0, home)
        sel, est = z[: TINY.n0], z[TINY.n0 :]
        votes = [np.bincount(part.argmax(1), minlength=k) for part in (sel, est)]
        cohen = certify_from_counts(*votes, TINY.alpha, TINY.sigma)
        sound = certify_lvm(sel, est, mode="mono", **options)
        best = lvm_best_of_candidates_uncertified(est, mode="multi", **options)
        for method, want in (("cohen", cohen), ("lvm_sound", sound), ("lvm_best_of_candidates", best)):
            row = df.loc[(method, index)]
            assert (row["prediction"], row["radius"], row["p_lower"]) == (
                want.prediction,
                want.radius,
                want.p_lower,
            ), method
        assert (df.loc[("lvm_sound", index), "map"], df.loc[("lvm_sound", index), "temperature"]) == (
            sound.map,
            sound.temperature,
        )


def test_reported_comparison():
    table = ch05.reported_comparison({"weierstrass_lipschitz": ch05.weierstrass_lipschitz(TINY)})
    assert list(table.columns) == list(ch05.COMPARISON_COLUMNS)
    assert (table.loc[table["status"] == "not transcribed", "comparison"] == "not transcribed").all()
    row = table.set_index("id").loc["ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.code_formula"]
    assert row["measured"] == pytest.approx(2 * math.erf(1 / (math.sqrt(2) * 2 * 0.5)))
    with pytest.raises(ValueError, match="unknown experiment"):
        ch05.reported_comparison({"nope": pd.DataFrame()})
    with pytest.raises(TypeError, match="results"):
        ch05.reported_comparison([])
