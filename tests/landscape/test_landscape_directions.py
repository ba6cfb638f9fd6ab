"""Directions for landscapes: filter/layer/model normalisation (Li et al. 2018), biases and norm layers
still, seeded draws, given tensors, top Hessian eigenvectors against the dense float64 Hessian, PCA of a
synthetic trajectory, the trajectory recorder, and the model left untouched."""

from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

from stablecore.landscape import (
    TrajectoryRecorder,
    as_direction,
    direction_norm,
    hessian_directions,
    ignored_parameters,
    load_trajectory,
    normalize_direction,
    pca_directions,
    random_direction,
    random_directions,
    slice_1d,
    slice_2d,
)
from stablecore.results import create_run

CE = nn.CrossEntropyLoss()
F64 = torch.float64


def conv_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 5, 3),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(5 * 4 * 4, 7),
        nn.LayerNorm(7),
        nn.Linear(7, 3, bias=False),
    )


def flat(direction: dict, model: nn.Module) -> torch.Tensor:
    return torch.cat([direction[n].reshape(-1) for n, _ in model.named_parameters() if n in direction])


def test_ignored_parameters_are_biases_and_norm_layers():
    net = conv_net()
    assert ignored_parameters(net) == {"0.bias", "1.weight", "1.bias", "4.bias", "5.weight", "5.bias"}
    ln2d = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm([2, 3]))
    assert "1.weight" in ignored_parameters(ln2d)  # a 2-D LayerNorm scale is still a norm parameter


def test_filter_normalization_matches_each_filter_of_the_model():
    net = conv_net()
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    d = random_direction(net, seed=0)
    for name, p in net.named_parameters():
        if name in ignored_parameters(net):
            assert torch.count_nonzero(d[name]) == 0, name
        else:
            rows_d = d[name].reshape(p.shape[0], -1).norm(dim=1)
            rows_p = p.detach().reshape(p.shape[0], -1).norm(dim=1)
            torch.testing.assert_close(rows_d, rows_p, rtol=1e-5, atol=0)
        assert d[name].shape == p.shape and d[name].dtype == p.dtype
    for name, p in net.named_parameters():
        assert torch.equal(p, before[name])


def test_layer_model_and_no_normalization():
    net = conv_net()
    raw = {
        n: torch.randn(p.shape, generator=torch.Generator().manual_seed(5)) for n, p in net.named_parameters()
    }
    moving = [n for n in raw if n not in ignored_parameters(net)]
    layer = normalize_direction(raw, net, normalization="layer")
    for n in moving:
        assert float(layer[n].norm()) == pytest.approx(
            float(dict(net.named_parameters())[n].detach().norm()), rel=1e-5
        )
    model = normalize_direction(raw, net, normalization="model")
    params = dict(net.named_parameters())
    assert direction_norm({n: model[n] for n in moving}) == pytest.approx(
        direction_norm({n: params[n] for n in moving}), rel=1e-5
    )
    scales = [float(model[n].norm() / raw[n].norm()) for n in moving]
    assert max(scales) == pytest.approx(min(scales), rel=1e-6)  # one global scale
    none = normalize_direction(raw, net, normalization=None)
    for n in moving:
        assert torch.equal(none[n], raw[n])
    keep = normalize_direction(raw, net, normalization=None, ignore=None)
    for n in ignored_parameters(net):
        assert torch.equal(keep[n], params[n].detach())  # Li et al.'s code: d.copy_(w)
    with pytest.raises(ValueError, match="normalization"):
        normalize_direction(raw, net, normalization="filters")
    with pytest.raises(ValueError, match="ignore"):
        normalize_direction(raw, net, ignore="bias")


def test_seeded_draws_are_reproducible():
    net = conv_net()
    a, b = random_directions(net, 2, seed=7), random_directions(net, 2, seed=7)
    for da, db in zip(a, b):
        for n in da:
            assert torch.equal(da[n], db[n])
    c = random_directions(net, 2, seed=8)
    assert not torch.equal(a[0]["0.weight"], c[0]["0.weight"])
    assert not torch.equal(a[0]["0.weight"], a[1]["0.weight"])  # two independent draws
    g = torch.Generator().manual_seed(7)
    first = random_direction(net, generator=g)
    assert torch.equal(first["4.weight"], a[0]["4.weight"])  # same stream as random_directions
    x = torch.randn(6, 2, 6, 6, generator=torch.Generator().manual_seed(1))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    l1 = slice_2d(net, CE, (x, y), steps=5, seed=4, progress=False)
    l2 = slice_2d(net, CE, (x, y), steps=5, seed=4, progress=False)
    l3 = slice_2d(net, CE, (x, y), steps=5, seed=5, progress=False)
    np.testing.assert_array_equal(l1.loss, l2.loss)
    assert not np.array_equal(l1.loss, l3.loss)
    with pytest.raises(TypeError, match="seed"):
        random_direction(net, seed=1.5)
    with pytest.raises(TypeError, match="generator"):
        random_direction(net, generator=3)
    with pytest.raises(ValueError, match="count"):
        random_directions(net, 0)


def test_directions_from_tensors():
    net = conv_net()
    params = dict(net.named_parameters())
    n = sum(p.numel() for p in params.values())
    v = torch.arange(n, dtype=torch.float32)
    d = as_direction(net, v)
    torch.testing.assert_close(flat(d, net), v)
    d2 = as_direction(net, [p.detach() * 2 for p in params.values()])
    torch.testing.assert_close(d2["4.weight"], params["4.weight"].detach() * 2)
    part = as_direction(net, {"4.weight": torch.ones(7, 80, dtype=F64)})
    assert set(part) == {"4.weight"} and part["4.weight"].dtype == torch.float32
    with pytest.raises(ValueError, match=r"direction.*\(" + str(n)):
        as_direction(net, torch.ones(n + 1))
    with pytest.raises(ValueError, match="needs"):
        as_direction(net, [torch.ones(1)])
    with pytest.raises(TypeError, match="direction"):
        as_direction(net, 3.0)


# ----------------------------------------------------------------------------------------- Hessian
def dense_hessian(model, loss_fn, x, y) -> torch.Tensor:
    named = list(model.named_parameters())
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])

    def f(v):
        params, i = {}, 0
        for n, p in named:
            params[n] = v[i : i + p.numel()].view_as(p)
            i += p.numel()
        return loss_fn(torch.func.functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(f, flat0)


def test_hessian_directions_are_the_top_eigenvectors_and_curvature_matches():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).to(F64)
    x = torch.randn(30, 4, dtype=F64, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (30,), generator=torch.Generator().manual_seed(1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dirs = hessian_directions(model, CE, (x, y), k=2)
    values, vectors = torch.linalg.eigh(dense_hessian(model, CE, x, y))
    for j, d in enumerate(dirs):
        v = flat(d, model)
        assert float(v.norm()) == pytest.approx(1.0, abs=1e-8)
        assert abs(float(v @ vectors[:, -1 - j])) == pytest.approx(1.0, abs=1e-4)
    assert abs(float(flat(dirs[0], model) @ flat(dirs[1], model))) < 1e-6
    # the plane of the top two eigenvectors has curvature λ_1 along α and λ_2 along β at the centre
    h = 1e-3
    plane = slice_2d(model, CE, (x, y), directions="hessian", span=(-h, h), steps=3, progress=False)
    assert plane.metadata["directions"] == "hessian"
    curv1 = (plane.loss[0, 1] - 2 * plane.loss[1, 1] + plane.loss[2, 1]) / h**2
    curv2 = (plane.loss[1, 0] - 2 * plane.loss[1, 1] + plane.loss[1, 2]) / h**2
    assert curv1 == pytest.approx(float(values[-1]), rel=1e-3)
    assert curv2 == pytest.approx(float(values[-2]), rel=1e-3)
    line = slice_1d(model, CE, (x, y), direction=dirs[0], span=(-h, h), steps=3, progress=False)
    np.testing.assert_allclose(line.loss, plane.loss[:, 1], rtol=1e-12)
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n])


# -------------------------------------------------------------------------------------- trajectory
def synthetic_trajectory(model: nn.Module, m: int = 12, seed: int = 0):
    """θ_t = θ + (m - t)·u + small noise: a straight approach along ``u`` with a little wobble."""
    g = torch.Generator().manual_seed(seed)
    u = {n: torch.randn(p.shape, generator=g) for n, p in model.named_parameters()}
    states = []
    for t in range(m):
        states.append(
            {
                n: p.detach() + (m - t) * 0.1 * u[n] + 0.003 * torch.randn(p.shape, generator=g)
                for n, p in model.named_parameters()
            }
        )
    return states, u


def test_pca_directions_are_orthonormal_and_follow_the_trajectory():
    net = conv_net()
    states, u = synthetic_trajectory(net)
    pca = pca_directions(net, states, k=2)
    skipped = ignored_parameters(net)
    v = torch.stack([flat(d, net).double() for d in pca.directions])
    torch.testing.assert_close(v @ v.T, torch.eye(2, dtype=F64), atol=1e-6, rtol=0)
    u_flat = torch.cat(
        [u[n].reshape(-1) if n not in skipped else torch.zeros(u[n].numel()) for n in u]
    ).double()
    assert abs(float(v[0] @ u_flat / u_flat.norm())) > 0.99
    assert (
        pca.explained_variance_ratio[0] > 0.95
        and pca.explained_variance_ratio[0] >= pca.explained_variance_ratio[1]
    )
    for d in pca.directions:
        assert all(torch.count_nonzero(d[n]) == 0 for n in skipped)
    # coordinates: projections of θ_t - θ, decreasing towards the model at the origin along the first axis
    assert pca.coordinates.shape == (12, 2)
    first = np.abs(pca.coordinates[:, 0])
    assert (np.diff(first) < 0).all()
    diff = torch.cat([(states[3][n] - p.detach()).reshape(-1) if n not in skipped else torch.zeros(p.numel())
                      for n, p in net.named_parameters()]).double()  # fmt: skip
    np.testing.assert_allclose(pca.coordinates[3], (v @ diff).numpy(), rtol=1e-5)
    # usable as the plane of a slice
    x = torch.randn(4, 2, 6, 6)
    land = slice_2d(net, CE, (x, torch.tensor([0, 1, 2, 0])), directions=pca, steps=3, progress=False)
    assert land.metadata["directions"] == "pca"


def test_trajectory_from_files_run_recorder_and_errors(tmp_path):
    net = conv_net()
    states, _ = synthetic_trajectory(net, m=4)
    paths = []
    for i, s in enumerate(states):
        path = tmp_path / f"s{i}.pt"
        torch.save({"model": s, "epoch": i} if i % 2 else s, path)
        paths.append(path)
    from_files = pca_directions(net, paths, k=1)
    from_states = pca_directions(net, states, k=1)
    torch.testing.assert_close(flat(from_files.directions[0], net), flat(from_states.directions[0], net))

    run = create_run("traj", home=tmp_path / "runs")
    with pytest.raises(ValueError, match="TrajectoryRecorder"):
        load_trajectory(run.path)
    recorder = TrajectoryRecorder(save=True)
    trainer = types.SimpleNamespace(model=net, run=run)
    recorder.record(net, 0, run)
    for epoch in (1, 2, 3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.1)
        recorder(trainer, epoch, {})
    assert recorder.epochs == [0, 1, 2, 3] and len(load_trajectory(run.path)) == 4
    pca = pca_directions(net, run.path, k=2)
    assert pca.coordinates.shape == (4, 2)
    assert pca.explained_variance_ratio[0] == pytest.approx(1.0)  # a straight line

    with pytest.raises(ValueError, match="at least 2"):
        pca_directions(net, states[:1])
    with pytest.raises(ValueError, match="k must"):
        pca_directions(net, states, k=4)
    with pytest.raises(ValueError, match="lacks"):
        pca_directions(net, [{"0.weight": states[0]["0.weight"]}, states[1]], k=1)
    with pytest.raises(ValueError, match="shape"):
        pca_directions(net, [{**states[0], "4.weight": torch.ones(2)}, states[1]], k=1)
    with pytest.raises(TypeError, match="trajectory"):
        pca_directions(net, states[0])
    with pytest.raises(FileNotFoundError, match="trajectory"):
        pca_directions(net, [tmp_path / "missing.pt", paths[0]])
    with pytest.raises(ValueError, match="every"):
        TrajectoryRecorder(every=0)
    with pytest.raises(ValueError, match="run"):
        TrajectoryRecorder(save=True).record(net, 1)
