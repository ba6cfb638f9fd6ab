"""Loss-landscape slices against direct evaluations of perturbed copies: every grid point, the exact
centre, interpolation endpoints, chunking, DataLoaders, shards, the model left untouched, clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import stablecore.landscape.slices as slices_module
from stablecore.landscape import (
    Landscape,
    evaluate_points,
    interpolate,
    landscape_grid,
    random_directions,
    slice_1d,
    slice_2d,
)

CE = nn.CrossEntropyLoss()


# ------------------------------------------------------------------------------------------ cases
def mlp(seed: int = 0, dtype=torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def bn_net(seed: int = 0, train: bool = True) -> nn.Module:
    """Conv + BatchNorm + Dropout with non-trivial running statistics, left in ``train`` mode."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(64, 3)
    )
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(16, 1, 6, 6) * 2 + 1)
    return net.train(train)


def vec_data(n: int = 32, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def img_data(n: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def snapshot(model: nn.Module) -> dict:
    return {
        "state": {n: t.detach().clone() for n, t in model.state_dict(keep_vars=True).items()},
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "track": [getattr(m, "track_running_stats", None) for m in model.modules()],
    }


def assert_untouched(model: nn.Module, before: dict) -> None:
    after = snapshot(model)
    assert before["state"].keys() == after["state"].keys()
    for name, value in before["state"].items():
        assert torch.equal(value, after["state"][name]), name
    for key in ("training", "requires_grad", "track"):
        assert before[key] == after[key], key
    assert all(g is None for g in after["grads"])


def direct(model, loss_fn, x, y, directions, coeffs, *, mode="eval") -> tuple[float, float]:
    """Oracle: a deep copy with ``θ + Σ c_j d_j`` written into its parameters, evaluated plainly."""
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_parameters():
            for c, d in zip(coeffs, directions):
                if name in d:
                    p.add_(c * d[name])
        m.train(mode == "train")
        out = m(x)
        return float(loss_fn(out, y)), float((out.argmax(1) == y).float().mean())


# ---------------------------------------------------------------------------------------- values
@pytest.mark.parametrize("user_mode", [True, False], ids=["model-train", "model-eval"])
def test_slice_2d_equals_direct_evaluation_of_perturbed_copies(user_mode):
    model, (x, y) = bn_net(train=user_mode), img_data()
    before = snapshot(model)
    land = slice_2d(model, CE, (x, y), steps=9, span=(-0.75, 1.25), seed=3, progress=False)
    assert_untouched(model, before)
    dirs = random_directions(model, 2, seed=3)
    assert land.loss.shape == land.accuracy.shape == (9, 9)
    for i, j in np.ndindex(9, 9):  # every grid point
        loss, acc = direct(model, CE, x, y, dirs, (land.alphas[i], land.betas[j]))
        np.testing.assert_allclose(land.loss[i, j], loss, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(land.accuracy[i, j], acc, atol=1e-12)
    assert land.metadata["directions"] == "random" and land.metadata["normalization"] == "filter"


def test_slice_1d_equals_direct_evaluation_and_centre_is_the_model():
    model, (x, y) = mlp(), vec_data()
    land = slice_1d(model, CE, (x, y), steps=51, seed=1, progress=False)
    assert land.alphas[25] == 0.0 and len(land.alphas) == 51
    assert land.alphas[0] == -1.0 and land.alphas[-1] == 1.0
    (d,) = random_directions(model, 1, seed=1)
    for i in (0, 7, 25, 40, 50):
        np.testing.assert_allclose(
            land.loss[i], direct(model, CE, x, y, [d], (land.alphas[i],))[0], atol=1e-5
        )
    with torch.no_grad():
        plain = float(CE(model(x), y))
    assert land.centre_loss == pytest.approx(plain, abs=1e-6)


def test_centre_of_a_51_step_plane_is_exact_and_is_the_unperturbed_loss():
    model, (x, y) = mlp(), vec_data()
    land = slice_2d(model, CE, (x, y), steps=51, progress=False)
    assert land.alphas[25] == 0.0 and land.betas[25] == 0.0
    with torch.no_grad():
        out = model(x)
    assert land.loss[25, 25] == pytest.approx(float(CE(out, y)), abs=1e-6)
    assert land.accuracy[25, 25] == pytest.approx(float((out.argmax(1) == y).float().mean()))
    assert np.isfinite(land.loss).all() and land.metadata["n_examples"] == 32


def test_given_directions_hessian_like_tensors_and_param_filter():
    model, (x, y) = mlp(), vec_data()
    flat = torch.randn(sum(p.numel() for p in model.parameters()), generator=torch.Generator().manual_seed(0))
    as_list = [torch.ones_like(p) for p in model.parameters()]
    land = slice_2d(model, CE, (x, y), directions=[flat, as_list], steps=5, progress=False)
    stacked = slice_2d(model, CE, (x, y), directions=torch.stack([flat, flat]), steps=5, progress=False)
    assert land.metadata["directions"] == "given" and land.metadata["normalization"] is None
    names = [n for n, _ in model.named_parameters()]
    d1, i = {}, 0
    for n, p in model.named_parameters():
        d1[n] = flat[i : i + p.numel()].view_as(p)
        i += p.numel()
    d2 = dict(zip(names, as_list))
    np.testing.assert_allclose(land.loss[4, 1], direct(model, CE, x, y, [d1, d2], (1.0, -0.5))[0], atol=1e-5)
    np.testing.assert_allclose(
        stacked.loss[4, 0], direct(model, CE, x, y, [d1, d1], (1.0, -1.0))[0], atol=1e-5
    )
    only = slice_1d(model, CE, (x, y), param_filter="2", steps=5, progress=False)
    (d,) = random_directions(model, 1, param_filter="2")
    assert set(d) == {"2.weight", "2.bias"}
    np.testing.assert_allclose(only.loss[0], direct(model, CE, x, y, [d], (-1.0,))[0], atol=1e-5)


def test_train_mode_uses_batch_statistics_and_leaves_running_stats():
    model = bn_net(train=True)
    model[3].p = 0.0  # dropout off: train mode is deterministic
    (x, y) = img_data()
    before = snapshot(model)
    land = slice_1d(model, CE, (x, y), steps=5, mode="train", progress=False)
    assert_untouched(model, before)
    (d,) = random_directions(model, 1)
    for i in (0, 2, 4):
        expected = direct(model, CE, x, y, [d], (land.alphas[i],), mode="train")[0]
        np.testing.assert_allclose(land.loss[i], expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="dropout"):
        slice_1d(bn_net(train=True), CE, (x, y), steps=3, mode="train", progress=False)


def test_regression_output_has_nan_accuracy():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    x, y = torch.randn(10, 3), torch.randn(10, 1)
    land = slice_1d(model, nn.MSELoss(), (x, y), steps=3, normalization="layer", progress=False)
    assert np.isnan(land.accuracy).all() and np.isfinite(land.loss).all()


# ----------------------------------------------------------------------------------- interpolation
def test_interpolation_endpoints_are_the_two_models():
    a, b = bn_net(seed=0, train=True), bn_net(seed=1, train=False)
    (x, y) = img_data()
    before_a, before_b = snapshot(a), snapshot(b)
    land = interpolate(a, b, CE, (x, y), steps=51, progress=False)
    assert_untouched(a, before_a)
    assert_untouched(b, before_b)
    assert len(land.alphas) == 53 and land.alphas[0] == -0.5 and land.alphas[-1] == 1.5
    i0, i1 = int(np.flatnonzero(land.alphas == 0.0)[0]), int(np.flatnonzero(land.alphas == 1.0)[0])
    for i, m in ((i0, a), (i1, b)):
        with torch.no_grad():
            m2 = copy.deepcopy(m).eval()
            out = m2(x)
        np.testing.assert_allclose(land.loss[i], float(CE(out, y)), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(land.accuracy[i], float((out.argmax(1) == y).float().mean()))
    assert land.metadata["directions"] == "interpolation"
    # half-way: parameters and running statistics averaged
    mid = copy.deepcopy(a).eval()
    with torch.no_grad():
        for (_, t), (_, tb) in zip(mid.state_dict().items(), b.state_dict().items()):
            if t.is_floating_point():
                t.copy_(t + 0.5 * (tb - t))
        i = int(np.flatnonzero(land.alphas == 0.5)[0])
        np.testing.assert_allclose(land.loss[i], float(CE(mid(x), y)), rtol=1e-5, atol=1e-5)


def test_interpolate_refuses_other_architectures():
    with pytest.raises(ValueError, match="model_b"):
        interpolate(mlp(), nn.Sequential(nn.Linear(6, 3)), CE, vec_data(), progress=False)
    other = nn.Sequential(nn.Linear(6, 9), nn.Tanh(), nn.Linear(9, 3))
    with pytest.raises(ValueError, match="model_b"):
        interpolate(mlp(), other, CE, vec_data(), progress=False)
    with pytest.raises(TypeError, match="model_b"):
        interpolate(mlp(), "b", CE, vec_data(), progress=False)


# -------------------------------------------------------------------------------- batching, data
def test_chunking_does_not_change_the_result():
    model, (x, y) = bn_net(), img_data()
    dirs = random_directions(model, 2)
    coords = np.random.default_rng(0).uniform(-1, 1, (23, 2))
    ref = evaluate_points(model, CE, (x, y), dirs, coords, chunk_size=23, progress=False)
    for chunk in (4, 7, None):
        got = evaluate_points(model, CE, (x, y), dirs, coords, chunk_size=chunk, progress=False)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    # one point per call takes another float32 kernel path: equal to an ulp
    got = evaluate_points(model, CE, (x, y), dirs, coords, chunk_size=1, progress=False)
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(got[1], ref[1])
    a = slice_2d(model, CE, (x, y), steps=7, chunk_size=5, progress=False)
    b = slice_2d(model, CE, (x, y), steps=7, progress=False)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-6, atol=1e-6)


def test_point_by_point_fallback_gives_the_same_values(monkeypatch):
    model, (x, y) = bn_net(), img_data()
    ref = slice_1d(model, CE, (x, y), steps=7, progress=False)

    def refuse(fn, *args, **kwargs):
        def raise_(*a, **k):
            raise RuntimeError("vmap: no batching rule (simulated)")

        return raise_

    monkeypatch.setattr(slices_module, "vmap", refuse)
    got = slice_1d(model, CE, (x, y), steps=7, progress=False)
    assert ref.metadata["vectorized"] and not got.metadata["vectorized"]
    np.testing.assert_allclose(got.loss, ref.loss, rtol=1e-6, atol=1e-6)


def test_dataloader_batches_weighted_by_size_equal_one_batch():
    model, (x, y) = mlp(), vec_data(n=40)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)  # 16 + 16 + 8
    one = slice_2d(model, CE, (x, y), steps=5, progress=False)
    many = slice_2d(model, CE, loader, steps=5, progress=False)
    np.testing.assert_allclose(many.loss, one.loss, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(many.accuracy, one.accuracy, atol=1e-12)
    pieces = slice_2d(model, CE, (x, y), steps=5, batch_size=12, progress=False)  # 12 + 12 + 12 + 4
    np.testing.assert_allclose(pieces.loss, one.loss, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pieces.accuracy, one.accuracy, atol=1e-12)
    assert pieces.metadata["batch_size"] == 12
    shuffled = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    with pytest.raises(ValueError, match="shuffl"):
        slice_1d(model, CE, shuffled, steps=3, progress=False)


def test_shards_cover_the_grid_and_pool_back():
    model, (x, y) = mlp(), vec_data()
    full = slice_2d(model, CE, (x, y), steps=7, progress=False)
    parts = [slice_2d(model, CE, (x, y), steps=7, shard=f"{i}/3", progress=False) for i in range(3)]
    for i, part in enumerate(parts):
        rows = np.arange(i, 7, 3)
        np.testing.assert_allclose(part.loss[rows], full.loss[rows], rtol=1e-6, atol=1e-6)
        assert np.isnan(np.delete(part.loss, rows, axis=0)).all()
        assert part.metadata["shard"] == (i, 3)
    frames = [p.to_frame()[p.to_frame()["alpha"].isin(p.alphas[i::3])] for i, p in enumerate(parts)]
    import pandas as pd

    pooled = Landscape.from_frame(pd.concat(frames))
    np.testing.assert_allclose(pooled.loss, full.loss, rtol=1e-6, atol=1e-6)
    one = slice_1d(model, CE, (x, y), steps=5, shard=(1, 2), progress=False)
    assert np.isnan(one.loss[[0, 2, 4]]).all() and np.isfinite(one.loss[[1, 3]]).all()


def test_frame_round_trip_and_read_only_arrays():
    model, (x, y) = mlp(), vec_data()
    land = slice_2d(model, CE, (x, y), steps=3, progress=False)
    frame = land.to_frame()
    assert list(frame.columns) == ["alpha", "beta", "loss", "accuracy"] and len(frame) == 9
    assert frame.iloc[1][["alpha", "beta"]].tolist() == [-1.0, 0.0]  # alpha-major
    back = Landscape.from_frame(frame)
    np.testing.assert_array_equal(back.loss, land.loss)
    line = slice_1d(model, CE, (x, y), steps=3, progress=False)
    assert (line.to_frame()["beta"] == 0.0).all() and Landscape.from_frame(line.to_frame()).dims == 1
    with pytest.raises(ValueError):
        land.loss[0, 0] = 1.0
    with pytest.raises(ValueError, match="column"):
        Landscape.from_frame(frame.drop(columns="loss"))


# ---------------------------------------------------------------------------------------- grid
@given(a=st.floats(-5, -0.01), b=st.floats(0.01, 5), steps=st.integers(2, 80), snap=st.booleans())
def test_grid_contains_the_centre_exactly(a, b, steps, snap):
    if snap:
        b = -a  # symmetric: the midpoint of an odd grid is 0 up to rounding
    grid = landscape_grid((a, b), steps)
    assert grid[0] == a and grid[-1] == b
    assert (np.diff(grid) > 0).all()
    assert 0.0 in grid.tolist() and len(grid) in (steps, steps + 1)
    if snap and steps % 2 == 1:
        assert len(grid) == steps and grid[steps // 2] == 0.0


def test_grid_outside_span_and_anchor_insertion():
    assert landscape_grid((0.5, 2.0), 4).tolist() == [0.5, 1.0, 1.5, 2.0]
    off = slice_1d(mlp(), CE, vec_data(), span=(0.5, 2.0), steps=4, progress=False)
    with pytest.raises(ValueError, match="origin"):
        _ = off.centre_loss
    g = landscape_grid((-1, 1), 4)
    assert len(g) == 5 and g[2] == 0.0
    assert landscape_grid((-0.5, 1.5), 5, anchors=(0.0, 1.0)).tolist() == [-0.5, 0.0, 0.5, 1.0, 1.5]


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "exc", "word"),
    [
        ({"steps": 1}, ValueError, "steps"),
        ({"steps": 2.5}, TypeError, "steps"),
        ({"span": (1.0, -1.0)}, ValueError, "span"),
        ({"span": (0.0, 0.0)}, ValueError, "span"),
        ({"span": (0.0, float("nan"))}, ValueError, "span"),
        ({"span": 1.0}, TypeError, "span"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"batch_size": -1}, ValueError, "batch_size"),
        ({"mode": "test"}, ValueError, "mode"),
        ({"normalization": "filters"}, ValueError, "normalization"),
        ({"directions": "pca"}, ValueError, "directions"),
        ({"directions": [{"0.weight": torch.ones(8, 6)}]}, ValueError, "directions"),
        ({"directions": [{"0.weight": torch.ones(6, 8)}, {}]}, ValueError, r"directions\[0\]"),
        ({"directions": [{"nope": torch.ones(1)}, {}]}, ValueError, r"directions\[0\]"),
        ({"directions": [torch.ones(5), torch.ones(5)]}, ValueError, r"directions\[0\]"),
        ({"directions": [3, 4]}, TypeError, r"directions\[0\]"),
        ({"directions": {"0.weight": torch.ones(8, 6)}}, TypeError, "directions"),
        ({"shard": "3/3"}, ValueError, "shard"),
    ],
)
def test_slice_2d_bad_arguments_name_themselves(kwargs, exc, word):
    with pytest.raises(exc, match=word):
        slice_2d(mlp(), CE, vec_data(), progress=False, **kwargs)


def test_bad_direction_data_and_loss():
    model, (x, y) = mlp(), vec_data()
    with pytest.raises(ValueError, match="direction"):
        slice_1d(model, CE, (x, y), direction={"0.weight": torch.ones(2, 2)}, progress=False)
    with pytest.raises(ValueError, match="direction"):
        slice_1d(model, CE, (x, y), direction={"0.weight": torch.full((8, 6), float("inf"))}, progress=False)
    with pytest.raises(ValueError, match="data"):
        slice_1d(model, CE, (x[:0], y[:0]), steps=3, progress=False)
    with pytest.raises(ValueError, match="data"):
        slice_1d(model, CE, DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4), steps=3, progress=False)
    with pytest.raises(TypeError, match="data"):
        slice_1d(model, CE, x, steps=3, progress=False)
    with pytest.raises(ValueError, match="loss_fn"):
        slice_1d(model, nn.CrossEntropyLoss(reduction="none"), (x, y), steps=3, progress=False)
    with pytest.raises(TypeError, match="loss_fn"):
        slice_1d(model, None, (x, y), steps=3, progress=False)
    with pytest.raises(TypeError, match="model"):
        slice_1d("net", CE, (x, y), steps=3, progress=False)
    with pytest.raises(ValueError, match="coordinates"):
        evaluate_points(model, CE, (x, y), random_directions(model, 2), np.zeros((4, 3)), progress=False)
