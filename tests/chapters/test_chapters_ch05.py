"""Chapter 5 (randomized smoothing I) on tiny configurations: closed forms against quadrature, simplex maps
against projection and autograd oracles, bounds against SciPy, certificates against their defining formulas.
Research outcomes (which method certifies more) are shown in the notebook, not asserted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import integrate, optimize
from scipy.stats import beta, norm

from stablecore.chapters import ch05_lvm_rs as ch05

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


# ----------------------------------------------------------------------------------- Weierstrass closed forms
def _smoothed_ramp(x: float, lip: float, sigma: float, r: float) -> float:
    """E[clip(L(x+δ), 0, r)] by quadrature (independent of the module's closed forms)."""
    f = lambda d: min(max(lip * (x + d), 0.0), r) * norm.pdf(d, scale=sigma)  # noqa: E731
    return integrate.quad(f, -12 * sigma, 12 * sigma, points=[-x, r / lip - x], limit=200)[0]


@pytest.mark.parametrize("lip, sigma, r", [(2.0, 0.5, 1.0), (0.3, 0.25, 1.0), (10.0, 1.0, 2.0)])
def test_tight_constant_is_the_max_slope_of_the_smoothed_ramp(lip, sigma, r):
    h = 1e-5
    mid = r / (2 * lip)
    slope = (_smoothed_ramp(mid + h, lip, sigma, r) - _smoothed_ramp(mid - h, lip, sigma, r)) / (2 * h)
    assert ch05.smoothed_lipschitz_tight(lip, sigma, r) == pytest.approx(slope, rel=1e-5)
    xs = np.linspace(-5 * sigma, r / lip + 5 * sigma, 4001)
    assert (
        ch05.smoothed_ramp_slope(xs, lip, sigma, r).max()
        <= ch05.smoothed_lipschitz_tight(lip, sigma, r) + 1e-12
    )


def test_closed_form_limits_and_code_formula_convention():
    sigma = 0.5
    assert ch05.smoothed_lipschitz_tight(1e-4, sigma) == pytest.approx(1e-4, rel=1e-9)
    assert ch05.smoothed_lipschitz_tight(1e6, sigma) == pytest.approx(
        1 / (sigma * math.sqrt(2 * math.pi)), rel=1e-5
    )
    # the code formula is the tight constant of the range-2r function: valid (larger) for [0, r]
    for lip in (0.5, 2.0, 30.0):
        code = ch05.smoothed_lipschitz_code(lip, sigma, 1.0)
        assert code == pytest.approx(ch05.smoothed_lipschitz_tight(lip, sigma, 2.0), rel=1e-12)
        assert code >= ch05.smoothed_lipschitz_tight(lip, sigma, 1.0)
    with pytest.raises(ValueError, match="lipschitz"):
        ch05.smoothed_ramp_slope(0.0, -1.0, 0.5)


def test_weierstrass_table_kinds_and_reported_cell():
    df = ch05.weierstrass_lipschitz(TINY)
    assert list(df.columns) == list(ch05.WEIERSTRASS_COLUMNS)
    grid = df[~df["id"].str.contains("ramp_L2")]
    tight = grid[grid["quantity"] == "tight"]["value"].to_numpy()
    num = grid[grid["quantity"] == "numeric_ramp"]["value"].to_numpy()
    assert (num <= tight + 1e-12).all()  # a grid maximum is a lower bound
    np.testing.assert_allclose(num, tight, rtol=1e-3)
    assert set(df.loc[df["quantity"] == "numeric_ramp", "kind"]) == {"lower_bound"}
    cell = df.set_index("id").loc["ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.exact", "value"]
    assert cell == pytest.approx(2 * math.erf(1 / (2 * math.sqrt(2) * 2 * 0.5)), rel=1e-12)


# ----------------------------------------------------------------------------------- simplex maps
def _project_simplex(z: np.ndarray) -> np.ndarray:
    tau = optimize.brentq(lambda t: np.maximum(z - t, 0).sum() - 1, z.min() - 1, z.max())
    return np.maximum(z - tau, 0)


def test_sparsemax_is_the_projection_onto_the_simplex():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(50, 7, generator=gen, dtype=torch.float64) * 3
    got = ch05.sparsemax(z).numpy()
    want = np.stack([_project_simplex(row) for row in z.numpy()])
    np.testing.assert_allclose(got, want, atol=1e-10)
    with pytest.raises(TypeError, match="z"):
        ch05.sparsemax(torch.ones(3, dtype=torch.long))


@pytest.mark.parametrize("name", ["softmax", "sparsemax"])
def test_map_lipschitz_bounds_the_autograd_gradient(name):
    gen = torch.Generator().manual_seed(1)
    t = 0.7
    worst = 0.0
    for k in (2, 5):
        z = (torch.randn(400, k, generator=gen, dtype=torch.float64) * 2).requires_grad_(True)
        s = ch05.simplex_map(z, name, t)[:, 0].sum()
        (g,) = torch.autograd.grad(s, z)
        worst = max(worst, float(g.norm(dim=1).max()))
    bound = ch05.map_lipschitz(name, t)
    assert worst <= bound * (1 + 1e-12)
    if name == "softmax":  # attained for K = 2 at s_c = 1/2 (equal logits)
        z = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(ch05.simplex_map(z, name, t)[0, 0], z)
        assert float(g.norm()) == pytest.approx(bound, rel=1e-12)


def test_simplex_map_values_and_arguments():
    z = torch.tensor([[1.0, 3.0, 2.0]], dtype=torch.float64)
    assert ch05.simplex_map(z, "hardmax").tolist() == [[0.0, 1.0, 0.0]]
    np.testing.assert_allclose(ch05.simplex_map(z, "softmax", 2.0).numpy(), torch.softmax(z / 2, 1).numpy())
    with pytest.raises(ValueError, match="name"):
        ch05.simplex_map(z, "argmax")
    with pytest.raises(ValueError, match="temperature"):
        ch05.simplex_map(z, "softmax", 0.0)
    assert ch05.map_lipschitz("hardmax", 1.0) == math.inf


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


def test_simplex_maps_rows_are_their_certificates(home):
    df = ch05.simplex_maps(TINY, seed=0, home=home)
    assert list(df.columns) == list(ch05.MAPS_COLUMNS)
    assert set(df["model"]) == {"mlp", TINY.lipschitz_family}
    assert set(df["base_lipschitz_kind"]) <= {"upper_bound", "exact"}
    assert (df["variance_bound"] <= 0.25).all()
    cert = df["radius"] >= 0
    np.testing.assert_allclose(df.loc[cert, "radius"], TINY.sigma * norm.ppf(df.loc[cert, "p_lower"]))
    assert (df.loc[~cert, "p_lower"] <= 0.5).all()
    soft = df[df["map"] != "hardmax"]
    assert (soft["p_lower"] <= soft["score_top"]).all()
    summary = ch05.maps_summary(df)
    assert len(summary) == 2 * (2 * len(TINY.temperatures) + 1)


def test_certified_accuracy_methods(home):
    df = ch05.certified_accuracy(TINY, seed=0, home=home)
    assert list(df.columns) == list(ch05.CERTIFIED_COLUMNS)
    assert set(df["method"]) == {"cohen", "lvm_sound", "lvm_best_of_candidates"}
    kinds = df.groupby("method")["radius_kind"].first()
    assert kinds["lvm_best_of_candidates"] == "not a certificate"
    assert kinds["cohen"] == kinds["lvm_sound"] == "certified"
    for m in ("cohen", "lvm_sound"):
        d = df[(df["method"] == m) & (df["radius"] >= 0)]
        np.testing.assert_allclose(d["radius"], TINY.sigma * norm.ppf(d["p_lower"]), rtol=1e-12)
    assert (df.loc[df["radius"] < 0, "correct"] == False).all()  # noqa: E712
    curve = ch05.certified_curve(df, TINY.radii)
    assert curve.groupby("method")["certified_accuracy"].apply(lambda s: s.is_monotonic_decreasing).all()
    again = ch05.certified_accuracy(TINY, seed=0, home=home)
    pd.testing.assert_frame_equal(df.drop(columns="seconds"), again.drop(columns="seconds"))


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
