r"""1-D and 2-D slices of the loss landscape, evaluated in batches without touching the model.

A slice is the loss on a grid of points of a line or plane through the parameters :math:`\theta`,

.. math::

    \mathcal L(\alpha, \beta) = \sum_b \frac{n_b}{N}\,\ell\big(f_{\theta + \alpha\delta + \beta\eta}(x_b),
    y_b\big),

(Goodfellow et al. 2015 for 1-D interpolation; Li et al. 2018 for filter-normalised 2-D slices), with the
accuracy :math:`\frac1N\sum_i [\arg\max_k f(x_i)_k = y_i]` beside it (NaN when the output is not
``(N, K)`` logits with integer labels).

**Evaluation.** Grid points are evaluated ``chunk_size`` at a time: the parameters of a chunk are
stacked, :math:`\Theta_c = \theta + C_c D` with :math:`C_c` the chunk's coordinates, and one
``torch.func.vmap`` of ``torch.func.functional_call`` evaluates all of them on a batch (a model that
vmap cannot take is evaluated point by point, with the same result). The data set is read once
(batches outermost), so a DataLoader is not re-read per chunk.

**The model is never mutated**: parameters and buffers are passed to ``functional_call``, not written;
``mode="eval"`` (default) puts every submodule in eval mode for the call and restores each flag
(:func:`~stablecore.train.evaluate.eval_mode`): BatchNorm uses its running statistics, dropout is off.
``mode="train"`` keeps the modules' modes, normalises BatchNorm with batch statistics without updating
the running ones, and refuses active dropout (a random landscape).

**Grid.** ``steps`` evenly spaced values over ``span`` (``np.linspace``), with the anchors (0 for a
slice, where the unperturbed model sits; 0 and 1 for an interpolation, the two models) put on the grid
exactly: a point within :math:`10^{-6}` of a step of an anchor is set to it, and an anchor inside
``span`` that falls between points is added (then the grid has more than ``steps`` values; e.g.
``interpolate`` with 51 steps over (-0.5, 1.5) has 53). The ``loss-landscapes`` package misses the
centre by half a step with 51 steps.

**Non-finite losses.** A point where the loss overflows or is undefined (a span reaching 1e308, a
diverged model) keeps its NaN / ±inf loss, is counted (:attr:`Landscape.n_nonfinite`,
:meth:`Landscape.summary`), draws as a gap in :mod:`stablecore.plots` and triggers a
``RuntimeWarning``; its accuracy is NaN when some output is not finite. Points a shard did not evaluate
are told apart from them by :attr:`Landscape.evaluated`.

**Size.** Before allocating, a grid is refused (``ValueError`` naming ``steps``) when its arrays
(about 128 bytes per grid point) exceed :func:`stablecore.limits.max_memory` or its model evaluations
(grid points × examples) exceed :func:`stablecore.limits.max_work`; both limits can be raised through
``STABLECORE_MAX_MEMORY`` / ``STABLECORE_MAX_WORK``.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from stablecore.curvature.operators import BatchSource, LossFn, ParamFilter
from stablecore.landscape.directions import (
    Direction,
    as_direction,
    hessian_directions,
    random_directions,
)
from stablecore.limits import check_memory, check_work
from stablecore.train.evaluate import eval_mode

__all__ = [
    "GRID_BYTES_PER_POINT",
    "MODES",
    "Landscape",
    "LandscapeSummary",
    "as_landscape",
    "check_grid_size",
    "evaluate_points",
    "interpolate",
    "landscape_grid",
    "slice_1d",
    "slice_2d",
]

MODES = ("eval", "train")
# default chunk, measured on the digits MLP (2-core CPU, min of 9 interleaved runs): with 512 examples,
# 16-32 points per call gave 0.8-1.0x the plain forward's points/s and 64 points 0.5-0.65x (the
# activations leave the cache); with 1347 examples 16 points gave 0.72x, 8 points 0.61x
_POINT_BYTES = 2**28  # stacked parameters of at most 256 MiB
_ROWS = {"cpu": 2**14, "cuda": 2**16}  # points × examples per call
_MIN_CHUNK = {"cpu": 16, "cuda": 16}
_MAX_CHUNK = {"cpu": 64, "cuda": 256}
#: bytes held per grid point, rounded up: coordinates and their meshgrid (4 float64 for a plane), loss,
#: accuracy, their running sums, the evaluated mask and the ``to_frame()`` table (about 13 float64)
GRID_BYTES_PER_POINT = 128


@dataclass(frozen=True)
class LandscapeSummary:
    """Counts and loss range of a landscape's grid (:meth:`Landscape.summary`).

    Attributes:
        points: grid points.
        evaluated: points evaluated (fewer than ``points`` for a shard or a partial table).
        nan: evaluated points whose loss is NaN.
        inf: evaluated points whose loss is +inf or -inf.
        centre_loss: the loss at the origin (the model), or None when the grid lacks it or it was not
            evaluated.
        loss_min, loss_max: range of the finite losses, or None when there is none.
    """

    points: int
    evaluated: int
    nan: int
    inf: int
    centre_loss: float | None = None
    loss_min: float | None = None
    loss_max: float | None = None

    @property
    def nonfinite(self) -> int:
        """Evaluated points with a NaN or ±inf loss."""
        return self.nan + self.inf

    @property
    def complete(self) -> bool:
        """Every grid point evaluated (its loss may still be non-finite: see :attr:`nonfinite`)."""
        return self.evaluated >= self.points

    @classmethod
    def of(cls, losses: Any, points: int, centre_loss: float | None = None) -> LandscapeSummary:
        """The summary of the evaluated ``losses`` (any shape) out of ``points`` grid points."""
        values = np.asarray(losses, dtype=float).ravel()
        finite = values[np.isfinite(values)]
        return cls(
            points=int(points),
            evaluated=int(values.size),
            nan=int(np.isnan(values).sum()),
            inf=int(np.isinf(values).sum()),
            centre_loss=None if centre_loss is None else float(centre_loss),
            loss_min=float(finite.min()) if finite.size else None,
            loss_max=float(finite.max()) if finite.size else None,
        )

    def __str__(self) -> str:
        return self.describe()

    def describe(self, where: str = "evaluated") -> str:
        """One line, e.g. ``3 of 3 grid points evaluated, 2 non-finite (2 NaN, 0 inf loss; gaps in the
        charts); loss at the model 0.42; finite loss range [0.42, 0.42]`` (``where`` replaces
        ``evaluated``, e.g. ``"in the table"``)."""
        text = f"{self.evaluated} of {self.points} grid points {where}"
        if self.nonfinite:
            text += f", {self.nonfinite} non-finite ({self.nan} NaN, {self.inf} inf loss; gaps in the charts)"
        elif self.complete:
            text += " (complete)"
        if self.centre_loss is not None:
            text += f"; loss at the model {self.centre_loss:.6g}"
        if self.loss_min is None:
            text += "; no finite loss" if self.evaluated else ""
        else:
            label = "finite loss range" if self.nonfinite else "range"
            text += f"; {label} [{self.loss_min:.6g}, {self.loss_max:.6g}]"
        return text


@dataclass(frozen=True, eq=False)
class Landscape:
    """A 1-D or 2-D slice of the loss landscape.

    Attributes:
        alphas: ``(n_a,)`` coordinates along the first direction (increasing; contains 0, or 0 and 1 for
            an interpolation, exactly).
        betas: ``(n_b,)`` coordinates along the second direction, or None for a 1-D slice.
        loss: ``(n_a,)`` or ``(n_a, n_b)`` (``loss[i, j]`` at ``(alphas[i], betas[j])``); NaN where a shard
            did not evaluate, and NaN / ±inf where the loss itself is not finite (told apart by
            ``evaluated``).
        accuracy: same shape as ``loss``; NaN when the output is not ``(N, K)`` logits, and where some
            output is not finite.
        metadata: how it was made (``dims``, ``directions``, ``normalization``, ``seed``, ``span``,
            ``steps``, ``mode``, ``n_examples``, ...).
        evaluated: boolean mask of the points evaluated, same shape as ``loss``; None (the default when
            constructing one by hand) means every point.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    evaluated: np.ndarray | None = None

    def __post_init__(self) -> None:
        shape = np.shape(self.loss)
        if self.evaluated is None:
            mask = np.ones(shape, dtype=bool)
        else:
            mask = np.asarray(self.evaluated, dtype=bool)
            if mask.shape != shape:
                raise ValueError(f"evaluated must have the shape of loss {shape}, got {mask.shape}")
        if mask.flags.writeable:
            mask = mask.copy()
            mask.setflags(write=False)
        object.__setattr__(self, "evaluated", mask)

    @property
    def dims(self) -> int:
        return 1 if self.betas is None else 2

    @property
    def centre_loss(self) -> float:
        """The loss at the origin (the unperturbed model; model_a for an interpolation)."""
        ia = np.flatnonzero(self.alphas == 0.0)
        ib = np.flatnonzero(self.betas == 0.0) if self.betas is not None else np.zeros(1, dtype=int)
        if not (len(ia) and len(ib)):
            raise ValueError("the grid does not contain the origin (its span excludes 0)")
        return float(self.loss[ia[0]] if self.betas is None else self.loss[ia[0], ib[0]])

    @property
    def finite(self) -> np.ndarray:
        """Mask of the evaluated points whose loss is finite (the points a summary may use)."""
        return self.evaluated & np.isfinite(self.loss)

    @property
    def n_nonfinite(self) -> int:
        """Evaluated points whose loss is NaN or ±inf."""
        return int((self.evaluated & ~np.isfinite(self.loss)).sum())

    def summary(self) -> LandscapeSummary:
        """Points evaluated, NaN and inf counts, the loss at the model and the finite loss range."""
        try:
            ia = np.flatnonzero(self.alphas == 0.0)
            ib = np.flatnonzero(self.betas == 0.0) if self.betas is not None else np.zeros(1, dtype=int)
            at = (ia[0],) if self.betas is None else (ia[0], ib[0])
            centre = self.centre_loss if self.evaluated[at] else None
        except (ValueError, IndexError):
            centre = None
        return LandscapeSummary.of(self.loss[self.evaluated], self.loss.size, centre)

    def to_frame(self) -> pd.DataFrame:
        """One row per *evaluated* grid point: ``alpha, beta, loss, accuracy`` (``beta = 0`` for a 1-D
        slice), alpha major; a non-finite loss stays in its row."""
        if self.betas is None:
            a, b = self.alphas, np.zeros_like(self.alphas)
        else:
            a, b = (g.ravel() for g in np.meshgrid(self.alphas, self.betas, indexing="ij"))
        frame = pd.DataFrame(
            {"alpha": a, "beta": b, "loss": self.loss.ravel(), "accuracy": self.accuracy.ravel()}
        )
        keep = self.evaluated.ravel()
        return frame if keep.all() else frame[keep].reset_index(drop=True)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, metadata: Mapping[str, Any] | None = None) -> Landscape:
        """Rebuild a landscape from :meth:`to_frame` rows (e.g. the shards of a CLI table pooled): 1-D
        when a single ``beta`` value occurs; points absent from the frame are NaN and not ``evaluated``;
        a row's NaN or inf loss is kept (an evaluated, non-finite point)."""
        missing = [c for c in ("alpha", "beta", "loss", "accuracy") if c not in frame.columns]
        if missing:
            raise ValueError(f"frame lacks the column(s) {missing}")
        if frame.empty:
            raise ValueError("frame is empty")
        alphas = np.unique(frame["alpha"].to_numpy(float))
        betas = np.unique(frame["beta"].to_numpy(float))
        ia = np.searchsorted(alphas, frame["alpha"].to_numpy(float))
        meta = dict(metadata or {})
        if len(betas) == 1:
            loss, acc = np.full(len(alphas), np.nan), np.full(len(alphas), np.nan)
            done = np.zeros(len(alphas), dtype=bool)
            loss[ia], acc[ia], done[ia] = frame["loss"], frame["accuracy"], True
            return cls(alphas, None, loss, acc, {"dims": 1, **meta}, done)
        ib = np.searchsorted(betas, frame["beta"].to_numpy(float))
        loss, acc = np.full((len(alphas), len(betas)), np.nan), np.full((len(alphas), len(betas)), np.nan)
        done = np.zeros((len(alphas), len(betas)), dtype=bool)
        loss[ia, ib], acc[ia, ib], done[ia, ib] = frame["loss"], frame["accuracy"], True
        return cls(alphas, betas, loss, acc, {"dims": 2, **meta}, done)


def as_landscape(obj: Any, name: str = "landscape") -> Landscape:
    """``obj`` itself if it is a :class:`Landscape`, else one rebuilt from its ``to_frame()`` table
    (columns ``alpha, beta, loss, accuracy``; e.g. a CLI ``landscape-2d`` table with its shards pooled).

    Raises:
        TypeError: another type; ValueError: missing columns or an empty table (naming ``name``).
    """
    if isinstance(obj, Landscape):
        return obj
    if isinstance(obj, pd.DataFrame):
        try:
            return Landscape.from_frame(obj)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    raise TypeError(f"{name} must be a Landscape or its to_frame() DataFrame, got {type(obj).__name__}")


# ----------------------------------------------------------------------------------------- checks
def _check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"steps must be an int, got {type(steps).__name__}")
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    return int(steps)


def _check_span(span: Any, name: str = "span") -> tuple[float, float]:
    """``(start, stop)``: two real numbers (not bools or strings), finite, ``start < stop`` and a finite
    width ``stop - start``."""
    if isinstance(span, np.ndarray):
        span = span.tolist() if span.ndim == 1 else span
    if not (isinstance(span, Sequence) and not isinstance(span, str) and len(span) == 2):
        raise TypeError(f"{name} must be a pair (start, stop), got {span!r}")
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in span):
        raise TypeError(f"{name} must hold two numbers, got {span!r}")
    a, b = float(span[0]), float(span[1])
    if not (math.isfinite(a) and math.isfinite(b)) or not a < b:
        raise ValueError(f"{name} must be finite with start < stop, got {span!r}")
    if not math.isfinite(b - a):
        raise ValueError(f"{name} must have a finite width stop - start (float64), got {span!r}")
    return a, b


def _check_chunk(value: Any, name: str = "chunk_size") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1 or None, got {value!r}")
    return int(value)


def landscape_grid(span: Sequence[float], steps: int, anchors: Sequence[float] = (0.0,)) -> np.ndarray:
    """``np.linspace(*span, steps)`` with each anchor inside ``span`` on the grid exactly (module
    docstring): snapped when within 1e-6 of a step of a point, inserted otherwise.

    Raises:
        ValueError: ``steps < 2`` or too many for the memory limit; ``span`` not finite, reversed, of zero
            or overflowing width, or too narrow for ``steps`` distinct float64 values.
        TypeError: ``steps`` not an int, ``span`` not a pair of numbers.

    Example:
        >>> g = landscape_grid((-1, 1), 51)
        >>> len(g), float(g[25]) == 0.0
        (51, True)
        >>> len(landscape_grid((-0.5, 1.5), 51, anchors=(0.0, 1.0)))
        53
    """
    a, b = _check_span(span)
    steps = _check_steps(steps)
    check_memory(
        16.0 * (steps + len(anchors)), argument="steps", what=f"a landscape grid of {steps:.3g} values"
    )
    grid = np.linspace(a, b, steps)
    tol = 1e-6 * (b - a) / (steps - 1)
    for anchor in anchors:
        if not a <= anchor <= b:
            continue
        i = int(np.argmin(np.abs(grid - anchor)))
        if abs(grid[i] - anchor) <= tol:
            grid[i] = anchor
        else:
            grid = np.sort(np.append(grid, anchor))
    if not (np.diff(grid) > 0).all():
        raise ValueError(
            f"span {span!r} is too narrow for steps={steps}: grid values coincide in float64 "
            "(widen span or use fewer steps)"
        )
    return grid


def check_grid_size(
    steps: int,
    dims: int,
    n_examples: int | None = None,
    *,
    fraction: float = 1.0,
    argument: str = "steps",
) -> None:
    """Refuse, before anything is allocated, a ``dims``-D grid of ``steps`` values per axis whose arrays
    (:data:`GRID_BYTES_PER_POINT` bytes per point) exceed :func:`stablecore.limits.max_memory`, or whose
    model evaluations (grid points × ``fraction`` × ``n_examples``; ``fraction`` is a shard's share) exceed
    :func:`stablecore.limits.max_work`.

    Raises:
        ValueError: one line naming ``argument`` (e.g. ``"--steps"`` from the CLI).
    """
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    points = float(int(steps) + 2) ** dims  # + the anchors a grid may insert
    check_memory(
        points * GRID_BYTES_PER_POINT, argument=argument,
        what=f"the {dims}-D landscape grid ({points:.3g} points)",
    )  # fmt: skip
    if n_examples is not None:
        check_work(
            points * fraction * int(n_examples), argument=argument,
            what=f"the {dims}-D landscape ({points * fraction:.3g} grid points × {int(n_examples)} examples)",
        )  # fmt: skip


def _count_examples(data: Any) -> int | None:
    """Examples in ``data`` when known without reading it: an ``(x, y)`` pair or a DataLoader over a
    sized data set (None otherwise; the evaluation counts them on its first pass)."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return int(data[0].shape[0]) if data[0].ndim else None
    dataset = getattr(data, "dataset", None)
    try:
        return len(dataset) if dataset is not None else None
    except TypeError:
        return None


def _check_mode(model: nn.Module, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "train" and any(
        isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 and m.training for m in model.modules()
    ):
        raise ValueError("mode='train' with active dropout makes the landscape random; use mode='eval'")


@contextlib.contextmanager
def _state(model: nn.Module, mode: str) -> Iterator[None]:
    if mode == "eval":
        with eval_mode(model):
            yield
        return
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    flags = [m.track_running_stats for m in norms]
    try:
        for m in norms:  # batch statistics, running statistics left as they are
            m.track_running_stats = False
        yield
    finally:
        for m, flag in zip(norms, flags):
            m.track_running_stats = flag


# ------------------------------------------------------------------------------------- evaluation
def _stack_directions(
    model: nn.Module, directions: Sequence[Mapping[str, torch.Tensor]]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Centre tensors and stacked directions ``(k, *shape)`` for every tensor some direction moves."""
    state = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    names = [n for n in state if any(n in d for d in directions)]
    centre, stacked = {}, {}
    for n in names:
        t = state[n].detach()
        centre[n] = t
        stacked[n] = torch.stack(
            [d[n].detach().to(t.device, t.dtype) if n in d else torch.zeros_like(t) for d in directions]
        )
    return centre, stacked


def _auto_chunk(stacked: Mapping[str, torch.Tensor], points: int, examples: int, device: torch.device) -> int:
    """Points per call: ``rows / examples`` (2^14 on CPU, 2^16 on CUDA) but at least 16, at most 64 (256
    on CUDA) and 256 MiB of stacked tensors."""
    per_point = sum(t[0].numel() * t.element_size() for t in stacked.values()) or 1
    kind = "cuda" if device.type == "cuda" else "cpu"
    by_rows = max(_ROWS[kind] // max(examples, 1), _MIN_CHUNK[kind])
    return max(1, min(points, _MAX_CHUNK[kind], by_rows, _POINT_BYTES // per_point))


def _split(source: BatchSource, batch_size: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor, float]]:
    """The batches of ``source``, cut into pieces of at most ``batch_size`` examples (weights split by
    size, so a mean loss is unchanged)."""
    for x, y, w in source:
        if batch_size is None or len(x) <= batch_size:
            yield x, y, w
            continue
        for i in range(0, len(x), batch_size):
            xs, ys = x[i : i + batch_size], y[i : i + batch_size]
            yield xs, ys, w * len(xs) / len(x)


def evaluate_points(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Sequence[Mapping[str, torch.Tensor]],
    coordinates: Any,
    *,
    chunk_size: int | None = None,
    batch_size: int | None = None,
    mode: str = "eval",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Loss and accuracy at the points :math:`\theta + \sum_j c_{pj} d_j` (module docstring).

    Args:
        model: the network; never modified (see module docstring for ``mode``).
        loss_fn: ``loss_fn(model(x), y)`` returning a scalar mean (e.g. ``nn.CrossEntropyLoss()``).
        data: an ``(x, y)`` batch or a DataLoader (batches weighted by size, same batches on every pass).
        directions: ``k`` mappings ``{name: tensor}`` over parameters or floating buffers (a tensor that
            no direction names stays at its value).
        coordinates: ``(P, k)`` array of points.
        chunk_size: points per vmap call; default: about :math:`2^{14}` points × examples per call on a
            CPU (:math:`2^{16}` on CUDA) but at least 16 points, at most 64 (256 on CUDA) and 256 MiB of
            stacked tensors. Results do not depend on it.
        batch_size: cut each batch of ``data`` into pieces of at most this many examples (weighted by
            size: right for a loss that is a mean over examples); bounds memory, and on a CPU batches of
            a few hundred examples keep the activations in cache. Default: batches as given.
        mode: ``"eval"`` (default) or ``"train"``.
        progress: show a tqdm bar.

    Returns:
        ``(loss, accuracy)``, two float64 arrays of shape ``(P,)`` (a non-finite loss is kept, module
        docstring).

    Raises:
        ValueError: also when ``P`` × examples exceeds :func:`stablecore.limits.max_work` (naming
        ``coordinates``) or ``chunk_size`` points of stacked parameters exceed
        :func:`stablecore.limits.max_memory`.
    """
    loss, acc, _ = _evaluate(
        model, loss_fn, data, directions, coordinates, chunk_size=chunk_size, batch_size=batch_size,
        mode=mode, progress=progress, argument="coordinates",
    )  # fmt: skip
    return loss, acc


def _evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Sequence[Mapping[str, torch.Tensor]],
    coordinates: Any,
    *,
    chunk_size: int | None,
    batch_size: int | None,
    mode: str,
    progress: bool,
    argument: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model(x), y), got {type(loss_fn).__name__}")
    _check_mode(model, mode)
    chunk = _check_chunk(chunk_size)
    batch_size = _check_chunk(batch_size, "batch_size")
    if isinstance(directions, Mapping) or not isinstance(directions, Sequence) or not directions:
        raise TypeError("directions must be a non-empty sequence of mappings {name: tensor}")
    coords = np.asarray(coordinates, dtype=float)
    if coords.ndim != 2 or coords.shape[1] != len(directions) or coords.shape[0] == 0:
        raise ValueError(
            f"coordinates must have shape (P, {len(directions)}) with P >= 1, got {coords.shape}"
        )
    centre, stacked = _stack_directions(model, directions)
    if not centre:
        raise ValueError("directions move no tensor of the model")
    first = next(iter(centre.values()))
    source = BatchSource(data, first.device)
    check_work(
        float(len(coords)) * source.total, argument=argument,
        what=f"the landscape ({len(coords)} points × {source.total} examples)",
    )  # fmt: skip
    if chunk is not None:
        per_point = sum(t[0].numel() * t.element_size() for t in stacked.values())
        check_memory(
            2.0 * min(chunk, len(coords)) * per_point, argument="chunk_size",
            what=f"the stacked parameters of {min(chunk, len(coords))} points per call",
        )  # fmt: skip
    largest = max(f[0] for f in source.fingerprints)
    chunk = chunk or _auto_chunk(stacked, len(coords), min(largest, batch_size or largest), first.device)
    pieces = sum(math.ceil(f[0] / (batch_size or f[0])) for f in source.fingerprints)
    # buffers are copied: a module that updates one in place (power-iteration vectors in train mode)
    # changes the copy, never the user's model
    fixed = {n: p.detach() for n, p in model.named_parameters() if n not in centre}
    fixed.update({n: b.detach().clone() for n, b in model.named_buffers() if n not in centre})
    loss_sum = np.zeros(len(coords))
    acc_sum = np.zeros(len(coords))
    starts = list(range(0, len(coords), chunk))
    bar = tqdm(total=len(coords) * pieces, desc="landscape", unit="pt", disable=not progress)
    vectorized = [True]
    try:
        with _state(model, mode), torch.no_grad():
            for x, y, w in _split(source, batch_size):
                point = _point_function(model, loss_fn, fixed, x, y)
                for s in starts:
                    c = torch.as_tensor(coords[s : s + chunk])
                    params = {
                        n: centre[n] + torch.tensordot(c.to(centre[n].device, centre[n].dtype), d, dims=1)
                        for n, d in stacked.items()
                    }
                    losses, accs = _evaluate_chunk(point, params, len(c), vectorized)
                    loss_sum[s : s + len(c)] += w * losses
                    acc_sum[s : s + len(c)] += w * accs
                    bar.update(len(c))
    finally:
        bar.close()
    info = {
        "n_examples": int(source.total),
        "chunk_size": chunk,
        "batch_size": batch_size,
        "vectorized": vectorized[0],
    }
    return loss_sum, acc_sum, info


def _point_function(
    model: nn.Module, loss_fn: LossFn, fixed: Mapping[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> Any:
    classify = y.ndim == 1 and not (y.is_floating_point() or y.is_complex())

    def point(params: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out = functional_call(model, {**fixed, **params}, (x,))
        value = loss_fn(out, y)
        if not isinstance(value, torch.Tensor) or value.ndim != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"loss_fn must return a scalar tensor (use a mean reduction), got {shape}")
        if classify and isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == y.shape[0]:
            acc = (out.argmax(dim=1) == y).to(value.dtype).mean()
            # a non-finite output is no prediction: no accuracy at that point
            acc = torch.where(torch.isfinite(out).all(), acc, acc * float("nan"))
        else:
            acc = value * float("nan")
        return value, acc

    return point


def _evaluate_chunk(
    point: Any, params: dict[str, torch.Tensor], size: int, vectorized: list[bool]
) -> tuple[np.ndarray, np.ndarray]:
    if vectorized[0]:
        try:
            losses, accs = vmap(point)(params)
            return losses.double().cpu().numpy(), accs.double().cpu().numpy()
        except torch.cuda.OutOfMemoryError as exc:
            raise RuntimeError(f"out of memory at {size} points per call: pass a smaller chunk_size") from exc
        except (RuntimeError, NotImplementedError):
            vectorized[0] = False  # an op without a batching rule: one point at a time from now on
    pairs = [point({n: t[i] for n, t in params.items()}) for i in range(size)]
    return (
        np.array([float(v) for v, _ in pairs]),
        np.array([float(a) for _, a in pairs]),
    )


# ------------------------------------------------------------------------------------------ slices
def _resolve_directions(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    directions: Any,
    count: int,
    *,
    normalization: str | None,
    seed: int,
    param_filter: ParamFilter,
    mode: str,
    argname: str,
) -> tuple[list[Direction], dict[str, Any]]:
    if directions is None or (isinstance(directions, str) and directions == "random"):
        dirs = random_directions(
            model, count, normalization=normalization, seed=seed, param_filter=param_filter
        )
        return dirs, {"directions": "random", "normalization": normalization, "seed": seed}
    if isinstance(directions, str) and directions == "hessian":
        dirs = hessian_directions(
            model, loss_fn, data, k=count, seed=seed, param_filter=param_filter, mode=mode
        )
        return dirs, {"directions": "hessian", "normalization": None, "seed": seed}
    if isinstance(directions, str):
        raise ValueError(
            f"{argname} must be None, 'random', 'hessian' or given directions, got {directions!r}"
        )
    if count == 1:
        dirs = [as_direction(model, directions, name=argname, param_filter=param_filter)]
        return dirs, {"directions": "given", "normalization": None, "seed": None}
    if hasattr(directions, "directions") and hasattr(directions, "explained_variance_ratio"):
        directions = directions.directions  # a TrajectoryPCA
        kind = "pca"
    else:
        kind = "given"
    if isinstance(directions, torch.Tensor) and directions.ndim == 2:
        directions = list(directions)  # (k, n) rows, e.g. EigenResult.eigenvectors
    if isinstance(directions, (Mapping, torch.Tensor, str)) or not isinstance(directions, Sequence):
        raise TypeError(
            f"{argname} must be a sequence of {count} directions, got {type(directions).__name__}"
        )
    if len(directions) != count:
        raise ValueError(f"{argname} must hold {count} directions, got {len(directions)}")
    dirs = [
        as_direction(model, d, name=f"{argname}[{i}]", param_filter=param_filter)
        for i, d in enumerate(directions)
    ]
    return dirs, {"directions": kind, "normalization": None, "seed": None}


def _finish(
    alphas: np.ndarray,
    betas: np.ndarray | None,
    loss: np.ndarray,
    acc: np.ndarray,
    meta: dict[str, Any],
    rows: Sequence[int] | None = None,
) -> Landscape:
    """The read-only :class:`Landscape`, its ``evaluated`` mask from ``rows`` (None: every point); warns
    when an evaluated loss is not finite."""
    evaluated = np.zeros(loss.shape, dtype=bool)
    evaluated[slice(None) if rows is None else list(rows)] = True
    for array in (alphas, loss, acc, evaluated, *(() if betas is None else (betas,))):
        array.setflags(write=False)
    land = Landscape(alphas, betas, loss, acc, meta, evaluated)
    bad = land.n_nonfinite
    if bad:
        warnings.warn(
            f"{bad} of {int(evaluated.sum())} evaluated grid points have a non-finite loss (NaN/inf), "
            "kept as NaN/inf (gaps in the charts); see Landscape.summary()",
            RuntimeWarning,
            stacklevel=3,
        )
    return land


def _parse_shard(shard: Any) -> tuple[int, int] | None:
    from stablecore.results import parse_shard

    return parse_shard(shard)


def _prepare(
    span: Any, steps: Any, dims: int, data: Any, shard: tuple[int, int] | None, anchors: Sequence[float]
) -> np.ndarray:
    """Validate ``span`` and ``steps``, refuse a grid beyond the limits (:func:`check_grid_size`), then
    build it (:func:`landscape_grid`)."""
    _check_span(span)
    steps = _check_steps(steps)
    fraction = 1.0 if shard is None else 1.0 / shard[1]
    check_grid_size(steps, dims, _count_examples(data), fraction=fraction)
    return landscape_grid(span, steps, anchors)


def _shard_rows(parsed: tuple[int, int] | None, n_rows: int) -> list[int]:
    if parsed is None:
        return list(range(n_rows))
    return list(range(parsed[0], n_rows, parsed[1]))


def slice_1d(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    direction: Any = None,
    span: Sequence[float] = (-1.0, 1.0),
    steps: int = 51,
    normalization: str | None = "filter",
    seed: int = 0,
    chunk_size: int | None = None,
    batch_size: int | None = None,
    mode: str = "eval",
    param_filter: ParamFilter = None,
    shard: str | tuple[int, int] | None = None,
    progress: bool = True,
) -> Landscape:
    r"""The loss along a line, :math:`\alpha \mapsto \mathcal L(\theta + \alpha\delta)` (Li et al. 2018).

    Args:
        model: the network; never modified.
        loss_fn: ``loss_fn(model(x), y)`` returning a scalar mean.
        data: an ``(x, y)`` batch or a DataLoader (batches weighted by size).
        direction: None or ``"random"`` (a Gaussian direction normalised by ``normalization``, biases and
            norm layers still), ``"hessian"`` (the top eigenvector, unit norm), or a given direction (a
            mapping ``{name: tensor}``, a flat vector or a list of tensors; used as given).
        span: ``(start, stop)`` of :math:`\alpha`.
        steps: number of evenly spaced values (0 is always on the grid, module docstring).
        normalization: ``"filter"`` (default), ``"layer"``, ``"model"`` or None, for random directions.
        seed: seed of the random direction (or of the Lanczos start vector).
        chunk_size, batch_size: points per vmap call and examples per piece of a batch (see
            :func:`evaluate_points`); results do not depend on them.
        mode: ``"eval"`` (default) or ``"train"`` (BatchNorm policy, module docstring).
        param_filter: which parameters move (see :func:`~stablecore.curvature.select_parameters`).
        shard: ``"i/n"``: evaluate only the points ``i, i+n, ...`` (the others are NaN).
        progress: show a tqdm bar.

    Returns:
        A 1-D :class:`Landscape`.

    Raises:
        ValueError / TypeError: naming the argument (``steps < 2``, a ``span`` that is reversed, of zero
        or overflowing width or not finite, empty data, directions of the wrong shape, a grid beyond the
        memory or work limit (``steps``; module docstring), ...).

    Example:
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
        >>> x, y = torch.randn(8, 2), torch.randint(0, 2, (8,))
        >>> land = slice_1d(net, nn.CrossEntropyLoss(), (x, y), steps=5, progress=False)
        >>> land.alphas.tolist(), land.loss.shape
        ([-1.0, -0.5, 0.0, 0.5, 1.0], (5,))
    """
    _check_mode(model, mode)
    parsed = _parse_shard(shard)
    alphas = _prepare(span, steps, 1, data, parsed, (0.0,))
    chunk_size = _check_chunk(chunk_size)
    dirs, meta = _resolve_directions(
        model, loss_fn, data, direction, 1, normalization=normalization, seed=seed,
        param_filter=param_filter, mode=mode, argname="direction",
    )  # fmt: skip
    rows = _shard_rows(parsed, len(alphas))
    loss, acc = np.full(len(alphas), np.nan), np.full(len(alphas), np.nan)
    if rows:
        lv, av, info = _evaluate(
            model, loss_fn, data, dirs, alphas[rows, None], chunk_size=chunk_size, batch_size=batch_size,
            mode=mode, progress=progress, argument="steps",
        )  # fmt: skip
        loss[rows], acc[rows] = lv, av
        meta.update(info)
    meta.update(dims=1, span=tuple(_check_span(span)), steps=int(steps), mode=mode, shard=parsed)
    return _finish(alphas, None, loss, acc, meta, rows)


def slice_2d(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    directions: Any = None,
    span: Sequence[float] = (-1.0, 1.0),
    steps: int = 51,
    normalization: str | None = "filter",
    seed: int = 0,
    chunk_size: int | None = None,
    batch_size: int | None = None,
    mode: str = "eval",
    param_filter: ParamFilter = None,
    shard: str | tuple[int, int] | None = None,
    progress: bool = True,
) -> Landscape:
    r"""The loss on a plane, :math:`(\alpha, \beta) \mapsto \mathcal L(\theta + \alpha\delta + \beta\eta)`,
    on the grid ``span × span`` (Li et al. 2018, §4: two filter-normalised random directions by default).

    Args:
        directions: None or ``"random"`` (two draws from one generator seeded with ``seed``),
            ``"hessian"`` (the top two eigenvectors), or a pair of given directions (see
            :func:`slice_1d`).
        shard: ``"i/n"``: evaluate only the rows ``alphas[i], alphas[i+n], ...`` (the others are NaN),
            so ``n`` processes share a grid.
        model, loss_fn, data, span, steps, normalization, seed, chunk_size, batch_size, mode,
            param_filter, progress: as :func:`slice_1d`.

    Returns:
        A 2-D :class:`Landscape` with ``loss[i, j]`` at ``(alphas[i], betas[j])``.
    """
    _check_mode(model, mode)
    parsed = _parse_shard(shard)
    grid = _prepare(span, steps, 2, data, parsed, (0.0,))
    chunk_size = _check_chunk(chunk_size)
    dirs, meta = _resolve_directions(
        model, loss_fn, data, directions, 2, normalization=normalization, seed=seed,
        param_filter=param_filter, mode=mode, argname="directions",
    )  # fmt: skip
    rows = _shard_rows(parsed, len(grid))
    n = len(grid)
    loss, acc = np.full((n, n), np.nan), np.full((n, n), np.nan)
    if rows:
        a, b = np.meshgrid(grid[rows], grid, indexing="ij")
        lv, av, info = _evaluate(
            model, loss_fn, data, dirs, np.stack([a.ravel(), b.ravel()], axis=1), chunk_size=chunk_size,
            batch_size=batch_size, mode=mode, progress=progress, argument="steps",
        )  # fmt: skip
        loss[rows], acc[rows] = lv.reshape(len(rows), n), av.reshape(len(rows), n)
        meta.update(info)
    meta.update(dims=2, span=tuple(_check_span(span)), steps=int(steps), mode=mode, shard=parsed)
    return _finish(grid, grid.copy(), loss, acc, meta, rows)


def interpolate(
    model_a: nn.Module,
    model_b: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    steps: int = 51,
    span: Sequence[float] = (-0.5, 1.5),
    chunk_size: int | None = None,
    batch_size: int | None = None,
    mode: str = "eval",
    progress: bool = True,
) -> Landscape:
    r"""The loss on the line through two models (Goodfellow et al. 2015),
    :math:`t \mapsto \mathcal L\big(\theta_a + t(\theta_b - \theta_a)\big)`.

    Every parameter and every floating buffer (BatchNorm running statistics) is interpolated, so
    :math:`t = 0` is ``model_a`` and :math:`t = 1` is ``model_b`` (both exactly on the grid, module
    docstring); integer buffers are ``model_a``'s. Neither model is modified.

    Args:
        model_a, model_b: networks with the same parameter and buffer names and shapes.
        steps, span: ``steps`` evenly spaced values of :math:`t` over ``span``, plus 0 and 1.
        loss_fn, data, chunk_size, batch_size, mode, progress: as :func:`slice_1d`.

    Returns:
        A 1-D :class:`Landscape` (``alphas`` are the values of :math:`t`).
    """
    for name, m in (("model_a", model_a), ("model_b", model_b)):
        if not isinstance(m, nn.Module):
            raise TypeError(f"{name} must be an nn.Module, got {type(m).__name__}")
    _check_mode(model_a, mode)
    ts = _prepare(span, steps, 1, data, None, (0.0, 1.0))
    state_a = {**dict(model_a.named_parameters()), **dict(model_a.named_buffers())}
    state_b = {**dict(model_b.named_parameters()), **dict(model_b.named_buffers())}
    if set(state_a) != set(state_b):
        diff = sorted(set(state_a) ^ set(state_b))
        raise ValueError(f"model_b has other parameters/buffers than model_a: {diff[:5]}")
    direction = {}
    for n, ta in state_a.items():
        tb = state_b[n]
        if ta.shape != tb.shape:
            raise ValueError(f"model_b's {n!r} has shape {tuple(tb.shape)}, model_a's {tuple(ta.shape)}")
        if ta.is_floating_point():
            direction[n] = tb.detach().to(ta.device, ta.dtype) - ta.detach()
    loss, acc, info = _evaluate(
        model_a, loss_fn, data, [direction], ts[:, None], chunk_size=chunk_size, batch_size=batch_size,
        mode=mode, progress=progress, argument="steps",
    )  # fmt: skip
    meta = {
        "dims": 1,
        "directions": "interpolation",
        "normalization": None,
        "seed": None,
        "span": _check_span(span),
        "steps": int(steps),
        "mode": mode,
        "shard": None,
        **info,
    }
    return _finish(ts, None, loss, acc, meta)
