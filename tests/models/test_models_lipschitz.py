"""Lipschitz networks by name: body bound ≈ 1/min(std), sound against Jacobians, trainable, rebuildable."""

import pytest
import torch

from stablecore.blocks import ChannelPad
from stablecore.layers import AOLLinear
from stablecore.models import build_model, model_config, rebuild_model
from stablecore.spectral import lipschitz_bound

FAMILIES = ["aol", "sll", "cpl", "sr"]


@pytest.mark.parametrize("family", FAMILIES)
def test_body_is_one_lipschitz_up_to_normalize_and_rounding(family):
    model = build_model(family, input_shape=(2,), num_classes=3, std=[0.5, 0.8], width=16, depth=2, seed=0)
    body = lipschitz_bound(model[:-1], (2,))
    assert body.kind == "upper_bound"
    assert body.value <= 2.0 * (1 + 1e-5)  # 1/min(std) = 2, every layer is 1-Lipschitz
    x = torch.randn(8, 2, dtype=torch.float64)
    net = model.double()
    worst = max(
        float(torch.linalg.matrix_norm(torch.autograd.functional.jacobian(lambda t: net(t[None])[0], xi), 2))
        for xi in x
    )
    assert lipschitz_bound(net, (2,)).value >= worst


@pytest.mark.parametrize("family", FAMILIES)
def test_images_rebuild_and_train_step(family):
    model = build_model(family, input_shape=(1, 8, 8), num_classes=10, width=8, depth=1, head="aol", seed=1)
    rebuilt = rebuild_model(model_config(model))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), torch.arange(4))
        loss.backward()
        opt.step()
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize(("key", "value"), [("width", 7), ("depth", 0), ("head", "softmax")])
def test_bad_config(key, value):
    with pytest.raises(ValueError, match=key):
        build_model("sll", **{key: value})


# ----------------------------------------------------------------------------------- conv layout
@pytest.mark.parametrize("family", FAMILIES)
def test_conv_layout_bound_dominates_jacobians_and_rebuilds(family):
    model = build_model(
        family, input_shape=(1, 8, 8), num_classes=4, std=[0.5], layout="conv",
        width=4, depth=2, dense_depth=1, dense_inner=6, pool=2, seed=0,
    )  # fmt: skip
    kinds = [type(m).__name__ for m in model]
    assert kinds[:2] == ["Normalize", "ChannelPad"] and "AvgPool2d" in kinds
    body = lipschitz_bound(model[:-1], (1, 8, 8))
    assert body.kind == "upper_bound" and body.value <= 2.0 * (1 + 1e-4)  # 1/min(std) = 2
    net = model.double()
    g = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(4):
        x = torch.rand(1, 8, 8, dtype=torch.float64, generator=g)
        jac = torch.autograd.functional.jacobian(lambda t: net(t[None])[0], x).reshape(4, -1)
        worst = max(worst, float(torch.linalg.matrix_norm(jac, 2)))
    assert 0 < worst <= lipschitz_bound(net, (1, 8, 8)).value
    rebuilt = rebuild_model(model_config(model)).double()
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(rebuilt(x), net(x), rtol=0, atol=0)


def test_paper_sizes_match_reference_parameter_counts():
    # SLL "small" on CIFAR-10: 41M parameters (Araujo et al. 2023, docs/chapters/ch03.md §4.2:
    # "SLL Small (41M)")
    model = build_model("sll", input_shape=(3, 32, 32), num_classes=10, layout="conv", size="small")
    n = sum(p.numel() for p in model.parameters())
    assert 40.5e6 < n < 42.5e6
    assert sum(isinstance(m, torch.nn.Module) and type(m).__name__ == "SLLConv2d" for m in model) == 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"layout": "grid"}, "layout"),
        ({"layout": "conv", "size": "huge"}, "size"),
        ({"size": "small"}, "layout='conv'"),
        ({"layout": "conv", "input_shape": (64,)}, "input_shape"),
        ({"layout": "conv", "input_shape": (1, 8, 8), "pool": 3}, "pool"),
        ({"layout": "conv", "input_shape": (5, 8, 8), "width": 4}, "width"),
        ({"layout": "conv", "input_shape": (1, 8, 8), "kernel_size": 2}, "kernel_size"),
    ],
)
def test_conv_layout_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model("sll", **kwargs)


def test_cpl_refuses_untranscribed_paper_sizes():
    with pytest.raises(ValueError, match="not transcribed"):
        build_model("cpl", input_shape=(3, 32, 32), layout="conv", size="large")


def test_maxmin_families_round_odd_preset_width_up():
    model = build_model("sr", input_shape=(3, 32, 32), num_classes=10, layout="conv", size="small", depth=1)
    assert model.pad_channels.channels == 46


# ----------------------------------------------------------------------------------- dense lift / inner width
@pytest.mark.parametrize("family", ["sll", "cpl"])
def test_dense_pad_lift_thin_blocks_bound_dominates_jacobians(family):
    model = build_model(
        family, input_shape=(1, 2, 2), num_classes=3, std=[0.5], width=6, depth=3, dense_inner=3,
        lift="pad", seed=0,
    )  # fmt: skip
    assert isinstance(model.lift, ChannelPad) and model.lift.channels == 6
    blocks = [getattr(model, f"block{i}") for i in range(3)]
    assert all(b.weight.shape == (3, 6) for b in blocks)  # dense_inner rows, width features
    assert model(torch.rand(5, 1, 2, 2)).shape == (5, 3)
    body = lipschitz_bound(model[:-1], (1, 2, 2))
    assert body.kind == "upper_bound" and body.value <= 2.0 * (1 + 1e-4)  # 1/min(std) = 2
    net = model.double()
    g = torch.Generator().manual_seed(1)
    worst = 0.0
    for _ in range(6):
        x = torch.rand(1, 2, 2, dtype=torch.float64, generator=g)
        jac = torch.autograd.functional.jacobian(lambda t: net[:-1](t[None])[0], x).reshape(6, -1)
        worst = max(worst, float(torch.linalg.matrix_norm(jac, 2)))
    assert 0 < worst <= body.value
    rebuilt = rebuild_model(model_config(model)).double()
    rebuilt.load_state_dict(net.state_dict())
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(rebuilt(x), net(x), rtol=0, atol=0)


@pytest.mark.parametrize("family", ["sll", "cpl"])
def test_dense_pad_lift_every_parameter_gets_a_gradient(family):
    model = build_model(
        family, input_shape=(4,), num_classes=3, width=6, depth=2, dense_inner=5, lift="pad", seed=2
    )
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    torch.nn.functional.cross_entropy(model(x), torch.arange(16) % 3).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_dense_default_lift_is_aol_and_inner_defaults_to_width():
    model = build_model("sll", input_shape=(4,), num_classes=2, width=6, depth=1, seed=0)
    assert isinstance(model.lift, AOLLinear) and model.block0.weight.shape == (6, 6)


@pytest.mark.parametrize(
    ("family", "kwargs", "match"),
    [
        ("sll", {"lift": "orthogonal"}, "lift"),
        ("cpl", {"lift": "pad", "width": 2}, "width"),  # fewer than the 4 input features
        ("sll", {"dense_inner": 0}, "dense_inner"),
        ("aol", {"lift": "pad"}, "lift"),
        ("sr", {"dense_inner": 8}, "dense_inner"),
        ("sll", {"layout": "conv", "input_shape": (1, 8, 8), "lift": "pad"}, "lift"),
    ],
)
def test_dense_lift_validation(family, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_model(family, **{"input_shape": (4,), **kwargs})
