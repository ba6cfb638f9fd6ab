"""build_model: output shapes, Normalize first layer, parameter counts, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from stablecore.blocks import Normalize, Residual
from stablecore.models import MODELS, build_model, model_config, rebuild_model, register_model

NAMES = ["mlp", "convnet", "resnet20", "resnet110", "resnet18"]


def test_registry_names() -> None:
    assert set(NAMES) <= set(MODELS)


@pytest.mark.parametrize(
    ("name", "input_shape", "config"),
    [
        ("mlp", (2,), {}),
        ("mlp", (1, 8, 8), {"hidden": (16, 16, 16), "activation": "gelu"}),
        ("mlp", (3, 32, 32), {"hidden": (), "bias": False}),
        ("convnet", (1, 8, 8), {}),
        ("convnet", (1, 28, 28), {"pool": "avg", "batchnorm": True}),
        ("convnet", (3, 32, 32), {"channels": (4, 8, 8), "pool": None, "kernel_size": 5}),
        ("convnet", (3, 9, 11), {"channels": (4, 8), "hidden": ()}),
        ("resnet20", (1, 8, 8), {"width": 0.25}),
        ("resnet20", (1, 28, 28), {"width": 0.25, "batchnorm": False}),
        ("resnet20", (3, 32, 32), {"width": 0.25}),
        ("resnet20", (2, 11, 9), {"width": 0.25, "activation": "elu"}),
        ("resnet18", (3, 32, 32), {"width": 0.125}),
        ("resnet18", (1, 8, 8), {"width": 0.25}),
        ("resnet110", (3, 8, 8), {}),
    ],
)
def test_output_shape(name: str, input_shape: tuple[int, ...], config: dict) -> None:
    torch.manual_seed(0)
    model = build_model(name, input_shape=input_shape, num_classes=7, **config)
    out = model(torch.rand(3, *input_shape))
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_float64_forward(name: str) -> None:
    shape = (2,) if name == "mlp" else (1, 8, 8)
    cfg = {"width": 0.25} if name.startswith("resnet") else {}
    model = build_model(name, input_shape=shape, num_classes=3, seed=0, **cfg).to(dtype=torch.float64)
    out = model.eval()(torch.rand(2, *shape, dtype=torch.float64))
    assert out.dtype == torch.float64 and out.shape == (2, 3)


@pytest.mark.parametrize("name", NAMES)
def test_normalize_is_first_and_applies_mean_std(name: str) -> None:
    shape = (2,) if name == "mlp" else (3, 8, 8)
    mean, std = [0.1, 0.2, 0.3][: shape[0]], [0.5, 0.25, 2.0][: shape[0]]
    cfg = {"width": 0.25} if name.startswith("resnet") else {}
    model = build_model(name, input_shape=shape, num_classes=3, mean=mean, std=std, seed=1, **cfg).eval()
    first = model[0]
    assert isinstance(first, Normalize)
    assert first.mean.tolist() == pytest.approx(mean) and first.std.tolist() == pytest.approx(std)
    x = torch.rand(4, *shape)
    view = (1, -1) + (1,) * (len(shape) - 1)
    manual = model[1:]((x - torch.tensor(mean).view(view)) / torch.tensor(std).view(view))
    torch.testing.assert_close(model(x), manual)
    # defaults: zeros / ones of the input's channel count
    default = build_model(name, input_shape=shape, num_classes=3, **cfg)
    assert default[0].mean.tolist() == [0.0] * shape[0] and default[0].std.tolist() == [1.0] * shape[0]
    assert model_config(default)["mean"] == [0.0] * shape[0]


# ---------------------------------------------------------------------------------------------------
# parameter counts, computed from the architecture formula (He et al. 2016, option-B projections)
# ---------------------------------------------------------------------------------------------------
def _resnet_formula(in_c: int, widths: list[int], blocks: list[int], classes: int, bn: bool = True) -> int:
    def conv(a: int, b: int, k: int) -> int:
        return a * b * k * k + (0 if bn else b)

    def norm(c: int) -> int:
        return 2 * c if bn else 0

    total = conv(in_c, widths[0], 3) + norm(widths[0])
    c = widths[0]
    for s, (o, n) in enumerate(zip(widths, blocks)):
        for b in range(n):
            stride = 2 if s > 0 and b == 0 else 1
            total += conv(c, o, 3) + norm(o) + conv(o, o, 3) + norm(o)
            if stride != 1 or c != o:
                total += conv(c, o, 1) + norm(o)  # option B projection
            c = o
    return total + c * classes + classes


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "config", "widths", "blocks"),
    [
        ("resnet20", {}, [16, 32, 64], [3, 3, 3]),
        ("resnet20", {"width": 2, "input_shape": (1, 28, 28), "num_classes": 5}, [32, 64, 128], [3, 3, 3]),
        ("resnet20", {"batchnorm": False}, [16, 32, 64], [3, 3, 3]),
        ("resnet110", {"width": 0.5}, [8, 16, 32], [18, 18, 18]),
        ("resnet18", {"width": 0.25, "num_classes": 100}, [16, 32, 64, 128], [2, 2, 2, 2]),
    ],
)
def test_resnet_parameter_count(name: str, config: dict, widths: list[int], blocks: list[int]) -> None:
    model = build_model(name, **config)
    cfg = model_config(model)
    expected = _resnet_formula(cfg["input_shape"][0], widths, blocks, cfg["num_classes"], cfg["batchnorm"])
    assert _n_params(model) == expected


def test_resnet20_count_against_literature() -> None:
    # 3x32x32, 10 classes, width 1: ≈0.27 M. Option A (zero padding) has 269,722 parameters; our option-B
    # projections add a 1x1 conv + BN at the two stage transitions: 16·32 + 2·32 and 32·64 + 2·64.
    n = _n_params(build_model("resnet20"))
    assert n == _resnet_formula(3, [16, 32, 64], [3, 3, 3], 10)
    assert n - (16 * 32 + 2 * 32) - (32 * 64 + 2 * 64) == 269_722


@pytest.mark.parametrize(("name", "depth"), [("resnet20", 20), ("resnet110", 110), ("resnet18", 18)])
def test_resnet_depth(name: str, depth: int) -> None:
    """Weighted layers on the main path (convs outside shortcuts + the head) = the nominal depth."""
    model = build_model(name, width=0.25)
    shortcut_convs = {id(m) for r in model.modules() if isinstance(r, Residual) for m in r.shortcut.modules()}
    main = [
        m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in shortcut_convs
    ]
    assert len(main) == depth


def test_activation_after_residual_is_separate_module() -> None:
    model = build_model("resnet20", width=0.25)
    blocks = [b for stage in (model.stage1, model.stage2, model.stage3) for b in stage]
    assert len(blocks) == 9
    for block in blocks:
        assert isinstance(block[0], Residual) and isinstance(block[1], nn.ReLU)


def test_mlp_and_convnet_layers() -> None:
    mlp = build_model("mlp", input_shape=(1, 8, 8), num_classes=10, hidden=[32, 16], activation="softplus")
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 16), (16, 10)]
    assert isinstance(mlp[1], nn.Flatten) and sum(isinstance(m, nn.Softplus) for m in mlp) == 2
    flat = build_model("mlp", input_shape=(2,), hidden=(8,), bias=False)
    assert not any(isinstance(m, nn.Flatten) for m in flat)
    assert all(m.bias is None for m in flat if isinstance(m, nn.Linear))
    conv = build_model("convnet", input_shape=(1, 28, 28), channels=(4, 8), hidden=(16,), batchnorm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in conv) == 2
    assert all(m.bias is None for m in conv if isinstance(m, nn.Conv2d))
    head_in = next(m for m in conv if isinstance(m, nn.Linear)).in_features
    assert head_in == 8 * 7 * 7


# ---------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------
def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="resnet20") as info:
        build_model("resnet9000")
    for name in NAMES:
        assert name in str(info.value)
    with pytest.raises(TypeError):
        build_model(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "config", "exc", "key"),
    [
        ("mlp", {"hiden": (4,)}, TypeError, "hiden"),
        ("resnet20", {"channels": (4,)}, TypeError, "channels"),
        ("convnet", {"width": 2}, TypeError, "width"),
        ("mlp", {"activation": "swish"}, ValueError, "activation"),
        ("mlp", {"hidden": "64"}, TypeError, "hidden"),
        ("mlp", {"hidden": (4, 0)}, ValueError, "hidden"),
        ("mlp", {"bias": 1}, TypeError, "bias"),
        ("mlp", {"num_classes": 0}, ValueError, "num_classes"),
        ("mlp", {"num_classes": 2.5}, TypeError, "num_classes"),
        ("mlp", {"input_shape": ()}, ValueError, "input_shape"),
        ("mlp", {"input_shape": (2, -1)}, ValueError, "input_shape"),
        ("mlp", {"mean": [0.0, 0.0, 0.0]}, ValueError, "mean"),
        ("mlp", {"std": [1.0, 0.0]}, ValueError, "std"),
        ("mlp", {"std": "ab"}, TypeError, "std"),
        ("mlp", {"seed": -1}, ValueError, "seed"),
        ("mlp", {"seed": 1.5}, TypeError, "seed"),
        ("convnet", {"input_shape": (2,)}, ValueError, "input_shape"),
        ("convnet", {"pool": "min"}, ValueError, "pool"),
        ("convnet", {"kernel_size": 0}, ValueError, "kernel_size"),
        ("convnet", {"input_shape": (1, 8, 8), "channels": (4, 4, 4, 4)}, ValueError, "input_shape"),
        ("resnet18", {"width": 0}, ValueError, "width"),
        ("resnet110", {"width": "big"}, TypeError, "width"),
        ("resnet20", {"batchnorm": "yes"}, TypeError, "batchnorm"),
        ("resnet20", {"input_shape": (3, 32)}, ValueError, "input_shape"),
    ],
)
def test_invalid_config(name: str, config: dict, exc: type[Exception], key: str) -> None:
    with pytest.raises(exc, match=key):
        build_model(name, **config)


def test_model_config_and_rebuild_errors() -> None:
    with pytest.raises(ValueError, match="build_model"):
        model_config(nn.Sequential(nn.Linear(2, 2)))
    with pytest.raises(TypeError):
        model_config({"name": "mlp"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        rebuild_model({"hidden": [4]})


def test_register_model_extension_and_errors() -> None:
    @register_model("_test_tiny")
    def tiny(input_shape=(2,), num_classes=2, mean=None, std=None, *, hidden: int = 4) -> nn.Sequential:
        return nn.Sequential(Normalize(mean, std), nn.Linear(input_shape[0], num_classes))

    try:
        model = build_model("_test_tiny", num_classes=3)
        assert model_config(model) == {
            "name": "_test_tiny", "input_shape": [2], "num_classes": 3, "mean": [0.0, 0.0],
            "std": [1.0, 1.0], "hidden": 4, "seed": None,
        }  # fmt: skip
        with pytest.raises(ValueError, match="already registered"):
            register_model("_test_tiny")(tiny)
    finally:
        MODELS.pop("_test_tiny", None)

    with pytest.raises(TypeError, match="mean"):
        register_model("_test_bad")(lambda input_shape, num_classes: nn.Sequential())
    assert "_test_bad" not in MODELS

    @register_model("_test_no_normalize")
    def no_norm(input_shape=(2,), num_classes=2, mean=None, std=None) -> nn.Sequential:
        return nn.Sequential(nn.Linear(2, 2))

    try:
        with pytest.raises(TypeError, match="Normalize"):
            build_model("_test_no_normalize")
    finally:
        MODELS.pop("_test_no_normalize", None)
