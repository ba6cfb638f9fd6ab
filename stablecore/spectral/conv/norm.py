r"""Public entry points :func:`conv_norm` and :func:`conv_transpose_norm`: validation, memory check,
power-of-two scaling and a method table that sends each ``method`` to its route.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from stablecore.limits import check_memory
from stablecore.numerics import pow2_normalize, round_up, unscale_bound
from stablecore.spectral.conv.baselines import DEFAULT_LIPGRID_SAMPLES, _fantastic4, _lipgrid
from stablecore.spectral.conv.circular import (
    DEFAULT_CONV_GRAM_ITERS,
    _blocks_bytes,
    _circular_gram_bound,
    gram_norm_conv_circular,
)
from stablecore.spectral.conv.geometry import (
    ConvGeometry,
    _circular_selection,
    _pair,
    conv_geometry,
    embedding_size,
)
from stablecore.spectral.conv.kernel_space import (
    _default_toep_iters,
    _norm2toep_bound,
    _toeplitz_bytes,
    gram_norm_conv_zeros,
)
from stablecore.spectral.conv.operator import DEFAULT_MAX_ENTRIES, DEFAULT_POWER_ITERS, _exact, _power
from stablecore.spectral.dense import (
    DEFAULT_GRAM_TOL,
    DEFAULT_POWER_TOL,
    as_real_tensor,
    check_n_iter,
    check_tol,
)
from stablecore.types import Bound

CONV_METHODS = ("gram", "power", "exact", "norm2toep", "fantastic4", "lipgrid")
_TOEP_ITERS_WITH_SIZE = 3  # default norm2toep iterations when it is only a candidate (see conv_norm)


def _check_conv_memory(geom: ConvGeometry, method: str, n_iter: Any, max_entries: int) -> None:
    """Refuse (``ValueError`` naming the argument) a route whose allocation exceeds the memory limit
    (:func:`stablecore.limits.check_memory`), estimated from the arguments before anything is built."""
    kh, kw = geom.kernel_size
    p, q = max(geom.c_in_group, geom.c_out_group), min(geom.c_in_group, geom.c_out_group)
    if method == "lipgrid":
        n_iter = check_n_iter(n_iter, DEFAULT_LIPGRID_SAMPLES)
    elif method == "norm2toep" or (method == "gram" and geom.padding == "zeros"):
        toep = check_n_iter(n_iter, _default_toep_iters(kh, kw, q))
        if method == "gram" and geom.input_size is not None and n_iter is None:
            toep = min(toep, _TOEP_ITERS_WITH_SIZE)  # as in conv_norm
        check_memory(_toeplitz_bytes(geom, toep), argument="n_iter", what="the kernel-space Gram grid")
    if geom.input_size is not None and geom.output_size is not None:
        size, out = geom.input_size, geom.output_size
        padded = (size[0] + 2 * geom.pad[0]) * (size[1] + 2 * geom.pad[1])
        if method == "power":
            nbytes = 8 * 3 * (geom.c_in * padded + geom.c_out * out[0] * out[1])
            check_memory(nbytes, argument="input_size", what="the power-iteration vectors")
        elif method == "exact" and not (geom.padding == "circular" and _circular_selection(geom)[1]):
            rows = geom.c_out_group * out[0] * out[1]
            cols = geom.c_in_group * size[0] * size[1]
            if rows * cols <= max_entries:  # larger ones are refused by max_entries
                nbytes = 8 * (3 * rows * cols + 2 * min(rows, cols) ** 2 + 1024 * cols)
                check_memory(nbytes, argument="input_size", what="the explicit operator matrix")
        elif method in ("gram", "exact"):
            torus = size if geom.padding == "circular" else embedding_size(geom)
            check_memory(_blocks_bytes(geom, torus), argument="input_size", what="the FFT blocks")
    if method == "lipgrid":
        mh = mw = n_iter
        while math.pi * ((kh - 1) / mh + (kw - 1) / mw) >= 1.0:
            mh, mw = 2 * mh, 2 * mw
        nbytes = 16 * 3 * geom.groups * p * q * mh * (mw // 2 + 1)
        check_memory(nbytes, argument="n_iter", what="the LipGrid frequency grid")


def conv_norm(
    kernel: torch.Tensor,
    input_size: int | Sequence[int] | None,
    *,
    padding: str = "circular",
    pad: int | Sequence[int] | str = "same",
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    method: str = "gram",
    n_iter: int | None = None,
    tol: float | None = None,
    seed: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Bound:
    r"""Spectral norm of a 2-D convolution as an honest :class:`~stablecore.types.Bound`.

    See the module docstring for the mathematics. Summary of ``method``:

    ============== ============= ==================================================================
    method         kind          what
    ============== ============= ==================================================================
    ``gram``       upper_bound   circular: Gram iteration on the FFT blocks (× row-selection norm);
                                 zeros: min of the circular-embedding Gram bound and ``norm2toep``
    ``norm2toep``  upper_bound   kernel-space Gram iteration (Delattre et al. 2024), any size
    ``exact``      exact         circular: FFT blocks (Sedghi et al. 2019) when every row is read
                                 equally often; otherwise the explicit matrix (≤ ``max_entries``)
    ``power``      lower_bound   power iteration on the operator (Ryu et al. 2019), float64
    ``fantastic4`` upper_bound   Singla & Feizi 2021, exact float64 norms of the 4 reshapings
    ``lipgrid``    upper_bound   Araujo et al. 2021 grid maximum + a proven Bernstein correction
    ============== ============= ==================================================================

    Args:
        kernel: ``(c_out, c_in/groups, kh, kw)`` (``nn.Conv2d.weight``), real and finite; any floating
            dtype (computed in float64 from an exact copy).
        input_size: ``n`` or ``(H, W)``. May be ``None`` for zero padding with ``norm2toep``,
            ``fantastic4``, ``lipgrid`` and ``gram`` (then ``norm2toep`` alone).
        padding: ``"circular"`` or ``"zeros"``.
        pad: ``"same"`` (``k // 2`` per dimension), an int or a pair.
        stride: int or pair.
        groups: number of groups; must divide ``c_out``.
        method: see the table.
        n_iter: iterations. Defaults: circular Gram 6; ``norm2toep`` the largest ``T <= 6`` whose last
            step stays within a fixed work budget (e.g. 4 for 64 channels and 3×3), and at most 3 when
            it is only the second candidate of a zero-padded ``gram`` with a known input size (it is
            never below :math:`\sup_\omega\sigma_1(\hat K(\omega))`, hence above the converged
            embedding bound up to the latter's Gram excess); power 100; ``lipgrid`` the grid points
            per dimension (50). An explicit ``n_iter`` applies to every iterative part.
        tol: early stop on relative change (Gram: ``1e-12``; power: ``1e-10``; 0 never stops early).
        seed: seed of the power-iteration start vector.
        max_entries: largest explicit matrix for ``exact`` (default 4096²).

    Returns:
        A :class:`~stablecore.types.Bound`; ``details`` holds the geometry and method information
        (for zero-padded ``gram``: ``winner`` and ``candidates``).

    Raises:
        TypeError: ``kernel`` is not a floating tensor.
        ValueError: ``kernel`` not 4-D, complex or not finite; bad ``padding``, ``pad``, ``stride``,
            ``groups``, ``input_size``, ``method``, ``n_iter`` or ``tol``; ``exact`` too large; the
            route's memory (estimated from ``input_size`` or ``n_iter``) above
            ``$STABLECORE_MAX_MEMORY`` (:mod:`stablecore.limits`).

    Example:
        >>> k = torch.randn(4, 3, 3, 3, generator=torch.Generator().manual_seed(0))
        >>> up = conv_norm(k, 8, padding="circular")
        >>> ex = conv_norm(k, 8, padding="circular", method="exact")
        >>> up.kind, ex.kind, up.value >= ex.value, abs(up.value / ex.value - 1) < 1e-6
        ('upper_bound', 'exact', True, True)
    """
    kernel = as_real_tensor(kernel, "kernel", ndim=4)
    if method not in CONV_METHODS:
        raise ValueError(f"method must be one of {CONV_METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)) or max_entries < 1:
        raise ValueError(f"max_entries must be a positive int, got {max_entries!r}")
    geom = conv_geometry(kernel.shape, input_size, padding=padding, pad=pad, stride=stride, groups=groups)
    needs_size = method in ("power", "exact") or padding == "circular"
    if geom.input_size is None and needs_size:
        raise ValueError(f"input_size is required for padding={padding!r} with method={method!r}")
    _check_conv_memory(geom, method, n_iter, int(max_entries))
    # a power-of-two scale (exact) brings any finite kernel, subnormal to 1e308, to max |K| ≈ 1: no
    # square, DFT or Gram step under- or overflows; the result is scaled back, rounded outwards
    k64, e = pow2_normalize(kernel.detach().to(torch.float64))
    details: dict[str, Any] = geom.as_dict()
    details["dtype"] = str(kernel.dtype)
    bound = _ROUTES[method](_Args(k64, geom, n_iter, tol, int(seed), int(max_entries), details))
    return unscale_bound(bound, int(e))


@dataclass(frozen=True)
class _Args:
    """The validated arguments a route receives (kernel already float64 and power-of-two scaled)."""

    k64: torch.Tensor
    geom: ConvGeometry
    n_iter: int | None
    tol: float | None
    seed: int
    max_entries: int
    details: dict[str, Any]


def _selected(history: list[float], geom: ConvGeometry, info: dict[str, Any]) -> list[float]:
    """Circular padding reads rows of the circulant: bounds times the row-selection norm, rounded up."""
    if geom.padding != "circular":
        return history
    factor = _circular_selection(geom)[0]
    info["selection_norm"] = factor
    return [round_up(h * factor) for h in history] if factor != 1.0 else history


def _upper(
    name: str, history: list[float], a: _Args, info: dict[str, Any], closed: int | None = None
) -> Bound:
    """An ``upper_bound`` from an iteration's ``history``, or (``closed`` = its ``n_iter``) a single value."""
    history = _selected(history, a.geom, info)
    a.details.update(info)
    if closed is not None:
        return Bound(history[-1], "upper_bound", name, closed, details=a.details)
    return Bound(history[-1], "upper_bound", name, len(history), tuple(history), a.details)


def _route_exact(a: _Args) -> Bound:
    value, info = _exact(a.k64, a.geom, a.max_entries)
    a.details.update(info)
    return Bound(value, "exact", "exact", details=a.details)


def _route_power(a: _Args) -> Bound:
    n = check_n_iter(a.n_iter, DEFAULT_POWER_ITERS)
    value, history, done = _power(a.k64, a.geom, n, check_tol(a.tol, DEFAULT_POWER_TOL), a.seed)
    return Bound(value, "lower_bound", "power", n_iter=done, history=tuple(history), details=a.details)


def _route_fantastic4(a: _Args) -> Bound:
    value, info = _fantastic4(a.k64, a.geom)
    return _upper("fantastic4", [value], a, info, closed=0)


def _route_lipgrid(a: _Args) -> Bound:
    value, info = _lipgrid(a.k64, a.geom, check_n_iter(a.n_iter, DEFAULT_LIPGRID_SAMPLES))
    return _upper("lipgrid", [value], a, info, closed=info["grid"][0])


def _toep_iters(a: _Args) -> int:
    kh, kw = a.geom.kernel_size
    return check_n_iter(a.n_iter, _default_toep_iters(kh, kw, min(a.geom.c_in_group, a.geom.c_out_group)))


def _route_norm2toep(a: _Args) -> Bound:
    history, info = _norm2toep_bound(a.k64, a.geom, _toep_iters(a), check_tol(a.tol, DEFAULT_GRAM_TOL))
    return _upper("norm2toep", history, a, info)


def gram_candidates(geom: ConvGeometry) -> dict[str, tuple[int, int] | None]:
    """The Gram routes that bound a conv, cheapest first: name -> torus of a circular Gram (``None``:
    kernel space). The one dispatch of :func:`conv_norm` (minimum over all) and :func:`gram_norm_conv`
    (the first)."""
    if geom.padding == "circular":
        assert geom.input_size is not None
        return {"circular": geom.input_size}
    routes: dict[str, tuple[int, int] | None] = {}
    if geom.input_size is not None:
        routes["circular_embedding"] = embedding_size(geom)
    routes["norm2toep"] = None
    return routes


def _route_gram(a: _Args) -> Bound:
    tol = check_tol(a.tol, DEFAULT_GRAM_TOL)
    gram_iters = check_n_iter(a.n_iter, DEFAULT_CONV_GRAM_ITERS)
    toep_iters = _toep_iters(a)
    if a.geom.input_size is not None and a.n_iter is None:
        # norm2toep ≥ sup_ω σ₁(K̂(ω)) ≥ ‖C_N‖, which the embedding bound approaches to ~1e-6: the
        # kernel-space candidate essentially never wins once the size is known; keep it cheap
        toep_iters = min(toep_iters, _TOEP_ITERS_WITH_SIZE)
    runs: dict[str, tuple[list[float], dict]] = {}
    for name, size in gram_candidates(a.geom).items():
        if size is None:
            runs[name] = _norm2toep_bound(a.k64, a.geom, toep_iters, tol)
        else:
            runs[name] = _circular_gram_bound(a.k64, a.geom, size, gram_iters, tol)
    if a.geom.padding == "circular":
        history, info = runs["circular"]
        info["selection_uniform"] = _circular_selection(a.geom)[1]
        return _upper("gram", history, a, info)
    candidates = {name: history[-1] for name, (history, _) in runs.items()}
    winner = min(candidates, key=candidates.__getitem__)
    history = runs[winner][0]
    info = {"winner": winner, "candidates": candidates, "info": {k: v[1] for k, v in runs.items()}}
    return _upper("gram", history, a, info)


_ROUTES: dict[str, Callable[[_Args], Bound]] = {
    "gram": _route_gram,
    "power": _route_power,
    "exact": _route_exact,
    "norm2toep": _route_norm2toep,
    "fantastic4": _route_fantastic4,
    "lipgrid": _route_lipgrid,
}
"""The method table of :func:`conv_norm` (keys: :data:`CONV_METHODS`)."""


def gram_norm_conv(
    kernel: torch.Tensor,
    input_size: int | Sequence[int] | None,
    n_iter: int = DEFAULT_CONV_GRAM_ITERS,
    *,
    padding: str = "zeros",
    pad: int | Sequence[int] | str = "same",
    stride: int | Sequence[int] = 1,
    groups: int = 1,
) -> torch.Tensor:
    r"""Differentiable Gram upper bound (0-d tensor) of a conv's norm by the first route of
    :func:`gram_candidates`: circular Gram on the input's torus (times the row-selection norm), the
    circular embedding of a zero-padded conv when ``input_size`` is known, else the kernel-space bound.

    Example:
        >>> k = torch.zeros(1, 1, 3, 3); k[0, 0, 1, 1] = 2.0
        >>> round(float(gram_norm_conv(k, 8, 4)), 6)
        2.0
    """
    kernel = as_real_tensor(kernel, "kernel", ndim=4)
    geom = conv_geometry(kernel.shape, input_size, padding=padding, pad=pad, stride=stride, groups=groups)
    if geom.input_size is None and padding == "circular":
        raise ValueError("input_size is required for padding='circular'")
    size = next(iter(gram_candidates(geom).values()))
    if size is None:
        return gram_norm_conv_zeros(kernel, n_iter, groups=geom.groups)
    value = gram_norm_conv_circular(kernel, size, n_iter, groups=geom.groups)
    factor = _circular_selection(geom)[0] if padding == "circular" else 1.0
    return value if factor == 1.0 else value * (factor * (1 + 4 * torch.finfo(kernel.dtype).eps))


def conv_transpose_norm(
    weight: torch.Tensor,
    input_size: int | Sequence[int],
    *,
    pad: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
    groups: int = 1,
    output_padding: int | Sequence[int] = 0,
    method: str = "gram",
    n_iter: int | None = None,
    tol: float | None = None,
    seed: int = 0,
    max_entries: int = DEFAULT_MAX_ENTRIES,
) -> Bound:
    r"""Spectral norm of ``conv_transpose2d`` (``nn.ConvTranspose2d``, zero padding).

    ``conv_transpose2d(·, w, stride, padding, output_padding, groups)`` on an :math:`H\times W` input is
    the adjoint of ``conv2d(·, w, stride, padding, groups)`` on the transposed layer's output size
    :math:`H_o = (H-1)s - 2p + k + o`; an operator and its adjoint have the same norm. The weight
    ``(c_in, c_out/groups, kh, kw)`` of ``ConvTranspose2d`` *is* the ``conv2d`` weight of that adjoint
    (``c_in`` outputs, ``c_out/groups`` inputs per group), so no transposition of the layout is needed.

    Args:
        weight: ``nn.ConvTranspose2d.weight``, shape ``(c_in, c_out/groups, kh, kw)``.
        input_size: the transposed layer's input size ``n`` or ``(H, W)``.
        pad, stride, groups, output_padding: as in ``nn.ConvTranspose2d`` (``output_padding < stride``).
        method, n_iter, tol, seed, max_entries: as in :func:`conv_norm` (zero padding).

    Returns:
        The :class:`~stablecore.types.Bound` of the forward convolution, with ``details["transposed"]``.

    Example:
        >>> w = torch.randn(3, 2, 3, 3, generator=torch.Generator().manual_seed(1))
        >>> b = conv_transpose_norm(w, 5, pad=1, stride=2, output_padding=1, method="exact")
        >>> b.details["forward_input_size"]
        (10, 10)
    """
    weight = as_real_tensor(weight, "weight", ndim=4)
    size = _pair(input_size, "input_size", minimum=1)
    pad_hw = _pair(pad, "pad", minimum=0)
    stride_hw = _pair(stride, "stride", minimum=1)
    out_pad = _pair(output_padding, "output_padding", minimum=0)
    if out_pad[0] >= stride_hw[0] or out_pad[1] >= stride_hw[1]:
        raise ValueError(f"output_padding {out_pad} must be smaller than stride {stride_hw}")
    kh, kw = weight.shape[-2:]
    fwd = tuple(
        (n - 1) * s - 2 * p + k + o for n, s, p, k, o in zip(size, stride_hw, pad_hw, (kh, kw), out_pad)
    )
    if min(fwd) < 1:
        raise ValueError(f"input_size {size} gives an empty output with pad {pad_hw} and stride {stride_hw}")
    bound = conv_norm(
        weight,
        fwd,
        padding="zeros",
        pad=pad_hw,
        stride=stride_hw,
        groups=groups,
        method=method,
        n_iter=n_iter,
        tol=tol,
        seed=seed,
        max_entries=max_entries,
    )
    details = dict(bound.details or {})
    details.update({"transposed": True, "forward_input_size": fwd, "transposed_input_size": size})
    if details.get("output_size") != size:  # pragma: no cover - guarded by the size arithmetic
        raise AssertionError(f"adjoint geometry mismatch: {details.get('output_size')} != {size}")
    return Bound(bound.value, bound.kind, bound.method, bound.n_iter, bound.history, details)
