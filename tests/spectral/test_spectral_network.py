"""lipschitz_bound on whole networks against brute-force Jacobian norms (float64)."""

import math

import pytest
import torch
from torch import nn

from stablecore.blocks import Normalize, Residual
from stablecore.models import build_model
from stablecore.spectral import lipschitz_bound


def max_jacobian_norm(model, shape, n_points=24, seed=0):
    """A lower bound on the Lipschitz constant: the largest ‖J_f(x)‖₂ over random inputs."""
    gen = torch.Generator().manual_seed(seed)
    best = 0.0
    for _ in range(n_points):
        x = torch.rand(shape, dtype=torch.float64, generator=gen)
        jac = torch.autograd.functional.jacobian(lambda t: model(t.unsqueeze(0)).squeeze(0), x)
        best = max(best, float(torch.linalg.matrix_norm(jac.reshape(jac.shape[0], -1), 2)))
    return best


def _settle_batchnorm(model, shape, seed=0):
    """Give BatchNorm non-trivial running statistics, then switch to eval mode."""
    gen = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(5):
            model(3 * torch.rand(16, *shape, dtype=torch.float64, generator=gen))
    return model.eval()


@pytest.mark.parametrize("method", ["gram", "exact"])
def test_mlp_bound_above_jacobian_norms(method):
    model = build_model(
        "mlp",
        input_shape=(2,),
        num_classes=3,
        hidden=[16, 16],
        mean=[0.1, -0.2],
        std=[0.5, 2.0],
        activation="tanh",
        seed=1,
    ).double()
    bound = lipschitz_bound(model, (2,), method=method)
    assert bound.kind == "upper_bound"
    assert bound.value >= max_jacobian_norm(model, (2,))
    assert len(bound.details) == len([m for m in model.modules() if not list(m.children())])


def test_power_method_gives_an_estimate_only():
    model = build_model("mlp", input_shape=(2,), num_classes=2, seed=0)
    assert lipschitz_bound(model, (2,), method="power").kind == "estimate"


@pytest.mark.parametrize(
    ("name", "shape", "kwargs"),
    [
        ("convnet", (1, 8, 8), {"channels": [4, 6], "hidden": [12], "batchnorm": True}),
        ("convnet", (3, 9, 7), {"channels": [3], "hidden": [], "pool": "avg", "kernel_size": 5}),
        ("resnet20", (3, 8, 8), {"width": 0.25}),
    ],
)
def test_conv_nets_bound_above_jacobian_norms(name, shape, kwargs):
    model = build_model(name, input_shape=shape, num_classes=4, seed=0, **kwargs).double()
    _settle_batchnorm(model, shape)
    bound = lipschitz_bound(model, shape)
    assert bound.kind == "upper_bound"
    assert math.isfinite(bound.value)
    assert bound.value >= max_jacobian_norm(model, shape, n_points=6)
    assert set(bound.details["kind"]) <= {"exact", "upper_bound"}


def test_batchnorm_in_train_mode_refused_with_path():
    model = build_model("resnet20", input_shape=(3, 8, 8), num_classes=2, width=0.25, seed=0)
    model.train()
    with pytest.raises(ValueError, match="train mode"):
        lipschitz_bound(model, (3, 8, 8))


def test_deep_linear_net_product_is_loose_but_sound():
    torch.manual_seed(0)
    layers = [nn.Linear(10, 10, bias=False).double() for _ in range(12)]
    net = nn.Sequential(*layers)
    product = lipschitz_bound(net, (10,), method="exact")
    with torch.no_grad():
        total = layers[0].weight.T
        for layer in layers[1:]:
            total = total @ layer.weight.T
    true = float(torch.linalg.matrix_norm(total, 2))
    exact_factors = [float(torch.linalg.matrix_norm(layer.weight.detach(), 2)) for layer in layers]
    assert product.value >= true
    assert product.value == pytest.approx(math.prod(exact_factors), rel=1e-12)
    assert product.value > 2 * true  # the layer-wise product is loose on deep linear nets


def test_residual_block_bound_and_shape_mismatch():
    block = Residual(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))).double()
    net = nn.Sequential(Normalize([0.0] * 4, [1.0] * 4), block, nn.ReLU(), nn.Linear(4, 2)).double()
    bound = lipschitz_bound(net, (4,))
    assert bound.value >= max_jacobian_norm(net, (4,))
    assert "1.branch.0" in bound.details["module"].tolist()
    bad = Residual(nn.Linear(4, 3))
    with pytest.raises(ValueError, match="Residual"):
        lipschitz_bound(bad, (4,))


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(2, 3, 3, stride=2, padding=1),
        nn.Conv2d(2, 3, 4, padding="same"),
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="circular"),
        nn.Conv2d(4, 4, 3, padding=1, groups=2),
        nn.Conv2d(2, 3, 5, padding=0),
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
        nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1),
    ],
)
def test_single_conv_layers(conv):
    conv = conv.double()
    shape = (conv.in_channels, 7, 7)
    bound = lipschitz_bound(conv, shape)
    with torch.no_grad():
        out = conv(torch.zeros(1, *shape, dtype=torch.float64))
    assert bound.details["output_shape"].iloc[0] == str(tuple(out.shape[1:]))
    # a conv with bias is affine: its Lipschitz constant is the norm of the linear part
    linear = lambda t: conv(t) - conv(torch.zeros_like(t))  # noqa: E731
    n = math.prod(shape)
    with torch.no_grad():
        columns = linear(torch.eye(n, dtype=torch.float64).reshape(n, *shape)).reshape(n, -1)
    exact = float(torch.linalg.matrix_norm(columns.T, 2))
    assert bound.value >= exact
    assert bound.value <= 3 * exact + 1e-9  # sanity: not absurdly loose


def test_refuses_unsupported_conv_options():
    with pytest.raises(ValueError, match="reflect"):
        lipschitz_bound(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), (1, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        lipschitz_bound(nn.Conv2d(2, 1, 3), (3, 5, 5))
