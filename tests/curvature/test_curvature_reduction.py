"""A DataLoader's batches combine as the loss reduces: the Hessian operator, its trace and eigenvalues
equal those of the *full-data* loss (dense float64 ``torch.autograd.functional.hessian`` of the
flattened parameters on all examples at once) for ``reduction="sum"`` and ``"mean"``, with unequal
batches (10 examples in batches of 4, 4, 2), for ``nn`` losses, plain callables with ``reduction=``,
and cross-entropy whose mean is weighted by class weights and ``ignore_index``. Before, every loader
was weighted by ``n_b / N``: a sum came out scaled per batch (0.4, 0.4, 0.2 here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torch.utils.data import DataLoader, TensorDataset

from stablecore.curvature import (
    HessianOperator,
    hessian_density,
    hessian_eigenvalues,
    hessian_trace,
    loss_reduction,
)

F64 = torch.float64


def full_data_hessian(model: nn.Module, loss_fn, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Independent oracle: the dense Hessian of ``loss_fn(model(x), y)`` on all examples at once."""
    named = list(model.named_parameters())
    flat0 = torch.cat([p.detach().reshape(-1) for _, p in named])

    def loss(flat: torch.Tensor) -> torch.Tensor:
        params, i = {}, 0
        for n, p in named:
            params[n] = flat[i : i + p.numel()].view(p.shape)
            i += p.numel()
        return loss_fn(functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat0).numpy()


def setup(classes: int = 3, target: str = "class"):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, classes)).double()  # 31 parameters
    x = torch.randn(10, 3, generator=g, dtype=F64)
    y = (
        torch.randint(0, classes, (10,), generator=g)
        if target == "class"
        else torch.randn(10, classes, generator=g, dtype=F64)
    )
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)  # batches of 4, 4, 2
    assert [len(b[0]) for b in loader] == [4, 4, 2]
    return model, x, y, loader


def _sum_ce(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y, reduction="sum")


def _mean_mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out, y)


CASES = {
    "ce-sum": (nn.CrossEntropyLoss(reduction="sum"), None, "class"),
    "ce-mean": (nn.CrossEntropyLoss(), None, "class"),
    "mse-sum": (nn.MSELoss(reduction="sum"), None, "real"),
    "mse-mean": (nn.MSELoss(), None, "real"),
    "callable-sum": (_sum_ce, "sum", "class"),
    "callable-mean": (_mean_mse, None, "real"),
    "ce-weighted-mean": (nn.CrossEntropyLoss(weight=torch.tensor([0.2, 1.0, 3.0], dtype=F64)), None, "class"),
    "ce-ignore-mean": (nn.CrossEntropyLoss(ignore_index=1), None, "class"),
    "nll-weighted-sum": (
        lambda out, y: F.nll_loss(
            out.log_softmax(1), y, weight=torch.tensor([0.5, 2.0, 1.0], dtype=F64), reduction="sum"
        ),
        "sum",
        "class",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loader_operator_equals_the_full_data_hessian(case):
    loss_fn, reduction, target = CASES[case]
    model, x, y, loader = setup(target=target)
    truth = full_data_hessian(model, loss_fn, x, y)
    op = HessianOperator(model, loss_fn, loader, reduction=reduction)
    np.testing.assert_allclose(op.dense().numpy(), truth, rtol=1e-10, atol=1e-12 * np.abs(truth).max())
    v = torch.randn(op.size, generator=torch.Generator().manual_seed(1), dtype=F64)
    np.testing.assert_allclose(op.matvec(v).numpy(), truth @ v.numpy(), rtol=1e-10, atol=1e-12)
    # trace: Hutch++ with a sketch of every dimension (3n products) is exact
    est = hessian_trace(
        model, loss_fn, loader, num_samples=3 * op.size, method="hutch++", reduction=reduction
    )
    assert est.mean == pytest.approx(np.trace(truth), rel=1e-9)
    w = np.linalg.eigvalsh(truth)
    for which, expected in (("LA", w[::-1][:2]), ("SA", w[:2])):
        res = hessian_eigenvalues(model, loss_fn, loader, k=2, which=which, tol=1e-8, reduction=reduction)
        np.testing.assert_allclose(res.eigenvalues, expected, rtol=1e-6, atol=1e-9 * np.abs(w).max())
    # the SLQ density's nodes span the spectrum (a full Krylov space: its Ritz values are the eigenvalues)
    dens = hessian_density(model, loss_fn, loader, lanczos_steps=op.size, reduction=reduction)
    assert np.nanmin(dens.nodes) == pytest.approx(w[0], abs=1e-8 * np.abs(w).max())
    assert np.nanmax(dens.nodes) == pytest.approx(w[-1], rel=1e-8)


def test_sum_is_the_sum_of_the_batch_hessians_and_n_times_the_mean():
    model, x, y, loader = setup()
    summed = HessianOperator(model, nn.CrossEntropyLoss(reduction="sum"), loader).dense()
    mean = HessianOperator(model, nn.CrossEntropyLoss(), loader).dense()
    one = HessianOperator(model, nn.CrossEntropyLoss(reduction="sum"), (x, y)).dense()  # one batch
    torch.testing.assert_close(summed, one, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(summed, 10 * mean, rtol=1e-10, atol=1e-12)
    loss, _ = HessianOperator(model, nn.CrossEntropyLoss(reduction="sum"), loader).loss_and_gradient()
    with torch.no_grad():
        assert loss == pytest.approx(float(F.cross_entropy(model(x), y, reduction="sum")), rel=1e-12)


def test_reduction_is_read_checked_and_refused_when_it_cannot_be_combined():
    model, x, y, loader = setup()
    assert loss_reduction(nn.MSELoss(reduction="sum")) == "sum"
    assert loss_reduction(nn.KLDivLoss(reduction="batchmean")) == "mean"
    assert loss_reduction(_sum_ce) == "mean" and loss_reduction(_sum_ce, "sum") == "sum"
    with pytest.raises(ValueError, match=r"loss_fn.*reduction='none'.*scalar"):
        HessianOperator(model, nn.CrossEntropyLoss(reduction="none"), loader)
    with pytest.raises(ValueError, match="reduction must be one of"):
        HessianOperator(model, _sum_ce, loader, reduction="max")
    with pytest.raises(ValueError, match="contradicts"):
        hessian_trace(model, nn.CrossEntropyLoss(), loader, reduction="sum")
    only_ignored = DataLoader(TensorDataset(x, torch.full_like(y, 1)), batch_size=4)
    with pytest.raises(ValueError, match="no examples"):
        HessianOperator(model, nn.CrossEntropyLoss(ignore_index=1), only_ignored)
