"""Landscapes and Hessian summaries of a stored run against direct evaluations and a dense Hessian."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from torch.func import functional_call

from stablecore.explore import curvature as xc
from stablecore.landscape import slice_2d
from stablecore.plots import hessian_spectrum_plot
from stablecore.results import open_run


@pytest.fixture(scope="module")
def data(tiny):
    return xc.run_data(tiny.run_path, samples=32)


def test_run_data_is_the_first_training_examples(tiny, data):
    assert data.x.shape == (32, 2) and data.y.shape == (32,)
    x0, y0 = tiny.data.train[0]
    assert torch.equal(data.x[0], x0) and int(data.y[0]) == int(y0)
    assert data.loss["name"] == "ce"


def test_landscape_centre_is_the_model_loss(tiny, data):
    for dims in (1, 2):
        land = xc.landscape(tiny.model, data, dims=dims, steps=5, span=(-0.5, 0.5), seed=1)
        with torch.no_grad():
            expected = float(data.loss_fn(tiny.model(data.x), data.y))
        assert land.dims == dims
        assert land.centre_loss == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="dims"):
        xc.landscape(tiny.model, data, dims=3)


def _dense_hessian(model, loss_fn, x, y) -> np.ndarray:
    """The full Hessian of the loss in the parameters of a float64 ``model`` (autograd, dense)."""
    names = [n for n, _ in model.named_parameters()]
    params = [p.detach() for _, p in model.named_parameters()]
    sizes = [p.numel() for p in params]
    buffers = dict(model.named_buffers())

    def loss(flat):
        state = {n: c.view_as(p) for n, c, p in zip(names, torch.split(flat, sizes), params)}
        return loss_fn(functional_call(model, {**state, **buffers}, (x.double(),)), y)

    return torch.autograd.functional.hessian(loss, torch.cat([p.reshape(-1) for p in params])).numpy()


def test_hessian_summary_matches_a_dense_hessian(tiny, data):
    summary = xc.hessian_summary(tiny.model, data, k=2, trace_samples=60, lanczos_steps=20, seed=0)
    h = _dense_hessian(copy.deepcopy(tiny.model).double(), data.loss_fn, data.x, data.y)
    eig = np.linalg.eigvalsh((h + h.T) / 2)
    np.testing.assert_allclose(summary["top"].eigenvalues, eig[::-1][:2], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(summary["bottom"].eigenvalues, eig[:2], rtol=1e-3, atol=1e-5)
    trace = summary["trace"]
    assert abs(trace.mean - np.trace(h)) <= 3 * trace.stderr + 1e-6  # Hutchinson: within 3 standard errors
    dens = summary["density"]
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=1e-2)


def test_checkpoints_along_training(tiny, data):
    epochs = xc.checkpoint_epochs(tiny.run_path)
    assert [e for e, _ in epochs] == [1, 2, 3] and all(n.startswith("epoch-") for _, n in epochs)
    along = xc.sharpness_along_training(tiny.run_path, data, max_checkpoints=2)
    assert list(along["epoch"]) == [1, 3] and (along["lambda_max"] > 0).all()
    summary = xc.hessian_summary(tiny.model, data, k=1, trace_samples=4, lanczos_steps=10)
    # the last snapshot is the final model: same λ_max as the summary (same data, same seed)
    assert along["lambda_max"].iloc[-1] == pytest.approx(summary["top"].eigenvalues[0], rel=1e-4)
    table = xc.hessian_table({"a": summary, "b": summary})
    assert list(table["run"]) == ["a", "b"] and (table["kind"] == "estimate").all()
    assert table["lambda_max"].iloc[0] == summary["top"].eigenvalues[0]
    assert table["trace"].iloc[1] == summary["trace"].mean
    with pytest.raises(ValueError, match="summaries"):
        xc.hessian_table({})
    frame = xc.hessian_frame(summary, along)
    fig = hessian_spectrum_plot(frame)
    names = [t.name for t in fig.data]
    assert "trained: density" in names and "λ_max" in names


def test_stored_tables_are_read_back(tiny, data, tiny_home):
    assert xc.stored_landscape(tiny.run_path, 2) is None and xc.stored_hessian(tiny.run_path) == {}
    land = slice_2d(tiny.model, data.loss_fn, data.batch, steps=3, progress=False)
    run = open_run(tiny.run_path)
    run.write_table("landscape-2d", land.to_frame())
    run.write_table("hessian-topk", pd.DataFrame({"rank": [1], "eigenvalue": [1.0]}))
    back = xc.stored_landscape(tiny.run_path, 2)
    np.testing.assert_allclose(back.loss, land.loss)
    assert list(xc.stored_hessian(tiny.run_path)) == ["hessian-topk"]
    # a corrupt table is skipped, not raised
    (tiny.run_path / "tables" / "landscape-1d.parquet").write_bytes(b"not parquet")
    assert xc.stored_landscape(tiny.run_path, 1) is None
