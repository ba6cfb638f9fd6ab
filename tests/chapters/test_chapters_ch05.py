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
    bound_ns=(50, 500), bound_ps=(0.7, 0.95), bound_variances=(0.01,), formula_points=2,
)  # fmt: skip


# ----------------------------------------------------------------------------------- config and arguments
@pytest.mark.parametrize(
    "field, value",
    [("sigma", 0.0), ("alpha", 1.0), ("n", 1), ("maps", ("argmax",)), ("temperatures", (0.0,)),
     ("boundary_grid", 1), ("dataset", "imagenet"), ("mode", "fast"), ("bound_ps", (1.0,)),
     ("formula_points", 0), ("decay_weight", -0.1)],
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


# ----------------------------------------------------------------------------------- R2 vs R_lip
def _sparsemax_by_bisection(u: np.ndarray) -> np.ndarray:
    """Oracle: sparsemax(u) = (u - τ)_+ with Σ (u - τ)_+ = 1, τ found by bisection (rows of ``u``)."""
    lo, hi = u.max(1, keepdims=True) - 1.0, u.max(1, keepdims=True)
    for _ in range(200):
        mid = (lo + hi) / 2
        too_big = np.maximum(u - mid, 0).sum(1, keepdims=True) > 1
        lo, hi = np.where(too_big, mid, lo), np.where(too_big, hi, mid)
    return np.maximum(u - (lo + hi) / 2, 0)


def _formula_oracle(est: np.ndarray, name: str, t: float, sigma: float, alpha: float) -> tuple:
    """(A, p̲_A, p̄_B, R2, R_lip) from scratch: scores, per-class bounds at α/K, radii (scipy only)."""
    n, k = est.shape
    each = alpha / k
    if name == "hardmax":
        counts = np.bincount(est.argmax(1), minlength=k)
        lower = np.where(counts > 0, beta.ppf(each, np.maximum(counts, 1), n - counts + 1), 0.0)
        upper = np.where(counts < n, beta.ppf(1 - each, counts + 1, np.maximum(n - counts, 1)), 1.0)
    else:
        u = est / t
        s = np.exp(u - u.max(1, keepdims=True))
        s = s / s.sum(1, keepdims=True) if name == "softmax" else _sparsemax_by_bisection(u)
        mean, var = s.mean(0), s.var(0, ddof=1)
        width = np.sqrt(2 * var * math.log(2 / each) / n) + 7 * math.log(2 / each) / (3 * (n - 1))
        lower, upper = np.clip(mean - width, 0, 1), np.clip(mean + width, 0, 1)
    a = int(np.argmax(lower))
    p_a, p_b = lower[a], np.max(np.delete(upper, a))
    if p_a <= p_b:
        return -1, p_a, p_b, 0.0, 0.0
    r2 = sigma / 2 * (norm.ppf(p_a) - norm.ppf(p_b))
    return a, p_a, p_b, r2, sigma * math.sqrt(math.pi / 2) * (p_a - p_b)


def test_radius_formulas_against_a_scipy_oracle_on_the_same_draws(home):
    df = ch05.radius_formulas(TINY, seed=0, home=home)
    assert list(df.columns) == list(ch05.FORMULA_COLUMNS)
    assert len(df) == TINY.formula_points * (2 * len(TINY.temperatures) + 1)
    # a theorem: (Φ⁻¹)' ≥ √(2π) so R2 ≥ R_lip; both 0 exactly on an abstention
    assert (df["r2"] >= df["r_lip"]).all()
    abst = df["prediction"] == -1
    assert (df.loc[abst, ["r2", "r_lip"]] == 0.0).all().all()
    assert (df.loc[~abst, "r_lip"] > 0).all()
    index = int(df["index"].iloc[0])
    z, _ = _redrawn_logits("mlp", index, TINY.n0 + TINY.n, 0, home)
    est = z[TINY.n0 :]
    for row in df[df["index"] == index].itertuples():
        a, p_a, p_b, r2, r_lip = _formula_oracle(est, row.map, row.temperature, TINY.sigma, TINY.alpha)
        assert row.prediction == a
        np.testing.assert_allclose([row.p_lower, row.p_upper], [p_a, p_b], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose([row.r2, row.r_lip], [r2, r_lip], rtol=1e-7, atol=1e-12)


# ----------------------------------------------------------------------------------- activation decay
def test_activation_decay_rows_match_simplex_maps_and_an_oracle(home, maps_table):
    df = ch05.activation_decay_variance(TINY, seed=0, home=home)
    assert list(df.columns) == list(ch05.DECAY_COLUMNS)
    assert set(df["model"]) == {"mlp", "mlp+activation_decay"}
    assert (df["variance"] >= 0).all()
    soft = df[df["map"] != "logits"]
    n = TINY.map_samples - TINY.n0
    assert (soft["variance"] <= 0.25 * n / (n - 1) + 1e-12).all()  # [0, 1]-valued scores
    # the unpenalised rows are simplex_maps' MLP rows (same model, draws and class rule)
    plain = soft[soft["model"] == "mlp"].set_index(["map", "temperature", "index"]).sort_index()
    ref = maps_table[(maps_table["model"] == "mlp") & maps_table["map"].isin(["softmax", "hardmax"])]
    ref = ref.set_index(["map", "temperature", "index"]).sort_index()
    np.testing.assert_allclose(plain["variance"], ref["variance"], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(plain["margin"], ref["margin"], rtol=1e-10, atol=1e-15)
    # the penalised rows against torch on re-drawn logits of the penalised model
    model = ch05.decay_model(TINY, seed=0, home=home).model
    data = load_dataset("digits")
    index = int(df["index"].iloc[0])
    smooth = Smooth(model, data.num_classes, TINY.sigma)
    gen = example_generator(0, index)
    sel = torch.from_numpy(smooth.sample_logits(data.test[index][0], TINY.n0, TINY.batch_size, generator=gen))
    est = torch.from_numpy(smooth.sample_logits(data.test[index][0], n, TINY.batch_size, generator=gen))
    rows = df[(df["model"] == "mlp+activation_decay") & (df["index"] == index)]
    for row in rows.itertuples():
        if row.map == "softmax":
            s_sel, s = torch.softmax(sel / row.temperature, 1), torch.softmax(est / row.temperature, 1)
        elif row.map == "hardmax":
            s_sel = torch.nn.functional.one_hot(sel.argmax(1), data.num_classes).double()
            s = torch.nn.functional.one_hot(est.argmax(1), data.num_classes).double()
        else:
            s_sel, s = sel, est
        a = int(s_sel.mean(0).argmax())
        assert row.prediction == a
        assert row.variance == pytest.approx(float(s[:, a].var()), rel=1e-9, abs=1e-15)


def test_decay_model_is_the_plain_model_at_weight_zero_and_differs_otherwise(home):
    cfg0 = ch05.Ch05Config.quick(**{**TINY.__dict__, "decay_weight": 0.0})
    plain = ch05.trained_model(cfg0, "mlp", seed=0, home=home, dataset="digits").model
    zero = ch05.decay_model(cfg0, seed=0, home=home).model
    for p, q in zip(plain.state_dict().values(), zero.state_dict().values()):
        assert torch.equal(p, q)
    decayed = ch05.decay_model(TINY, seed=0, home=home).model
    assert any(
        not torch.equal(p, q) for p, q in zip(plain.state_dict().values(), decayed.state_dict().values())
    )
