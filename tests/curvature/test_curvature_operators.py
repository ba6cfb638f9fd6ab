"""The operator protocol against independent oracles: the GGN against a dense float64 JᵀHJ (MSE and
cross-entropy, MLP and ConvNet, one batch and a loader), a SciPy operator through our Lanczos against
``scipy.sparse.linalg.eigsh``, curvlinops' Hessian and GGN against ours (when installed), batched
products, trace and density against one product at a time, and the BatchNorm policy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stablecore.curvature import (
    GGNOperator,
    HessianOperator,
    LinearOperator,
    ScipyOperator,
    as_operator,
    density,
    eigenvalues,
    hessian_trace,
    trace,
)

F64 = torch.float64


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).to(F64)


def convnet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 3 * 3, 3)).to(F64)


def batch(net: str, loss: str, n: int = 12, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    shape = (n, 5) if net == "mlp" else (n, 1, 5, 5)
    x = torch.randn(*shape, generator=g, dtype=F64)
    y = torch.randint(0, 3, (n,), generator=g) if loss == "ce" else torch.randn(n, 3, generator=g, dtype=F64)
    return x, y


def dense_ggn(model: nn.Module, loss_fn, x, y) -> torch.Tensor:
    """Oracle: J (n_out × p) from ``torch.autograd.functional.jacobian`` and the output Hessian from
    ``torch.autograd.functional.hessian``, multiplied densely in float64."""
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(flat):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = flat[i : i + s.numel()].view(s)
            i += s.numel()
        return torch.func.functional_call(model, params, (x,))

    out = f(flat0).detach()
    jac = torch.autograd.functional.jacobian(lambda t: f(t).reshape(-1), flat0)
    h_out = torch.autograd.functional.hessian(lambda z: loss_fn(z.view(out.shape), y), out.reshape(-1))
    return jac.T @ h_out @ jac


LOSSES = {"mse": nn.MSELoss, "ce": nn.CrossEntropyLoss}


@pytest.mark.parametrize("net", ["mlp", "conv"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_ggn_equals_the_dense_jt_h_j(net, loss):
    model = mlp() if net == "mlp" else convnet()
    x, y = batch(net, loss)
    loss_fn = LOSSES[loss]()
    truth = dense_ggn(model, loss_fn, x, y)
    op = GGNOperator(model, loss_fn, (x, y))
    assert isinstance(op, LinearOperator) and op.shape == truth.shape
    assert torch.allclose(op.dense(), truth, rtol=0, atol=1e-12 * truth.abs().max())
    # a loader of unequal batches combines them as the mean over all examples
    loader = DataLoader(TensorDataset(x, y), batch_size=5)
    vs = torch.randn(op.size, 4, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert torch.allclose(GGNOperator(model, loss_fn, loader).matmat(vs), truth @ vs, atol=1e-12)
    if loss == "ce":  # a convex loss: G is positive semi-definite
        assert torch.linalg.eigvalsh(truth).min() > -1e-12


def test_ggn_of_a_linear_model_with_mse_is_its_hessian():
    torch.manual_seed(0)
    lin = nn.Linear(4, 2).to(F64)
    x, y = torch.randn(9, 4, dtype=F64), torch.randn(9, 2, dtype=F64)
    g = GGNOperator(lin, nn.MSELoss(reduction="sum"), (x, y)).dense()
    h = HessianOperator(lin, nn.MSELoss(reduction="sum"), (x, y)).dense()
    assert torch.allclose(g, h, atol=1e-12)


def test_ggn_batchnorm_policy_and_model_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3)).to(F64)
    model.train()
    before = copy.deepcopy(model.state_dict())
    x, y = batch("mlp", "ce")
    with pytest.raises(ValueError, match="BatchNorm"):
        GGNOperator(model, nn.CrossEntropyLoss(), (x, y), mode="train")
    op = GGNOperator(model, nn.CrossEntropyLoss(), (x, y))  # eval: running statistics
    model.eval()
    truth = dense_ggn(model, nn.CrossEntropyLoss(), x, y)
    model.train()
    assert torch.allclose(op.dense(), truth, atol=1e-12)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("cls", [HessianOperator, GGNOperator])
def test_matmat_equals_one_product_per_column(cls):
    x, y = batch("conv", "ce")
    op = cls(convnet(), nn.CrossEntropyLoss(), (x, y))
    vs = torch.randn(op.size, 6, generator=torch.Generator().manual_seed(2), dtype=F64)
    cols = torch.stack([op.matvec(v) for v in vs.T], dim=1)
    assert torch.allclose(op.matmat(vs), cols, atol=1e-13)
    assert op.n_hvp == 12


def test_matmat_with_train_mode_batchnorm_equals_one_product_per_column():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3)).to(F64)
    x, y = batch("mlp", "ce")
    op = HessianOperator(model, nn.CrossEntropyLoss(), (x, y), mode="train")  # batch statistics
    vs = torch.randn(op.size, 3, generator=torch.Generator().manual_seed(3), dtype=F64)
    cols = torch.stack([op.matvec(v) for v in vs.T], dim=1)
    assert torch.allclose(op.matmat(vs), cols, atol=1e-12)


@pytest.mark.parametrize("cls", [HessianOperator, GGNOperator])
def test_matmat_falls_back_to_a_loop_where_vmap_cannot_run(cls, monkeypatch):
    x, y = batch("mlp", "ce")
    op = cls(mlp(), nn.CrossEntropyLoss(), (x, y))
    vs = torch.randn(op.size, 4, generator=torch.Generator().manual_seed(3), dtype=F64)
    expected = op.matmat(vs)
    product = op._product

    def no_vmap(graph, tangent, keep, batched):
        if batched:
            raise RuntimeError("Batching rule not implemented for this op")
        return product(graph, tangent, keep, batched)

    monkeypatch.setattr(op, "_product", no_vmap)
    before = op.n_hvp
    assert torch.allclose(op.matmat(vs), expected, atol=1e-13) and op.n_hvp == before + 4


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_a_scipy_operator_through_our_lanczos_equals_eigsh(which):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    a = (q * np.linspace(-3.0, 10.0, 60) ** 3) @ q.T
    linop = sla.aslinearoperator(a)
    ours = eigenvalues(linop, k=5, which=which, tol=1e-10)
    theirs = sla.eigsh(linop, k=5, which=which, tol=1e-12)[0]
    order = {"LA": -theirs, "SA": theirs, "LM": -np.abs(theirs)}[which]
    np.testing.assert_allclose(ours.eigenvalues, theirs[np.argsort(order)], rtol=1e-9)
    assert ours.all_converged and ours.n_params == 60 and ours.n_hvp <= 60
    est = trace(ScipyOperator(linop), num_samples=30, method="hutch++", seed=1)
    assert abs(est.mean - np.trace(a)) <= 4 * est.stderr and est.n_hvp == 30


def test_as_operator_passes_ours_through_and_refuses_others():
    op = HessianOperator(mlp(), nn.MSELoss(), batch("mlp", "mse"))
    assert as_operator(op) is op
    assert isinstance(as_operator(np.eye(3)), ScipyOperator)
    with pytest.raises(TypeError, match="op must be"):
        as_operator("not an operator")
    with pytest.raises(ValueError, match="square"):
        ScipyOperator(np.ones((2, 3)))


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_batched_trace_equals_the_looped_one(method):
    x, y = batch("mlp", "ce", n=30)
    kwargs = {"num_samples": 13, "method": method, "seed": 4}
    looped = hessian_trace(mlp(), nn.CrossEntropyLoss(), (x, y), block_size=1, **kwargs)
    batched = hessian_trace(mlp(), nn.CrossEntropyLoss(), (x, y), block_size=16, **kwargs)
    np.testing.assert_allclose(batched.samples, looped.samples, rtol=1e-10, atol=1e-12)
    assert batched.n_hvp == looped.n_hvp == 13
    assert batched.mean == pytest.approx(looped.mean, rel=1e-10)


def test_batched_density_equals_one_run_at_a_time():
    op = HessianOperator(mlp(), nn.CrossEntropyLoss(), batch("mlp", "ce", n=30))
    one = density(op, lanczos_steps=20, num_runs=4, seed=2, block_size=1)
    block = density(op, lanczos_steps=20, num_runs=4, seed=2, block_size=3)
    np.testing.assert_allclose(block.nodes, one.nodes, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(block.weights, one.weights, atol=1e-8)
    assert block.n_hvp == one.n_hvp == 80


@pytest.fixture
def curvlinops():
    return pytest.importorskip("curvlinops")


@pytest.mark.parametrize("net", ["mlp", "conv"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_curvlinops_hessian_and_ggn_agree_with_ours(curvlinops, net, loss):
    model = mlp() if net == "mlp" else convnet()
    x, y = batch(net, loss, n=16)
    loss_fn = LOSSES[loss]()
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    params = list(model.parameters())
    vs = torch.randn(sum(p.numel() for p in params), 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    pairs = [
        (curvlinops.HessianLinearOperator, HessianOperator),
        (curvlinops.GGNLinearOperator, GGNOperator),
    ]
    for theirs_cls, ours_cls in pairs:
        theirs = theirs_cls(model, loss_fn, params, loader)
        ours = ours_cls(model, loss_fn, loader)
        expected = theirs @ vs
        assert torch.allclose(ours.matmat(vs), expected, rtol=0, atol=1e-10 * expected.abs().max())
        # and theirs plugs into our solvers
        top = eigenvalues(theirs, k=2, tol=1e-8).eigenvalues
        np.testing.assert_allclose(top, eigenvalues(ours, k=2, tol=1e-8).eigenvalues, rtol=1e-7)
