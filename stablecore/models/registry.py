"""Model registry: ``build_model(name, **config)``, ``model_config(model)``, ``rebuild_model(config)``.

A model builder is a function registered with :func:`register_model` that takes the common keys
``input_shape``, ``num_classes``, ``mean`` and ``std`` (with defaults) plus its own keyword arguments and
returns an ``nn.Sequential`` whose first module is a :class:`~stablecore.blocks.Normalize`.

:func:`build_model` checks the config keys against the builder's signature, resolves the common keys
(``mean``/``std`` default to zeros/ones of ``input_shape[0]`` channels), handles the optional ``seed``
(initialisation under ``torch.random.fork_rng``, the global RNG is left untouched) and attaches the full
resolved, JSON-serialisable config to the model as ``model._stablecore_config``, so that
``rebuild_model(model_config(model))`` rebuilds the same architecture.

Structure rule: models are made only of ``nn.Sequential``, :class:`~stablecore.blocks.Residual` and leaf
modules that :func:`stablecore.spectral.network.lipschitz_bound` understands (no custom ``forward``).
"""

from __future__ import annotations

import copy
import inspect
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from stablecore.blocks import Normalize

__all__ = [
    "ACTIVATIONS",
    "COMMON_KEYS",
    "CONFIG_ATTR",
    "MODELS",
    "build_model",
    "check_bool",
    "check_int_sequence",
    "check_positive_int",
    "check_positive_number",
    "make_activation",
    "model_config",
    "rebuild_model",
    "register_model",
]

ModelBuilder = Callable[..., nn.Sequential]

#: name -> builder; filled by :func:`register_model` (``stablecore.models`` imports every model module).
MODELS: dict[str, ModelBuilder] = {}

#: Attribute under which :func:`build_model` stores the resolved config on the model.
CONFIG_ATTR = "_stablecore_config"

#: Keys every builder accepts (``seed`` is handled by :func:`build_model` itself).
COMMON_KEYS: tuple[str, ...] = ("input_shape", "num_classes", "mean", "std")

#: Activation names accepted by the ``activation`` config key.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
}


# --------------------------------------------------------------------------------------------------
# validation helpers shared by the model modules
# --------------------------------------------------------------------------------------------------
def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def check_positive_int(value: Any, key: str) -> int:
    """Return ``value`` as ``int`` if it is an integer ≥ 1 (bools rejected), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{key} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{key} must be >= 1, got {value}")
    return int(value)


def check_positive_number(value: Any, key: str) -> float | int:
    """Return ``value`` if it is a finite real number > 0 (bools rejected), else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key} must be a number, got {type(value).__name__}")
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{key} must be a finite number > 0, got {value}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def check_bool(value: Any, key: str) -> bool:
    """Return ``value`` if it is a bool, else raise ``TypeError``."""
    if not isinstance(value, bool):
        raise TypeError(f"{key} must be a bool, got {type(value).__name__}")
    return value


def check_int_sequence(value: Any, key: str, *, allow_empty: bool = True) -> tuple[int, ...]:
    """Return ``value`` as a tuple of ints ≥ 1 (a list or tuple), else raise."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{key} must be a sequence of ints, got {type(value).__name__}")
    if not allow_empty and len(value) == 0:
        raise ValueError(f"{key} must not be empty")
    return tuple(check_positive_int(v, f"{key}[{i}]") for i, v in enumerate(value))


def _check_float_sequence(value: Any, key: str, channels: int) -> list[float]:
    if isinstance(value, torch.Tensor):
        value = value.detach().flatten().tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{key} must be a sequence of numbers, got {type(value).__name__}")
    out = []
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(f"{key}[{i}] must be a number, got {type(v).__name__}")
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{key}[{i}] must be finite, got {v}")
        out.append(float(v))
    if len(out) not in (1, channels):
        raise ValueError(f"{key} must have 1 or {channels} (= input_shape[0]) entries, got {len(out)}")
    return out


def _resolve_common(config: dict[str, Any]) -> None:
    """Validate and resolve the common keys in place (input_shape, num_classes, mean, std, seed)."""
    shape = config["input_shape"]
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    config["input_shape"] = list(check_int_sequence(shape, "input_shape", allow_empty=False))
    config["num_classes"] = check_positive_int(config["num_classes"], "num_classes")
    channels = config["input_shape"][0]
    for key, fill in (("mean", 0.0), ("std", 1.0)):
        value = config[key]
        config[key] = [fill] * channels if value is None else _check_float_sequence(value, key, channels)
    if any(s <= 0 for s in config["std"]):
        raise ValueError(f"std must be > 0, got {config['std']}")
    seed = config["seed"]
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        config["seed"] = int(seed)


def _to_json(value: Any) -> Any:
    """Tuples -> lists and numeric scalars -> int/float, recursively (the stored config is JSON)."""
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):  # numpy / torch integer scalars
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


# --------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------
def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator registering a builder under ``name`` in :data:`MODELS`.

    The builder must accept the keyword arguments ``input_shape``, ``num_classes``, ``mean`` and ``std``
    (give them defaults; ``mean``/``std`` arrive resolved as lists of floats), every other parameter must
    have a default, and it must return an ``nn.Sequential`` starting with a ``Normalize(mean, std)``.

    Example:
        >>> @register_model("tiny")  # doctest: +SKIP
        ... def tiny(input_shape=(2,), num_classes=2, mean=None, std=None, *, hidden=(8,)): ...
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")

    def decorator(fn: ModelBuilder) -> ModelBuilder:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered")
        params = inspect.signature(fn).parameters
        missing = [k for k in COMMON_KEYS if k not in params]
        if missing:
            raise TypeError(f"builder for {name!r} must accept the common config keys {missing}")
        bad = [
            p.name
            for p in params.values()
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY) or p.name == "seed"
        ]
        if bad:
            raise TypeError(f"builder for {name!r} has unsupported parameters {bad}")
        MODELS[name] = fn
        return fn

    return decorator


def build_model(name: str, **config: Any) -> nn.Sequential:
    """Build the registered model ``name`` from its config.

    Args:
        name: one of :data:`MODELS` (``"mlp"``, ``"convnet"``, ``"resnet20"``, ``"resnet110"``,
            ``"resnet18"``, ...).
        **config: the common keys ``input_shape`` (``(d,)`` for vectors, ``(C, H, W)`` for images),
            ``num_classes``, ``mean``, ``std`` (default zeros/ones of ``input_shape[0]`` channels),
            ``seed`` (optional int: initialise under a local RNG, global RNG untouched), plus the
            model's own keys (see each builder's docstring).

    Returns:
        An ``nn.Sequential`` whose first module is ``Normalize(mean, std)``, carrying its resolved config
        (read it with :func:`model_config`).

    Raises:
        ValueError: unknown ``name`` (the message lists the valid names) or an invalid value.
        TypeError: an unknown config key (named in the message) or a value of the wrong type.

    Example:
        >>> model = build_model("mlp", input_shape=(2,), num_classes=3, hidden=[16], seed=0)
        >>> model_config(model)["hidden"]
        [16]
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid names: {sorted(MODELS)}")
    builder = MODELS[name]
    params = inspect.signature(builder).parameters
    valid = [*params, "seed"]
    unknown = [k for k in config if k not in valid]
    if unknown:
        raise TypeError(f"build_model({name!r}) got unknown config key(s) {unknown}; valid keys: {valid}")
    resolved: dict[str, Any] = {}
    for key, p in params.items():
        if key in config:
            resolved[key] = config[key]
        elif p.default is inspect.Parameter.empty:
            raise TypeError(f"build_model({name!r}) is missing the required config key {key!r}")
        else:
            resolved[key] = p.default
    resolved["seed"] = config.get("seed")
    _resolve_common(resolved)
    kwargs = {k: v for k, v in resolved.items() if k != "seed"}
    # builders receive tuples (immutable), the stored config holds lists (JSON)
    kwargs["input_shape"] = tuple(kwargs["input_shape"])
    if resolved["seed"] is None:
        model = builder(**kwargs)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(resolved["seed"])
            model = builder(**kwargs)
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"builder for {name!r} must return an nn.Sequential, got {type(model).__name__}")
    if len(model) == 0 or not isinstance(model[0], Normalize):
        raise TypeError(f"builder for {name!r} must return a model whose first module is Normalize")
    setattr(model, CONFIG_ATTR, {"name": name, **_to_json(resolved)})
    return model


def model_config(model: nn.Module) -> dict[str, Any]:
    """The JSON-serialisable config ``{"name": ..., **resolved config}`` of a model from :func:`build_model`.

    ``build_model(**model_config(model))`` rebuilds the same architecture (load the state_dict for the
    same weights). Accepts a model wrapped in DDP / ``torch.compile`` (looks through ``.module`` and
    ``._orig_mod``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    m: Any = model
    for _ in range(4):
        if hasattr(m, CONFIG_ATTR):
            return copy.deepcopy(getattr(m, CONFIG_ATTR))
        m = getattr(m, "module", None) or getattr(m, "_orig_mod", None)
        if m is None:
            break
    raise ValueError(f"model ({type(model).__name__}) carries no config: build it with build_model")


def rebuild_model(config: Mapping[str, Any]) -> nn.Sequential:
    """``build_model(**config)`` for a config from :func:`model_config` (must contain ``"name"``)."""
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping, got {type(config).__name__}")
    if "name" not in config:
        raise ValueError("config must contain the key 'name'")
    return build_model(**dict(config))
