"""The sensitivity report: its numbers are the library's (recomputed here directly), lower bounds stay below
the upper bound, certified accuracy stays below the PGD accuracy, the model is left untouched, the HTML is
self-contained, and bad arguments are refused by name."""

import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, Subset

from stablecore.blocks import Normalize
from stablecore.certify import (
    certified_accuracy_curve,
    certify_model,
    empirical_lipschitz,
    lipschitz_lower_bound,
    pgd,
)
from stablecore.curvature import hessian_density, hessian_eigenvalues, hessian_trace
from stablecore.report import (
    NUMBER_COLUMNS,
    ReportSettings,
    build_report,
    inputs_from_run,
    render_html,
    sample_indices,
    write_html,
)
from stablecore.smoothing import Smooth, example_generator
from stablecore.spectral import lipschitz_bound
from stablecore.types import KINDS


def _tensors(dataset, indices):
    xs, ys = zip(*(dataset[i] for i in indices))
    return torch.stack(xs), torch.stack([torch.as_tensor(v) for v in ys]).long()


@pytest.fixture(scope="module")
def reports(digits_runs, small):
    out = {}
    for name in ("mlp", "sll", "convnet"):
        result = digits_runs[name]
        inputs = inputs_from_run(result.run.path)
        before = copy.deepcopy(inputs.model.state_dict())
        inputs.model.train()  # the report must restore the user's mode
        report = build_report(
            inputs.model, inputs.data, loss_fn=inputs.loss_fn, settings=small, progress=False
        )
        out[name] = (inputs, report, before)
    return out


@pytest.mark.parametrize("name", ["mlp", "sll", "convnet"])
def test_report_numbers_equal_the_library(reports, name):
    inputs, report, before = reports[name]
    model, data, s = inputs.model, inputs.data, report.settings
    # the model is untouched: same weights, its train mode restored
    assert model.training
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    model.eval()
    assert list(report.numbers.columns) == list(NUMBER_COLUMNS)
    assert set(report.numbers["kind"]) <= set(KINDS)
    idx = report.test_indices
    assert (
        len(idx) == s.test_points
        and list(idx) == sorted(set(idx))
        and 0 <= idx[0]
        and idx[-1] < len(data.test)
    )
    x, y = _tensors(data.test, idx)

    # input sensitivity: the upper bound and every lower bound, recomputed
    bound = lipschitz_bound(model, data.input_shape, method="gram")
    assert report.kind("lipschitz_upper_bound") == "upper_bound"
    assert report.number("lipschitz_upper_bound") == pytest.approx(bound.value, rel=1e-12)
    emp = empirical_lipschitz(model, x, y)
    for key in ("max_jacobian_norm", "max_logit_gradient", "max_margin_gradient"):
        assert report.number(key) == pytest.approx(emp[key].value, rel=1e-9)
    positive = [r for r in s.radii if r > 0]
    advs = [pgd(model, x, y, r, steps=s.pgd_steps, seed=i, loss="margin") for i, r in enumerate(positive)]
    # independent ratio: float64 copy of the model, pairs with δ ≠ 0
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        ratios = [
            ((net(a.double()) - net(x.double())).norm(dim=1) / (a - x).double().flatten(1).norm(dim=1))[
                (a != x).flatten(1).any(1)
            ]
            for a in advs
        ]
    assert report.number("pgd_ratio") == pytest.approx(float(torch.cat(ratios).max()), rel=1e-7)
    pairs = lipschitz_lower_bound(model, x, steps=s.pair_steps, seed=0)
    assert report.number("pairs_ratio") == pytest.approx(pairs.value, rel=1e-9)
    lower = report.lower_bounds
    assert set(lower["quantity"]) == {
        "max_jacobian_norm", "max_logit_gradient", "max_margin_gradient", "pgd_ratio", "pairs_ratio"
    }  # fmt: skip
    assert (lower["value"] > 0).all() and (lower["value"] <= bound.value).all()
    assert report.number("looseness") == pytest.approx(bound.value / lower["value"].max(), rel=1e-12)
    assert report.number("looseness") >= 1.0

    # certified accuracy (Lipschitz margin, pairwise for these heads) and the PGD accuracy
    table = certify_model(model, (x, y), s.radii, last_layer="auto")
    curve = certified_accuracy_curve(table, s.radii)
    got = report.curves[report.curves["kind"] == "lower_bound"].sort_values("eps")
    np.testing.assert_allclose(got["accuracy"], curve["certified_accuracy"], rtol=0, atol=0)
    assert report.certificate == f"lipschitz-{table.attrs['certificate']}"
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).double().mean())
        robust = [clean] + [float((model(a).argmax(1) == y).double().mean()) for a in advs]
    attack = report.curves[report.curves["kind"] == "upper_bound"].sort_values("eps")
    np.testing.assert_allclose(attack["accuracy"], robust, rtol=0, atol=0)
    assert report.number("accuracy") == clean
    # a certificate never beats an attack
    assert (got["accuracy"].to_numpy() <= attack["accuracy"].to_numpy()).all()

    # parameter sensitivity, recomputed with the same settings
    loader = DataLoader(Subset(data.train, range(s.train_points)), batch_size=s.batch_size)
    top = hessian_eigenvalues(model, inputs.loss_fn, loader, k=s.hessian_k, max_steps=s.lanczos_steps, seed=0)
    np.testing.assert_allclose(report.eigenvalues["eigenvalue"], top.eigenvalues, rtol=1e-6)
    for i, ok in enumerate(top.converged):  # a value that missed tol says so in its row
        row = report.numbers[report.numbers["quantity"] == f"hessian_eigenvalue_{i + 1}"].iloc[0]
        assert ("NOT converged" in " ".join(str(v) for v in row.to_numpy())) == (not ok)
    assert report.number("hessian_eigenvalue_1") == pytest.approx(top.eigenvalues[0], rel=1e-6)
    trace = hessian_trace(model, inputs.loss_fn, loader, num_samples=s.trace_samples, seed=0)
    assert report.number("hessian_trace") == pytest.approx(trace.mean, rel=1e-6)
    dens = hessian_density(model, inputs.loss_fn, loader, lanczos_steps=s.density_steps, seed=0)
    np.testing.assert_allclose(report.density["density"], dens.density, rtol=1e-5, atol=1e-12)
    # landscape centre = the training loss on those examples (independent: a plain forward pass)
    xt, yt = _tensors(data.train, range(s.train_points))
    with torch.no_grad():
        loss = float(inputs.loss_fn(model(xt), yt))
    assert report.number("landscape_centre_loss") == pytest.approx(loss, rel=1e-5)
    assert report.number("landscape_max_increase") >= 0
    assert report.kind("hessian_trace") == "estimate"


def test_html_is_self_contained(reports, tmp_path):
    _, report, _ = reports["mlp"]
    text = render_html(report)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert not re.search(r"<script[^>]*\ssrc\s*=", text, flags=re.I)
    assert not re.search(r"<link[^>]*href\s*=\s*['\"]?https?:", text, flags=re.I)
    assert text.count("* plotly.js v") == 1  # the bundle, inline, once
    assert text.count("Plotly.newPlot(") == 4 and text.index("* plotly.js v") < text.index("Plotly.newPlot(")
    assert text.count('class="plotly-graph-div"') == 4
    for kind in KINDS:
        assert kind in text
    assert f"{report.number('lipschitz_upper_bound'):.6g}" in text
    path = write_html(report, tmp_path / "r.html")
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary file left
    with pytest.raises(ValueError, match="path"):
        write_html(report, tmp_path / "r.txt")
    with pytest.raises(TypeError, match="report"):
        render_html("report")


def test_unbounded_model_uses_smoothing_and_says_why(digits_runs, small):
    data = digits_runs["mlp"].data
    torch.manual_seed(0)
    model = nn.Sequential(
        Normalize(data.mean, data.std),
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.LayerNorm(16),
        nn.ReLU(),
        nn.Linear(16, 10),
    ).eval()
    report = build_report(model, data, settings=small, seed=3, progress=False)
    assert report.upper_bound is None and "LayerNorm" in report.refusal
    assert report.certificate == "smoothing"
    assert "lipschitz_upper_bound" not in set(report.numbers["quantity"])
    assert "looseness" not in set(report.numbers["quantity"])
    # the smoothing curve, recomputed with Smooth.certify on the same points and noise
    x, y = _tensors(data.test, report.test_indices)
    smooth, s = Smooth(model, 10, small.sigma), small
    radii, correct = [], []
    for j in range(s.smoothing_points):
        cert = smooth.certify(
            x[j], s.n0, s.n, s.alpha, s.batch_size, generator=example_generator(3, report.test_indices[j])
        )
        radii.append(cert.radius)
        correct.append(cert.prediction == int(y[j]))
    expected = [np.mean([c and r > e for r, c in zip(radii, correct)]) for e in s.radii]
    got = report.curves[report.curves["certificate"] == "smoothing"].sort_values("eps")["accuracy"]
    np.testing.assert_allclose(got, expected, rtol=0, atol=0)
    text = render_html(report)
    assert "No Lipschitz upper bound" in text and "LayerNorm" in text


def test_smoothing_always_adds_a_curve(digits_runs, small):
    result = digits_runs["mlp"]
    settings = ReportSettings(
        **{**small.to_dict(), "smoothing": "always", "test_points": 8, "radii": (0.0, 0.5)}
    )
    report = build_report(result.model, result.data, settings=settings, progress=False)
    assert report.certificate == "lipschitz-pairwise+smoothing"
    assert set(report.curves["certificate"]) == {"lipschitz-pairwise", "smoothing", "attack"}


@given(size=st.integers(1, 300), count=st.integers(1, 400), seed=st.integers(0, 1000))
def test_sample_indices(size, count, seed):
    idx = sample_indices(size, count, seed)
    assert len(idx) == min(size, count) and list(idx) == sorted(set(idx))
    assert all(0 <= i < size for i in idx) and idx == sample_indices(size, count, seed)


def test_bad_arguments(digits_runs):
    result = digits_runs["mlp"]
    for kwargs, match in [
        ({"test_points": 0}, "test_points"),
        ({"bound_method": "power"}, "bound_method"),
        ({"smoothing": "sometimes"}, "smoothing"),
        ({"radii": (-1.0,)}, "radii"),
        ({"radii": ()}, "radii"),
        ({"alpha": 1.5}, "alpha"),
        ({"landscape_steps": 1}, "landscape_steps"),
        ({"sigma": 0.0}, "sigma"),
    ]:
        with pytest.raises(ValueError, match=match):
            ReportSettings(**kwargs)
    with pytest.raises(ValueError, match="mode"):
        ReportSettings.preset("slow")
    with pytest.raises(ValueError, match="unknown report setting"):
        ReportSettings.preset("quick", lanczos=3)
    assert ReportSettings.preset("full").test_points > ReportSettings().test_points
    assert ReportSettings(radii=(1, 0, 1)).radii == (0.0, 1.0)
    with pytest.raises(TypeError, match="model"):
        build_report("model", result.data)
    with pytest.raises(TypeError, match="data"):
        build_report(result.model, "digits")
    with pytest.raises(TypeError, match="settings"):
        build_report(result.model, result.data, settings={"test_points": 3})
    with pytest.raises(ValueError, match="seed"):
        build_report(result.model, result.data, seed=-1)


def test_landscape_max_increase_is_inf_when_a_grid_loss_is_not_finite() -> None:
    """The report's largest loss increase never skips a NaN or inf grid loss (it is then inf)."""
    import math

    from stablecore.landscape import Landscape
    from stablecore.report import compute

    grid = np.linspace(-1.0, 1.0, 5)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    loss = 1.0 + a**2 + b**2
    clean = Landscape(grid, grid.copy(), loss, np.full_like(loss, np.nan), {"dims": 2})
    assert compute._max_increase(clean) == 2.0
    for bad in (np.nan, np.inf):
        broken = loss.copy()
        broken[0, 0] = bad
        land = Landscape(grid, grid.copy(), broken, np.full_like(loss, np.nan), {"dims": 2})
        assert compute._max_increase(land) == math.inf
