"""Chapter 4 (curvature, a RECONSTRUCTION) on tiny configurations: columns, honest kinds, values against
float64 dense-Hessian and direct-evaluation oracles, ids. Research outcomes (what a regulariser does to
λ_max) are not asserted."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call

from stablecore.chapters import ch04_curvature as ch04
from stablecore.chapters import reported_numbers
from stablecore.data import load_dataset
from stablecore.landscape import Landscape, slice_2d
from stablecore.models import build_model
from stablecore.workflows import load_model

TINY = ch04.Ch04Config.quick(
    mlp_hidden=(3,),
    hessian_examples=40,
    top_k=2,
    trace_samples=30,
    density_steps=12,
    density_runs=1,
    spectrum_epochs=2,
    track_every=1,
    track_trace_samples=3,
    landscape_epochs=1,
    lipschitz_width=4,
    lipschitz_depth=1,
    landscape_regularizer="none",
    landscape_steps_1d=5,
    landscape_steps_2d=5,
    compare_epochs=1,
    n_seeds=2,
    flatness_steps=5,
    regularizers=("none",),
)


class CountingPenalty:
    """A zero-valued penalty that counts its calls (to check the comparison wires custom specs)."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, model, batch, outputs, activations) -> torch.Tensor:
        self.calls += 1
        return outputs.sum() * 0.0


COUNTERS: list[CountingPenalty] = []


def _counting_spec(template: nn.Module) -> dict:
    pen = CountingPenalty()
    COUNTERS.append(pen)
    return {"penalties": [pen]}


@pytest.fixture(scope="module")
def spectrum(tmp_path_factory) -> pd.DataFrame:
    return ch04.hessian_spectrum(TINY, seed=3, home=tmp_path_factory.mktemp("ch04-spectrum"))


@pytest.fixture(scope="module")
def land_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ch04-landscape")


@pytest.fixture(scope="module")
def lands(land_home) -> pd.DataFrame:
    return ch04.landscapes(TINY, seed=4, home=land_home)


@pytest.fixture(scope="module")
def compare_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("ch04-compare")


@pytest.fixture(scope="module")
def compare(compare_home) -> pd.DataFrame:
    COUNTERS.clear()
    return ch04.regularizer_comparison(
        TINY, seed=5, regularizers={"none": {}, "counting": _counting_spec}, home=compare_home
    )


# ----------------------------------------------------------------------------------- oracles
def _dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The float64 Hessian of the mean cross-entropy in all parameters (eval mode), by autograd."""
    m = copy.deepcopy(model).double().eval()
    names = [n for n, _ in m.named_parameters()]
    shapes = [p.shape for _, p in m.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in m.named_parameters()])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = flat[i : i + s.numel()].view(s)
            i += s.numel()
        return nn.functional.cross_entropy(functional_call(m, params, (x.double(),)), y)

    return torch.autograd.functional.hessian(loss, flat0, vectorize=True)


def _runs(home: Path, experiment: str) -> list[tuple[dict, Path]]:
    out = []
    for manifest in home.glob(f"{experiment}/*/manifest.json"):
        out.append((json.loads(manifest.read_text()), manifest.parent))
    return sorted(out, key=lambda item: item[0]["start_time"])  # in training order


# ----------------------------------------------------------------------------------- config
def test_presets_and_mode(monkeypatch) -> None:
    quick, full = ch04.Ch04Config.quick(), ch04.Ch04Config.full()
    assert quick.mode == "quick" and quick.compare_dataset == "digits" and quick.n_seeds == 3
    assert full.mode == "full" and full.compare_dataset == "cifar10" and full.cifar_model == "resnet20"
    assert "hessian_bound" not in full.regularizers  # its bound covers chains, not residual blocks
    assert set(quick.regularizers) == set(ch04.DEFAULT_STRENGTHS)
    monkeypatch.setenv("STABLECORE_MODE", "full")
    assert ch04.Ch04Config.for_mode().mode == "full"
    assert ch04.Ch04Config.for_mode("quick", top_k=2).top_k == 2


@pytest.mark.parametrize(
    "field, value",
    [
        ("mode", "fast"),
        ("top_k", 0),
        ("density_steps", 1),
        ("lr", 0.0),
        ("flatness_radius", math.inf),
        ("mlp_hidden", ()),
        ("activation", "swish"),
        ("lipschitz_family", "mlp"),
        ("lipschitz_width", 5),
        ("landscape_regularizer", "dropout"),
        ("regularizers", ("none", "none")),
        ("regularizers", ()),
        ("compare_dataset", "mnist"),
        ("compare_dataset", "cifar10"),  # quick mode never reads CIFAR-10
        ("num_threads", 0),
        ("tiny_hidden", ()),
        ("tiny_examples", 0),
        ("tiny_steps", -1),
    ],
)
def test_config_rejects(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        ch04.Ch04Config.quick(**{field: value})


def test_arguments_checked() -> None:
    with pytest.raises(TypeError, match="cfg"):
        ch04.hessian_spectrum("quick")
    with pytest.raises(TypeError, match="seed"):
        ch04.landscapes(TINY, seed=1.5)
    with pytest.raises(TypeError, match="regularizers"):
        ch04.resolve_regularizers("sam", TINY, nn.Linear(2, 2))
    with pytest.raises(TypeError, match="regularizers\\['x'\\]"):
        ch04.resolve_regularizers({"x": 3}, TINY, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="regularizers\\['x'\\]"):
        ch04.resolve_regularizers({"x": lambda m: {"optimizer": 1}}, TINY, nn.Linear(2, 2))
    with pytest.raises(ValueError, match="empty"):
        ch04.resolve_regularizers({}, TINY, nn.Linear(2, 2))


def test_hessian_batch_is_seeded_subset() -> None:
    data = load_dataset("digits", seed=0)
    x1, y1 = ch04.hessian_batch(data.train, 50, seed=7)
    x2, y2 = ch04.hessian_batch(data.train, 50, seed=7)
    x3, _ = ch04.hessian_batch(data.train, 50, seed=8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2) and not torch.equal(x1, x3)
    # drawn without replacement from the training split
    flat = torch.stack([data.train[i][0] for i in range(len(data.train))]).reshape(len(data.train), -1)
    idx = [int(torch.nonzero((flat == r).all(dim=1))[0]) for r in x1.reshape(50, -1)]
    assert len(set(idx)) == 50
    assert len(ch04.hessian_batch(data.train, 10**6, seed=0)[1]) == len(data.train)
    with pytest.raises(ValueError, match="n must"):
        ch04.hessian_batch(data.train, 0, seed=0)
    with pytest.raises(TypeError, match="data"):
        ch04.hessian_batch([1, 2], 1, seed=0)


# ----------------------------------------------------------------------------------- max loss
def test_max_loss_is_inf_on_a_nonfinite_loss() -> None:
    grid = np.linspace(-1.0, 1.0, 9)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    clean = Landscape(grid, grid.copy(), 3.0 + a**2 + b**2, np.full((9, 9), np.nan), {"dims": 2})
    for bad in (np.nan, np.inf):
        loss = clean.loss.copy()
        loss[5, 4] = bad
        assert ch04._max_loss(Landscape(grid, grid.copy(), loss, clean.accuracy, {"dims": 2})) == math.inf
    assert ch04._max_loss(clean) == pytest.approx(5.0)


# ----------------------------------------------------------------------------------- spectrum
def test_spectrum_columns_and_kinds(spectrum) -> None:
    assert list(spectrum.columns) == list(ch04.SPECTRUM_COLUMNS)
    assert set(spectrum["kind"]) == {"estimate"}
    assert set(spectrum["stage"]) == {"init", "trained", "training"}
    tracked = spectrum[spectrum["stage"] == "training"]
    assert sorted(tracked["epoch"].unique()) == [0, 1, 2]
    assert set(tracked["quantity"]) == {"lambda_max", "trace"}
    summary = ch04.spectrum_summary(spectrum)
    assert list(summary["stage"]) == ["init", "trained"]
    assert (summary["lambda_max"] >= summary["lambda_min"]).all()


def test_spectrum_matches_dense_hessian(spectrum) -> None:
    """Init-stage eigenvalues and trace against the float64 dense Hessian of the same model and batch."""
    data = load_dataset("digits", seed=3)
    model = build_model(
        "mlp", input_shape=data.input_shape, num_classes=data.num_classes, mean=data.mean, std=data.std,
        seed=3, hidden=list(TINY.mlp_hidden), activation=TINY.activation,
    )  # fmt: skip
    x, y = ch04.hessian_batch(data.train, TINY.hessian_examples, seed=3)
    evals = torch.linalg.eigvalsh(_dense_hessian(model, x, y)).numpy()
    init = spectrum[spectrum["stage"] == "init"]
    eig = init[init["quantity"] == "eigenvalue"]
    la = eig[eig["which"] == "LA"].sort_values("rank")["value"].to_numpy()
    sa = eig[eig["which"] == "SA"].sort_values("rank")["value"].to_numpy()
    scale = np.abs(evals).max()
    np.testing.assert_allclose(la, evals[::-1][: TINY.top_k], atol=1e-4 * scale, rtol=1e-3)
    np.testing.assert_allclose(sa, evals[: TINY.top_k], atol=1e-4 * scale, rtol=1e-3)
    tr = init[init["quantity"] == "trace"].iloc[0]
    assert abs(tr["value"] - evals.sum()) <= 3 * tr["stderr"] + 1e-4 * scale
    track0 = spectrum[(spectrum["stage"] == "training") & (spectrum["epoch"] == 0)]
    lam0 = float(track0.loc[track0["quantity"] == "lambda_max", "value"].iloc[0])
    assert lam0 == pytest.approx(evals[-1], rel=1e-3, abs=1e-4 * scale)
    assert int(eig["n_params"].iloc[0]) == sum(p.numel() for p in model.parameters())


def test_density_integrates_to_one(spectrum) -> None:
    for stage in ("init", "trained"):
        dens = spectrum[(spectrum["stage"] == stage) & (spectrum["quantity"] == "density")].sort_values("x")
        assert np.trapezoid(dens["value"], dens["x"]) == pytest.approx(1.0, abs=1e-6)
        assert (dens["value"] >= 0).all()


# ----------------------------------------------------------------------------------- tiny problem, bound gap
GAP_CFG = replace(TINY, tiny_hidden=(3,), tiny_examples=24, tiny_steps=20)


def test_tiny_problem_is_the_seeded_float64_mlp() -> None:
    init, (x, y) = ch04.tiny_problem(GAP_CFG, seed=2, trained=False)
    trained, (x2, y2) = ch04.tiny_problem(GAP_CFG, seed=2)
    data = load_dataset("digits", seed=2)
    bx, by = ch04.hessian_batch(data.train, GAP_CFG.tiny_examples, seed=2)
    assert x.dtype == torch.float64 and torch.equal(x, bx.double()) and torch.equal(y, by)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    ref = build_model(
        "mlp", input_shape=data.input_shape, num_classes=data.num_classes, mean=data.mean, std=data.std,
        seed=2, hidden=[3], activation=GAP_CFG.activation,
    )  # fmt: skip
    for (name, p), (_, q) in zip(init.named_parameters(), ref.named_parameters()):
        assert p.dtype == torch.float64 and torch.equal(p.detach(), q.detach().double()), name
    assert not init.training and not trained.training
    with torch.no_grad():
        before = float(nn.functional.cross_entropy(init(x), y))
        after = float(nn.functional.cross_entropy(trained(x), y))
    assert after < before  # 20 full-batch Adam steps lower the loss they minimise
    with pytest.raises(TypeError, match="trained"):
        ch04.tiny_problem(GAP_CFG, trained=1)
    with pytest.raises(TypeError, match="seed"):
        ch04.tiny_problem(GAP_CFG, seed=0.5)


def test_hessian_bound_gap_against_dense_hessian() -> None:
    """Exact block norms against an autograd dense Hessian; the bound holds and is the library's bound."""
    from stablecore.curvature import parameter_hessian_bounds

    gap = ch04.hessian_bound_gap(GAP_CFG, seed=1)
    assert list(gap.columns) == list(ch04.GAP_COLUMNS) and gap["id"].is_unique
    assert list(gap["stage"]) == ["init", "init", "trained", "trained"]
    assert list(gap["layer"]) == ["fc0", "head", "fc0", "head"]
    assert set(gap["exact_kind"]) == {"exact"} and set(gap["bound_kind"]) == {"upper_bound"}
    for stage in ("init", "trained"):
        model, (x, y) = ch04.tiny_problem(GAP_CFG, seed=1, trained=stage == "trained")
        dense = _dense_hessian(model, x, y)
        names = [n for n, _ in model.named_parameters()]
        sizes = [p.numel() for _, p in model.named_parameters()]
        starts = np.cumsum([0, *sizes])
        part = gap[gap["stage"] == stage].set_index("layer")
        assert part["hessian_norm"].iloc[0] == pytest.approx(
            float(torch.linalg.eigvalsh(dense).abs().max()), rel=1e-9
        )
        bounds = parameter_hessian_bounds(model, x, y)
        for layer in ("fc0", "head"):
            idx = np.concatenate(
                [
                    np.arange(starts[i], starts[i + 1])
                    for i, n in enumerate(names)
                    if n.startswith(layer + ".")
                ]
            )
            block = dense[idx][:, idx]
            row = part.loc[layer]
            assert row["n_params"] == len(idx)
            assert row["exact"] == pytest.approx(
                float(np.abs(np.linalg.eigvalsh(block.numpy())).max()), rel=1e-9
            )
            assert row["bound"] == bounds[layer].value
            assert row["exact"] <= row["bound"] <= row["bound_global"] * (1 + 1e-12)
            assert row["ratio"] == pytest.approx(row["bound"] / row["exact"])
            assert row["exact"] <= row["hessian_norm"] * (1 + 1e-12)  # a block is a compression of H
        with torch.no_grad():
            assert part["train_loss"].iloc[0] == pytest.approx(
                float(nn.functional.cross_entropy(model(x), y))
            )


# ----------------------------------------------------------------------------------- landscapes
def test_landscapes_structure(lands) -> None:
    assert list(lands.columns) == list(ch04.LANDSCAPE_COLUMNS)
    assert set(lands["kind"]) == {"estimate"}
    assert list(dict.fromkeys(lands["model"])) == ["standard", "lipschitz", "regularised"]
    assert set(lands.loc[lands["model"] == "lipschitz", "family"]) == {"sll"}
    for model in ("standard", "lipschitz", "regularised"):
        one, two = ch04.landscape_of(lands, model, 1), ch04.landscape_of(lands, model, 2)
        assert one.betas is None and len(one.alphas) == TINY.landscape_steps_1d
        assert two.loss.shape == (TINY.landscape_steps_2d,) * 2
        assert one.centre_loss == pytest.approx(two.centre_loss, rel=1e-6)
    summary = ch04.landscape_summary(lands, radius=0.5)
    assert list(summary["model"]) == ["standard", "lipschitz", "regularised"]
    with pytest.raises(ValueError, match="model"):
        ch04.landscape_of(lands, "resnet", 2)
    with pytest.raises(ValueError, match="dims"):
        ch04.landscape_of(lands, "standard", 3)


def test_landscape_centre_is_the_trained_model(lands, land_home) -> None:
    """The loss at the origin equals a direct evaluation of each stored (trained) network on the batch."""
    data = load_dataset("digits", seed=4)
    x, y = ch04.hessian_batch(data.train, TINY.hessian_examples, seed=4)
    runs = _runs(land_home, "ch04-landscape")
    assert sorted(m["model_config"]["name"] for m, _ in runs) == ["mlp", "mlp", "sll"]
    direct: dict[str, list[float]] = {"mlp": [], "sll": []}
    for manifest, path in runs:
        with torch.no_grad():
            direct[manifest["model_config"]["name"]].append(
                float(nn.functional.cross_entropy(load_model(path)(x), y))
            )
    for model, family in (("standard", "mlp"), ("lipschitz", "sll"), ("regularised", "mlp")):
        centre = float(lands.loc[lands["model"] == model, "centre_loss"].iloc[0])
        assert any(centre == pytest.approx(d, rel=1e-5) for d in direct[family]), (model, centre, direct)


# ----------------------------------------------------------------------------------- comparison
def test_comparison_structure_and_kinds(compare) -> None:
    assert list(compare.columns) == list(ch04.COMPARE_COLUMNS)
    assert len(compare) == 2 * TINY.n_seeds
    assert sorted(compare["seed"].unique()) == [5, 6]
    for col in ("lambda_max_kind", "trace_kind", "flatness_kind"):
        assert set(compare[col]) == {"estimate"}
    assert compare["id"].is_unique
    assert set(compare["id"].str.rsplit(".", n=2).str[0]) == {"ch04.compare.digits"}
    assert (compare["train_seconds"] > 0).all() and (compare["seconds_per_epoch"] > 0).all()
    # the custom spec was built fresh per seed and its penalty ran during training
    assert len(COUNTERS) >= TINY.n_seeds and all(p.calls > 0 for p in COUNTERS[-TINY.n_seeds :])


def test_comparison_values_against_oracles(compare, compare_home) -> None:
    ce = nn.CrossEntropyLoss()
    runs = _runs(compare_home, "ch04-compare-none")
    assert len(runs) == TINY.n_seeds
    for manifest, path in runs:
        seed = int(manifest["seed"])
        row = compare[(compare["regularizer"] == "none") & (compare["seed"] == seed)].iloc[0]
        net = load_model(path)
        data = load_dataset("digits", seed=seed)
        x, y = ch04.hessian_batch(data.train, TINY.hessian_examples, seed=seed)
        evals = torch.linalg.eigvalsh(_dense_hessian(net, x, y)).numpy()
        assert row["lambda_max"] == pytest.approx(evals[-1], rel=1e-3)
        assert abs(row["trace"] - evals.sum()) <= 3 * row["trace_stderr"] + 1e-4 * abs(evals).max()
        assert row["test_accuracy"] == pytest.approx(manifest["test_accuracy"])
        plane = slice_2d(
            net, ce, (x, y), directions="random", span=(-TINY.flatness_radius, TINY.flatness_radius),
            steps=TINY.flatness_steps, seed=seed, progress=False,
        )  # fmt: skip
        a, b = np.meshgrid(plane.alphas, plane.betas, indexing="ij")
        inside = np.hypot(a, b) <= TINY.flatness_radius + 1e-9
        assert row["flatness"] == pytest.approx(float(np.mean(plane.loss[inside] - plane.centre_loss)))


def test_default_regularizers_resolve() -> None:
    regs = pytest.importorskip("stablecore.curvature.regularizers")
    template = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, hidden=[4], activation="tanh")
    specs = ch04.resolve_regularizers(None, ch04.Ch04Config.quick(), template)
    assert list(specs) == list(ch04.DEFAULT_STRENGTHS)
    assert set(specs) <= set(regs.REGULARIZERS)
    assert specs["sam"][0]["step"] is not None and specs["trace"][0]["penalties"]
    with pytest.raises(ValueError):
        ch04.resolve_regularizers(["dropout"], ch04.Ch04Config.quick(), template)


# ----------------------------------------------------------------------------------- summaries
def _synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for reg in ("none", "sam", "trace"):
        for seed in range(3):
            row = {c: np.nan for c in ch04.COMPARE_COLUMNS}
            row.update(
                id=f"ch04.compare.digits.{reg}.seed{seed}", dataset="digits", model="mlp", regularizer=reg,
                options="", seed=seed, epochs=1, test_accuracy=rng.uniform(0.8, 1),
                lambda_max=rng.uniform(1, 3), trace=rng.uniform(5, 20), flatness=rng.uniform(0, 0.1),
                seconds_per_epoch=rng.uniform(0.1, 1),
            )  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=list(ch04.COMPARE_COLUMNS))


def test_comparison_summary_against_numpy() -> None:
    frame = _synthetic()
    summary = ch04.comparison_summary(frame)
    assert list(summary["regularizer"]) == ["none", "sam", "trace"]
    for reg in ("none", "sam", "trace"):
        part = frame[frame["regularizer"] == reg]
        row = summary[summary["regularizer"] == reg].iloc[0]
        for metric in ch04.SUMMARY_METRICS:
            assert row[f"{metric}_mean"] == pytest.approx(np.mean(part[metric]))
            assert row[f"{metric}_std"] == pytest.approx(np.std(part[metric], ddof=1))
        base = np.mean(frame.loc[frame["regularizer"] == "none", "seconds_per_epoch"])
        assert row["time_vs_none"] == pytest.approx(np.mean(part["seconds_per_epoch"]) / base)
    text = ch04.comparison_summary(frame, formatted=True)
    assert " ± " in text["test_accuracy_%"].iloc[0]
    with pytest.raises(ValueError, match="missing columns"):
        ch04.comparison_summary(frame.drop(columns=["trace"]))
    with pytest.raises(TypeError, match="frame"):
        ch04.comparison_summary({})


def test_reported_comparison() -> None:
    frame = _synthetic()
    table = ch04.reported_comparison({"regularizer_comparison": frame})
    assert list(table.columns) == list(ch04.COMPARISON_COLUMNS)
    assert list(table["id"]) == list(reported_numbers(4)["id"])
    assert set(table["comparison"]) == {"not transcribed"}  # docs/chapters/ch04.md gives no number
    row = table.set_index("id").loc["ch04.thesis.sam.test_accuracy"]
    assert row["measured"] == pytest.approx(
        100 * frame.loc[frame["regularizer"] == "sam", "test_accuracy"].mean()
    )
    assert "RECONSTRUCTION" in row["note"]
    row = table.set_index("id").loc["ch04.thesis.hutchinson_trace.hessian_trace"]  # our name: "trace"
    assert row["measured"] == pytest.approx(frame.loc[frame["regularizer"] == "trace", "trace"].mean())
    assert math.isnan(table.set_index("id").loc["ch04.thesis.noise_injection.lambda_max", "measured"])
    empty = ch04.reported_comparison({})
    assert empty["measured"].isna().all() and (empty["note"] == "regularizer_comparison was not run").all()
    with pytest.raises(ValueError, match="unknown experiment"):
        ch04.reported_comparison({"cifar": frame})
    with pytest.raises(TypeError, match="results"):
        ch04.reported_comparison([frame])
    assert ch04.compared_ids("landscapes") == []
    assert len(ch04.compared_ids()) == len(ch04.REPORTED)
