"""Chapter 3 experiments on tiny configurations: columns, honest kinds, soundness against oracles, ids."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from stablecore.blocks import Normalize
from stablecore.certify import certify_model
from stablecore.chapters import ch03_lipschitz_layers as ch03
from stablecore.chapters import reported_numbers
from stablecore.data import load_dataset
from stablecore.layers import cpl_step_lipschitz

TINY = ch03.Ch03Config.quick(
    mlp_hidden=(8,),
    moons_samples=120,
    moons_width=8,
    moons_depth=2,
    moons_epochs=2,
    grid_size=15,
    n_circles=4,
    offsets=(0.0, 2.0),
    offset_epochs=2,
    offset_eps=(0.05, 0.2),
    digits_families=("mlp", "sll"),
    digits_width=8,
    digits_depth=1,
    digits_epochs=1,
    digits_eps=(0.0, 0.1, 0.5),
    pi_shapes=((6, 6), (4, 8), (8, 4)),
    pi_draws=4,
    pi_random_iters=(1, 3),
    pi_width=6,
    pi_depth=2,
    pi_steps=20,
    pi_eval_iters=50,
    jacobian_draws=5,
    jacobian_points=3,
    jacobian_features=4,
    sll_gram_depths=(1, 2, 3),
    sll_gram_draws=4,
)
REPORTED_IDS = set(reported_numbers(3)["id"])


@pytest.fixture(scope="module")
def boundaries(tmp_path_factory) -> pd.DataFrame:
    return ch03.moons_boundaries(TINY, seed=1, home=tmp_path_factory.mktemp("ch03-moons"))


@pytest.fixture(scope="module")
def offsets(tmp_path_factory) -> pd.DataFrame:
    return ch03.offset_tradeoff(TINY, seed=2, home=tmp_path_factory.mktemp("ch03-offset"))


@pytest.fixture(scope="module")
def digits_home(tmp_path_factory):
    return tmp_path_factory.mktemp("ch03-digits")


@pytest.fixture(scope="module")
def digits(digits_home) -> pd.DataFrame:
    return ch03.digits_certified(TINY, seed=3, home=digits_home)


@pytest.fixture(scope="module")
def gap() -> pd.DataFrame:
    return ch03.power_iteration_gap(TINY, seed=4)


@pytest.fixture(scope="module")
def jacobians() -> pd.DataFrame:
    return ch03.jacobian_check(TINY, seed=5)


def _min_std_inverse(name: str, **kwargs) -> float:
    return 1 / min(load_dataset(name, **kwargs).std)


# ----------------------------------------------------------------------------------- config
def test_presets_and_mode(monkeypatch) -> None:
    quick, full = ch03.Ch03Config.quick(), ch03.Ch03Config.full()
    assert quick.mode == "quick" and quick.device == "cpu"
    assert full.mode == "full" and full.cifar_size == "small"
    assert full.jacobian_draws * full.jacobian_points == 3000  # the thesis's 3,000 draws
    assert quick.jacobian_draws * quick.jacobian_points < 3000
    assert full.cifar_eps == pytest.approx((36 / 255, 72 / 255, 108 / 255, 1.0))
    assert set(full.cifar_families) == {"sll", "cpl", "aol", "sr"}
    monkeypatch.setenv("STABLECORE_MODE", "full")
    assert ch03.Ch03Config.for_mode().mode == "full"
    assert ch03.Ch03Config.for_mode("quick", moons_epochs=3).moons_epochs == 3


@pytest.mark.parametrize(
    "field, value",
    [
        ("mode", "fast"),
        ("moons_epochs", 0),
        ("moons_families", ("resnet",)),
        ("moons_families", ("sll", "sll")),
        ("cifar_families", ("mlp",)),
        ("offsets", (-1.0,)),
        ("offsets", ()),
        ("moons_width", 7),
        ("offset_dataset", "cifar10"),
        ("offset_family", "soc"),
        ("pi_shapes", ((0, 3),)),
        ("temperature", 0.0),
        ("n_circles", -1),
        ("digits_eps", (0.1, math.inf)),
        ("num_threads", 0),
    ],
)
def test_config_rejects(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        ch03.Ch03Config.quick(**{field: value})


def test_arguments_checked() -> None:
    with pytest.raises(TypeError, match="cfg"):
        ch03.jacobian_check({"jacobian_draws": 1})
    with pytest.raises(TypeError, match="seed"):
        ch03.jacobian_check(TINY, seed=1.0)


def test_threads_restored() -> None:
    before = torch.get_num_threads()
    ch03.jacobian_check(ch03.Ch03Config.quick(jacobian_layers=("aol",), jacobian_draws=1, num_threads=1))
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------------- certified radii
def test_predict_with_radius_matches_closed_form() -> None:
    """Normalize → Linear: body constant 1/min σ exactly, pairwise radius by hand."""
    torch.manual_seed(0)
    mean, std = (0.5, -1.0), (2.0, 0.5)
    model = nn.Sequential(Normalize(mean, std), nn.Linear(2, 3))
    x = torch.randn(7, 2)
    pred, radius, bound, certificate = ch03.predict_with_radius(model, x, (2,))
    assert certificate == "pairwise" and bound.kind in ("exact", "upper_bound")
    W = model[1].weight.detach().double()
    logits = model(x).detach().double()
    expected = []
    for i in range(len(x)):
        y = int(logits[i].argmax())
        r = min(
            (logits[i, y] - logits[i, j]) / (torch.linalg.vector_norm(W[y] - W[j]) / min(std))
            for j in range(3)
            if j != y
        )
        expected.append(float(r))
    assert torch.equal(pred, logits.argmax(1))
    assert radius.tolist() == pytest.approx(expected, rel=1e-9)
    assert bound.value == pytest.approx(1 / min(std), rel=1e-9)


def test_predict_with_radius_agrees_with_certify_model() -> None:
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4))
    x, y = torch.randn(20, 3), torch.randint(0, 4, (20,))
    pred, radius, bound, certificate = ch03.predict_with_radius(model, x, (3,), labels=y)
    cert = certify_model(model, (x, y), [0.1], last_layer="auto")
    assert certificate == cert.attrs["certificate"] == "pairwise"
    assert bound.value == pytest.approx(cert.attrs["lipschitz"])
    assert radius.numpy() == pytest.approx(cert["radius"].to_numpy(), rel=1e-12)
    assert (radius[pred != y] == 0).all()
    # no final linear layer: the global certificate M / (√2 L)
    model = nn.Sequential(nn.Linear(3, 4), nn.Identity())
    pred, radius, bound, certificate = ch03.predict_with_radius(model, x, (3,))
    logits = model(x).detach().double().sort(dim=1).values
    margin = logits[:, -1] - logits[:, -2]
    W = model[0].weight.detach().double()
    assert certificate == "global"
    expected = margin / (math.sqrt(2) * torch.linalg.matrix_norm(W, 2))
    assert radius.tolist() == pytest.approx(expected.tolist(), rel=1e-6)
    with pytest.raises(ValueError, match="x"):
        ch03.predict_with_radius(model, torch.zeros(0, 3), (3,))


# ----------------------------------------------------------------------------------- two moons
def test_moons_boundaries_structure(boundaries: pd.DataFrame) -> None:
    assert tuple(boundaries.columns) == ch03.BOUNDARY_COLUMNS
    assert list(dict.fromkeys(boundaries["model"])) == list(TINY.moons_families)
    for model, group in boundaries.groupby("model"):
        parts = group["part"].value_counts()
        assert parts["grid"] == TINY.grid_size**2
        assert parts["train"] == 90 and parts["test"] == 30  # 120 points, test fraction 0.25
        assert group.loc[group["part"] == "grid", "label"].isna().all()
        test = group[group["part"] == "test"]
        assert test["circle"].sum() == TINY.n_circles
        assert group["test_accuracy"].iloc[0] == pytest.approx(test["correct"].astype(bool).mean())
        assert (group["lipschitz_kind"] == "upper_bound").all() and (group["certificate"] == "pairwise").all()
        assert group["id"].eq(f"ch03.moons.{model}").all()
    circled = boundaries[boundaries["circle"]].groupby("model")["index"].apply(tuple)
    assert circled.nunique() == 1  # the same test points for every model
    labelled = boundaries[boundaries["part"] != "grid"]
    assert (labelled.loc[~labelled["correct"].astype(bool), "radius"] == 0).all()
    assert (boundaries["radius"] >= 0).all()


def test_moons_lipschitz_bodies_are_the_standardisation(boundaries: pd.DataFrame) -> None:
    """The Lipschitz families' bodies are 1-Lipschitz after Normalize: L_body = 1/min std (up to margins)."""
    expected = _min_std_inverse("moons", n_samples=120, noise=TINY.moons_noise, seed=1)
    bounds = boundaries.groupby("model")["lipschitz"].first()
    for family in ("cpl", "sll", "aol"):
        assert bounds[family] == pytest.approx(expected, rel=1e-5)
        assert bounds[family] >= expected
    assert bounds["sr"] <= expected * (1 + 1e-5)  # SR may certify a constant below 1 per layer


def test_moons_radii_are_sound_on_the_grid(boundaries: pd.DataFrame) -> None:
    """Brute force: every grid point inside a certified disk has the certified class."""
    for _model, group in boundaries.groupby("model"):
        grid = group[group["part"] == "grid"]
        g = grid[["x0", "x1"]].to_numpy()
        g_pred = grid["prediction"].to_numpy()
        centres = pd.concat([grid, group[(group["part"] != "grid") & (group["radius"] > 0)]])
        for x0, x1, r, c in zip(centres["x0"], centres["x1"], centres["radius"], centres["prediction"]):
            inside = np.hypot(g[:, 0] - x0, g[:, 1] - x1) < r
            assert (g_pred[inside] == c).all()


def test_boundary_summary(boundaries: pd.DataFrame) -> None:
    summary = ch03.boundary_summary(boundaries, eps=(0.0, 0.1))
    assert list(summary.columns) == [*ch03.SUMMARY_COLUMNS, "certified@0", "certified@0.1"]
    assert list(summary["model"]) == list(TINY.moons_families)
    for _, row in summary.iterrows():
        test = boundaries[(boundaries["model"] == row["model"]) & (boundaries["part"] == "test")]
        radius, correct = test["radius"].to_numpy(), test["correct"].astype(bool).to_numpy()
        assert row["median_radius"] == pytest.approx(float(np.median(radius)))
        assert row["max_radius"] == pytest.approx(float(radius.max()))
        assert row["certified@0.1"] == pytest.approx(np.mean(correct & (radius > 0.1)))
        assert row["certified@0.1"] <= row["certified@0"] <= row["test_accuracy"]
    with pytest.raises(ValueError, match="missing columns"):
        ch03.boundary_summary(boundaries.drop(columns=["radius"]))
    with pytest.raises(ValueError, match="eps"):
        ch03.boundary_summary(boundaries, eps=())
    with pytest.raises(TypeError, match="frame"):
        ch03.boundary_summary(boundaries.to_dict())


# ----------------------------------------------------------------------------------- offsets, digits
def test_offset_tradeoff(offsets: pd.DataFrame) -> None:
    assert tuple(offsets.columns) == ch03.OFFSET_COLUMNS
    assert len(offsets) == len(TINY.offsets) * len(TINY.offset_eps)
    assert sorted(set(offsets["offset"])) == [0.0, 2.0]
    assert (offsets["certified_accuracy"] <= offsets["clean_accuracy"]).all()
    for _offset, group in offsets.groupby("offset"):
        assert group.sort_values("eps")["certified_accuracy"].is_monotonic_decreasing
        assert group["clean_accuracy"].nunique() == 1
    assert offsets["lipschitz"].to_numpy() == pytest.approx(
        _min_std_inverse("moons", n_samples=120, noise=TINY.moons_noise, seed=2), rel=1e-5
    )
    assert "ch03.offset.moons.sll.offset2.eps0.05" in set(offsets["id"])
    assert offsets["id"].is_unique


def test_digits_certified(digits: pd.DataFrame) -> None:
    assert tuple(digits.columns) == ch03.CERTIFIED_COLUMNS
    assert len(digits) == 2 * 3 and set(digits["family"]) == {"mlp", "sll"}
    for _family, group in digits.groupby("family"):
        group = group.sort_values("eps")
        assert group["certified_accuracy"].is_monotonic_decreasing
        assert group["certified_accuracy"].iloc[0] <= group["clean_accuracy"].iloc[0]
        assert group["clean_accuracy"].between(0, 1).all() and (group["train_img_per_s"] > 0).all()
    sll = digits[digits["family"] == "sll"]
    assert sll["lipschitz"].iloc[0] == pytest.approx(_min_std_inverse("digits", seed=3), rel=1e-5)
    assert (digits["lipschitz_kind"] == "upper_bound").all()
    assert list(sll["id"]) == ["ch03.digits.sll.eps0", "ch03.digits.sll.eps0.1", "ch03.digits.sll.eps0.5"]


# ----------------------------------------------------------------------------------- CIFAR-10 guard
def _write_fake_cifar(root, rows: int = 16) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"):
        batch = {
            b"data": rng.integers(0, 256, (rows, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, rows)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_cifar10_refused_in_quick_mode(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("STABLECORE_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="full mode only"):
        ch03.cifar10_certified(ch03.Ch03Config.quick())
    assert list(tmp_path.iterdir()) == []  # nothing read, nothing downloaded
    cfg = ch03.Ch03Config.full(device="cpu", num_threads=1, cifar_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="CIFAR-10"):
        ch03.cifar10_certified(cfg, home=tmp_path / "runs")
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()


def test_cifar10_full_mode_on_fake_files(tmp_path) -> None:
    _write_fake_cifar(tmp_path / "data")
    cfg = ch03.Ch03Config.full(
        device="cpu", num_threads=1, cifar_root=str(tmp_path / "data"), cifar_families=("sll", "aol"),
        cifar_size="quick", cifar_epochs=1, cifar_batch_size=32,
    )  # fmt: skip
    frame = ch03.cifar10_certified(cfg, seed=0, home=tmp_path / "runs")
    assert tuple(frame.columns) == ch03.CERTIFIED_COLUMNS
    assert list(frame["id"])[:4] == [f"ch03.cifar10.sll.quick.eps{k}" for k in (36, 72, 108, 255)]
    assert (frame["dataset"] == "cifar10").all() and (frame["certificate"] == "pairwise").all()
    assert (frame["lipschitz_kind"] == "upper_bound").all()
    # quick-size runs are not the thesis's 'small' networks: nothing is compared
    table = ch03.reported_comparison({"cifar10_certified": frame}).set_index("id")
    assert table.loc["ch03.sll23.cifar10.small.eps36", "comparison"] == "not measured"


def test_cifar10_model_arguments(monkeypatch, tmp_path) -> None:
    """The conv-net API: layout='conv', size='small', no download; AOL/SR get an even width (MaxMin)."""
    calls = []

    class Stop(Exception):
        pass

    def fake_train(dataset, family, **kwargs):
        calls.append((dataset, family, kwargs))
        if len(calls) == 3:
            raise Stop

    monkeypatch.setattr(ch03, "train_classifier", fake_train)
    monkeypatch.setattr(ch03, "_certify", lambda result, eps: pd.DataFrame())
    monkeypatch.setattr(ch03, "_certified_rows", lambda *a, **k: [])
    cfg = ch03.Ch03Config.full(device="cpu", cifar_families=("sll", "aol", "sr"), cifar_root=str(tmp_path))
    with pytest.raises(Stop):
        ch03.cifar10_certified(cfg)
    (d0, f0, k0), (_, f1, k1), (_, f2, k2) = calls
    assert d0 == "cifar10" and (f0, f1, f2) == ("sll", "aol", "sr")
    assert k0["model_kwargs"] == {"layout": "conv", "size": "small", "head": "lln"}
    assert k1["model_kwargs"]["width"] == k2["model_kwargs"]["width"] == 46
    assert k0["data_kwargs"]["download"] is False and k0["data_kwargs"]["root"] == str(tmp_path)
    assert k0["loss"] == "offset_ce" and k0["loss_kwargs"]["offset"] == pytest.approx(1.5 * math.sqrt(2))
    assert k0["epochs"] == cfg.cifar_epochs and k0["mode"] == "full"


# ----------------------------------------------------------------------------------- power iteration
def test_power_iteration_gap(gap: pd.DataFrame) -> None:
    assert tuple(gap.columns) == ch03.PI_COLUMNS
    rand, train, ev = (gap[gap["setting"] == s] for s in ("random", "training", "eval"))
    assert len(rand) == 3 * 4 * 2 and len(train) == TINY.pi_steps * TINY.pi_depth and len(ev) == TINY.pi_depth
    assert (gap["gram_ratio"] >= 1).all() and (gap["gram_kind"] == "upper_bound").all()
    assert (gap["pi_ratio"] <= 1 + 1e-5).all() and (gap["pi_kind"] == "lower_bound").all()
    assert (rand.loc[rand["n_iter"] == 1, "pi_ratio"] < 1).all()
    assert (gap["ours_lipschitz"] == 1.0).all()
    recomputed = [
        cpl_step_lipschitz(e, p, TINY.cpl_eps) for e, p in zip(gap["exact"], gap["pi"].clip(lower=0))
    ]
    assert gap["ref_lipschitz"].to_numpy() == pytest.approx(recomputed, rel=1e-12)
    # the layer exceeds 1 exactly when σ̂² + ε < σ₁²
    assert ((gap["ref_lipschitz"] > 1) == (gap["pi"] ** 2 + TINY.cpl_eps < gap["exact"] ** 2)).all()
    kinds = rand.groupby("shape")["ref_lipschitz_kind"].unique()
    assert list(kinds["6x6"]) == ["exact"] and list(kinds["4x8"]) == ["exact"]
    assert list(kinds["8x4"]) == ["upper_bound"]  # more rows than columns: not all units can be active
    assert set(train["step"]) == set(range(1, TINY.pi_steps + 1)) and (train["n_iter"] == 1).all()
    assert (ev["n_iter"] == TINY.pi_eval_iters).all()
    assert gap["id"].is_unique and "ch03.pi.training.layer0.step1" in set(gap["id"])


# ----------------------------------------------------------------------------------- Jacobians
def test_jacobian_check(jacobians: pd.DataFrame) -> None:
    assert tuple(jacobians.columns) == ch03.JACOBIAN_COLUMNS
    counts = jacobians.groupby("layer").size()
    assert set(counts.index) == set(TINY.jacobian_layers) and (counts == 5 * 3).all()
    assert (jacobians["jacobian_norm"] <= jacobians["bound"] * (1 + 1e-9)).all()
    assert (jacobians["kind"] == "lower_bound").all() and (jacobians["bound_kind"] == "upper_bound").all()
    assert (jacobians["jacobian_norm"] > 0).all()
    assert set(jacobians["id"]) == {f"ch03.{name}.jacobian" for name in TINY.jacobian_layers}


# ----------------------------------------------------------------------------------- comparison
def test_comparison_specs_name_reported_numbers() -> None:
    ids = [spec.id for spec in ch03._comparison_specs()]
    assert len(ids) == len(set(ids)) and set(ids) <= REPORTED_IDS


def test_reported_comparison(jacobians: pd.DataFrame) -> None:
    table = ch03.reported_comparison({"jacobian_check": jacobians})
    reported = reported_numbers(3)
    assert tuple(table.columns) == ch03.COMPARISON_COLUMNS
    assert list(table["id"]) == list(reported["id"])
    assert list(table["status"]) == list(reported["status"])
    missing = table["status"] == "not transcribed"
    assert missing.any() and (table.loc[missing, "comparison"] == "not transcribed").all()
    assert table.loc[missing, "reported"].isna().all()
    table = table.set_index("id")
    row = table.loc["ch03.sll.jacobian.max_norm_3000"]
    sll = jacobians.loc[jacobians["layer"] == "sll", "jacobian_norm"].max()
    assert row["comparison"] == "measured" and row["measured"] == sll and row["reported"] == 1.0
    row = table.loc["ch03.sll23.cifar10.small.eps36"]
    assert row["comparison"] == "not measured" and "full mode only" in row["note"]


def test_reported_comparison_reads_cifar_cells() -> None:
    rows = []
    for family, clean, certs, speed in (
        ("sll", 0.70, (0.60, 0.50, 0.40, 0.15), 100.0),
        ("cpl", 0.72, (0.61, 0.49, 0.38, 0.10), 150.0),
    ):
        for k, c in zip((36, 72, 108, 255), certs):
            rows.append(
                {"id": f"ch03.cifar10.{family}.small.eps{k}", "family": family, "size": "small",
                 "eps": k / 255, "certified_accuracy": c, "clean_accuracy": clean, "train_img_per_s": speed}
            )  # fmt: skip
    table = ch03.reported_comparison({"cifar10_certified": pd.DataFrame(rows)}).set_index("id")
    assert table.loc["ch03.sll23.cifar10.small.clean", "measured"] == pytest.approx(70.0)
    assert table.loc["ch03.sll23.cifar10.small.eps108", "measured"] == pytest.approx(40.0)
    assert table.loc["ch03.sll23.cifar10.small.eps255", "measured"] == pytest.approx(15.0)
    assert table.loc["ch03.prach24.cifar10.sll.s.eps36", "measured"] == pytest.approx(60.0)
    assert table.loc["ch03.prach24.cifar10.sll.s.eps36", "reported"] == 62.0
    cpl = table.loc["ch03.cpl22.cifar10.s.eps72"]
    assert cpl["comparison"] == "not transcribed" and cpl["measured"] == pytest.approx(49.0)
    assert table.loc["ch03.prach24.cifar10.aol.s.clean", "comparison"] == "not measured"
    assert table.loc["ch03.prach24.throughput_ratio.cpl_over_sll", "measured"] == pytest.approx(1.5)
    assert table.loc["ch03.prach24.throughput_ratio.cpl_over_soc", "comparison"] == "not measured"


def test_reported_comparison_rejects() -> None:
    with pytest.raises(ValueError, match="unknown experiment"):
        ch03.reported_comparison({"moons": pd.DataFrame()})
    with pytest.raises(TypeError, match="DataFrame"):
        ch03.reported_comparison({"jacobian_check": [1, 2]})
    with pytest.raises(TypeError, match="mapping"):
        ch03.reported_comparison([pd.DataFrame()])


def test_experiments_registry() -> None:
    assert set(ch03.EXPERIMENTS) == {
        "moons_boundaries",
        "offset_tradeoff",
        "digits_certified",
        "cifar10_certified",
        "power_iteration_gap",
        "jacobian_check",
        "sll_gram_check",
    }


def test_power_iteration_summary(gap: pd.DataFrame) -> None:
    summary = ch03.power_iteration_summary(gap)
    assert summary["rows"].sum() == len(gap)
    train = gap[gap["setting"] == "training"]
    row = summary[summary["setting"] == "training"].iloc[0]
    assert row["min_pi_ratio"] == train["pi_ratio"].min()
    assert row["share_ref_above_1"] == pytest.approx((train["ref_lipschitz"] > 1).mean())
    assert (summary["max_ours_lipschitz"] == 1.0).all() and (summary["min_gram_ratio"] >= 1).all()
    with pytest.raises(ValueError, match="missing columns"):
        ch03.power_iteration_summary(gap.drop(columns=["pi_ratio"]))


def test_reported_cifar_curves() -> None:
    curves = ch03.reported_cifar_curves()
    assert list(curves.columns) == ["label", "id", "eps", "value", "status"]
    table = reported_numbers(3).set_index("id")
    for row in curves.itertuples(index=False):
        assert row.value == pytest.approx(table.loc[row.id, "value"] / 100)
        assert row.eps == pytest.approx(int(row.id.rsplit(".eps", 1)[1]) / 255)
        assert row.status != "not transcribed"
    sll = curves[curves["id"].str.startswith("ch03.sll23.cifar10.small.")]
    assert sll["eps"].tolist() == pytest.approx([36 / 255, 72 / 255, 108 / 255, 1.0])
    assert not curves["id"].str.startswith("ch03.cpl22.cifar10.s.").any()  # not transcribed: left out


def test_compared_ids() -> None:
    cifar = ch03.compared_ids("cifar10_certified")
    assert "ch03.sll23.cifar10.small.eps36" in cifar and "ch03.prach24.cifar10.aol.s.eps36" in cifar
    assert "ch03.cpl.jacobian.max_norm_3000" not in cifar
    everything = ch03.compared_ids()
    assert set(cifar) < set(everything) and set(everything) <= REPORTED_IDS
    assert everything == [i for i in reported_numbers(3)["id"] if i in set(everything)]
    with pytest.raises(ValueError, match="experiment"):
        ch03.compared_ids("cifar")


# ----------------------------------------------------------------------------------- SLL with Gram rescaling
def _sll_gram_oracle(layer: nn.Module, depth: int) -> torch.Tensor:
    """T of SLL-Gram from its definition (docs/chapters/ch02.md §3.1(d)), by a float64 matrix power."""
    W, q = layer.weight.detach(), torch.exp(layer.log_q.detach())
    p = torch.linalg.matrix_power(W @ W.T, 2 ** (depth - 1)).abs()
    return ((p @ q) / q) ** (2.0 ** -(depth - 1))


def test_sll_gram_check() -> None:
    frame = ch03.sll_gram_check(TINY, seed=6)
    assert list(frame.columns) == list(ch03.SLL_GRAM_COLUMNS)
    assert len(frame) == 3 * TINY.sll_gram_draws * TINY.jacobian_points
    assert set(frame["depth"]) == {1, 2, 3}
    assert (frame["kind"] == "lower_bound").all() and (frame["bound_kind"] == "upper_bound").all()
    assert (frame["jacobian_norm"] <= frame["bound"] + 1e-12).all()
    assert (frame["bound"] <= 1 + 1e-6).all()
    one = frame[frame["depth"] == 1]
    assert (one["distance_to_sll"] < 1e-10).all() and np.allclose(one["step_ratio"], 1.0)
    assert (frame.loc[frame["depth"] > 1, "distance_to_sll"] > 0).any()  # k >= 2 is another layer
    assert ch03.sll_gram_check(TINY, seed=6).equals(frame)


def test_sll_gram_check_against_oracle() -> None:
    """Rebuild the draws of sll_gram_check independently: T from its definition dominates WWᵀ (the
    certificate), the Jacobians are those of x - 2Wᵀ T⁻¹ relu(Wx + b), the ratios match."""
    from stablecore.layers import SLLGramLinear

    cfg = ch03.Ch03Config.quick(sll_gram_depths=(1, 2, 3), sll_gram_draws=3, jacobian_points=2)
    frame = ch03.sll_gram_check(cfg, seed=4)
    gen = torch.Generator().manual_seed(4 * 1_000_003 + 17)
    f = cfg.jacobian_features
    for d in range(cfg.sll_gram_draws):
        sll = ch03._random_layer("sll", f, gen)
        scale = torch.exp(2 * torch.rand(2, 1, generator=gen, dtype=torch.float64) - 1)
        x = torch.randn(2, f, generator=gen, dtype=torch.float64) * scale
        W, b = sll.weight.detach(), sll.bias.detach()
        T1 = _sll_gram_oracle(sll, 1)
        for k in cfg.sll_gram_depths:
            T = _sll_gram_oracle(sll, k)
            gap = torch.linalg.eigvalsh(torch.diag(T) - W @ W.T).min()
            assert float(gap) >= -1e-9 * float(T.max())  # T ⪰ WWᵀ: the layer is 1-Lipschitz
            layer = SLLGramLinear(f, depth=k, dtype=torch.float64)
            layer.load_state_dict(sll.state_dict())
            rows = frame[(frame["depth"] == k) & (frame["draw"] == d)].sort_values("point")
            for p in range(2):
                J = torch.autograd.functional.jacobian(
                    lambda v, W=W, b=b, T=T: v - 2 * (torch.relu(W @ v + b) / T) @ W, x[p]
                )
                norm = float(torch.linalg.matrix_norm(J, 2))
                assert norm <= 1 + 1e-9
                assert rows["jacobian_norm"].iloc[p] == pytest.approx(norm, rel=1e-8, abs=1e-12)
            assert rows["step_ratio"].iloc[0] == pytest.approx(float((T1 / T).mean()), rel=1e-8)


# ----------------------------------------------------------------------------------- digits_model
def test_digits_model_is_the_trained_one(digits: pd.DataFrame, digits_home) -> None:
    """The reloaded network certifies exactly what digits_certified measured (an independent
    certify_model call on the reloaded weights)."""
    for family in TINY.digits_families:
        model, data = ch03.digits_model(family, seed=3, mode="quick", home=digits_home)
        assert not model.training
        cert = certify_model(
            model, data.test, list(TINY.digits_eps), input_shape=data.input_shape, last_layer="auto"
        )
        rows = digits[digits["family"] == family].set_index("eps")
        for eps in TINY.digits_eps:
            assert float(cert[f"certified@{eps:g}"].mean()) == pytest.approx(
                rows.loc[eps, "certified_accuracy"], abs=1e-12
            )
        assert cert.attrs["lipschitz"] == pytest.approx(rows["lipschitz"].iloc[0], rel=1e-12)


def test_digits_model_missing(digits: pd.DataFrame, digits_home, tmp_path) -> None:
    with pytest.raises(LookupError, match="digits_certified"):
        ch03.digits_model("cpl", seed=3, home=digits_home)  # not in TINY.digits_families
    with pytest.raises(LookupError):
        ch03.digits_model("sll", seed=4, home=digits_home)  # another seed
    with pytest.raises(LookupError):
        ch03.digits_model("sll", seed=3, home=tmp_path)  # empty store
    with pytest.raises(ValueError):
        ch03.digits_model("resnet", seed=3, home=digits_home)
