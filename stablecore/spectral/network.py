"""Lipschitz upper bounds of whole networks by walking their structure.

.. math::

    L(f_n \\circ \\dots \\circ f_1) \\le \\prod_i L(f_i), \\qquad
    L(x \\mapsto s(x) + g(x)) \\le L(s) + L(g)

:func:`lipschitz_bound` walks ``nn.Sequential`` and :class:`~stablecore.blocks.Residual`
containers and asks a registry for each leaf module: ``register(module_type)(fn)`` with
``fn(module, input_shape, **options) -> (Bound, output_shape)``; ``input_shape`` is the per-example
shape (no batch dimension). Lookup is by exact type: a subclass with its own ``forward`` could compute
anything, so it must be registered explicitly. A module with no entry is refused with its path and
type; nothing is guessed. Reference: Szegedy et al. 2014 (layer-wise product); docs/chapters/ch01.md §2.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.nn.utils import parametrize

from stablecore.blocks import Residual
from stablecore.limits import check_memory
from stablecore.types import Bound, product_bound, sum_bound

__all__ = ["LeafBound", "check_input_shape", "lipschitz_bound", "register", "registered_types"]

Shape = tuple[int, ...]
LeafBound = Callable[..., tuple[Bound, Shape]]
_REGISTRY: dict[type, LeafBound] = {}


def register(module_type: type) -> Callable[[LeafBound], LeafBound]:
    """Decorator registering ``fn(module, input_shape, **options) -> (Bound, output_shape)`` for
    modules of exactly ``module_type``. ``options`` carries ``lipschitz_bound``'s keywords (e.g.
    ``method``, ``n_iter``); a function may ignore those it does not use. Re-registering replaces.

    Example:
        >>> import torch
        >>> class Double(torch.nn.Module):
        ...     def forward(self, x):
        ...         return 2 * x
        >>> @register(Double)
        ... def _double(module, input_shape, **options):
        ...     return Bound(2.0, "exact", "closed form"), input_shape
        >>> lipschitz_bound(torch.nn.Sequential(Double(), Double()), (3,)).value >= 4.0
        True
    """
    if not isinstance(module_type, type) or not issubclass(module_type, nn.Module):
        raise TypeError(f"module_type must be an nn.Module subclass, got {module_type!r}")

    def decorator(fn: LeafBound) -> LeafBound:
        if not callable(fn):
            raise TypeError("fn must be callable (module, input_shape, **options) -> (Bound, shape)")
        _REGISTRY[module_type] = fn
        return fn

    return decorator


def registered_types() -> list[type]:
    """The module types :func:`lipschitz_bound` knows (importing ``stablecore.layers`` adds more)."""
    return sorted(_REGISTRY, key=lambda t: f"{t.__module__}.{t.__qualname__}")


def _lookup(module: nn.Module) -> LeafBound | None:
    """The registered function for ``module``'s exact type. A module with a torch parametrization has
    a generated class ``Parametrized<Cls>`` whose only base is ``Cls``: it is looked up as ``Cls`` (the
    leaf functions read ``module.weight``, i.e. the parametrized weight the module really uses)."""
    fn = _REGISTRY.get(type(module))
    if fn is None and parametrize.is_parametrized(module):
        fn = _REGISTRY.get(type(module).__bases__[0])
    return fn


def check_input_shape(input_shape: Any) -> Shape:
    """``input_shape`` (an int or a sequence of positive ints, no batch dimension) as a tuple; raises
    ``TypeError`` / ``ValueError`` naming ``input_shape``."""
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list, torch.Size)) or not all(
        isinstance(s, int) and not isinstance(s, bool) for s in input_shape
    ):
        raise TypeError(f"input_shape must be a tuple of ints (no batch dimension), got {input_shape!r}")
    shape = tuple(input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {input_shape!r}")
    return shape


def _type_name(module: nn.Module) -> str:
    """The class name, without the ``Parametrized`` wrapper class of ``torch.nn.utils.parametrize``."""
    cls = type(module)
    if parametrize.is_parametrized(module) and cls.__name__.startswith("Parametrized"):
        cls = cls.__bases__[0]
    return cls.__name__


def _walk(module: nn.Module, path: str, shape: Shape, rows: list[dict], options: dict) -> tuple[Bound, Shape]:
    if type(module) is nn.Sequential or (
        isinstance(module, nn.Sequential)
        and type(module) not in _REGISTRY
        and type(module).forward is nn.Sequential.forward
    ):
        bounds = []
        for name, child in module.named_children():
            bound, shape = _walk(child, f"{path}.{name}" if path else name, shape, rows, options)
            bounds.append(bound)
        if not bounds:
            return Bound(1.0, "exact", "identity"), shape
        return product_bound(bounds, "product"), shape
    if type(module) is Residual:
        prefix = f"{path}." if path else ""
        b_branch, out_branch = _walk(module.branch, prefix + "branch", shape, rows, options)
        b_short, out_short = _walk(module.shortcut, prefix + "shortcut", shape, rows, options)
        if out_branch != out_short:
            raise ValueError(
                f"Residual {path or '(root)'}: branch output {out_branch} and shortcut output "
                f"{out_short} differ"
            )
        return sum_bound([b_short, b_branch], "residual sum"), out_branch
    fn = _lookup(module)
    _check_example_memory(shape, path)
    if fn is None:
        raise ValueError(
            f"cannot bound module {path or '(root)'!r} of type "
            f"{type(module).__module__}.{type(module).__qualname__}: "
            f"no Lipschitz bound is registered for it (register one with "
            f"stablecore.spectral.register({type(module).__name__}))"
        )
    bound, out_shape = fn(module, shape, **options)
    if not isinstance(bound, Bound):
        raise TypeError(
            f"the bound registered for {type(module).__name__} returned {type(bound).__name__}, not Bound"
        )
    out_shape = tuple(int(s) for s in out_shape)
    rows.append(
        {
            "module": path or "(root)",
            "type": _type_name(module),
            "input_shape": str(shape),
            "output_shape": str(out_shape),
            "value": bound.value,
            "kind": bound.kind,
            "method": bound.method,
            "n_iter": bound.n_iter,
            "history": list(bound.history),
        }
    )
    return bound, out_shape


def _leaf_options() -> set[str]:
    """Keywords a leaf function can use: ``n_iter`` (read by the torch leaves and the stablecore
    layers through ``**options``) and every keyword a registered function names in its signature."""
    names = {"n_iter"}
    for fn in _REGISTRY.values():
        try:
            params = list(inspect.signature(fn).parameters.values())[2:]
        except (TypeError, ValueError):  # a builtin without a signature names nothing
            continue
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return names


def _check_options(function: str, options: dict[str, Any]) -> None:
    """``TypeError`` for a keyword no leaf function uses (``device=`` would otherwise be ignored)."""
    known = _leaf_options()
    for name in options:
        if name not in known:
            raise TypeError(
                f"{function}() got an unexpected keyword argument {name!r} (the options passed to the "
                f"leaf bounds are: {', '.join(sorted(known))})"
            )


def _check_example_memory(shape: Shape, path: str) -> None:
    """Refuse an input shape whose single float64 example does not fit the memory limit (leaves may
    build one, e.g. for a dry forward pass), before anything is allocated."""
    check_memory(
        8 * math.prod(shape),
        argument="input_shape",
        what=f"one float64 example of shape {shape} at {path or '(root)'}",
    )


def lipschitz_bound(model: nn.Module, input_shape: Any, *, method: str = "gram", **options: Any) -> Bound:
    """ℓ2 Lipschitz bound of ``model`` on inputs of per-example shape ``input_shape``.

    Args:
        model: built from ``nn.Sequential``, :class:`~stablecore.blocks.Residual` and registered leaves.
        input_shape: per-example input shape, e.g. ``(2,)`` or ``(3, 32, 32)`` (the spatial size
            matters: convolution norms depend on it).
        method: how layer norms are computed: ``"gram"`` (upper bounds), ``"exact"`` (exact per layer;
            the product is still an upper bound), ``"power"`` (lower bounds per layer, so the whole is
            only an ``estimate``).
        **options: passed to every leaf function: ``n_iter``, and any keyword a registered leaf
            function names in its signature (that is why the keywords are open). Any other keyword
            (e.g. ``device=``) is refused with a ``TypeError``: it would be silently ignored.

    Returns:
        A :class:`~stablecore.types.Bound` whose ``details`` is a DataFrame with one row per leaf
        module (module path, type, input/output shape, value, kind, method, n_iter, history).

    Raises:
        TypeError: ``model`` is not a module, ``input_shape`` not a tuple of ints, an unknown keyword.
        ValueError: a module has no registered bound (its path and type are named), BatchNorm in
            train mode, shapes that do not fit, or an input shape whose single float64 example would
            exceed the memory limit (:func:`stablecore.limits.check_memory`).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    shape = check_input_shape(input_shape)
    import stablecore.spectral.leaves  # noqa: F401  (registers the torch leaf modules)

    _check_options("lipschitz_bound", options)

    rows: list[dict] = []
    bound, _ = _walk(model, "", shape, rows, {"method": method, **options})
    table = pd.DataFrame(
        rows,
        columns=[
            "module",
            "type",
            "input_shape",
            "output_shape",
            "value",
            "kind",
            "method",
            "n_iter",
            "history",
        ],
    )
    return Bound(bound.value, bound.kind, f"layerwise({method})", n_iter=bound.n_iter, details=table)


def layer_norm(module: nn.Module, input_shape: Any, **options: Any) -> Bound:
    """Spectral norm of one ``nn.Linear`` / ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (reads padding mode,
    stride and groups from the module). ``input_shape`` is the per-example input shape, e.g.
    ``(C, H, W)`` (the conv norm depends on the spatial size); ``options`` as in
    :func:`lipschitz_bound` (``method``, ``n_iter``)."""
    if not isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        raise TypeError(
            f"module must be nn.Linear, nn.Conv2d or nn.ConvTranspose2d, got {type(module).__name__}"
        )
    import stablecore.spectral.leaves  # noqa: F401

    _check_options("layer_norm", {k: v for k, v in options.items() if k != "method"})
    shape = check_input_shape(input_shape)
    _check_example_memory(shape, "")
    bound, _ = _lookup(module)(module, shape, **{"method": "gram", **options})
    return bound
