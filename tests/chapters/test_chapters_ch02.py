"""Chapter 2 experiments on tiny configurations: documented columns, honest kinds, ids, the comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stablecore.chapters import ch02_gram_iteration as ch02
from stablecore.chapters import reported_numbers
from stablecore.spectral import lipschitz_bound

TINY = ch02.Ch02Config.quick(
    dense_shapes=((30, 20),),
    dense_gram_iters=8,
    dense_power_iters=40,
    dense_gram_timed=(1, 8),
    dense_power_timed=(10,),
    circ_cases=((3, 2, 3, 5), (4, 4, 3, 6)),
    circ_gram_iters=(3, 6),
    circ_power_iters=10,
    lipgrid_samples=10,
    zero_cases=((4, 3, 3, 8, 3), (2, 2, 3, 4, 2)),
    zero_power_iters=20,
    sup_grid=16,
    sr_depths=(1, 2, 4),
    sr_heavy_count=20,
    sr_heavy_max_dim=8,
    digits_channels=(4,),
    digits_hidden=(8,),
    epochs=1,
    penalty_rs=(0.0, 0.5),
    penalty_iters=3,
    linear_dim=8,
    linear_out=3,
    linear_depths=(1, 3, 6),
    resnet_width=1 / 32,
    resnet_input=32,
    resnet_gram_iters=3,
    resnet_power_iters=5,
    resnet_lipgrid_samples=8,
)
REPORTED_IDS = set(reported_numbers(2)["id"])
UPPER = ("upper_bound",)


def _counterpart(row_id: str) -> bool:
    """A row id names a reported number: equal to its id or to its id without the metric suffix."""
    return row_id in REPORTED_IDS or any(r.startswith(row_id + ".") for r in REPORTED_IDS)


@pytest.fixture(scope="module")
def dense() -> pd.DataFrame:
    return ch02.dense_convergence(TINY, seed=1)


@pytest.fixture(scope="module")
def circular() -> pd.DataFrame:
    return ch02.circular_conv_comparison(TINY, seed=2)


@pytest.fixture(scope="module")
def zero() -> pd.DataFrame:
    return ch02.zero_vs_circular(TINY, seed=3)


@pytest.fixture(scope="module")
def sr() -> pd.DataFrame:
    return ch02.sr_depth_sweep(TINY, seed=6)


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> pd.DataFrame:
    return ch02.network_bound_vs_empirical(TINY, seed=0, home=tmp_path_factory.mktemp("ch02-net"))


@pytest.fixture(scope="module")
def regularized(tmp_path_factory) -> pd.DataFrame:
    return ch02.lipschitz_regularized_training(TINY, seed=0, home=tmp_path_factory.mktemp("ch02-reg"))


@pytest.fixture(scope="module")
def resnet() -> pd.DataFrame:
    return ch02.resnet18_shapes(TINY, seed=4)


# ----------------------------------------------------------------------------------- config
def test_presets_and_mode(monkeypatch) -> None:
    quick, full = ch02.Ch02Config.quick(), ch02.Ch02Config.full()
    assert quick.mode == "quick" and quick.device == "cpu"
    assert full.mode == "full" and full.repeats > 1
    assert max(c[0] for c in full.circ_cases) == 512 and (512, 512, 3, 56) in full.circ_cases
    assert full.linear_dim == 100 and max(full.linear_depths) == 110 and full.resnet_input == 224
    assert max(quick.linear_depths) < 110
    monkeypatch.setenv("STABLECORE_MODE", "full")
    assert ch02.Ch02Config.for_mode().mode == "full"
    assert ch02.Ch02Config.for_mode("quick", epochs=2).epochs == 2


@pytest.mark.parametrize(
    "field, value",
    [
        ("mode", "fast"),
        ("repeats", 0),
        ("epochs", 1.5),
        ("penalty_rs", (-1.0,)),
        ("resnet_methods", ("svd",)),
        ("sr_shape", (64, 32, 1)),
        ("sr_depths", (0,)),
        ("sr_heavy_count", 0),
    ],
)
def test_config_rejects(field, value) -> None:
    with pytest.raises(ValueError, match=field):
        ch02.Ch02Config.quick(**{field: value})


def test_arguments_checked() -> None:
    with pytest.raises(TypeError, match="cfg"):
        ch02.deep_linear_looseness({"linear_dim": 4})
    with pytest.raises(TypeError, match="seed"):
        ch02.deep_linear_looseness(TINY, seed=1.0)


def test_threads_restored() -> None:
    before = torch.get_num_threads()
    ch02.deep_linear_looseness(ch02.Ch02Config.quick(linear_dim=4, linear_depths=(2,), num_threads=1))
    assert torch.get_num_threads() == before


# ----------------------------------------------------------------------------------- dense
def test_dense_convergence(dense: pd.DataFrame) -> None:
    assert tuple(dense.columns) == ch02.DENSE_COLUMNS
    gram, power = dense[dense["method"] == "gram"], dense[dense["method"] == "power"]
    assert len(gram) == 8 and len(power) == 40
    assert (gram["kind"] == "upper_bound").all() and (power["kind"] == "lower_bound").all()
    assert (gram["value"] >= gram["exact"]).all() and (gram["rel_error"] >= 0).all()
    assert (power["value"] <= power["exact"]).all() and (power["rel_error"] <= 0).all()
    assert gram["value"].is_monotonic_decreasing and power["value"].is_monotonic_increasing
    assert gram["rel_error"].iloc[-1] < 1e-8  # super-linear convergence: 8 steps on a 30×20 matrix
    exact = torch.linalg.matrix_norm(torch.randn(30, 20, generator=torch.Generator().manual_seed(1),
                                                 dtype=torch.float64), 2)  # fmt: skip
    assert dense["exact"].iloc[0] == pytest.approx(float(exact), rel=1e-12)
    assert set(gram.loc[gram["time_ms"].notna(), "iteration"]) == {1, 8}
    assert set(power.loc[power["time_ms"].notna(), "iteration"]) == {10}
    assert dense["id"].is_unique and dense["id"].iloc[0] == "ch02.gi_dense.gauss30x20.gi_t1"


def test_dense_thesis_size_ids() -> None:
    cfg = ch02.Ch02Config.quick(
        dense_shapes=((500, 400),), dense_gram_iters=15, dense_power_iters=10, dense_gram_timed=(15,),
        dense_power_timed=(),
    )  # fmt: skip
    frame = ch02.dense_convergence(cfg)
    for t in (1, 3, 5, 7, 9, 10):
        assert f"ch02.gi_dense.gauss500x400.gi_t{t}.rel_error" in REPORTED_IDS
        assert f"ch02.gi_dense.gauss500x400.gi_t{t}" in set(frame["id"])
    comparison = ch02.reported_comparison({"dense_convergence": frame}).set_index("id")
    measured = comparison.loc["ch02.gi_dense.gauss500x400.gi_t1.rel_error"]
    assert measured["comparison"] == "measured" and measured["measured"] > 0
    assert comparison.loc["ch02.lip4conv.dense500x400.gi15.time", "measured"] > 0
    assert comparison.loc["ch02.gi_dense.gauss500x400.pi100.rel_error", "comparison"] == "not measured"


# ----------------------------------------------------------------------------------- circular
def test_circular_comparison(circular: pd.DataFrame) -> None:
    assert tuple(circular.columns) == ch02.CONV_COLUMNS
    assert set(circular["case"]) == {"c3x2_k3_n5", "c4x4_k3_n6"}
    upper = circular[circular["kind"] == "upper_bound"]
    lower = circular[circular["kind"] == "lower_bound"]
    assert set(upper["method"]) == {"gram", "fantastic4", "lipgrid"}
    assert set(lower["method"]) == {"power"}
    assert (upper["value"] >= upper["exact"]).all() and (upper["rel_gap"] >= 0).all()
    assert (lower["value"] <= lower["exact"]).all()
    explicit = circular[circular["method"] == "explicit"]
    assert len(explicit) == 2  # both cases are small enough for the explicit oracle
    assert (abs(explicit["value"] / explicit["exact"] - 1) < 1e-10).all()
    gram6 = circular[(circular["method"] == "gram") & (circular["n_iter"] == 6)]
    assert (gram6["rel_gap"] < 1e-3).all()
    assert (circular["time_ms"] > 0).all() and circular["id"].is_unique


def test_special_ids_name_reported_numbers() -> None:
    for (table, key, label), rid in ch02._SPECIAL_IDS.items():
        assert _counterpart(rid), rid
        assert ch02._row_id(table, key, label) == rid
    assert ch02._row_id("circ", "c64x64_k5_n12", "exact") == "ch02.lip4conv.conv64_k5_n12.sedghi"
    assert ch02._row_id("circ", "c1x1_k1_n1", "exact") == "ch02.circ.c1x1_k1_n1.exact"


def test_comparison_specs_name_reported_numbers() -> None:
    ids = [spec.id for spec in ch02._comparison_specs()]
    assert len(ids) == len(set(ids))
    assert set(ids) <= REPORTED_IDS
    transcribed = set(reported_numbers(2).query("status != 'not transcribed'")["id"])
    assert set(ids) <= transcribed


# ----------------------------------------------------------------------------------- zero padding
def test_zero_vs_circular(zero: pd.DataFrame) -> None:
    assert tuple(zero.columns) == ch02.ZERO_COLUMNS
    known = zero[zero["exact"].notna()]
    assert set(known["case"]) == {"c4x3_k3_n8", "c2x2_k3_n4"}
    upper = known[known["kind"] == "upper_bound"]
    assert {"norm2toep", "circular_embedding", "gram"} <= set(upper["method"])
    assert (upper["value"] >= upper["exact"]).all()
    lower = known[known["kind"] == "lower_bound"]
    assert (lower["value"] <= lower["exact"]).all() and len(lower) == 2
    for _case, group in zero.groupby("case"):
        toep = group[group["method"] == "norm2toep"]
        assert toep["value"].is_monotonic_decreasing
        gram = group[group["method"] == "gram"].iloc[0]
        assert gram["winner"] in ("circular_embedding", "norm2toep")
        assert gram["value"] <= toep["value"].min() + 1e-12
        assert (group.loc[group["method"] != "gram", "winner"] == "").all()
        assert (group.loc[group["id"].str.endswith(".sup_freq"), "kind"] == "estimate").all()
    assert "ch02.zero.c4x3_k3_n8.circ_n10" in set(zero["id"])
    assert "ch02.zero.c4x3_k3_n8.norm2toep_t3" in set(zero["id"])


# ----------------------------------------------------------------------------------- networks
def test_network_bound_vs_empirical(network: pd.DataFrame) -> None:
    assert tuple(network.columns) == ch02.NETWORK_COLUMNS
    values = network.set_index("quantity")["value"]
    kinds = network.set_index("quantity")["kind"]
    assert kinds["bound_gram"] == kinds["bound_exact_layers"] == "upper_bound"
    lowers = [q for q, k in kinds.items() if k == "lower_bound"]
    assert len(lowers) == 3
    assert values["bound_exact_layers"] <= values["bound_gram"]
    assert max(values[q] for q in lowers) <= values["bound_exact_layers"]
    assert (network["bound_over_value"] >= 1).all()
    assert network["id"].str.startswith("ch02.digits_convnet.").all()


# ----------------------------------------------------------------------------------- deep linear nets (PUB)
def test_deep_linear_weights_distributions():
    d = 30
    uni = ch02.deep_linear_weights("uniform", d, 3, seed=1)
    assert all(w.dtype == torch.float64 and w.shape == (d, d) for w in uni)
    assert max(float(w.abs().max()) for w in uni) <= 1 / math.sqrt(d)
    ortho = ch02.deep_linear_weights("orthogonal", d, 3, seed=1)
    for w in ortho:
        assert torch.allclose(w.T @ w, torch.eye(d, dtype=torch.float64), atol=1e-12)
    # the first layers do not depend on the depth, and the seed matters
    short, long = (ch02.deep_linear_weights("gaussian", d, k, seed=3) for k in (2, 5))
    assert all(torch.equal(a, b) for a, b in zip(short, long))
    assert not torch.equal(ch02.deep_linear_weights("gaussian", d, 1, seed=3)[0],
                           ch02.deep_linear_weights("gaussian", d, 1, seed=4)[0])  # fmt: skip


@settings(max_examples=12, deadline=None)
@given(
    init=st.sampled_from(ch02.LINEAR_INITS),
    dim=st.integers(2, 9),
    out=st.integers(0, 9),
    depths=st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True),
    seed=st.integers(0, 1000),
)
def test_linear_looseness_against_numpy(init, dim, out, depths, seed):
    out = min(out, dim) if out else None
    df = ch02.linear_looseness(dim, tuple(depths), (init,), out=out, seed=seed)
    assert sorted(df["depth"]) == sorted(depths) and df["id"].is_unique
    ws = [w.numpy() for w in ch02.deep_linear_weights(init, dim, max(depths), seed=seed)]
    for row in df.itertuples():
        layers = [*ws[: row.depth - 1], ws[-1][:out]]  # the last layer is the same for every depth
        assert row.out == layers[-1].shape[0] == (out or dim)
        prod = np.eye(dim)
        for w in layers:
            prod = w @ prod
        true = np.linalg.norm(prod, 2)
        pub = np.prod([np.linalg.norm(w, 2) for w in layers])
        assert row.true_norm == pytest.approx(true, rel=1e-10)
        assert row.product_exact == pytest.approx(pub, rel=1e-10)
        assert row.product_exact >= true * (1 - 1e-12)  # a product of norms bounds the norm of the product
        assert row.product_gram >= pub * (1 - 1e-12)  # Gram bounds are upper bounds of exact norms
        assert row.product_kind == "upper_bound" and row.true_kind == "exact"
        assert row.ratio == pytest.approx(row.product_exact / row.true_norm)
        if row.depth == 1 or init == "orthogonal":
            assert row.ratio == pytest.approx(1.0, abs=1e-10)


def test_gram_product_is_lipschitz_bound_of_the_network():
    df = ch02.linear_looseness(6, (1, 3), ("uniform",), out=2, seed=2)
    ws = ch02.deep_linear_weights("uniform", 6, 3, seed=2)
    for row in df.itertuples():
        layers = ch02.deep_linear_layers(ws, row.depth, 2)
        net = ch02.linear_network(layers)
        assert row.product_gram == pytest.approx(lipschitz_bound(net, (6,)).value, rel=1e-12)
        x = torch.randn(4, 6, dtype=torch.float64)
        want = x
        for w in layers:
            want = want @ w.T
        assert torch.allclose(net(x), want)


def test_linear_looseness_checks_arguments():
    with pytest.raises(ValueError, match="init"):
        ch02.deep_linear_weights("zeros", 3, 2)
    with pytest.raises(ValueError, match="inits"):
        ch02.linear_looseness(3, (1,), ("zeros",))
    with pytest.raises(ValueError, match="depths"):
        ch02.linear_looseness(3, (0,))
    with pytest.raises(ValueError, match="out"):
        ch02.linear_looseness(3, (1,), out=0)


def test_deep_linear_looseness() -> None:
    frame = ch02.deep_linear_looseness(TINY, seed=5)
    assert tuple(frame.columns) == ch02.LINEAR_COLUMNS
    assert list(frame["depth"]) == [1, 3, 6]
    assert (frame["product_exact"] >= frame["true_norm"] * (1 - 1e-12)).all()
    assert (frame["product_gram"] >= frame["product_exact"]).all()
    assert frame["ratio"].iloc[0] == pytest.approx(1.0, rel=1e-9)
    assert (frame["product_kind"] == "upper_bound").all() and (frame["true_kind"] == "exact").all()


# ----------------------------------------------------------------------------------- spectral rescaling
def _sr_norm_oracle(w: np.ndarray, depth: int) -> float:
    """‖diag(t)⁻¹W‖₂ with t_i = (Σ_j |((WWᵀ)^(2^(T-1)))_ij|)^(2^-T) by a plain matrix power in float64
    (W scaled by its largest entry first: the rescaled matrix does not change, nothing overflows)."""
    w = np.asarray(w, dtype=np.float64)
    w = w / np.abs(w).max()
    p = np.linalg.matrix_power(w @ w.T, 2 ** (depth - 1))
    t = np.abs(p).sum(axis=1) ** (2.0**-depth)
    return float(np.linalg.norm(w / t[:, None], 2))


@settings(max_examples=15, deadline=None)
@given(
    m=st.integers(1, 12),
    n=st.integers(1, 12),
    depth=st.integers(1, 4),
    seed=st.integers(0, 1000),
    heavy=st.booleans(),
)
def test_sr_rescaled_norm_against_matrix_power(m, n, depth, seed, heavy) -> None:
    rng = np.random.default_rng(seed)
    w = rng.standard_cauchy((m, n)) if heavy else rng.standard_normal((m, n)) * 10.0 ** rng.uniform(-3, 3)
    value = ch02.sr_rescaled_norm(torch.from_numpy(w), depth)
    assert value == pytest.approx(_sr_norm_oracle(w, depth), rel=1e-9)
    assert value <= 1 + 1e-12  # SR is 1-Lipschitz (weighted Gershgorin, docs/chapters/ch02.md §3.1(d))


def test_sr_depth_one_is_aol_on_the_rows() -> None:
    w = torch.randn(7, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    aol = (w @ w.T).abs().sum(dim=1).rsqrt()  # AOL: t_i² = Σ_j |(WWᵀ)_ij|
    assert ch02.sr_rescaled_norm(w, 1) == pytest.approx(float(torch.linalg.matrix_norm(aol[:, None] * w, 2)))


def test_sr_depth_sweep(sr: pd.DataFrame) -> None:
    assert tuple(sr.columns) == ch02.SR_COLUMNS and sr["id"].is_unique
    assert list(sr["matrix"]) == ["gauss64x32"] * 3 + ["heavy_tailed"] * 3
    assert list(sr["id"][:3]) == [f"ch02.sr.gauss64x32.t{t}" for t in (1, 2, 4)]
    assert list(sr["id"][3:]) == [f"ch02.sr.heavy_tailed20.t{t}" for t in (1, 2, 4)]
    assert (sr["kind"] == "exact").all() and (sr["norm"] <= 1 + 1e-12).all()
    assert (sr["min_norm"] <= sr["norm"]).all() and list(sr["count"]) == [1] * 3 + [20] * 3
    w = torch.randn(64, 32, generator=torch.Generator().manual_seed(6), dtype=torch.float64).numpy()
    gauss = sr[sr["matrix"] == "gauss64x32"]
    for row in gauss.itertuples():
        assert row.norm == pytest.approx(_sr_norm_oracle(w, row.depth), rel=1e-9)
    # a Gaussian 64×32 matrix: AOL (T = 1) is far below 1, T = 4 close to it (docs: 0.70 ... 0.99)
    assert gauss["norm"].iloc[0] < 0.85 < 0.95 < gauss["norm"].iloc[-1]


def test_lipschitz_regularized_training(regularized: pd.DataFrame) -> None:
    assert tuple(regularized.columns) == ch02.REGULARIZATION_COLUMNS
    assert list(regularized["r"]) == [0.0, 0.5]
    assert list(regularized["penalty_n_iter"]) == [0, 3]
    assert (regularized["lower_bound"] <= regularized["bound"]).all()
    assert (regularized["bound_kind"] == "upper_bound").all()
    assert regularized["test_accuracy"].between(0, 1).all()
    assert list(regularized["id"]) == ["ch02.lipreg.digits_convnet.r0", "ch02.lipreg.digits_convnet.r0.5"]


# ----------------------------------------------------------------------------------- ResNet-18 shapes
def test_resnet18_layer_shapes() -> None:
    layers = ch02.resnet18_layer_shapes()
    assert len(layers) == 20
    assert layers[0] == {"layer": "conv1", "c_out": 64, "c_in": 3, "k": 7, "stride": 2, "n": 224}
    assert layers[1]["n"] == 56 and layers[-1]["n"] == 7 and layers[-1]["c_in"] == 512
    assert sum(spec["layer"].endswith("downsample") for spec in layers) == 3
    with pytest.raises(ValueError, match="width"):
        ch02.resnet18_layer_shapes(width=0)


def test_resnet18_shapes(resnet: pd.DataFrame) -> None:
    assert tuple(resnet.columns) == ch02.RESNET_COLUMNS
    layers = resnet[resnet["layer"] != "product"]
    assert len(layers) == 20 * 4
    for _, group in layers.groupby("layer"):
        power = group.loc[group["method"] == "power", "value"].iloc[0]
        assert (group.loc[group["kind"] == "upper_bound", "value"] >= power).all()
    products = resnet[resnet["layer"] == "product"].set_index("method")
    assert products.loc["power", "kind"] == "estimate" and products.loc["gram", "kind"] == "upper_bound"
    assert products.loc["power", "ratio_to_power"] == 1.0
    assert (products["ratio_to_power"] >= 1).all()


# ----------------------------------------------------------------------------------- comparison
def test_reported_comparison(dense, circular, zero, sr, network, regularized, resnet) -> None:
    results = {
        "dense_convergence": dense,
        "circular_conv_comparison": circular,
        "zero_vs_circular": zero,
        "sr_depth_sweep": sr,
        "network_bound_vs_empirical": network,
        "lipschitz_regularized_training": regularized,
        "resnet18_shapes": resnet,
    }
    table = ch02.reported_comparison(results)
    reported = reported_numbers(2)
    assert tuple(table.columns) == ch02.COMPARISON_COLUMNS
    assert list(table["id"]) == list(reported["id"])
    assert list(table["status"]) == list(reported["status"])
    missing = table["status"] == "not transcribed"
    assert (table.loc[missing, "comparison"] == "not transcribed").all()
    assert table.loc[missing, "reported"].isna().all()
    measured = table[table["comparison"] == "measured"]
    assert measured["measured"].notna().all() and (measured["measured_by"] != "").all()
    # the tiny circular cases have explicit oracles: the thesis's explicit-matrix check is measured
    row = table.set_index("id").loc["ch02.circ.explicit.gi_t6.rel_error"]
    assert row["comparison"] == "measured" and 0 <= row["measured"] < 1e-3
    row = table.set_index("id").loc["ch02.sr.gauss64x32.t1.norm"]
    assert row["comparison"] == "measured" and row["measured"] == sr["norm"].iloc[0]
    row = table.set_index("id").loc["ch02.sr.heavy_tailed2000.t2.max_norm"]
    assert (
        row["comparison"] == "measured"
        and row["measured"] <= 1 + 1e-12
        and "20 standard Cauchy" in row["note"]
    )
    row = table.set_index("id").loc["ch02.sr.gauss64x32.t3.norm"]  # depth 3 is not in the tiny sweep
    assert row["comparison"] == "not measured"
    row = table.set_index("id").loc["ch02.sr_sll_q.k1.max_jacobian_norm"]
    assert row["comparison"] == "not measured" and "no experiment" in row["note"]


def test_reported_comparison_reads_the_right_cells() -> None:
    frame = pd.DataFrame(
        {
            "id": ["ch02.gi_dense.gauss500x400.gi_t1", "ch02.gi_dense.gauss500x400.pi1000"],
            "exact": [42.0, 42.0],
            "rel_error": [1.7, -1e-12],
            "diff": [71.4, -4.2e-11],
            "time_ms": [math.nan, 80.0],
        }
    )
    table = ch02.reported_comparison({"dense_convergence": frame}).set_index("id")
    assert table.loc["ch02.gi_dense.gauss500x400.sigma1", "measured"] == 42.0
    assert table.loc["ch02.gi_dense.gauss500x400.gi_t1.rel_error", "measured"] == 1.7
    assert table.loc["ch02.lip4conv.dense500x400.pi1000.diff", "measured"] == -4.2e-11
    assert table.loc["ch02.lip4conv.dense500x400.pi1000.time", "measured"] == 80.0  # unit ms
    assert table.loc["ch02.gi_dense.gauss500x400.gi_t3.rel_error", "comparison"] == "not measured"
    note = table.loc["ch02.lip4conv.conv64_k5_n12.sedghi", "note"]
    assert "was not run" in note


def test_reported_comparison_rejects() -> None:
    with pytest.raises(ValueError, match="unknown experiment"):
        ch02.reported_comparison({"dense": pd.DataFrame()})
    with pytest.raises(TypeError, match="DataFrame"):
        ch02.reported_comparison({"dense_convergence": [1, 2]})
    with pytest.raises(TypeError, match="mapping"):
        ch02.reported_comparison([pd.DataFrame()])


def test_experiments_registry() -> None:
    assert set(ch02.EXPERIMENTS) == {
        "dense_convergence",
        "circular_conv_comparison",
        "zero_vs_circular",
        "network_bound_vs_empirical",
        "deep_linear_looseness",
        "sr_depth_sweep",
        "lipschitz_regularized_training",
        "resnet18_shapes",
    }
