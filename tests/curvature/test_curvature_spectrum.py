"""Hessian spectrum, trace and density against exact answers: closed-form Hessians (linear and logistic
regression) and dense float64 Hessians of small MLPs (``torch.autograd.functional.hessian`` +
``eigvalsh``), Hutchinson within 3 standard errors, SLQ mass on a two-cluster spectrum, the model left
untouched, clear errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stablecore.curvature import HessianOperator, hessian_density, hessian_eigenvalues, hessian_trace

F64 = torch.float64


def dense_hessian(model: nn.Module, loss_fn, x, y, names=None) -> np.ndarray:
    """Independent oracle: ``torch.autograd.functional.hessian`` on the flattened parameters."""
    named = [(n, p) for n, p in model.named_parameters() if names is None or n in names]
    shapes = [p.shape for _, p in named]
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])
    others = {n: p.detach() for n, p in model.named_parameters() if names is not None and n not in names}
    buffers = dict(model.named_buffers())

    def f(flat):
        params, i = {}, 0
        for (n, _), s in zip(named, shapes):
            params[n] = flat[i : i + s.numel()].view(s)
            i += s.numel()
        return loss_fn(torch.func.functional_call(model, {**others, **buffers, **params}, (x,)), y)

    return torch.autograd.functional.hessian(f, flat0).double().numpy()


def pick(values: np.ndarray, which: str, k: int) -> np.ndarray:
    if which == "LA":
        return np.sort(values)[::-1][:k]
    if which == "SA":
        return np.sort(values)[:k]
    return values[np.argsort(-np.abs(values))][:k]


def mlp(dtype=F64, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def data(n=40, d=6, k=3, dtype=F64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=F64).to(dtype), torch.randint(0, k, (n,), generator=g)


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("criterion", ["error", "residual"])
def test_mlp_top_k_matches_dense_hessian(which, dtype, criterion):
    model, (x, y) = mlp(dtype), data(dtype=dtype)
    truth = np.linalg.eigvalsh(dense_hessian(mlp(F64), nn.CrossEntropyLoss(), *data()))
    res = hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=3, which=which, criterion=criterion)
    expected = pick(truth, which, 3)
    tol = 1e-4 if dtype == F64 else 2e-4
    np.testing.assert_allclose(res.eigenvalues, expected, rtol=tol, atol=tol * np.abs(truth).max())
    assert res.kind == "estimate" and res.n_hvp > 0 and res.n_params == truth.size
    if criterion == "residual":  # the rigorous stopping rule: each value within its residual of an eigenvalue
        assert (res.residuals <= 1e-4 * np.abs(res.eigenvalues) + 1e-6).all()
    errors = np.abs(res.eigenvalues - expected)
    assert (errors <= res.residuals + 1e-6 * np.abs(truth).max()).all()  # r bounds the distance


def test_error_criterion_needs_fewer_products_than_residual():
    model, (x, y) = mlp(), data()
    runs = {
        c: hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=2, which="LA", criterion=c, tol=1e-6)
        for c in ("error", "residual")
    }
    assert runs["error"].n_hvp < runs["residual"].n_hvp


@pytest.mark.parametrize("which", ["LA", "SA", "LM"])
def test_power_baseline_agrees(which):
    model, (x, y) = mlp(), data()
    truth = np.linalg.eigvalsh(dense_hessian(model, nn.CrossEntropyLoss(), x, y))
    res = hessian_eigenvalues(
        model, nn.CrossEntropyLoss(), (x, y), k=1, which=which, method="power", tol=1e-8, max_steps=2000
    )
    np.testing.assert_allclose(res.eigenvalues, pick(truth, which, 1), rtol=1e-3)


def test_linear_regression_closed_form_and_eigenvectors():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=g, dtype=F64)
    y = torch.randn(30, 1, generator=g, dtype=F64)
    lin = nn.Linear(5, 1, bias=False).double()
    h = 2 * (x.T @ x).numpy() / 30  # MSE mean over N: H = 2/N XᵀX, independent of the weights
    w, v = np.linalg.eigh(h)
    res = hessian_eigenvalues(lin, nn.MSELoss(), (x, y), k=2, which="LA", return_eigenvectors=True)
    np.testing.assert_allclose(res.eigenvalues, w[::-1][:2], rtol=1e-10)
    vecs = res.eigenvectors.numpy()
    for i in range(2):
        assert abs(abs(vecs[i] @ v[:, -1 - i]) - 1) < 1e-8
    est = hessian_trace(lin, nn.MSELoss(), (x, y), num_samples=15, method="hutch++")
    assert est.mean == pytest.approx(np.trace(h), rel=1e-10)  # the 5-probe sketch spans all 5 dimensions
    assert est.stderr < 1e-10


def test_logistic_regression_closed_form():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(50, 4, generator=g, dtype=F64)
    y = torch.randint(0, 2, (50, 1), generator=g).to(F64)
    lin = nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(1, 4, generator=g, dtype=F64))
    with torch.no_grad():
        p = torch.sigmoid(x @ lin.weight.T).squeeze(1)
    h = ((x * (p * (1 - p))[:, None]).T @ x / 50).numpy()  # BCE mean: (1/N) Σ p(1-p) x xᵀ
    for which in ("LA", "SA"):
        res = hessian_eigenvalues(lin, nn.BCEWithLogitsLoss(), (x, y), k=2, which=which)
        np.testing.assert_allclose(res.eigenvalues, pick(np.linalg.eigvalsh(h), which, 2), rtol=1e-9)


def test_loader_equals_one_batch_and_param_filter_is_a_block():
    model, (x, y) = mlp(), data()
    loader = DataLoader(TensorDataset(x, y), batch_size=7, shuffle=False)
    one = HessianOperator(model, nn.CrossEntropyLoss(), (x, y)).dense()
    many = HessianOperator(model, nn.CrossEntropyLoss(), loader).dense()
    torch.testing.assert_close(one, many, rtol=1e-10, atol=1e-12)
    block = dense_hessian(model, nn.CrossEntropyLoss(), x, y, names={"2.weight", "2.bias"})
    res = hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=2, which="LA", param_filter="2")
    np.testing.assert_allclose(res.eigenvalues, pick(np.linalg.eigvalsh(block), "LA", 2), rtol=1e-6)
    assert res.n_params == 27


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_trace_within_three_standard_errors(method):
    model, (x, y) = mlp(), data()
    truth = np.trace(dense_hessian(model, nn.CrossEntropyLoss(), x, y))
    est = hessian_trace(model, nn.CrossEntropyLoss(), (x, y), num_samples=60, method=method, seed=3)
    assert est.stderr > 0 and abs(est.mean - truth) <= 3 * est.stderr
    again = hessian_trace(model, nn.CrossEntropyLoss(), (x, y), num_samples=60, method=method, seed=3)
    assert again.mean == est.mean  # seeded


def test_density_integrates_to_one_and_finds_two_clusters():
    # H = 2/N XᵀX with eigenvalues 1 (10 of them) and 10 (30 of them): masses 0.25 and 0.75
    n = 40
    eig = np.r_[np.ones(10), 10 * np.ones(30)]
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
    x = torch.as_tensor(np.sqrt(eig * n / 2)[:, None] * q.T, dtype=F64)  # XᵀX = Q diag(eig·n/2) Qᵀ
    y = torch.zeros(n, 1, dtype=F64)
    lin = nn.Linear(n, 1, bias=False).double()
    dens = hessian_density(lin, nn.MSELoss(), (x, y), lanczos_steps=20, num_runs=8, sigma=0.3)
    assert np.trapezoid(dens.density, dens.grid) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(dens.weights.sum(1), 1.0, atol=1e-9)
    low = dens.grid < 5.5
    mass_low = np.trapezoid(dens.density[low], dens.grid[low])
    assert mass_low == pytest.approx(0.25, abs=0.1)
    assert dens.grid[np.argmax(dens.density)] == pytest.approx(10, abs=0.5)


def test_model_untouched_with_batchnorm_and_dropout():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Dropout(0.3), nn.Linear(8, 3)
    ).double()
    model.train()
    model[1].eval()  # a mixed state that must survive
    before = copy.deepcopy(model.state_dict())
    flags = [m.training for m in model.modules()]
    x, y = data()
    hessian_eigenvalues(model, nn.CrossEntropyLoss(), (x, y), k=2)
    hessian_trace(model, nn.CrossEntropyLoss(), (x, y), num_samples=3)
    hessian_density(model, nn.CrossEntropyLoss(), (x, y), lanczos_steps=5)
    model[3].p = 0.0  # train mode is allowed without active dropout: BatchNorm batch statistics
    model[1].train()
    HessianOperator(model, nn.CrossEntropyLoss(), (x, y), mode="train").matvec(torch.ones(99, dtype=F64))
    model[1].eval()
    model[3].p = 0.3
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == flags
    with pytest.raises(ValueError, match="dropout"):
        HessianOperator(model, nn.CrossEntropyLoss(), (x, y), mode="train")


def test_bad_input_errors():
    model, (x, y) = mlp(), data()
    ce = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="empty"):
        hessian_eigenvalues(model, ce, DataLoader(TensorDataset(x[:0], y[:0]), batch_size=4))
    with pytest.raises(ValueError, match="k must be at most"):
        hessian_eigenvalues(model, ce, (x, y), k=1000)
    with pytest.raises(ValueError, match="scalar"):
        hessian_eigenvalues(model, nn.CrossEntropyLoss(reduction="none"), (x, y))
    with pytest.raises(ValueError, match="which"):
        hessian_eigenvalues(model, ce, (x, y), which="BE")
    with pytest.raises(ValueError, match="criterion"):
        hessian_eigenvalues(model, ce, (x, y), criterion="gap")
    with pytest.raises(ValueError, match="method"):
        hessian_trace(model, ce, (x, y), method="exact")
    with pytest.raises(ValueError, match="num_samples"):
        hessian_trace(model, ce, (x, y), num_samples=2, method="hutch++")
    with pytest.raises(ValueError, match="param_filter"):
        hessian_eigenvalues(model, ce, (x, y), param_filter="conv9")
    with pytest.raises(TypeError, match="data"):
        hessian_eigenvalues(model, ce, x)
    with pytest.raises(ValueError, match="batch size"):
        hessian_eigenvalues(model, ce, (x, y[:3]))
    shuffled = DataLoader(
        TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    with pytest.raises(ValueError, match="different batches"):
        hessian_eigenvalues(model, ce, shuffled, k=2)
