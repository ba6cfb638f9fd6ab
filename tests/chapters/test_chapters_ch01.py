"""Chapter 1 (background) on tiny configurations, against independent oracles: float64 NumPy SVDs for the
deep linear nets, the closed-form distance to a linear classifier's boundary for the margin certificate,
SciPy's Clopper–Pearson quantile for Cohen's radius, a dense float64 Hessian for the curvature numbers, and
soundness relations between certified, attacked and clean accuracies. Research outcomes (how loose, how
robust) are shown in the notebook, not asserted."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta, norm
from torch import nn
from torch.func import functional_call

from stablecore.certify import certify_model
from stablecore.chapters import ch01_background as ch01
from stablecore.chapters import ch02_gram_iteration as ch02

ROOT = Path(__file__).resolve().parents[2]

TINY = ch01.Ch01Config.quick(
    moons_samples=200, mlp_hidden=(8, 8), sll_width=8, sll_depth=2, moons_epochs=5,
    input_eps=(0.0, 0.1, 0.3), noise_draws=3, pgd_steps=5, param_scales=(0.0, 0.1, 0.5), param_draws=2,
    lower_bound_steps=10, linear_dim=12, linear_depths=(1, 2, 4, 8), rs_sigmas=(0.25,), rs_hidden=(16,),
    rs_epochs=2, rs_points=8, n0=20, n=200, rs_batch_size=128, hessian_k=2, landscape_span=0.5,
    landscape_steps=11,
)  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ch01-runs")


@pytest.fixture(scope="module")
def sensitivity(home):
    return ch01.moons_sensitivity(TINY, home=home)


@pytest.fixture(scope="module")
def margin(home):
    return ch01.margin_certificate(TINY, home=home)


@pytest.fixture(scope="module")
def smoothing(home):
    return ch01.randomized_smoothing(TINY, home=home)


# ----------------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    "field, value",
    [("mode", "slow"), ("families", ("resnet",)), ("linear_inits", ("zeros",)), ("linear_depths", (0,)),
     ("input_eps", (-0.1,)), ("rs_sigmas", (0.0,)), ("alpha", 1.0), ("n", 1), ("landscape_steps", 2),
     ("mlp_hidden", ()), ("pgd_steps", -1), ("num_threads", 0), ("offset", -1.0)],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ch01.Ch01Config.quick(**{field: value})


def test_modes():
    assert ch01.Ch01Config.for_mode("quick") == ch01.Ch01Config.quick()
    full = ch01.Ch01Config.for_mode("full")
    assert full.mode == "full" and full.n == 100_000 and full.rs_points >= ch01.Ch01Config.quick().rs_points


def test_experiments_check_cfg_and_seed():
    with pytest.raises(TypeError, match="cfg"):
        ch01.deep_linear_looseness(object())
    with pytest.raises(TypeError, match="seed"):
        ch01.deep_linear_looseness(TINY, seed="0")
    with pytest.raises(ValueError, match="family"):
        ch01.trained_moons(TINY, "cnn")


# ----------------------------------------------------------------------------------- deep linear nets
def test_deep_linear_looseness_is_chapter_2s_experiment():
    cfg = ch01.Ch01Config.quick(linear_dim=5, linear_depths=(1, 3), linear_inits=("gaussian", "orthogonal"))
    df = ch01.deep_linear_looseness(cfg, seed=4)
    pd.testing.assert_frame_equal(df, ch02.linear_looseness(5, (1, 3), ("gaussian", "orthogonal"), seed=4))
    assert list(df["out"]) == [5] * 4  # square layers: the tour keeps every layer d × d


def test_orthogonal_drift_against_numpy():
    """Oracle: the same rounded orthogonal weights multiplied with NumPy in each dtype, norms by NumPy SVDs.
    The product's drift from 1 stays within the classical γ bound (depth · dim · u) and is far larger in
    float32 than in float64."""
    cfg = ch01.Ch01Config.quick(linear_dim=12, linear_depths=(1, 3, 20))
    df = ch01.orthogonal_drift(cfg, seed=2)
    assert df["id"].is_unique and list(df.columns) == list(ch01.DRIFT_COLUMNS)
    assert len(df) == 2 * 3 and set(df["dtype"]) == set(ch01.DRIFT_DTYPES)
    ws = [w.numpy() for w in ch02.deep_linear_weights("orthogonal", 12, 20, seed=2)]
    for dtype in (np.float32, np.float64):
        u = float(np.finfo(dtype).eps) / 2
        sub = df[df["dtype"] == np.dtype(dtype).name].set_index("depth")
        assert (sub["unit_roundoff"] == u).all()
        prod, norms = np.eye(12, dtype=dtype), []
        for depth, w in enumerate(ws, start=1):
            w = w.astype(dtype)
            prod = w @ prod
            norms.append(np.linalg.norm(w.astype(np.float64), 2))
            if depth in sub.index:
                s = np.linalg.svd(prod.astype(np.float64), compute_uv=False)
                row = sub.loc[depth]
                assert row["product_of_norms"] == pytest.approx(np.prod(norms), rel=1e-12)
                # BLAS summation orders may differ: agreement to the rounding level of the dtype
                assert row["norm_of_product"] == pytest.approx(s[0], abs=4 * depth * 12 * u)
                assert row["min_singular"] == pytest.approx(s[-1], abs=4 * depth * 12 * u)
                assert abs(row["norm_of_product"] - 1) <= depth * 12 * u
                assert abs(row["min_singular"] - 1) <= depth * 12 * u
                assert row["min_singular"] <= row["norm_of_product"]
    f32 = df[(df["dtype"] == "float32") & (df["depth"] == 20)].iloc[0]
    f64 = df[(df["dtype"] == "float64") & (df["depth"] == 20)].iloc[0]
    assert abs(f32["norm_of_product"] - 1) > 1e3 * abs(f64["norm_of_product"] - 1)
    assert ch01.orthogonal_drift(cfg, depths=(2,), seed=2)["depth"].tolist() == [2, 2]
    with pytest.raises(ValueError, match="depths"):
        ch01.orthogonal_drift(cfg, depths=(0,))


# ----------------------------------------------------------------------------------- margin certificate
def test_margin_radius_is_the_exact_boundary_distance_of_a_linear_model():
    """For f(x) = Wx + b the pairwise radius is the true distance to the decision boundary (closed form),
    and the global radius M/(√2‖W‖₂) lies below it; moving just past the nearest boundary flips the class."""
    gen = torch.Generator().manual_seed(0)
    d, k, n = 5, 4, 64
    lin = nn.Linear(d, k).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(k, d, generator=gen, dtype=torch.float64))
        lin.bias.copy_(torch.randn(k, generator=gen, dtype=torch.float64))
    model = nn.Sequential(lin)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = model(x).argmax(1)
    pair = certify_model(model, (x, y), [0.1], last_layer="auto")
    glob = certify_model(model, (x, y), [0.1])
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    xs, ys = x.numpy(), y.numpy()
    for i in range(n):
        f = w @ xs[i] + b
        dists = [(f[ys[i]] - f[j]) / np.linalg.norm(w[ys[i]] - w[j]) for j in range(k) if j != ys[i]]
        exact = min(dists)
        assert pair["radius"].iloc[i] == pytest.approx(exact, rel=1e-9)
        assert pair["radius"].iloc[i] <= exact
        assert glob["radius"].iloc[i] <= exact and glob["radius"].iloc[i] == pytest.approx(
            (f[ys[i]] - np.max(np.delete(f, ys[i]))) / (math.sqrt(2) * np.linalg.norm(w, 2)), rel=1e-9
        )
        j = [jj for jj in range(k) if jj != ys[i]][int(np.argmin(dists))]
        u = (w[j] - w[ys[i]]) / np.linalg.norm(w[j] - w[ys[i]])
        inside = xs[i] + 0.999 * exact * u
        outside = xs[i] + 1.001 * exact * u
        assert np.argmax(w @ inside + b) == ys[i] and np.argmax(w @ outside + b) != ys[i]


def _tensors(result):
    return ch01._tensors(result.data.test)


def test_margin_certificate_against_its_formula(margin, home):
    assert set(margin["model"]) == set(TINY.families) and margin["id"].is_unique
    assert (margin["lipschitz_kind"] == "upper_bound").all()
    for family in TINY.families:
        result = ch01.trained_moons(TINY, family, home=home)
        model = result.model
        x, y = _tensors(result)
        with torch.no_grad():
            z = model(x).double().numpy()
        w = model.head.weight.detach().double().numpy()
        sub = margin[margin["model"] == family]
        pair = sub[sub["certificate"] == "pairwise"].sort_values("eps")
        glob = sub[sub["certificate"] == "global"].sort_values("eps")
        lb, lw = float(pair["lipschitz"].iloc[0]), float(glob["lipschitz"].iloc[0])
        assert lw == pytest.approx(float(sub["lipschitz_whole"].iloc[0]))
        yn = y.numpy()
        others = [[j for j in range(z.shape[1]) if j != t] for t in yn]
        r_pair = np.array([min((z[i, t] - z[i, j]) / (lb * np.linalg.norm(w[t] - w[j])) for j in others[i])
                           for i, t in enumerate(yn)])  # fmt: skip
        r_glob = np.array([(z[i, t] - max(z[i, j] for j in others[i])) / (math.sqrt(2) * lw)
                           for i, t in enumerate(yn)])  # fmt: skip
        correct = z.argmax(1) == yn
        for eps, got_p, got_g in zip(pair["eps"], pair["certified_accuracy"], glob["certified_accuracy"]):
            ok_p = correct & ((r_pair > eps) if eps > 0 else True)
            ok_g = correct & ((r_glob > eps) if eps > 0 else True)
            assert got_p == pytest.approx(np.mean(ok_p), abs=1.5 / len(yn))  # one tie at the threshold
            assert got_g == pytest.approx(np.mean(ok_g), abs=1.5 / len(yn))
            assert got_p >= got_g  # the pairwise certificate is never looser
        # the whole network's bound dominates the float64 product of its exact layer norms (the MLP's bound)
        if family == "mlp":
            exact = np.prod([np.linalg.norm(m.weight.detach().double().numpy(), 2)
                             for m in model if isinstance(m, nn.Linear)])  # fmt: skip
            exact /= float(torch.as_tensor(model.normalize.std).min())
            assert lw >= exact * (1 - 1e-9)
        # an empirical lower bound never exceeds the certified upper bound
        assert float(sub["lipschitz_lower"].iloc[0]) <= lw * (1 + 1e-9)


def test_lipschitz_summary(margin):
    s = ch01.lipschitz_summary(margin)
    assert set(s["kind"]) == {"upper_bound", "lower_bound"} and len(s) == 3 * len(TINY.families)
    with pytest.raises(ValueError, match="margin_certificate"):
        ch01.lipschitz_summary(margin.drop(columns="lipschitz_lower"))


# ----------------------------------------------------------------------------------- sensitivity
def test_sensitivity_soundness_and_clean_values(sensitivity, margin, home):
    assert sensitivity["id"].is_unique
    for family in TINY.families:
        result = ch01.trained_moons(TINY, family, home=home)
        x, y = _tensors(result)
        with torch.no_grad():
            logits = result.model(x)
        clean_acc = float((logits.argmax(1) == y).double().mean())
        clean_loss = float(nn.functional.cross_entropy(logits, y))
        sub = sensitivity[sensitivity["model"] == family]
        at0 = sub[sub["scale"] == 0]
        assert np.allclose(at0["accuracy"], clean_acc)
        assert np.allclose(at0["loss"].dropna(), clean_loss, rtol=1e-5)
        inp = sub[sub["perturbation"] == "input"].pivot(index="scale", columns="method", values="accuracy")
        # a certified point cannot be broken inside its ball: certified <= attacked accuracy
        assert (inp["certified"] <= inp["pgd"] + 1e-12).all()
        assert (inp["pgd"] <= clean_acc + 1e-12).all()
        cert = margin[(margin["model"] == family) & (margin["certificate"] == "pairwise")].set_index("eps")
        assert np.allclose(inp["certified"], cert.loc[inp.index, "certified_accuracy"])
    wide = ch01.sensitivity_summary(sensitivity)
    assert list(wide.columns[:3]) == ["model", "perturbation", "scale"]


# ----------------------------------------------------------------------------------- randomized smoothing
def test_max_cohen_radius():
    # docs/chapters/ch05.md §9: with N = 10⁵ and α = 0.001 the largest possible radius is ≈ 3.81σ
    assert ch01.max_cohen_radius(1.0, 100_000, 0.001) == pytest.approx(3.81, abs=0.005)
    assert ch01.max_cohen_radius(0.5, 100_000, 0.001) == pytest.approx(0.5 * norm.ppf(0.001**1e-5))
    with pytest.raises(ValueError, match="sigma"):
        ch01.max_cohen_radius(0.0, 10, 0.1)


def test_cohen_radius_from_counts(smoothing):
    assert len(smoothing) == TINY.rs_points and smoothing["id"].is_unique
    for row in smoothing.itertuples():
        k, n, a = row.count_selected, row.n, row.alpha
        p_low = beta.ppf(a, k, n - k + 1) if k > 0 else 0.0  # one-sided Clopper–Pearson
        assert row.p_lower == pytest.approx(p_low, rel=1e-9, abs=1e-12)
        if p_low <= 0.5:
            assert row.prediction == -1 and row.radius == 0.0 and not row.correct
        else:
            assert row.prediction == row.selected
            assert row.radius == pytest.approx(row.sigma * norm.ppf(p_low), rel=1e-9)
            assert row.correct == (row.prediction == row.label)
        assert row.radius <= row.max_radius * (1 + 1e-12)
        assert row.max_radius == pytest.approx(row.sigma * norm.ppf(row.alpha ** (1 / row.n)))


def _certify_oracle(model, x, sigma, n0, n, alpha, batch, gen):
    """CERTIFY in plain torch + SciPy (Cohen et al. 2019), drawing the noise batch by batch in the order
    and dtype the library documents (one generator for selection, then estimation)."""

    def votes(num):
        counts = np.zeros(10, dtype=np.int64)
        for start in range(0, num, batch):
            b = min(batch, num - start)
            noise = torch.randn((b, *x.shape), generator=gen, dtype=torch.float32)
            with torch.no_grad():
                counts += np.bincount(model(x + sigma * noise).argmax(1).numpy(), minlength=10)
        return counts

    c_a = int(np.argmax(votes(n0)))
    k = int(votes(n)[c_a])
    p_low = float(beta.ppf(alpha, k, n - k + 1)) if k > 0 else 0.0
    return (c_a, k, p_low, sigma * norm.ppf(p_low)) if p_low > 0.5 else (-1, k, p_low, 0.0)


def test_cohen_certify_oracle_reproduces_every_row(smoothing, home):
    from stablecore.data import load_dataset

    data = load_dataset("digits", seed=0)
    for sigma, d in smoothing.groupby("sigma"):
        result = ch01.trained_digits(TINY, sigma, home=home)
        assert result is ch01.trained_digits(TINY, float(sigma), home=home)  # trained once
        assert not result.model.training
        for row in d.itertuples():
            gen = torch.Generator().manual_seed(row.index)  # seed 0: seed * 1_000_003 + index
            x = data.test[row.index][0]
            pred, k, p_low, radius = _certify_oracle(
                result.model, x, sigma, TINY.n0, TINY.n, TINY.alpha, TINY.rs_batch_size, gen
            )
            assert (row.prediction, row.count_selected) == (pred, k)
            assert row.p_lower == pytest.approx(p_low, rel=1e-12) and row.radius == pytest.approx(
                radius, rel=1e-12
            )
    with pytest.raises(ValueError, match="sigma"):
        ch01.trained_digits(TINY, 0.0, home=home)


def test_randomized_smoothing_is_seeded(smoothing, home):
    again = ch01.randomized_smoothing(TINY, home=home)
    assert again[["prediction", "count_selected", "radius"]].equals(
        smoothing[["prediction", "count_selected", "radius"]]
    )


def test_rs_curve(smoothing):
    curve = ch01.rs_curve(smoothing, [0.0, 0.1, 0.2, 0.4])
    for (_, method), d in curve.groupby(["sigma", "method"]):
        acc = d.sort_values("radius")["certified_accuracy"].to_numpy()
        assert (np.diff(acc) <= 1e-12).all()
        if method == "cohen":
            assert acc[0] == pytest.approx(smoothing["correct"].mean())
    with pytest.raises(ValueError, match="randomized_smoothing"):
        ch01.rs_curve(smoothing.drop(columns="radius"))


# ----------------------------------------------------------------------------------- curvature
def _dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Float64 Hessian of the mean cross-entropy in all parameters, by torch.func.hessian."""
    m64 = __import__("copy").deepcopy(model).double().eval()
    names = [n for n, _ in m64.named_parameters()]
    shapes = [p.shape for _, p in m64.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for _, p in m64.named_parameters()])

    def loss(v: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = v[i : i + s.numel()].view(s)
            i += s.numel()
        return nn.functional.cross_entropy(functional_call(m64, params, (x.double(),)), y)

    return torch.func.hessian(loss)(flat).numpy()


def test_hessian_top_against_dense_hessian(home):
    cfg = replace(TINY, families=("mlp",))
    df = ch01.hessian_top(cfg, home=home)
    result = ch01.trained_moons(cfg, "mlp", home=home)
    x, y = ch01._tensors(result.data.train)
    eig = np.sort(np.linalg.eigvalsh(_dense_hessian(result.model, x, y)))[::-1]
    assert (df["kind"] == "estimate").all() and list(df["rank"]) == [1, 2]
    assert np.allclose(df["eigenvalue"], eig[:2], rtol=2e-3, atol=1e-6)

    land = ch01.landscape_1d(cfg, home=home)
    hess = land[land["direction"] == "hessian"].sort_values("alpha")
    assert hess["curvature"].iloc[0] == pytest.approx(eig[0], rel=2e-3, abs=1e-6)
    with torch.no_grad():
        loss0 = float(nn.functional.cross_entropy(result.model(x), y))
    for _, d in land.groupby("direction"):
        d = d.sort_values("alpha")
        centre = d[d["alpha"] == 0]
        assert float(centre["loss"].iloc[0]) == pytest.approx(loss0, rel=1e-5)
        assert float(centre["quadratic"].iloc[0]) == pytest.approx(loss0, rel=1e-5)
        # second-order agreement near 0: the model's error shrinks faster than α²
        a = d["alpha"].to_numpy()
        gap = np.abs(d["loss"].to_numpy() - d["quadratic"].to_numpy())
        i = int(np.argmin(np.where(a > 0, a, np.inf)))
        assert gap[i] <= 0.5 * abs(d["curvature"].iloc[0]) * a[i] ** 2 + 1e-5


def test_hessian_runs_on_the_lipschitz_network(home):
    cfg = replace(TINY, families=("sll",))
    df = ch01.hessian_top(cfg, home=home)
    assert len(df) == cfg.hessian_k and np.isfinite(df["eigenvalue"]).all()
    assert df["eigenvalue"].is_monotonic_decreasing


# ----------------------------------------------------------------------------------- tour and comparison
def test_chapter_map_links_existing_notebooks():
    m = ch01.chapter_map()
    assert list(m["chapter"]) == [1, 2, 3, 4, 5, 6]
    for nb in m["notebook"]:
        assert (ROOT / "notebooks" / nb).is_file(), nb


def test_reported_comparison(margin):
    cmp = ch01.reported_comparison({"margin_certificate": margin})
    assert list(cmp.columns) == list(ch01.COMPARISON_COLUMNS)
    assert list(cmp["id"]) == [r.id for r in ch01.REPORTED]
    row = cmp.iloc[0]
    assert row["comparison"] == "not measured" and math.isnan(row["measured"]) and row["reported"] == 1.8
    assert "analogue" in row["note"]
    assert "analogue" not in ch01.reported_comparison({})["note"].iloc[0]
    with pytest.raises(ValueError, match="unknown"):
        ch01.reported_comparison({"nope": margin})
    with pytest.raises(TypeError, match="results"):
        ch01.reported_comparison([margin])
