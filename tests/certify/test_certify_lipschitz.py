"""Margin certificates: closed forms on linear models, refusals, brute-force soundness on a small MLP."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.certify import (
    certified_accuracy,
    certify_model,
    lipschitz_radius,
    logit_margin,
    pgd,
    split_last_linear,
)
from stablecore.models import build_model
from stablecore.types import Bound

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _linear(k=4, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, k)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(k, d, generator=g))
        lin.bias.copy_(torch.randn(k, generator=g))
    return lin


def _exact_distance(w, b, x, y):
    """Float64 oracle: distance from x to the region where some j ≠ y beats y (linear classifier)."""
    w, b, x = w.double().numpy(), b.double().numpy(), x.double().numpy()
    f = x @ w.T + b
    out = []
    for i in range(len(x)):
        best = math.inf
        for j in range(w.shape[0]):
            if j != y[i]:
                best = min(best, (f[i, y[i]] - f[i, j]) / np.linalg.norm(w[y[i]] - w[j]))
        out.append(max(best, 0.0))
    return np.array(out)


def test_global_radius_by_hand():
    logits = torch.tensor([[3.0, 1.0, 0.5], [0.0, 2.0, 1.0], [1.0, 1.0, 0.0]])
    r = lipschitz_radius(logits, Bound(2.0, "upper_bound"))
    expected = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64) / (2 * math.sqrt(2))
    torch.testing.assert_close(r, expected, rtol=1e-11, atol=0)
    assert (r <= expected).all()  # rounded down, never overstated
    # labels: the second point labelled 0 is misclassified -> 0
    r = lipschitz_radius(logits, Bound(2.0, "exact"), labels=torch.tensor([0, 0, 2]))
    assert r[0] > 0 and r[1] == 0 and r[2] == 0
    torch.testing.assert_close(
        logit_margin(logits, torch.tensor([0, 0, 2])).float(), torch.tensor([2.0, -2, -1])
    )


def test_pairwise_equals_exact_distance_on_linear_model():
    lin = _linear(k=4, d=5)
    x = torch.rand(64, 5, generator=torch.Generator().manual_seed(1))
    logits = lin(x).detach()
    y = logits.argmax(1)
    exact = _exact_distance(lin.weight.detach(), lin.bias.detach(), x, y.numpy())
    r = lipschitz_radius(logits, Bound(1.0, "exact"), last_layer=lin.weight).numpy()
    np.testing.assert_allclose(r, exact, rtol=1e-5, atol=1e-6)  # float32 logits vs float64 oracle
    # global certificate with L = ‖W‖₂ is never larger than the pairwise one
    lw = torch.linalg.matrix_norm(lin.weight.detach().double(), ord=2).item()
    r_glob = lipschitz_radius(logits, Bound(lw, "exact")).numpy()
    assert (r_glob <= r * (1 + 1e-9)).all() and (r_glob < r).any()
    # an nn.Linear may be passed for the weight
    torch.testing.assert_close(
        lipschitz_radius(logits, Bound(1.0, "exact"), last_layer=lin), torch.as_tensor(r)
    )


def test_pairwise_rounding_never_overstates_float64_logits():
    w = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x = torch.randn(50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    logits = x @ w.T
    y = logits.argmax(1)
    exact = _exact_distance(w, torch.zeros(3), x, y.numpy())
    r = lipschitz_radius(logits, Bound(1.0, "exact"), last_layer=w).numpy()
    assert (r <= exact).all()
    np.testing.assert_allclose(r, exact, rtol=1e-10)


def test_zero_and_infinite_lipschitz():
    logits = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    r = lipschitz_radius(logits, Bound(0.0, "exact"))
    assert r[0] == math.inf and r[1] == 0  # constant classifier: certified everywhere, unless tied
    assert (lipschitz_radius(logits, Bound(math.inf, "upper_bound")) == 0).all()
    w = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # identical rows: f_0 − f_1 is a constant
    r = lipschitz_radius(logits, Bound(math.inf, "upper_bound"), last_layer=w, labels=torch.tensor([0, 0]))
    assert r[0] == math.inf and r[1] == 0


@pytest.mark.parametrize("kind", ["estimate", "lower_bound"])
def test_refuses_uncertifiable_bounds(kind):
    with pytest.raises(ValueError, match=kind):
        lipschitz_radius(torch.zeros(2, 3), Bound(1.0, kind))


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"logits": torch.zeros(3)}, ValueError, "logits"),
        ({"logits": torch.zeros(3, 1)}, ValueError, "logits"),
        ({"logits": torch.tensor([[0.0, math.nan]])}, ValueError, "logits"),
        ({"labels": torch.tensor([0, 3])}, ValueError, "labels"),
        ({"labels": torch.tensor([0.0, 1.0])}, TypeError, "labels"),
        ({"labels": torch.tensor([0])}, ValueError, "labels"),
        ({"last_layer": torch.zeros(2, 4)}, ValueError, "last_layer"),
        ({"last_layer": torch.tensor([[0.0], [1.0], [math.inf]])}, ValueError, "last_layer"),
        ({"lipschitz": 1.0}, TypeError, "lipschitz"),
    ],
)
def test_validation_names_argument(kwargs, exc, match):
    args = {"logits": torch.zeros(2, 3), "lipschitz": Bound(1.0, "exact"), **kwargs}
    logits, lip = args.pop("logits"), args.pop("lipschitz")
    with pytest.raises(exc, match=match):
        lipschitz_radius(logits, lip, **args)


def test_certify_model_linear_auto_is_exact_distance():
    lin = _linear(k=3, d=4, seed=4)
    model = nn.Sequential(lin)
    x = torch.rand(40, 4, generator=torch.Generator().manual_seed(5))
    y = lin(x).argmax(1).detach()
    y[:5] = (y[:5] + 1) % 3  # some misclassified points
    df = certify_model(model, (x, y), [0.0, 0.05], last_layer="auto")
    assert df.attrs["certificate"] == "pairwise" and df.attrs["kind"] == "exact"
    exact = _exact_distance(lin.weight.detach(), lin.bias.detach(), x, y.numpy())
    np.testing.assert_allclose(df["radius"], exact, rtol=1e-5, atol=1e-6)
    assert not df["correct"][:5].any() and (df["radius"][:5] == 0).all()
    assert list(df.columns) == [
        "index",
        "label",
        "prediction",
        "correct",
        "margin",
        "radius",
        "certified@0",
        "certified@0.05",
    ]
    assert (df["certified@0.05"] == (df["correct"] & (df["radius"] > 0.05))).all()


def _two_d_data(n=240, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[0.25, 0.25], [0.75, 0.3], [0.5, 0.8]])
    y = torch.arange(n) % 3
    x = (centers[y] + 0.08 * torch.randn(n, 2, generator=g)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="module")
def trained_mlp():
    x, y = _two_d_data()
    model = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[32, 32], seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model, x, y


def test_certify_model_soundness_by_brute_force(trained_mlp):
    model, x, y = trained_mlp
    model.train()
    df_glob = certify_model(model, TensorDataset(x, y), [0.0, 0.01, 0.05])
    df = certify_model(model, (x, y), [0.0, 0.01, 0.05], last_layer="auto")
    assert model.training and all(m.training for m in model.modules())  # modes restored
    assert df.attrs["certificate"] == "pairwise" and df_glob.attrs["certificate"] == "global"
    assert df["correct"].mean() > 0.9
    assert (df["radius"] >= df_glob["radius"]).all() and (df["radius"] > df_glob["radius"]).any()
    cert = df[df["correct"] & (df["radius"] > 0)]
    assert len(cert) > 50
    idx = torch.as_tensor(cert["index"].to_numpy().copy())
    xs, ys = x[idx], y[idx]
    r = torch.tensor(cert["radius"].to_numpy(), dtype=torch.float32)
    # PGD inside 0.99·r finds nothing
    with torch.no_grad():
        model.eval()
        adv = pgd(model, xs, ys, 0.99 * r, norm="l2", steps=60, restarts=3, loss="margin", clip=None)
        assert (model(adv).argmax(1) == ys).all()
        # and every sampled point on the sphere of radius 0.99·r keeps the class
        g = torch.Generator().manual_seed(1)
        dirs = torch.randn(len(xs), 64, 2, generator=g)
        dirs = dirs / dirs.norm(dim=2, keepdim=True) * (0.99 * r)[:, None, None]
        preds = model((xs[:, None, :] + dirs).reshape(-1, 2)).argmax(1).reshape(len(xs), 64)
        assert (preds == ys[:, None]).all()
        # the check has teeth: the attack does break points at 30x the certified radius
        adv = pgd(model, xs, ys, 30 * r, norm="l2", steps=60, restarts=3, loss="margin", clip=None)
        assert (model(adv).argmax(1) != ys).float().mean() > 0.3
    model.train()
    acc = certified_accuracy(df["radius"], df["correct"], 0.01)
    assert acc == pytest.approx(df["certified@0.01"].mean())


def test_certify_model_refusals(trained_mlp):
    model, x, y = trained_mlp

    class Custom(nn.Module):
        def forward(self, z):
            return 2 * z

    bad = nn.Sequential(nn.Linear(2, 4), Custom(), nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"cannot certify.*Custom"):
        certify_model(bad, (x, y), 0.1)
    with pytest.raises(ValueError, match="estimate"):
        certify_model(model, (x, y), 0.1, method="power")
    with pytest.raises(ValueError, match="last_layer"):
        certify_model(model, (x, y), 0.1, last_layer="yes")
    with pytest.raises(ValueError, match="eps"):
        certify_model(model, (x, y), [0.1, -1.0])
    with pytest.raises(TypeError, match="data"):
        certify_model(model, x, 0.1)


def test_split_last_linear():
    model = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[8], seed=0)
    body, head = split_last_linear(model)
    assert head is model.head
    x = torch.rand(5, 2)
    torch.testing.assert_close(head(body(x)), model(x))
    nested = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Sequential(nn.Flatten(), nn.Linear(4, 3)))
    body, head = split_last_linear(nested)
    torch.testing.assert_close(head(body(x)), nested(x))
    assert split_last_linear(nn.Sequential(nn.Linear(2, 3), nn.ReLU())) is None
    assert split_last_linear(nn.Linear(2, 3)) is None


def test_certify_model_global_falls_back_when_auto_impossible():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    x, y = _two_d_data(30)
    df = certify_model(model, (x, y), 0.1, last_layer="auto")
    assert df.attrs["certificate"] == "global"
    assert isinstance(df, pd.DataFrame) and len(df) == 30
