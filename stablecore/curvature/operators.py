r"""The loss Hessian :math:`H = \nabla^2_\theta \mathcal L(\theta)` as a matrix-free operator.

The loss is that of all of ``data`` with ``loss_fn``'s reduction: over the batches :math:`b` of ``data``,
:math:`\mathcal L(\theta) = \sum_b \frac{n_b}{N}\, \ell(f_\theta(x_b), y_b)` for a **mean** (weighted by
batch size, so a DataLoader with unequal batches gives the same operator as one big batch) and
:math:`\mathcal L(\theta) = \sum_b \ell(f_\theta(x_b), y_b)` for a **sum**. The reduction is read from
``loss_fn.reduction`` (``nn`` losses; ``"batchmean"`` counts as a mean) or given as ``reduction=`` (plain
callables; default ``"mean"``); ``"none"`` is refused. ``nn.CrossEntropyLoss`` / ``nn.NLLLoss`` with
class-index targets average over the class weights of the targets that are not ``ignore_index``
(:math:`\sum_i w_{y_i}`), so their batches are weighted by that mass instead of :math:`n_b`.

Hessian-vector products are reverse-over-reverse (Pearlmutter 1994): the gradient
:math:`g(\theta)` is built with its graph through ``torch.func.functional_call`` on leaf copies of the
parameters, and :math:`Hv = \partial (g \cdot v)/\partial\theta` is one more backward pass; for a single
batch the gradient graph is kept, so each product costs one backward. (Forward-over-reverse with
``torch.func.jvp(torch.func.grad(...))`` measured 0.61 s per product against 0.045 s for this on the digits
MLP, 2 CPU cores, torch 2.13.) The model's parameters, buffers and train/eval flags are never changed.

**BatchNorm / dropout policy** (``mode``): ``"eval"`` (default) evaluates every submodule in eval mode
(BatchNorm uses its running statistics, dropout is the identity) for the duration of each call and restores
each module's own flag; ``"train"`` keeps the modules' modes (BatchNorm normalises with the batch's
statistics and its running statistics are left as they are) and refuses active dropout, which would make
the operator random.

A DataLoader that yields different batches on a later pass (shuffling, random augmentation) would give a
different operator at every product; the batches' fingerprints are recorded on the first pass and any
change raises ``ValueError``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from stablecore.train.evaluate import eval_mode

__all__ = [
    "BatchSource",
    "HessianOperator",
    "LossFn",
    "ParamFilter",
    "loss_reduction",
    "select_parameters",
]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ParamFilter = Callable[[str, nn.Parameter], bool] | str | Sequence[str] | None
MODES = ("eval", "train")
REDUCTIONS = ("mean", "sum")


def loss_reduction(loss_fn: Any, reduction: str | None = None) -> str:
    """How ``loss_fn`` reduces over examples: ``"mean"`` or ``"sum"``.

    Read from ``loss_fn.reduction`` when it has one (``"batchmean"`` is a mean), else ``reduction``
    (default ``"mean"``). Refuses ``"none"`` (one loss per example: the Hessian needs a scalar), any other
    reduction, and a ``reduction`` that contradicts ``loss_fn.reduction``.
    """
    if reduction is not None and reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS} or None, got {reduction!r}")
    declared = getattr(loss_fn, "reduction", None)
    if not isinstance(declared, str):  # no reduction attribute (or an unrelated one, e.g. a method)
        return reduction or "mean"
    if declared == "none":
        raise ValueError(
            "loss_fn has reduction='none' (one loss per example) but the Hessian needs a scalar loss: "
            "use reduction='mean' or 'sum'"
        )
    declared = "mean" if declared == "batchmean" else declared
    if declared not in REDUCTIONS:
        raise ValueError(f"loss_fn.reduction must be 'mean', 'batchmean' or 'sum', got {declared!r}")
    if reduction is not None and reduction != declared:
        raise ValueError(f"reduction={reduction!r} contradicts loss_fn.reduction={declared!r}")
    return declared


def _mean_mass(loss_fn: Any) -> Callable[[torch.Tensor, torch.Tensor], float]:
    r"""The denominator of ``loss_fn``'s mean over one batch: ``n_b``, or for cross-entropy / NLL with
    class-index targets :math:`\sum_{i: y_i \ne \text{ignore}} w_{y_i}` (PyTorch's weighted mean)."""
    if not isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)):
        return lambda x, y: float(x.shape[0])
    weight, ignore = loss_fn.weight, loss_fn.ignore_index

    def mass(x: torch.Tensor, y: torch.Tensor) -> float:
        if y.is_floating_point():  # class probabilities: a plain mean over the batch
            return float(x.shape[0])
        keep = y[y != ignore]
        if weight is None:
            return float(keep.numel())
        return float(weight.detach().to(torch.float64).cpu()[keep.cpu()].sum())

    return mass


def _check_pair(batch: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise TypeError(f"{where} must be an (x, y) pair of tensors, got {type(batch).__name__}")
    x, y = batch[0], batch[1]
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"{where} must hold tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.shape[0] == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(
            f"{where}: x and y need the same non-zero batch size, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    return x, y


class BatchSource:
    """The batches of ``data`` with their weights, checked to be the same on every pass.

    The weights make the weighted sum of the batch losses the loss of all of ``data`` (module
    docstring): ``n_b / N`` for ``reduction="mean"`` (``mass(x_b, y_b) / Σ mass`` when a ``mass`` is
    given), 1 for ``"sum"``; a single ``(x, y)`` batch has weight 1.

    Args:
        data: an ``(x, y)`` pair of tensors or an iterable of such pairs (a DataLoader).
        device: where the batches are moved.
        reduction: ``"mean"`` (default) or ``"sum"``.
        mass: for a mean, the denominator of one batch's mean (default: its size).
    """

    def __init__(
        self,
        data: Any,
        device: torch.device | str,
        *,
        reduction: str = "mean",
        mass: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
    ) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.device = torch.device(device)
        self.reduction = reduction
        if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
            x, y = _check_pair(data, "data")
            self._single: tuple[torch.Tensor, torch.Tensor] | None = (x.to(self.device), y.to(self.device))
            self._loader = None
            self.fingerprints = [self._fingerprint(x, y)]
        elif isinstance(data, Iterable) and not isinstance(data, (torch.Tensor, str, bytes)):
            self._single, self._loader = None, data
            self.fingerprints, masses = [], []
            for batch in data:
                x, y = _check_pair(batch, "each batch of data")
                self.fingerprints.append(self._fingerprint(x, y))
                masses.append(float(x.shape[0]) if mass is None else float(mass(x, y)))
        else:
            raise TypeError(
                f"data must be an (x, y) pair of tensors or a DataLoader, got {type(data).__name__}"
            )
        if not self.fingerprints:
            raise ValueError("data is empty: it yielded no batch")
        self.total = sum(f[0] for f in self.fingerprints)
        self.weights = [1.0] * len(self.fingerprints)
        if reduction == "mean" and self._single is None:
            whole = sum(masses)
            if not (math.isfinite(whole) and whole > 0):
                raise ValueError(
                    f"data: the loss's mean has no examples to average over (total weight {whole!r})"
                )
            self.weights = [m / whole for m in masses]

    @property
    def single(self) -> bool:
        """One ``(x, y)`` batch (not a loader)."""
        return self._single is not None

    @staticmethod
    def _fingerprint(x: torch.Tensor, y: torch.Tensor) -> tuple[int, float, float]:
        with torch.no_grad():
            return int(x.shape[0]), float(x.double().sum()), float(y.double().sum())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
        if self._single is not None:
            x, y = self._single
            yield x, y, 1.0
            return
        seen = 0
        for i, batch in enumerate(self._loader):
            x, y = _check_pair(batch, "each batch of data")
            if i >= len(self.fingerprints) or self._fingerprint(x, y) != self.fingerprints[i]:
                raise ValueError(
                    "data yielded different batches on a later pass (a shuffling DataLoader or random "
                    "augmentation?): the Hessian operator would change between products; pass "
                    "shuffle=False and deterministic transforms, or an (x, y) batch"
                )
            seen += 1
            if self.weights[i]:  # a batch of ignored targets only adds nothing (and its mean is 0/0)
                yield x.to(self.device), y.to(self.device), self.weights[i]
        if seen != len(self.fingerprints):
            raise ValueError("data yielded fewer batches on a later pass than on the first")


def select_parameters(model: nn.Module, param_filter: ParamFilter = None) -> dict[str, nn.Parameter]:
    """The trainable parameters kept by ``param_filter``: None (all), a name prefix such as ``"fc2"``
    or ``"fc2.weight"``, a sequence of prefixes, or a callable ``(name, parameter) -> bool``."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if param_filter is None:
        keep = named
    elif callable(param_filter):
        keep = [(n, p) for n, p in named if param_filter(n, p)]
    else:
        prefixes = [param_filter] if isinstance(param_filter, str) else list(param_filter)
        if not prefixes or not all(isinstance(s, str) for s in prefixes):
            raise TypeError(
                f"param_filter must be a str, a sequence of str or a callable, got {param_filter!r}"
            )
        keep = [(n, p) for n, p in named if any(n == s or n.startswith(s + ".") for s in prefixes)]
    if not keep:
        names = [n for n, _ in named]
        raise ValueError(
            f"param_filter {param_filter!r} selects no trainable parameter (have {names[:8]}...)"
        )
    return dict(keep)


class HessianOperator:
    r"""Matrix-free :math:`v \mapsto Hv` of the loss Hessian in the selected parameters (module docstring).

    Args:
        model: the network; never modified.
        loss_fn: ``loss_fn(model(x), y)`` returning a scalar (e.g. ``nn.CrossEntropyLoss()``).
        data: an ``(x, y)`` batch or a DataLoader (its batches combined as ``loss_fn`` reduces: module
            docstring).
        param_filter: which parameters (see :func:`select_parameters`).
        mode: ``"eval"`` (default) or ``"train"`` (BatchNorm/dropout policy, module docstring).
        cache_graph: for a single ``(x, y)`` batch, keep the gradient's graph between products (each
            product is then one backward pass; memory: one set of activations). Loaders rebuild it per
            batch.
        reduction: ``"mean"`` or ``"sum"`` for a ``loss_fn`` without a ``reduction`` attribute (default
            ``"mean"``); must agree with ``loss_fn.reduction`` when there is one (:func:`loss_reduction`).

    Attributes:
        size: number of selected parameters (the operator is ``size × size``).
        n_hvp: Hessian-vector products computed so far (one per batch pass per vector).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        data: Any,
        *,
        param_filter: ParamFilter = None,
        mode: str = "eval",
        cache_graph: bool = True,
        reduction: str | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable as loss_fn(model(x), y), got {type(loss_fn).__name__}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "train" and any(
            isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 and m.training for m in model.modules()
        ):
            raise ValueError("mode='train' with active dropout makes the Hessian random; use mode='eval'")
        self.reduction = loss_reduction(loss_fn, reduction)
        self.model, self.loss_fn, self.mode = model, loss_fn, mode
        self.params = select_parameters(model, param_filter)
        first = next(iter(self.params.values()))
        self.device, self.dtype = first.device, first.dtype
        self.shapes = {n: p.shape for n, p in self.params.items()}
        self.size = sum(p.numel() for p in self.params.values())
        mass = _mean_mass(loss_fn) if self.reduction == "mean" else None
        self.data = BatchSource(data, self.device, reduction=self.reduction, mass=mass)
        self.n_hvp = 0
        self.cache_graph = cache_graph
        self._cached: tuple | None = None

    # ------------------------------------------------------------------ flat <-> dict
    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[n].reshape(-1) for n in self.params])

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        if flat.shape != (self.size,):
            raise ValueError(f"vector must have shape ({self.size},), got {tuple(flat.shape)}")
        out, i = {}, 0
        for n, shape in self.shapes.items():
            k = shape.numel()
            out[n] = flat[i : i + k].view(shape)
            i += k
        return out

    @contextlib.contextmanager
    def _state(self) -> Iterator[None]:
        if self.mode == "eval":
            with eval_mode(self.model):
                yield
            return
        # train mode: BatchNorm normalises with batch statistics; not tracking them for the duration
        # means no running-statistics update (torch.func refuses in-place buffer updates anyway)
        norms = [
            m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
        ]
        flags = [m.track_running_stats for m in norms]
        try:
            for m in norms:
                m.track_running_stats = False
            yield
        finally:
            for m, flag in zip(norms, flags):
                m.track_running_stats = flag

    def _graph(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], tuple, torch.Tensor]:
        """Fresh leaf copies of the selected parameters, the gradient with its graph, and the loss."""
        leaves = {n: p.detach().requires_grad_(True) for n, p in self.params.items()}
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if n not in self.params}
        buffers = {n: b.detach() for n, b in self.model.named_buffers()}
        with torch.enable_grad():
            out = functional_call(self.model, {**frozen, **buffers, **leaves}, (x,), strict=False)
            value = self.loss_fn(out, y)
            if not isinstance(value, torch.Tensor) or value.ndim != 0:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"loss_fn must return a scalar tensor (a mean or sum reduction), got {shape}"
                )
            grads = torch.autograd.grad(value, list(leaves.values()), create_graph=True, allow_unused=True)
        grads = tuple(torch.zeros_like(p) if g is None else g for g, p in zip(grads, leaves.values()))
        return list(leaves.values()), grads, value.detach()

    def loss_and_gradient(self) -> tuple[float, torch.Tensor]:
        r""":math:`\mathcal L(\theta)` and the flat gradient :math:`\nabla_\theta\mathcal L`."""
        total, g = 0.0, torch.zeros(self.size, device=self.device, dtype=self.dtype)
        with self._state():
            for x, y, w in self.data:
                _, grads, value = self._graph(x, y)
                total += w * float(value)
                g += w * torch.cat([gi.detach().reshape(-1) for gi in grads])
        return total, g

    def _hvp(
        self, leaves: list[torch.Tensor], grads: tuple, tangent: list[torch.Tensor], keep: bool
    ) -> torch.Tensor:
        live = [i for i, gi in enumerate(grads) if gi.requires_grad]  # a constant gradient has H = 0 there
        if not live:
            return torch.zeros(self.size, device=self.device, dtype=self.dtype)
        hv = torch.autograd.grad(
            [grads[i] for i in live], leaves, grad_outputs=[tangent[i] for i in live],
            retain_graph=keep, allow_unused=True,
        )  # fmt: skip
        return torch.cat([(torch.zeros_like(p) if h is None else h).reshape(-1) for h, p in zip(hv, leaves)])

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`Hv` for a flat vector ``v`` of shape ``(size,)`` (any float dtype; returned in ``v``'s)."""
        tangent = list(self.unflatten(v.to(self.device, self.dtype)).values())
        if self.data.single and self.cache_graph:
            if self._cached is None:
                with self._state():  # the modules run only here; the products reuse the graph
                    x, y, _ = next(iter(self.data))
                    self._cached = self._graph(x, y)[:2]
            out = self._hvp(*self._cached, tangent, keep=True).detach()
        else:
            out = torch.zeros(self.size, device=self.device, dtype=self.dtype)
            with self._state():
                for x, y, w in self.data:
                    leaves, grads, _ = self._graph(x, y)
                    out += w * self._hvp(leaves, grads, tangent, keep=False).detach()
        self.n_hvp += 1
        return out.to(v.dtype)

    def release(self) -> None:
        """Free the cached gradient graph (it is rebuilt by the next product)."""
        self._cached = None

    def dense(self) -> torch.Tensor:
        """The full ``(size, size)`` Hessian, one product per column (for tests and tiny models)."""
        eye = torch.eye(self.size, device=self.device, dtype=self.dtype)
        return torch.stack([self.matvec(e) for e in eye], dim=1)
