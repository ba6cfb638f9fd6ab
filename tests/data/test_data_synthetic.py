"""Synthetic 2-D sets, DatasetBundle and load_dataset."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import TensorDataset

from stablecore.data import DATASETS, DatasetBundle, blobs, circles, load_dataset, moons, spirals
from stablecore.data.bundle import channel_stats

GENERATORS = {
    "moons": (moons, 2),
    "circles": (circles, 2),
    "spirals": (spirals, 2),
    "blobs": (blobs, 3),
}


def tensors(ds: TensorDataset) -> tuple[torch.Tensor, torch.Tensor]:
    return ds.tensors[0], ds.tensors[1]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_shapes_dtypes_labels_and_balance(name):
    fn, k = GENERATORS[name]
    b = fn(301, seed=3)
    assert isinstance(b, DatasetBundle) and b.name == name
    assert b.input_shape == (2,) and b.num_classes == k
    x_tr, y_tr = tensors(b.train)
    x_te, y_te = tensors(b.test)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert x_tr.shape[1:] == (2,) and x_te.shape[1:] == (2,)
    assert len(x_tr) + len(x_te) == 301 and b.num_train == len(x_tr)
    assert abs(len(x_te) - 0.25 * 301) <= k  # stratified rounding per class
    x, y = b.train[0]
    assert x.shape == (2,) and y.shape == () and y.dtype == torch.int64
    counts = torch.bincount(torch.cat([y_tr, y_te]), minlength=k)
    assert set(torch.cat([y_tr, y_te]).tolist()) == set(range(k))
    assert counts.max() - counts.min() <= 1  # balanced
    assert set(y_te.tolist()) == set(range(k))  # every class in the test split
    assert torch.isfinite(x_tr).all()
    # stats of the train inputs only, per feature
    mean = x_tr.double().mean(0)
    std = x_tr.double().std(0, unbiased=False)
    assert b.mean == pytest.approx(mean.tolist(), rel=1e-6)
    assert b.std == pytest.approx(std.tolist(), rel=1e-6)
    assert b.metadata["seed"] == 3 and b.metadata["n_train"] == len(x_tr)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_seed_determinism(name):
    fn, _ = GENERATORS[name]
    a, b, c = fn(200, seed=7), fn(200, seed=7), fn(200, seed=8)
    for split in ("train", "test"):
        for ta, tb in zip(getattr(a, split).tensors, getattr(b, split).tensors):
            assert torch.equal(ta, tb)
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    assert a.mean != c.mean


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_argument_validation(name):
    fn, _ = GENERATORS[name]
    with pytest.raises(ValueError, match="n_samples"):
        fn(3)
    with pytest.raises(TypeError, match="n_samples"):
        fn(100.0)
    with pytest.raises(TypeError, match="n_samples"):
        fn(True)
    with pytest.raises(ValueError, match="noise"):
        fn(100, noise=-0.1)
    with pytest.raises(ValueError, match="noise"):
        fn(100, noise=math.nan)
    for tf in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            fn(100, test_fraction=tf)
    with pytest.raises(ValueError, match="seed"):
        fn(100, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        fn(100, seed="0")


def test_specific_argument_validation():
    with pytest.raises(ValueError, match="factor"):
        circles(100, factor=1.0)
    with pytest.raises(ValueError, match="factor"):
        circles(100, factor=0.0)
    with pytest.raises(ValueError, match="n_classes"):
        spirals(100, n_classes=1)
    with pytest.raises(ValueError, match="n_samples"):
        spirals(9, n_classes=5)  # fewer than two examples per class
    with pytest.raises(ValueError, match="turns"):
        spirals(100, turns=0)
    with pytest.raises(ValueError, match="n_classes"):
        blobs(100, n_classes=1)
    with pytest.raises(ValueError, match="radius"):
        blobs(100, radius=-1.0)


def test_geometry_without_noise():
    b = moons(200, noise=0.0, seed=1)
    x = torch.cat([b.train.tensors[0], b.test.tensors[0]]).double()
    y = torch.cat([b.train.tensors[1], b.test.tensors[1]])
    assert torch.allclose(x[y == 0].norm(dim=1), torch.ones(1, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(
        (x[y == 1] - torch.tensor([1.0, 0.5])).norm(dim=1), torch.ones(1).double(), atol=1e-6
    )

    b = circles(200, noise=0.0, factor=0.3, seed=1)
    x, y = b.train.tensors
    r = x.double().norm(dim=1)
    assert torch.allclose(r[y == 0], torch.ones(1).double(), atol=1e-6)
    assert torch.allclose(r[y == 1], torch.full((1,), 0.3).double(), atol=1e-6)

    b = spirals(300, noise=0.0, n_classes=3, turns=2.0, seed=1)
    x, y = b.train.tensors
    r = x.double().norm(dim=1)
    assert (r <= 1 + 1e-6).all()
    # angle = 2π·turns·r + 2πk/K (mod 2π)
    angle = torch.atan2(x[:, 1].double(), x[:, 0].double())
    expected = 2 * math.pi * 2.0 * r + 2 * math.pi * y.double() / 3
    diff = torch.remainder(angle - expected + math.pi, 2 * math.pi) - math.pi
    assert diff.abs().max() < 1e-4


def test_blobs_are_separated():
    b = blobs(600, n_classes=4, noise=0.5, radius=5.0, seed=2)
    centers = torch.tensor(b.metadata["centers"])
    assert centers.shape == (4, 2)
    assert torch.allclose(centers.norm(dim=1), torch.full((4,), 5.0, dtype=centers.dtype), atol=1e-6)
    x, y = b.test.tensors
    nearest = torch.cdist(x.double(), centers.double()).argmin(1)
    assert (nearest == y).double().mean() > 0.95


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=6, max_value=80),
    k=st.integers(min_value=2, max_value=3),
    tf=st.floats(min_value=0.01, max_value=0.99),
)
def test_split_always_keeps_every_class_on_both_sides(n, k, tf):
    b = spirals(n, n_classes=k, test_fraction=tf, seed=0)
    assert b.num_train + b.num_test == n
    assert set(b.train.tensors[1].tolist()) == set(range(k))
    assert set(b.test.tensors[1].tolist()) == set(range(k))


def test_load_dataset_dispatch_and_unknown_name():
    assert set(DATASETS) == {"moons", "circles", "spirals", "blobs", "digits", "mnist", "cifar10"}
    a = load_dataset("moons", n_samples=100, seed=4)
    b = moons(100, seed=4)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert load_dataset("blobs", n_samples=60, n_classes=4).num_classes == 4
    with pytest.raises(ValueError, match="valid names: blobs, cifar10, circles"):
        load_dataset("imagenet")
    with pytest.raises(TypeError, match="name"):
        load_dataset(3)


def test_bundle_is_frozen_and_validated():
    b = moons(100)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.name = "other"
    with pytest.raises(TypeError):
        b.metadata["seed"] = 5  # read-only mapping
    ds = TensorDataset(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))
    good = dict(
        name="x", train=ds, test=ds, num_classes=2, input_shape=(2,), mean=(0, 0), std=(1, 1), metadata={}
    )
    assert DatasetBundle(**good).mean == (0.0, 0.0)
    with pytest.raises(ValueError, match="mean and std"):
        DatasetBundle(**{**good, "mean": (0.0,)})
    with pytest.raises(ValueError, match="std"):
        DatasetBundle(**{**good, "std": (1.0, 0.0)})
    with pytest.raises(ValueError, match="num_classes"):
        DatasetBundle(**{**good, "num_classes": 0})
    with pytest.raises(TypeError, match="train"):
        DatasetBundle(**{**good, "train": [1, 2]})


def test_channel_stats_per_channel_and_constant_channel():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3, 4, 5)).astype(np.float32)
    x[:, 2] = 0.5  # constant channel: std replaced by 1
    mean, std = channel_stats(torch.from_numpy(x), chunk=7)
    assert mean == pytest.approx(x.astype(np.float64).mean(axis=(0, 2, 3)).tolist(), abs=1e-9)
    assert std[:2] == pytest.approx(x[:, :2].astype(np.float64).std(axis=(0, 2, 3)).tolist(), rel=1e-9)
    assert std[2] == 1.0
