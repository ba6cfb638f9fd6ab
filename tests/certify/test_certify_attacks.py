"""PGD against exact distances of linear classifiers; ball / box containment; model state."""

import pytest
import torch
from torch import nn

from stablecore.certify import pgd
from stablecore.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _binary_linear(d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(2, d, generator=g))
        lin.bias.copy_(torch.randn(2, generator=g))
    return nn.Sequential(lin)


def _distances(model, x, norm):
    """Exact distance to the decision boundary of a binary linear classifier (dual norm of w_y − w_j)."""
    w, b = model[0].weight.detach().double(), model[0].bias.detach().double()
    f = x.double() @ w.T + b
    y = f.argmax(1)
    diff = (f[:, 0] - f[:, 1]).abs()
    dual = (w[0] - w[1]).norm(p=2 if norm == "l2" else 1)
    return y, (diff / dual).float()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_pgd_matches_exact_distance_on_linear_classifier(norm):
    model = _binary_linear()
    x = torch.rand(30, 5, generator=torch.Generator().manual_seed(1))
    y, dist = _distances(model, x, norm)
    with torch.no_grad():
        above = pgd(model, x, y, 1.05 * dist, norm=norm, steps=40, clip=None)
        below = pgd(model, x, y, 0.95 * dist, norm=norm, steps=40, restarts=2, clip=None)
        assert (model(above).argmax(1) != y).all()
        assert (model(below).argmax(1) == y).all()


@pytest.mark.parametrize(("norm", "loss"), [("l2", "ce"), ("linf", "margin"), ("l2", "margin")])
def test_pgd_stays_in_ball_and_box_and_restores_model(norm, loss):
    model = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[16], seed=0)
    model.train()
    model[1].eval()  # a mixed state that must come back as it was
    flags = [m.training for m in model.modules()]
    model[-1].weight.requires_grad_(False)  # and a mixed requires_grad state
    x = torch.rand(50, 2, generator=torch.Generator().manual_seed(2))
    x[:5] = 0.0  # on the box's corner
    y = torch.randint(0, 3, (50,), generator=torch.Generator().manual_seed(3))
    eps = 0.3
    adv = pgd(model, x, y, eps, norm=norm, loss=loss, steps=20, restarts=3, seed=4)
    assert adv.shape == x.shape and not adv.requires_grad
    delta = (adv - x).flatten(1)
    size = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
    assert (size <= eps * (1 + 1e-6)).all() and (size > 0).any()
    assert (adv >= 0).all() and (adv <= 1).all()
    assert [m.training for m in model.modules()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, True]
    # deterministic for a seed
    torch.testing.assert_close(adv, pgd(model, x, y, eps, norm=norm, loss=loss, steps=20, restarts=3, seed=4))


def test_pgd_returns_best_iterate_and_zero_eps():
    model = _binary_linear(d=3, seed=5)
    x = torch.rand(10, 3, generator=torch.Generator().manual_seed(6))
    y, _ = _distances(model, x, "l2")
    torch.testing.assert_close(pgd(model, x, y, 0.0, clip=None), x)
    # a huge step size overshoots; the best iterate is still returned, inside the ball
    adv = pgd(model, x, y, 0.01, step_size=10.0, steps=3, clip=None)
    assert ((adv - x).norm(dim=1) <= 0.01 * (1 + 1e-6)).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "l1"}, "norm"),
        ({"loss": "hinge"}, "loss"),
        ({"steps": -1}, "steps"),
        ({"restarts": 0}, "restarts"),
        ({"eps": -0.1}, "eps"),
        ({"eps": torch.ones(3)}, "eps"),
        ({"clip": (1.0, 0.0)}, "clip"),
        ({"x": torch.full((4, 2), 2.0)}, "x must lie"),
        ({"y": torch.zeros(4)}, "y"),
    ],
)
def test_pgd_validation(kwargs, match):
    model = _binary_linear(d=2)
    args = {"x": torch.rand(4, 2), "y": torch.zeros(4, dtype=torch.long), "eps": 0.1, **kwargs}
    x, y, eps = args.pop("x"), args.pop("y"), args.pop("eps")
    with pytest.raises(ValueError, match=match):
        pgd(model, x, y, eps, **args)
