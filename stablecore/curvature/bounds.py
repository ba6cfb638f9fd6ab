r"""Curvature *upper bounds* from layer norms -- a documented RECONSTRUCTION (docs/chapters/ch04.md §5 (vi)).

The thesis's curvature chapter is known only from its abstract and a secondary summary ("Hessian-bounded
loss regularization"); what follows is our reconstruction of such a bound, **not** the thesis's exact
method. Everything returned is an ``upper_bound`` (:class:`~stablecore.types.Bound`).

**Constants.** For a map :math:`g` let :math:`L(g) = \sup_x\|Dg(x)\|_2` and :math:`C(g)` the Lipschitz
constant of :math:`Dg` (for :math:`C^2` maps, :math:`\sup_x\|D^2 g(x)\|`). The second derivative is a
bilinear map :math:`D^2g(x)[h, k]\in\mathbb R^m`; its norm is

.. math::

    \|D^2 g(x)\| = \sup_{\|h\|=\|k\|=1}\|D^2g(x)[h,k]\|_2
    = \max_{\|u\|_2=1}\bigl\|\nabla^2_x\,(u^\top g)(x)\bigr\|_2,

(for a scalar output: the spectral norm of the Hessian). From
:math:`D^2(f\circ g)[h,k] = D^2f[Dg\,h, Dg\,k] + Df\,D^2g[h,k]` (Srinivas et al., NeurIPS 2022,
"Efficient training of low-curvature neural networks"):

.. math::

    C(f\circ g) \le C(f)\,L(g)^2 + L(f)\,C(g),\qquad C(x\mapsto Wx+b) = 0,\quad L(x\mapsto Wx+b)=\|W\|_2,

and for an element-wise activation :math:`C(\sigma) = \sup|\sigma''|`,
:math:`L(\sigma)=\sup|\sigma'|` (since :math:`\|\sigma''\odot h\odot k\|_2\le\sup|\sigma''|\,\|h\|_\infty
\|k\|_2`). Unrolled over a chain :math:`f = g_n\circ\dots\circ g_1`:

.. math::

    C(f) \le \sum_j C(g_j)\,\Bigl(\prod_{i>j} L(g_i)\Bigr)\Bigl(\prod_{i<j} L(g_i)\Bigr)^2 .

Layer norms :math:`\|W\|_2` are Gram-iteration upper bounds (Delattre et al., ICML 2023) through
:func:`stablecore.spectral.lipschitz_bound`; activation constants are in :func:`activation_constants`.

**(a) Input Hessian** (:func:`input_hessian_bound`): :math:`\sup_x\|D^2_x f(x)\|` of the network (its
logits), with the norm above; a data-independent bound.

**(b) Diagonal parameter blocks** (:func:`parameter_hessian_bounds`). For a Linear/Conv2d layer
:math:`l` with parameters :math:`\theta_l = (W_l, b_l)`, the network is a composition *in*
:math:`\theta_l`: :math:`\ell_i(\theta_l) = \ell(h_l(A_{l,i}\theta_l), y_i)` where
:math:`A_{l,i}:\theta_l\mapsto W_l\star a_{l-1,i} + b_l` is linear (the layer applied to its actual input
:math:`a_{l-1,i}` for example :math:`i`) and :math:`h_l` is the rest of the network. Hence
:math:`\nabla^2_{\theta_l}\ell_i = A_{l,i}^\top\,\nabla^2_z(\ell\circ h_l)\,A_{l,i}` and

.. math::

    \|\nabla^2_{\theta_l}\mathcal L\|_2 \le \frac1B\sum_i \|A_{l,i}\|^2
    \Bigl(c_i\,L(h_l)^2 + g_i\,C(h_l)\Bigr),

with :math:`c_i \ge \|\nabla^2_o\ell(o_i,y_i)\|`, :math:`g_i \ge \|\nabla_o\ell(o_i,y_i)\|` at the logits
:math:`o_i`, and :math:`L(h_l), C(h_l)` from the chain rule above. :math:`\|A_{l,i}\|^2` is
:math:`\|a\|^2 + T` for a Linear layer applied to :math:`T` rows :math:`a` (:math:`T=1` for a vector; the
:math:`+T` is the bias) and, for a convolution, at most :math:`\max_{\text{groups}}\|P_a\|_F^2 + N_{pos}`
with :math:`P_a` the im2col patch matrix of :math:`a` (:math:`\|P_a w\|\le\|P_a\|_F\|w\|` per output
channel; :math:`N_{pos}` output positions for the bias). Loss constants: cross-entropy (mean) has
:math:`\nabla_o\ell = p - e_y`, :math:`\|p-e_y\|\le\sqrt2`, and :math:`\nabla^2_o\ell =
\operatorname{diag}(p) - pp^\top`, whose largest eigenvalue is a variance under :math:`p` of a unit vector's
entries, :math:`\le 1/2` by Popoviciu's inequality, and :math:`\le\operatorname{tr} = \sum_j p_j(1-p_j)`
(it is PSD). ``local=True`` (default) uses the actual :math:`g_i = \|p_i - e_{y_i}\|` and
:math:`c_i = \min(1/2, \sum_j p_{ij}(1-p_{ij}))`; ``local=False`` the global :math:`\sqrt2, 1/2`.
Mean-squared error (mean over :math:`B\cdot m` entries) has :math:`c_i = 2/m`,
:math:`g_i = 2\|o_i-y_i\|/m` (local only: its gradient is unbounded). The bound covers the whole
:math:`(W_l, b_l)` block, hence each of its sub-blocks; it says nothing of the off-diagonal blocks.

**Scope and refusals.** ``nn.Sequential`` chains (nested Sequentials are flattened) of Linear / Conv2d,
fixed affine maps (Flatten, Identity, Dropout, BatchNorm in eval mode, average pooling,
:class:`~stablecore.blocks.Normalize`, :class:`~stablecore.blocks.ChannelPad`) and the activations of
:func:`activation_constants`. ReLU and other kinked activations (second derivative a Dirac), max pooling,
any other module, a module used twice and shared parameters are refused with a ``ValueError`` naming the
module. The float bounds are computed in eval mode (the model's flags are restored, as in
:class:`~stablecore.curvature.HessianOperator`'s default) and in float64.

**Rounding.** Every float product and sum of the chain rule is rounded up by two ulps; the data-dependent
sums of (b) (float64) are inflated by :math:`16(N+K+B+16)\,u\,(1+\max|o|) + 2^{-40}` (:math:`N` the
largest number of summed terms, :math:`K` classes, :math:`u = 2^{-53}`; Higham 2002 §3), which covers
their rounding; the rounding of the float64 forward pass itself is not analysed (same order, far below
the slack of the bound on the small networks this is meant for).

The ``*_tensor`` functions compute the same bounds as differentiable tensors (for
:class:`~stablecore.curvature.regularizers.HessianBoundPenalty`): Gram bounds with ``n_iter`` iterations
(:func:`stablecore.spectral.layer_gram_bound`), no ulp rounding, the model's current mode (dropout in
train mode counts as ``1/(1-p)``; BatchNorm in train mode is refused).

References:
    B. Delattre. PhD thesis, 2025, https://arxiv.org/abs/2510.25282 (curvature chapter; this module is a
    reconstruction, docs/chapters/ch04.md §5).
    S. Srinivas, K. Matoba, H. Lakkaraju, F. Fleuret. *Efficient Training of Low-Curvature Neural
    Networks.* NeurIPS 2022 (curvature composition rule).
    B. Delattre, Q. Barthélemy, A. Araujo, A. Allauzen. *Efficient Bound of Lipschitz Constant for
    Convolutional Layers by Gram Iteration.* ICML 2023.
    T. Popoviciu. *Sur les équations algébriques ayant toutes leurs racines réelles.* Mathematica 9, 1935.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call

from stablecore.blocks import ChannelPad, Normalize
from stablecore.spectral.dense import round_up
from stablecore.spectral.leaves import GELU_ERF
from stablecore.spectral.network import check_input_shape, lipschitz_bound
from stablecore.spectral.regularization import layer_gram_bound
from stablecore.train.evaluate import eval_mode
from stablecore.types import Bound

__all__ = [
    "LOSSES",
    "SmoothConstants",
    "activation_constants",
    "input_hessian_bound",
    "input_hessian_bound_tensor",
    "layer_input_sources",
    "loss_derivative_bounds",
    "parameter_hessian_bound_tensors",
    "parameter_hessian_bounds",
]

LOSSES = ("cross_entropy", "mse")
_U = 2.0**-53
_PARAM_TYPES = (nn.Linear, nn.Conv2d)
_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d)
_FIXED_TYPES = (
    nn.Flatten,
    nn.Identity,
    *_DROPOUT,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    Normalize,
    ChannelPad,
)
_KINKED = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Hardshrink,
    nn.Softshrink,
    nn.Threshold,
    nn.SELU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AdaptiveMaxPool2d,
)
_SMOOTH_NAMES = "Tanh, Sigmoid, Softplus, GELU (erf), SiLU, ELU/CELU(alpha=1), Softsign"


# ----------------------------------------------------------------------------------- activations
class SmoothConstants(NamedTuple):
    """``lipschitz`` ≥ sup|σ'|, ``curvature`` ≥ Lipschitz constant of σ' (= sup|σ''| where it exists)."""

    lipschitz: float
    curvature: float
    source: str


def _silu_prime(x: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-x))
    return s * (1.0 + x * (1.0 - s))


@functools.cache
def _silu_lipschitz() -> float:
    r"""Rigorous numerical :math:`\sup|\sigma'|` of SiLU: grid maximum on [-20, 20] with step
    :math:`h = 10^{-4}`, plus :math:`\sup|\sigma''|\cdot h/2 = h/4` (between grid points) and 1e-12 for the
    float64 evaluation; outside, :math:`|\sigma'(x)| \le 1 + 20e^{-20}` (below the grid maximum)."""
    h = 1e-4
    xs = np.linspace(-20.0, 20.0, 400_001)
    return round_up(float(np.abs(_silu_prime(xs)).max()) + 0.25 * h + 1e-12)


def activation_constants(module: nn.Module) -> SmoothConstants:
    r"""Derivative bounds :math:`L_\sigma \ge \sup|\sigma'|` and :math:`C_\sigma \ge \mathrm{Lip}(\sigma')`.

    ================ ==================== ==================== ==============================================
    activation       :math:`L_\sigma`     :math:`C_\sigma`     proof
    ================ ==================== ==================== ==============================================
    Tanh             1                    4/(3√3) ≈ 0.7698     σ'' = −2t(1−t²), t = tanh x; max at t² = 1/3
    Sigmoid          1/4                  1/(6√3) ≈ 0.0962     σ'' = s(1−s)(1−2s); max at s = ½ ± 1/(2√3)
    Softplus(β)      1                    β/4                  σ' = sigmoid(βx), σ'' = β s(1−s)
    GELU (erf)       Φ(√2)+√2φ(√2)≈1.129  √(2/π) ≈ 0.7979     σ'' = φ(x)(2−x²): max 2φ(0); |σ''(±2)| = 2φ(2)
    SiLU             ≈ 1.0999 (grid)      1/2                  σ'' = (2 − x tanh(x/2)) / (4cosh²(x/2))
    ELU/CELU(α = 1)  1                    1                    σ' = min(1, eˣ) is 1-Lipschitz (σ'' jumps at 0)
    Softsign         1                    2                    σ' = (1+|x|)⁻² is 2-Lipschitz
    Identity         1                    0
    ================ ==================== ==================== ==============================================

    SiLU: :math:`0\le x\tanh(x/2)` gives :math:`\sigma''\le 1/2` (at 0); where negative,
    :math:`|\sigma''| \le (y-1)/(2\cosh^2 y) \le 2(y-1)e^{-2y} \le e^{-3}` with :math:`y=|x|/2`; its
    :math:`L_\sigma` is a rigorous grid maximum (:func:`_silu_lipschitz`). Torch's Softplus switches to the
    identity past ``threshold`` (a jump of at most :math:`e^{-t}/\beta` in value and slope, ≈ 2e-9/β at the
    default t = 20): the constants hold at every point where it is twice differentiable. GELU(tanh) is
    refused (no rigorous constants computed here). Values are rounded up by two ulps.

    Args:
        module: an activation module.

    Returns:
        :class:`SmoothConstants` ``(lipschitz, curvature, source)``.

    Raises:
        ValueError: the activation is kinked (ReLU, LeakyReLU, ELU with α ≠ 1, ...) or unknown.

    Example:
        >>> round(activation_constants(nn.Tanh()).curvature, 4)
        0.7698
    """
    t = type(module)
    if t is nn.Tanh:
        return SmoothConstants(1.0, round_up(4.0 / (3.0 * math.sqrt(3.0))), "tanh: σ''=−2t(1−t²)")
    if t is nn.Sigmoid:
        return SmoothConstants(0.25, round_up(1.0 / (6.0 * math.sqrt(3.0))), "sigmoid: σ''=s(1−s)(1−2s)")
    if t is nn.Softplus:
        beta = float(module.beta)
        if not beta > 0:
            raise ValueError(f"Softplus with beta={beta} is not supported (beta must be > 0)")
        return SmoothConstants(1.0, round_up(beta / 4.0), "softplus: σ''=β s(1−s)")
    if t is nn.GELU:
        if module.approximate != "none":
            raise ValueError(
                "GELU(approximate='tanh') has no rigorous curvature constant here; use GELU() (erf)"
            )
        return SmoothConstants(round_up(GELU_ERF), round_up(math.sqrt(2.0 / math.pi)), "gelu: σ''=φ(x)(2−x²)")
    if t is nn.SiLU:
        return SmoothConstants(_silu_lipschitz(), 0.5, "silu: σ''=(2−x tanh(x/2))/(4cosh²(x/2))")
    if t in (nn.ELU, nn.CELU):
        if float(module.alpha) != 1.0:
            raise ValueError(
                f"{t.__name__}(alpha={module.alpha}) has a jump in σ' at 0 (second derivative a Dirac); "
                f"only alpha=1 is C^1,1"
            )
        return SmoothConstants(1.0, 1.0, "elu(α=1): σ'=min(1,eˣ)")
    if t is nn.Softsign:
        return SmoothConstants(1.0, 2.0, "softsign: σ'=(1+|x|)⁻²")
    if t is nn.Identity:
        return SmoothConstants(1.0, 0.0, "identity")
    if t in _KINKED:
        raise ValueError(
            f"{t.__name__} is not twice differentiable (its derivative jumps): its second derivative "
            f"is unbounded, so no curvature bound exists; use a smooth activation ({_SMOOTH_NAMES})"
        )
    raise ValueError(f"no curvature constant is known for {t.__name__}; supported: {_SMOOTH_NAMES}")


# ----------------------------------------------------------------------------------- network walk
@dataclass(frozen=True)
class _Leaf:
    path: str
    module: nn.Module
    role: str  # "param" (Linear/Conv2d), "fixed" (parameter-free or frozen affine), "act"


def _label(path: str) -> str:
    return path or "(root)"


def _plan(model: nn.Module) -> list[_Leaf]:
    """The leaves of ``model`` in forward order, each classified; refuses what cannot be bounded."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    leaves: list[_Leaf] = []

    def walk(module: nn.Module, path: str) -> None:
        if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            for name, child in module._modules.items():  # named_children() would hide a repeated module
                walk(child, f"{path}.{name}" if path else name)
            return
        t = type(module)
        if t in _PARAM_TYPES:
            role = "param"
        elif t in _FIXED_TYPES:
            role = "fixed"
        else:
            try:
                activation_constants(module)
            except ValueError as exc:
                raise ValueError(
                    f"cannot bound the curvature of module {_label(path)!r} "
                    f"({t.__module__}.{t.__qualname__}): {exc}"
                ) from None
            role = "act"
        leaves.append(_Leaf(path, module, role))

    walk(model, "")
    if not leaves:
        raise ValueError("model has no module to bound (an empty Sequential)")
    ids = [id(leaf.module) for leaf in leaves]
    if len(set(ids)) != len(ids):
        raise ValueError("model uses a module twice: the composition rule needs distinct layers")
    seen: dict[int, str] = {}
    for leaf in leaves:
        for name, p in leaf.module.named_parameters():
            if id(p) in seen and seen[id(p)] != leaf.path:
                raise ValueError(
                    f"parameter {leaf.path}.{name} is shared with module {seen[id(p)]!r}: tied weights "
                    f"are not a composition in one layer"
                )
            seen[id(p)] = leaf.path
    return leaves


def _first_param(model: nn.Module) -> torch.Tensor | None:
    return next(model.parameters(), None)


def _leaf_shapes(model: nn.Module, leaves: list[_Leaf], input_shape: tuple[int, ...]) -> list[tuple]:
    """Per-example input shape of every leaf (a dry pass of one zero example, eval mode, no grad)."""
    p = _first_param(model)
    x = torch.zeros(
        (1, *input_shape),
        dtype=p.dtype if p is not None else None,
        device=p.device if p is not None else None,
    )
    shapes = []
    with eval_mode(model), torch.no_grad():
        for leaf in leaves:
            shapes.append(tuple(x.shape[1:]))
            try:
                x = leaf.module(x)
            except (RuntimeError, ValueError) as exc:
                raise ValueError(
                    f"module {_label(leaf.path)!r} fails on input shape {tuple(x.shape[1:])}: {exc}"
                ) from None
    return shapes


def _affine_bound(leaf: _Leaf, shape: tuple[int, ...], n_iter: int | None) -> Bound:
    options = {"n_iter": n_iter} if n_iter is not None else {}
    try:
        return lipschitz_bound(leaf.module, shape, **options)
    except ValueError as exc:
        raise ValueError(f"module {_label(leaf.path)!r}: {exc}") from None


def _check_n_iter(n_iter: Any, allow_none: bool) -> int | None:
    if n_iter is None and allow_none:
        return None
    if isinstance(n_iter, bool) or not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive int{' or None' if allow_none else ''}, got {n_iter!r}")
    return n_iter


def _up(x: float) -> float:
    return round_up(x) if x > 0 else x


def _same(x: Any) -> Any:
    return x


def _compose(inner: tuple[Any, Any], outer: tuple[Any, Any], up: Any = _same) -> tuple[Any, Any]:
    """(L, C) of ``outer ∘ inner``: L = L_o·L_i, C ≤ C_o·L_i² + L_o·C_i (module docstring; Srinivas et al.
    2022), the one place of this rule. ``up`` rounds every product and sum: :func:`_up` for float
    bounds, the identity for differentiable tensors."""
    (lip_i, curv_i), (lip_o, curv_o) = inner, outer
    return up(lip_o * lip_i), up(up(curv_o * up(lip_i * lip_i)) + up(lip_o * curv_i))


# ----------------------------------------------------------------------------------- (a) input Hessian
def input_hessian_bound(model: nn.Module, input_shape: Any, *, n_iter: int | None = None) -> Bound:
    r"""Upper bound on :math:`\sup_x\|D^2_x f(x)\|` of a smooth network (RECONSTRUCTION, docs/chapters/ch04.md
    §5 (vi)).

    .. math::

        \sup_x \max_{\|u\|=1}\bigl\|\nabla^2_x(u^\top f)(x)\bigr\|_2 \;\le\;
        \sum_j C_j \Bigl(\prod_{i>j} L_i\Bigr)\Bigl(\prod_{i<j} L_i\Bigr)^2

    over the chain's leaves (module docstring; Srinivas et al., NeurIPS 2022). Linear/Conv2d norms are
    Gram upper bounds (Delattre et al., ICML 2023), activations use :func:`activation_constants`.

    Args:
        model: an ``nn.Sequential`` chain (module docstring); bounded in eval mode, flags restored.
        input_shape: per-example input shape, e.g. ``(4,)`` or ``(1, 8, 8)`` (conv norms depend on it).
        n_iter: Gram iterations per layer (default: the spectral package's adaptive default).

    Returns:
        ``Bound(kind="upper_bound", method="curvature chain rule (gram)")``; ``details`` is a DataFrame
        with one row per leaf (its L and C and the running L and C of the prefix).

    Raises:
        ValueError: a module cannot be bounded (named), a bad ``input_shape`` or ``n_iter``.
        TypeError: ``model`` is not a module or ``input_shape`` not a tuple of ints.

    Example:
        >>> net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Tanh())
        >>> with torch.no_grad():
        ...     _ = net[0].weight.fill_(2.0)
        >>> round(input_hessian_bound(net, (1,)).value, 4)  # 2² · 4/(3√3)
        3.0792
    """
    leaves = _plan(model)
    shape = check_input_shape(input_shape)
    n_iter = _check_n_iter(n_iter, allow_none=True)
    shapes = _leaf_shapes(model, leaves, shape)
    lip, curv = 1.0, 0.0
    rows = []
    with eval_mode(model):
        for leaf, s in zip(leaves, shapes):
            if leaf.role == "act":
                const = activation_constants(leaf.module)
                lip_g, curv_g, source = const.lipschitz, const.curvature, const.source
            else:
                b = _affine_bound(leaf, s, n_iter)
                lip_g, curv_g, source = b.value, 0.0, b.method
            lip, curv = _compose((lip, curv), (lip_g, curv_g), _up)
            rows.append(
                {
                    "module": _label(leaf.path),
                    "type": type(leaf.module).__name__,
                    "input_shape": str(s),
                    "lipschitz": lip_g,
                    "curvature": curv_g,
                    "lipschitz_so_far": lip,
                    "curvature_so_far": curv,
                    "source": source,
                }
            )
    return Bound(curv, "upper_bound", "curvature chain rule (gram)", details=pd.DataFrame(rows))


def _leaf_tensor_constants(
    leaf: _Leaf, shape: tuple[int, ...], n_iter: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    zero = torch.zeros((), dtype=like.dtype, device=like.device)
    if leaf.role == "act":
        const = activation_constants(leaf.module)
        return zero + const.lipschitz, zero + const.curvature
    if leaf.role == "param":
        hw = tuple(shape[-2:]) if isinstance(leaf.module, nn.Conv2d) else None
        try:
            lip = layer_gram_bound(leaf.module, hw, n_iter)
        except ValueError as exc:
            raise ValueError(f"module {_label(leaf.path)!r}: {exc}") from None
        return lip.to(like.dtype), zero
    value = _affine_bound(leaf, shape, None).value
    if isinstance(leaf.module, _DROPOUT) and leaf.module.training and leaf.module.p < 1:
        value = value / (1.0 - leaf.module.p)  # train-mode dropout: mask / (1 − p)
    return zero + value, zero


def input_hessian_bound_tensor(model: nn.Module, input_shape: Any, *, n_iter: int = 6) -> torch.Tensor:
    r"""Differentiable version of :func:`input_hessian_bound` (RECONSTRUCTION, docs/chapters/ch04.md §5 (vi)).

    The same chain rule (Srinivas et al., NeurIPS 2022) with differentiable Gram bounds
    (:func:`stablecore.spectral.layer_gram_bound`, ``n_iter`` iterations) in the model's current mode;
    gradients reach every Linear/Conv2d weight. A bound up to float rounding (no ulp rounding here).

    Args:
        model: as in :func:`input_hessian_bound`.
        input_shape: per-example input shape.
        n_iter: Gram iterations per layer.

    Returns:
        0-d tensor in the first parameter's dtype.

    Raises:
        ValueError: as in :func:`input_hessian_bound`; BatchNorm in train mode.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> b = input_hessian_bound_tensor(net, (3,))
        >>> b.backward(); net[0].weight.grad is not None
        True
    """
    leaves = _plan(model)
    shape = check_input_shape(input_shape)
    n_iter = _check_n_iter(n_iter, allow_none=False)
    shapes = _leaf_shapes(model, leaves, shape)
    like = _first_param(model)
    like = like if like is not None else torch.zeros((), dtype=torch.get_default_dtype())
    lip = torch.ones((), dtype=like.dtype, device=like.device)
    curv = torch.zeros((), dtype=like.dtype, device=like.device)
    for leaf, s in zip(leaves, shapes):
        lip, curv = _compose((lip, curv), _leaf_tensor_constants(leaf, s, n_iter, like))
    return curv


# ----------------------------------------------------------------------------------- (b) parameter blocks
def _loss_name(loss: Any) -> str:
    from stablecore.train.losses import CrossEntropy

    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES} or an nn.CrossEntropyLoss/nn.MSELoss, got {loss!r}"
            )
        return loss
    if type(loss) is CrossEntropy:
        return "cross_entropy"
    if type(loss) is nn.CrossEntropyLoss:
        if loss.reduction != "mean" or loss.weight is not None or loss.label_smoothing != 0.0:
            raise ValueError(
                "loss: only nn.CrossEntropyLoss(reduction='mean') without class weights or label "
                "smoothing is supported"
            )
        return "cross_entropy"
    if type(loss) is nn.MSELoss:
        if loss.reduction != "mean":
            raise ValueError("loss: only nn.MSELoss(reduction='mean') is supported")
        return "mse"
    raise ValueError(
        f"loss must be one of {LOSSES}, nn.CrossEntropyLoss or nn.MSELoss, got {type(loss).__name__}"
    )


def loss_derivative_bounds(
    outputs: torch.Tensor, y: torch.Tensor, loss: Any = "cross_entropy", *, local: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Per-example :math:`c_i \ge \|\nabla^2_o\ell(o_i, y_i)\|`, :math:`g_i \ge \|\nabla_o\ell(o_i, y_i)\|`.

    Cross-entropy, :math:`p = \operatorname{softmax}(o)`: :math:`\nabla\ell = p - e_y`,
    :math:`\nabla^2\ell = \operatorname{diag}(p) - pp^\top` (PSD, largest eigenvalue ≤ 1/2 by Popoviciu's
    inequality and ≤ its trace :math:`\sum_j p_j(1-p_j)`). ``local=True``:
    :math:`c_i = \min(1/2, \sum_j p_j(1-p_j))`, :math:`g_i = \|p_i - e_{y_i}\|` (with
    :math:`1-p_j = -\operatorname{expm1}(\log p_j)`, accurate near saturation); ``local=False``:
    :math:`c_i = 1/2`, :math:`g_i = \sqrt2`. MSE (mean over the :math:`m` entries of each example and the
    batch), per example :math:`\ell_i = \|o_i-y_i\|^2/m`: :math:`c_i = 2/m`, :math:`g_i = 2\|o_i-y_i\|/m`
    (local only). Part of the RECONSTRUCTION of docs/chapters/ch04.md §5 (vi).

    Args:
        outputs: logits ``(B, K)`` (MSE: any ``(B, ...)``).
        y: class indices ``(B,)`` (MSE: targets of ``outputs``' shape).
        loss: ``"cross_entropy"``, ``"mse"``, ``nn.CrossEntropyLoss()`` or ``nn.MSELoss()`` (mean).
        local: actual per-example derivatives (default) or the global constants.

    Returns:
        ``(c, g)``, two tensors of shape ``(B,)``, differentiable in ``outputs``.

    Raises:
        ValueError: unsupported loss or shapes; ``local=False`` with MSE.

    Example:
        >>> c, g = loss_derivative_bounds(torch.zeros(2, 2), torch.tensor([0, 1]))
        >>> [round(float(v), 4) for v in (c[0], g[0])]
        [0.5, 0.7071]
    """
    name = _loss_name(loss)
    if not isinstance(outputs, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("outputs and y must be tensors")
    if outputs.ndim < 2 or outputs.shape[0] == 0 or y.shape[0] != outputs.shape[0]:
        raise ValueError(
            f"outputs must be (B, ...) with B > 0 matching y, got {tuple(outputs.shape)}, {tuple(y.shape)}"
        )
    if not isinstance(local, bool):
        raise TypeError(f"local must be a bool, got {type(local).__name__}")
    batch = outputs.shape[0]
    if name == "mse":
        if not local:
            raise ValueError("local=False is not available for MSE: its gradient is unbounded")
        if y.shape != outputs.shape:
            raise ValueError(
                f"MSE targets y must have outputs' shape {tuple(outputs.shape)}, got {tuple(y.shape)}"
            )
        m = outputs[0].numel()
        diff = (outputs - y.to(outputs.dtype)).reshape(batch, -1)
        c = torch.full((batch,), 2.0 / m, dtype=outputs.dtype, device=outputs.device)
        return c, torch.linalg.vector_norm(diff, dim=1) * (2.0 / m)
    if outputs.ndim != 2 or y.ndim != 1 or y.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(
            f"cross-entropy needs logits (B, K) and integer class indices (B,), got "
            f"{tuple(outputs.shape)} and {tuple(y.shape)} ({y.dtype})"
        )
    if not local:
        c = torch.full((batch,), 0.5, dtype=outputs.dtype, device=outputs.device)
        return c, torch.full_like(c, round_up(math.sqrt(2.0)))
    logp = torch.log_softmax(outputs, dim=1)
    p = logp.exp()
    one_minus = -torch.expm1(logp)  # 1 − p_j, accurate when p_j ≈ 1
    c = torch.clamp((p * one_minus).sum(dim=1), max=0.5)
    idx = y.long().unsqueeze(1)
    rest = p.scatter(1, idx, 0.0)
    g2 = (rest * rest).sum(dim=1) + one_minus.gather(1, idx).squeeze(1) ** 2
    g = torch.sqrt(g2 + torch.finfo(outputs.dtype).tiny)  # finite gradient at a saturated softmax
    return c, g


def _input_energy(leaf: _Leaf, a: torch.Tensor) -> tuple[torch.Tensor, int]:
    r"""Per-example :math:`\|A_{l,i}\|^2` bound (module docstring) and the number of summed terms."""
    module = leaf.module
    batch = a.shape[0]
    bias = module.bias is not None
    if isinstance(module, nn.Linear):
        flat = a.reshape(batch, -1)
        rows = flat.shape[1] // module.in_features
        return (flat * flat).sum(dim=1) + (rows if bias else 0), flat.shape[1] + 1
    # conv: ‖P_a‖_F² per group = Σ over output positions of the patch energies = conv(a², ones)
    groups = module.groups
    ones = torch.ones(
        (groups, module.in_channels // groups, *module.kernel_size), dtype=a.dtype, device=a.device
    )
    energy = module._conv_forward(a * a, ones, None)  # (B, groups, H', W'), same padding/stride as the layer
    positions = energy.shape[-2] * energy.shape[-1]
    per_group = energy.reshape(batch, groups, -1).sum(dim=2).amax(dim=1)
    terms = a[0].numel() * module.kernel_size[0] * module.kernel_size[1] + 1
    return per_group + (positions if bias else 0), terms


def _suffix_constants(consts: list[tuple[Any, Any]], up: Any = _same) -> list[tuple[Any, Any]]:
    """(L, C) of the rest of the chain after each leaf: ``rest[k]`` composes leaves ``k+1..n``
    (:func:`_compose` with rounding ``up``)."""
    rest: list[tuple[Any, Any]] = [None] * len(consts)  # type: ignore[list-item]
    first = consts[0][0]
    lip, curv = (torch.ones_like(first), torch.zeros_like(first)) if torch.is_tensor(first) else (1.0, 0.0)
    for k in range(len(consts) - 1, -1, -1):
        rest[k] = (lip, curv)
        lip, curv = _compose(consts[k], (lip, curv), up)
    return rest


def _record_inputs(
    leaves: list[_Leaf], model: nn.Module, x: torch.Tensor, params: Mapping[str, torch.Tensor] | None
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Inputs of every leaf and the model's output, from one forward pass (``params`` replace the model's)."""
    inputs: list[torch.Tensor | None] = [None] * len(leaves)

    def hook(index: int):
        def fn(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            inputs[index] = args[0]

        return fn

    handles = [leaf.module.register_forward_hook(hook(i)) for i, leaf in enumerate(leaves)]
    try:
        out = model(x) if params is None else functional_call(model, dict(params), (x,), strict=False)
    finally:
        for h in handles:
            h.remove()
    if any(a is None for a in inputs):
        raise ValueError("the model's forward did not call every module of its Sequential chain")
    return inputs, out  # type: ignore[return-value]


def _check_batch(x: Any, y: Any) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim < 2 or x.shape[0] == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x must be (B, ...) with B > 0 and y of length B, got {tuple(x.shape)}, {tuple(y.shape)}"
        )


def parameter_hessian_bounds(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: Any = "cross_entropy",
    local: bool = True,
    n_iter: int | None = None,
) -> dict[str, Bound]:
    r"""Upper bounds on :math:`\|\nabla^2_{\theta_l}\mathcal L\|_2` for each Linear/Conv2d layer's
    (weight, bias) diagonal block of the loss Hessian on the batch ``(x, y)`` (RECONSTRUCTION,
    docs/chapters/ch04.md §5 (vi)).

    .. math::

        \|\nabla^2_{\theta_l}\mathcal L\|_2
        \le \frac1B\sum_i\|A_{l,i}\|^2\bigl(c_i\,L(h_l)^2 + g_i\,C(h_l)\bigr)

    (derivation in the module docstring; composition rule of Srinivas et al., NeurIPS 2022; layer norms by
    Gram iteration, Delattre et al., ICML 2023). Computed in float64 and eval mode (the model is not
    changed), i.e. the block of :class:`~stablecore.curvature.HessianOperator` with its default
    ``mode="eval"``.

    Args:
        model: an ``nn.Sequential`` chain (module docstring).
        x: inputs ``(B, ...)``.
        y: targets (class indices for cross-entropy).
        loss: ``"cross_entropy"`` (default), ``"mse"``, ``nn.CrossEntropyLoss()`` or ``nn.MSELoss()``,
            with mean reduction (as the loss the Hessian is taken of).
        local: use the actual loss derivatives at the batch's logits (default) or global constants.
        n_iter: Gram iterations per layer (default: adaptive).

    Returns:
        ``{layer path: Bound(kind="upper_bound")}``; each ``details`` holds ``lipschitz_rest``,
        ``curvature_rest``, ``mean_input_energy`` (mean of :math:`\|A_{l,i}\|^2`), ``n_params``, ``local``.

    Raises:
        ValueError: a module cannot be bounded (named), no Linear/Conv2d layer, bad batch or loss.
        TypeError: ``x``/``y`` not tensors.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> b = parameter_hessian_bounds(net, torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]))
        >>> sorted(b), b["0"].kind
        (['0', '2'], 'upper_bound')
    """
    leaves = _plan(model)
    _check_batch(x, y)
    name = _loss_name(loss)
    n_iter = _check_n_iter(n_iter, allow_none=True)
    if not any(leaf.role == "param" for leaf in leaves):
        raise ValueError("model has no Linear or Conv2d layer whose Hessian block could be bounded")
    params = {n: p.detach().double() for n, p in model.named_parameters()}
    buffers = {n: (b.detach().double() if b.is_floating_point() else b) for n, b in model.named_buffers()}
    x64 = x.detach().to(torch.float64) if x.is_floating_point() else x.detach()
    y64 = y.detach().to(torch.float64) if (name == "mse" and y.is_floating_point()) else y.detach()
    with eval_mode(model), torch.no_grad():
        inputs, out = _record_inputs(leaves, model, x64, {**params, **buffers})
        consts: list[tuple[float, float]] = []
        for leaf, a in zip(leaves, inputs):
            if leaf.role == "act":
                c = activation_constants(leaf.module)
                consts.append((c.lipschitz, c.curvature))
            else:
                consts.append((_affine_bound(leaf, tuple(a.shape[1:]), n_iter).value, 0.0))
        rest = _suffix_constants(consts, _up)
        c_loss, g_loss = loss_derivative_bounds(out, y64, name, local=local)
        batch = x.shape[0]
        k = out[0].numel()
        max_out = float(out.abs().max())
        result: dict[str, Bound] = {}
        for i, leaf in enumerate(leaves):
            if leaf.role != "param":
                continue
            energy, terms = _input_energy(leaf, inputs[i])
            lip_h, curv_h = rest[i]
            per_example = energy * (c_loss * _up(lip_h * lip_h) + g_loss * curv_h)
            value = float(per_example.mean())
            rel = 16 * (terms + k + batch + 16) * _U * (1 + max_out) + 2.0**-40
            n_params = sum(p.numel() for p in leaf.module.parameters())
            result[_label(leaf.path)] = Bound(
                round_up(value, rel),
                "upper_bound",
                f"layer Hessian block ({name}, {'local' if local else 'global'} loss constants, gram)",
                details={
                    "lipschitz_rest": lip_h,
                    "curvature_rest": curv_h,
                    "mean_input_energy": float(energy.mean()),
                    "n_params": n_params,
                    "local": local,
                },
            )
    return result


def parameter_hessian_bound_tensors(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: Any = "cross_entropy",
    local: bool = True,
    n_iter: int = 6,
    inputs: Mapping[str, torch.Tensor] | None = None,
    outputs: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    r"""Differentiable version of :func:`parameter_hessian_bounds` (RECONSTRUCTION, docs/chapters/ch04.md §5
    (vi)).

    .. math::

        B_l(\theta) = \frac1B\sum_i\|A_{l,i}\|^2\bigl(c_i\,L(h_l)^2 + g_i\,C(h_l)\bigr)

    with differentiable Gram bounds (``n_iter`` iterations), in the model's current mode and dtype.
    Gradients flow to the layers' weights (through :math:`L(h_l), C(h_l)`), to earlier layers (through
    the activation energies :math:`\|A_{l,i}\|^2`) and, with ``local=True``, through the loss derivatives.

    Args:
        model, x, y, loss, local: as in :func:`parameter_hessian_bounds`.
        n_iter: Gram iterations per layer.
        inputs: optional ``{layer path: input of that Linear/Conv2d layer}`` for every such layer (e.g.
            the Trainer's hooked activations); with ``outputs`` this avoids a second forward pass.
        outputs: the model's output on ``x`` (needed with ``inputs``).

    Returns:
        ``{layer path: 0-d tensor}``.

    Raises:
        ValueError: as in :func:`parameter_hessian_bounds`; an ``inputs`` entry missing.

    Example:
        >>> net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> b = parameter_hessian_bound_tensors(net, torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1]))
        >>> sum(b.values()).backward(); net[0].weight.grad is not None
        True
    """
    leaves = _plan(model)
    _check_batch(x, y)
    name = _loss_name(loss)
    n_iter = _check_n_iter(n_iter, allow_none=False)
    if not any(leaf.role == "param" for leaf in leaves):
        raise ValueError("model has no Linear or Conv2d layer whose Hessian block could be bounded")
    if (inputs is None) != (outputs is None):
        raise ValueError("inputs and outputs must be given together (or neither)")
    shapes = _leaf_shapes(model, leaves, tuple(x.shape[1:]))
    if inputs is None:
        recorded, outputs = _record_inputs(leaves, model, x, None)
        layer_inputs = {leaf.path: a for leaf, a in zip(leaves, recorded) if leaf.role == "param"}
    else:
        missing = [_label(leaf.path) for leaf in leaves if leaf.role == "param" and leaf.path not in inputs]
        if missing:
            raise ValueError(f"inputs lacks the input of layers {missing}")
        layer_inputs = dict(inputs)
    assert outputs is not None
    like = _first_param(model)
    assert like is not None
    consts = [_leaf_tensor_constants(leaf, s, n_iter, like) for leaf, s in zip(leaves, shapes)]
    rest = _suffix_constants(consts)
    c_loss, g_loss = loss_derivative_bounds(outputs, y, name, local=local)
    result: dict[str, torch.Tensor] = {}
    for i, leaf in enumerate(leaves):
        if leaf.role != "param":
            continue
        energy, _ = _input_energy(leaf, layer_inputs[leaf.path])
        lip_h, curv_h = rest[i]
        result[_label(leaf.path)] = (energy * (c_loss * lip_h * lip_h + g_loss * curv_h)).mean()
    return result


def layer_input_sources(model: nn.Module) -> dict[str, str | None]:
    """``{layer path: path of the leaf before it, or None for the model's input}`` for every Linear/Conv2d
    layer of the chain: the modules whose outputs are the layers' inputs (what a Trainer penalty asks the
    Trainer to hook). Validates ``model`` like the bounds (refuses ReLU, unknown modules, ...).

    Example:
        >>> layer_input_sources(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)))
        {'0': None, '2': '1'}
    """
    leaves = _plan(model)
    return {
        leaf.path: (leaves[k - 1].path if k > 0 else None)
        for k, leaf in enumerate(leaves)
        if leaf.role == "param"
    }
