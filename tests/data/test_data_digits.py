"""scikit-learn digits as a DatasetBundle."""

from __future__ import annotations

import pytest
import torch

from stablecore.data import digits


@pytest.fixture(scope="module")
def bundle():
    return digits(seed=0)


def test_shapes_range_and_classes(bundle):
    x_tr, y_tr = bundle.train.tensors
    x_te, y_te = bundle.test.tensors
    assert bundle.name == "digits" and bundle.num_classes == 10
    assert bundle.input_shape == (1, 8, 8)
    assert x_tr.shape[1:] == (1, 8, 8) and x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0 and float(x_te.max()) <= 1.0
    # 17 grey levels: every pixel is a multiple of 1/16
    assert torch.allclose(x_tr * 16, (x_tr * 16).round())
    assert set(y_tr.tolist()) == set(range(10)) == set(y_te.tolist())
    assert len(x_tr) + len(x_te) == 1797
    assert len(x_te) == 450  # ceil(0.25 * 1797)
    assert bundle.metadata["n_train"] == 1347 and bundle.metadata["seed"] == 0


def test_stratified_split(bundle):
    y_tr, y_te = bundle.train.tensors[1], bundle.test.tensors[1]
    frac = (
        torch.bincount(y_te, minlength=10).double()
        / (torch.bincount(y_te, minlength=10) + torch.bincount(y_tr, minlength=10)).double()
    )
    assert (frac - 0.25).abs().max() < 0.02


def test_mean_std_from_train_only(bundle):
    x_tr = bundle.train.tensors[0].double()
    assert len(bundle.mean) == len(bundle.std) == 1
    assert bundle.mean[0] == pytest.approx(float(x_tr.mean()), rel=1e-9)
    assert bundle.std[0] == pytest.approx(float(x_tr.std(unbiased=False)), rel=1e-9)
    x_all = torch.cat([x_tr, bundle.test.tensors[0].double()])
    assert bundle.mean[0] != pytest.approx(float(x_all.mean()), rel=1e-9)


def test_split_determinism_and_seed(bundle):
    again = digits(seed=0)
    assert torch.equal(again.train.tensors[0], bundle.train.tensors[0])
    assert torch.equal(again.test.tensors[1], bundle.test.tensors[1])
    other = digits(seed=1)
    assert other.num_test == 450
    assert not torch.equal(other.test.tensors[0], bundle.test.tensors[0])
    assert digits(test_fraction=0.5).num_test == 899


def test_validation():
    for tf in (0.0, 1.0, 2.0):
        with pytest.raises(ValueError, match="test_fraction"):
            digits(test_fraction=tf)
    with pytest.raises(ValueError, match="test_fraction"):
        digits(test_fraction=0.001)  # 2 test examples cannot hold 10 classes
    with pytest.raises(ValueError, match="seed"):
        digits(seed=-3)
    with pytest.raises(TypeError, match="seed"):
        digits(seed=None)
