"""Structure rule (only Sequential / Residual / allowed leaves), config round-trip, seeding."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stablecore.blocks import Normalize, Residual
from stablecore.models import ACTIVATIONS, build_model, model_config, rebuild_model

ALLOWED_LEAVES: tuple[type[nn.Module], ...] = (
    Normalize,
    nn.Linear,
    nn.Conv2d,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.Tanh,
    nn.GELU,
    nn.Softplus,
    nn.ELU,
    nn.Sigmoid,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Dropout,
)

CASES: dict[str, dict] = {
    "mlp": {"input_shape": (1, 8, 8), "num_classes": 3, "hidden": (16, 8), "activation": "tanh"},
    "convnet": {
        "input_shape": (1, 8, 8),
        "num_classes": 3,
        "channels": (4, 8),
        "hidden": (8,),
        "batchnorm": True,
    },
    "resnet20": {"input_shape": (3, 8, 8), "num_classes": 4, "width": 0.25},
    "resnet110": {"input_shape": (3, 8, 8), "num_classes": 4, "width": 0.25},
    "resnet18": {"input_shape": (3, 8, 8), "num_classes": 4, "width": 0.25, "mean": [0.5], "std": [0.2]},
}


def walk(module: nn.Module, path: str = "model") -> int:
    """Assert the structure rule below ``module``; return the number of leaves visited."""
    if isinstance(module, nn.Sequential):
        assert type(module).forward is nn.Sequential.forward, f"{path}: custom forward"
        return sum(walk(child, f"{path}.{name}") for name, child in module.named_children())
    if isinstance(module, Residual):
        assert type(module) is Residual, f"{path}: Residual subclass"
        n = walk(module.branch, f"{path}.branch")
        if type(module.shortcut) is not nn.Identity:  # Identity = Residual's own identity shortcut
            n += walk(module.shortcut, f"{path}.shortcut")
        return n
    assert type(module) in ALLOWED_LEAVES, f"{path}: {type(module).__name__} is not an allowed leaf"
    assert not list(module.children()), f"{path}: leaf with children"
    return 1


STRUCTURE_CONFIGS = [
    *CASES.items(),
    *[("mlp", {"activation": a, "hidden": (4,)}) for a in ACTIVATIONS],
    ("mlp", {"input_shape": (2,), "hidden": ()}),
    ("convnet", {"pool": "avg"}),
    ("convnet", {"pool": None, "channels": (4,), "activation": "sigmoid"}),
    ("resnet20", {"batchnorm": False, "width": 0.25, "activation": "softplus"}),
]


@pytest.mark.parametrize(("name", "config"), STRUCTURE_CONFIGS)
def test_structure_rule(name: str, config: dict) -> None:
    model = build_model(name, **config)
    assert isinstance(model, nn.Sequential)
    assert isinstance(model[0], Normalize)
    assert walk(model) >= 2


@pytest.mark.parametrize("name", list(CASES))
def test_config_round_trip(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, **CASES[name])
    cfg = model_config(model)
    assert cfg["name"] == name and cfg["seed"] is None
    assert json.loads(json.dumps(cfg)) == cfg  # JSON-serialisable, tuples stored as lists
    for key, value in CASES[name].items():
        assert cfg[key] == (list(value) if isinstance(value, tuple) else value)

    x = torch.rand(4, *CASES[name]["input_shape"])
    model.train()
    model(x)  # move the BatchNorm running statistics away from their defaults
    model.eval()

    torch.manual_seed(123)
    rebuilt = rebuild_model(json.loads(json.dumps(cfg)))
    assert model_config(rebuilt) == cfg
    assert str(rebuilt) == str(model)
    assert [(k, v.shape) for k, v in rebuilt.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), rebuilt.parameters()))
    rebuilt.load_state_dict(model.state_dict())
    rebuilt.eval()
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    again = build_model(**model_config(model))
    assert str(again) == str(model)


def _params(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["mlp", "convnet", "resnet20"])
def test_deterministic_init(name: str) -> None:
    cfg = {k: v for k, v in CASES[name].items()}
    torch.manual_seed(7)
    a = _params(build_model(name, **cfg))
    torch.manual_seed(7)
    b = _params(build_model(name, **cfg))
    assert all(torch.equal(p, q) for p, q in zip(a, b))

    # seed= initialises under a local RNG: reproducible, global RNG untouched
    state = torch.get_rng_state()
    seeded = build_model(name, seed=3, **cfg)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(_params(seeded), _params(build_model(name, seed=3, **cfg))))
    assert not all(
        torch.equal(p, q) for p, q in zip(_params(seeded), _params(build_model(name, seed=4, **cfg)))
    )
    rebuilt = rebuild_model(model_config(seeded))  # the seed is part of the config
    assert model_config(seeded)["seed"] == 3
    assert all(torch.equal(p, q) for p, q in zip(_params(seeded), _params(rebuilt)))


@settings(max_examples=15, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 8), max_size=4),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    bias=st.booleans(),
    shape=st.sampled_from([(2,), (3,), (1, 8, 8), (2, 3, 4)]),
    classes=st.integers(1, 5),
)
def test_mlp_round_trip_property(
    hidden: list[int], activation: str, bias: bool, shape: tuple[int, ...], classes: int
) -> None:
    model = build_model(
        "mlp", input_shape=shape, num_classes=classes, hidden=hidden, activation=activation, bias=bias, seed=0
    )
    walk(model)
    cfg = model_config(model)
    assert cfg["hidden"] == hidden and cfg["input_shape"] == list(shape)
    rebuilt = rebuild_model(cfg)
    x = torch.rand(2, *shape)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    assert model(x).shape == (2, classes)


def test_numpy_scalars_stored_as_python_numbers() -> None:
    np = pytest.importorskip("numpy")
    model = build_model("mlp", input_shape=(np.int64(2),), hidden=[np.int64(4)], num_classes=np.int64(3))
    cfg = model_config(model)
    assert json.loads(json.dumps(cfg)) == cfg
    assert type(cfg["hidden"][0]) is int
