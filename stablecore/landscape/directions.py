r"""Directions in parameter space for loss-landscape slices.

A direction is a dict ``{parameter name: tensor}`` with the parameter's shape (names missing from it
move by zero). Slices evaluate :math:`\mathcal L(\theta + \alpha\,\delta + \beta\,\eta)`.

**Filter normalisation** (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets", §4): a random
Gaussian direction :math:`d` is rescaled filter by filter so that every filter (row :math:`i` of a weight
tensor along its first, output, dimension) has the norm of the model's filter,

.. math::

    d_{i} \leftarrow \frac{d_{i}}{\|d_{i}\|_F}\,\|\theta_{i}\|_F ,

which makes landscapes of scale-invariant networks (ReLU + BatchNorm) comparable. ``"layer"`` applies
the same rule to whole tensors, ``"model"`` to the concatenation of all covered tensors, ``None`` keeps
the raw Gaussian. With ``ignore="biasbn"`` (default, Li et al.'s ``--xignore biasbn``) biases, 1-D
parameters and every parameter of a normalisation layer (BatchNorm, LayerNorm, GroupNorm, InstanceNorm)
get a zero direction; with ``ignore=None`` such a parameter's direction is the parameter itself, as in
Li et al.'s code (``d.copy_(w)``).

Other sources: top Hessian eigenvectors (:func:`hessian_directions`, unit vectors of the whole covered
parameter space) and the PCA of a training trajectory (:func:`pca_directions`, Li et al. §7).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stablecore.curvature.operators import LossFn, ParamFilter, select_parameters

__all__ = [
    "IGNORES",
    "NORMALIZATIONS",
    "Direction",
    "TrajectoryPCA",
    "TrajectoryRecorder",
    "as_direction",
    "direction_norm",
    "hessian_directions",
    "ignored_parameters",
    "load_trajectory",
    "normalize_direction",
    "pca_directions",
    "random_direction",
    "random_directions",
]

Direction = dict[str, torch.Tensor]
NORMALIZATIONS = ("filter", "layer", "model", None)
IGNORES = ("biasbn", None)
_EPS = 1e-10  # Li et al.'s guard against a zero filter of the direction
_NORM_LAYERS = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.pt$")


def _check_choice(value: Any, name: str, choices: tuple) -> Any:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def ignored_parameters(model: nn.Module) -> set[str]:
    """Names of the parameters that ``ignore="biasbn"`` leaves still: tensors with at most one dimension
    (biases, BatchNorm scales) and every parameter owned by a normalisation layer."""
    names = {n for n, p in model.named_parameters() if p.ndim <= 1}
    for prefix, module in model.named_modules():
        if isinstance(module, _NORM_LAYERS):
            names.update(f"{prefix}.{n}" if prefix else n for n, _ in module.named_parameters())
    return names


def _covered(model: nn.Module, param_filter: ParamFilter) -> dict[str, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    return {n: p.detach() for n, p in select_parameters(model, param_filter).items()}


def direction_norm(direction: Mapping[str, torch.Tensor]) -> float:
    r""":math:`\|d\|_2` over all tensors of a direction (float64 accumulation)."""
    return float(sum(float(t.detach().double().pow(2).sum()) for t in direction.values()) ** 0.5)


def normalize_direction(
    direction: Mapping[str, torch.Tensor],
    model: nn.Module,
    *,
    normalization: str | None = "filter",
    ignore: str | None = "biasbn",
) -> Direction:
    r"""Rescale ``direction`` to the model's scale (module docstring; Li et al. 2018, §4).

    .. math::

        \text{filter: } d_i \leftarrow \frac{d_i}{\|d_i\| + \epsilon}\|\theta_i\|,\qquad
        \text{layer: } d \leftarrow \frac{d}{\|d\| + \epsilon}\|\theta\|,\qquad
        \text{model: } d \leftarrow \frac{d}{\|d\|}\|\theta\| \text{ over all covered tensors},

    with :math:`\epsilon = 10^{-10}`. Tensors of :func:`ignored_parameters` become zero
    (``ignore="biasbn"``) or a copy of the parameter (``ignore=None``, as Li et al.'s code).

    Args:
        direction: ``{name: tensor}`` with the parameters' shapes (not modified).
        model: the network whose parameters set the scale (not modified).
        normalization: ``"filter"``, ``"layer"``, ``"model"`` or ``None``.
        ignore: ``"biasbn"`` or ``None``.

    Returns:
        A new direction with the same keys.

    Raises:
        ValueError: unknown ``normalization``/``ignore``; a name or shape that the model lacks.

    Example:
        >>> lin = nn.Linear(3, 2)
        >>> d = normalize_direction({"weight": torch.ones(2, 3), "bias": torch.ones(2)}, lin)
        >>> torch.allclose(d["weight"].norm(dim=1), lin.weight.detach().norm(dim=1))
        True
        >>> float(d["bias"].abs().sum())
        0.0
    """
    _check_choice(normalization, "normalization", NORMALIZATIONS)
    _check_choice(ignore, "ignore", IGNORES)
    params = {n: p.detach() for n, p in model.named_parameters()}
    direction = _check_direction(direction, params, "direction")
    skipped = ignored_parameters(model)
    out: Direction = {}
    for name, d in direction.items():
        theta = params[name]
        d = d.to(theta.device, theta.dtype)
        if name in skipped:
            out[name] = torch.zeros_like(theta) if ignore == "biasbn" else theta.clone()
        elif normalization == "filter":
            rows = d.reshape(d.shape[0], -1)
            scale = theta.reshape(theta.shape[0], -1).norm(dim=1) / (rows.norm(dim=1) + _EPS)
            out[name] = (rows * scale[:, None]).reshape(d.shape)
        elif normalization == "layer":
            out[name] = d * (theta.norm() / (d.norm() + _EPS))
        else:
            out[name] = d.clone()
    if normalization == "model":
        moving = [n for n in out if n not in skipped]
        d_norm = direction_norm({n: out[n] for n in moving})
        t_norm = direction_norm({n: params[n] for n in moving})
        for n in moving:
            out[n] = out[n] * (t_norm / (d_norm + _EPS))
    return out


def _check_direction(
    direction: Any, params: Mapping[str, torch.Tensor], name: str
) -> dict[str, torch.Tensor]:
    if not isinstance(direction, Mapping):
        raise TypeError(
            f"{name} must be a mapping {{parameter name: tensor}}, got {type(direction).__name__}"
        )
    out = {}
    for key, value in direction.items():
        if key not in params:
            raise ValueError(f"{name} names {key!r}, which is not a parameter of the model")
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name}[{key!r}] must be a tensor, got {type(value).__name__}")
        if value.shape != params[key].shape:
            raise ValueError(
                f"{name}[{key!r}] has shape {tuple(value.shape)}, the parameter {tuple(params[key].shape)}"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{name}[{key!r}] has non-finite entries")
        out[key] = value.detach()
    return out


def as_direction(
    model: nn.Module, value: Any, *, name: str = "direction", param_filter: ParamFilter = None
) -> Direction:
    """A direction from a mapping ``{name: tensor}``, a flat vector over the covered parameters (in
    ``model.named_parameters()`` order, as :class:`~stablecore.curvature.HessianOperator` flattens), or a
    sequence of tensors in that order. Tensors are detached and moved to the parameters' device/dtype.

    Raises:
        TypeError: ``value`` of another type; ValueError: wrong names, shapes or length (message names
        ``name``).
    """
    params = _covered(model, param_filter)
    if isinstance(value, Mapping):
        all_params = {n: p.detach() for n, p in model.named_parameters()}
        d = _check_direction(value, all_params, name)
    elif isinstance(value, torch.Tensor):
        size = sum(p.numel() for p in params.values())
        if value.ndim != 1 or value.numel() != size:
            raise ValueError(
                f"{name} as a flat tensor must have shape ({size},) (the covered parameters), "
                f"got {tuple(value.shape)}"
            )
        d, i = {}, 0
        for n, p in params.items():
            d[n] = value[i : i + p.numel()].detach().reshape(p.shape)
            i += p.numel()
        d = _check_direction(d, params, name)
    elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        if len(value) != len(params):
            raise ValueError(f"{name} as a sequence needs {len(params)} tensors, got {len(value)}")
        d = _check_direction(dict(zip(params, value)), params, name)
    else:
        raise TypeError(
            f"{name} must be a mapping {{name: tensor}}, a flat tensor or a sequence of tensors, "
            f"got {type(value).__name__}"
        )
    all_params = dict(model.named_parameters())
    return {n: t.to(all_params[n].device, all_params[n].dtype) for n, t in d.items()}


def random_direction(
    model: nn.Module,
    *,
    normalization: str | None = "filter",
    ignore: str | None = "biasbn",
    seed: int = 0,
    generator: torch.Generator | None = None,
    param_filter: ParamFilter = None,
) -> Direction:
    r"""A Gaussian direction :math:`d \sim \mathcal N(0, I)` over the covered parameters, normalised by
    :func:`normalize_direction` (filter-wise by default, biases and norm layers still; Li et al. 2018).

    Entries are drawn on the CPU in float32 from ``generator`` (default: a fresh one seeded with
    ``seed``), parameter after parameter in ``named_parameters()`` order, so the direction is the same on
    every device.

    Args:
        model: the network (not modified).
        normalization, ignore: see :func:`normalize_direction`.
        seed: seed of the generator when none is given.
        generator: a ``torch.Generator`` (CPU) to draw from; it advances.
        param_filter: which parameters move (see :func:`~stablecore.curvature.select_parameters`).

    Example:
        >>> net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
        >>> d = random_direction(net, seed=1)
        >>> sorted(d), float(d["0.bias"].abs().sum())
        (['0.bias', '0.weight', '2.bias', '2.weight'], 0.0)
    """
    params = _covered(model, param_filter)
    if generator is None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        generator = torch.Generator().manual_seed(int(seed))
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    raw = {
        n: torch.randn(p.shape, generator=generator, dtype=torch.float32, device=generator.device)
        for n, p in params.items()
    }
    return normalize_direction(raw, model, normalization=normalization, ignore=ignore)


def random_directions(
    model: nn.Module,
    count: int = 2,
    *,
    normalization: str | None = "filter",
    ignore: str | None = "biasbn",
    seed: int = 0,
    generator: torch.Generator | None = None,
    param_filter: ParamFilter = None,
) -> list[Direction]:
    """``count`` independent :func:`random_direction` draws from one generator (seeded with ``seed``);
    in high dimension they are nearly orthogonal, and are not orthogonalised (as Li et al.)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an int >= 1, got {count!r}")
    if generator is None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        generator = torch.Generator().manual_seed(int(seed))
    return [
        random_direction(
            model, normalization=normalization, ignore=ignore, generator=generator, param_filter=param_filter
        )
        for _ in range(count)
    ]


def hessian_directions(
    model: nn.Module,
    loss_fn: LossFn,
    data: Any,
    *,
    k: int = 2,
    which: str = "LA",
    seed: int = 0,
    param_filter: ParamFilter = None,
    mode: str = "eval",
    tol: float = 1e-4,
) -> list[Direction]:
    r"""The top-``k`` eigenvectors :math:`v_1, \dots, v_k` of the loss Hessian as directions: unit
    vectors (:math:`\|v_j\|_2 = 1`) of the covered parameter space, so :math:`\alpha` is a distance in
    parameter space. Computed by :func:`~stablecore.curvature.hessian_eigenvalues` (Lanczos;
    ``which="LA"``: the sharpest directions). Not normalised further; the sign of each is arbitrary.

    Args:
        model, loss_fn, data, param_filter, mode: see :class:`~stablecore.curvature.HessianOperator`
            (the model is never modified).
        k: number of directions; which, tol, seed: passed to ``hessian_eigenvalues``.
    """
    from stablecore.curvature import hessian_eigenvalues

    res = hessian_eigenvalues(
        model, loss_fn, data, k=k, which=which, seed=seed, tol=tol, param_filter=param_filter, mode=mode,
        return_eigenvectors=True,
    )  # fmt: skip
    if res.eigenvectors is None:
        raise RuntimeError("hessian_eigenvalues returned no eigenvectors")
    return [as_direction(model, v, name="eigenvector", param_filter=param_filter) for v in res.eigenvectors]


# ---------------------------------------------------------------------------------------- trajectory
@dataclass(frozen=True)
class TrajectoryPCA:
    r"""Principal directions of a training trajectory (Li et al. 2018, §7).

    Attributes:
        directions: ``k`` orthonormal directions (unit :math:`\ell_2` norm over the covered parameters).
        explained_variance_ratio: ``(k,)`` share of the trajectory's variance along each direction.
        coordinates: ``(m, k)`` projection :math:`\langle \theta_t - \theta, u_j\rangle` of each state of
            the trajectory relative to the model's parameters :math:`\theta` (the landscape's centre).
    """

    directions: list[Direction]
    explained_variance_ratio: np.ndarray
    coordinates: np.ndarray


def _state_of(item: Any, where: str) -> Mapping[str, torch.Tensor]:
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        if not path.is_file():
            raise FileNotFoundError(f"{where}: no checkpoint file {path}")
        item = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(item, nn.Module):
        return item.state_dict()
    if isinstance(item, Mapping) and isinstance(item.get("model"), Mapping):
        return item["model"]  # a Trainer checkpoint
    if isinstance(item, Mapping):
        return item
    raise TypeError(f"{where} must be a state_dict, a checkpoint path or a module, got {type(item).__name__}")


def load_trajectory(trajectory: Any) -> list[Mapping[str, torch.Tensor]]:
    """The states of a trajectory: a sequence of state_dicts, modules, Trainer checkpoints or checkpoint
    paths, or a run directory whose ``checkpoints/epoch-<e>.pt`` files (written by
    :class:`TrajectoryRecorder` with ``save=True``) are taken in epoch order.

    The Trainer itself keeps only ``checkpoints/last.pt``, which is one point and no trajectory.
    """
    if isinstance(trajectory, (str, os.PathLike)) and Path(trajectory).is_dir():
        folder = Path(trajectory) / "checkpoints"
        files = sorted(
            (int(m.group(1)), p)
            for p in (folder.iterdir() if folder.is_dir() else [])
            if (m := _EPOCH_FILE.match(p.name))
        )
        if len(files) < 2:
            raise ValueError(
                f"trajectory: run {trajectory} has {len(files)} checkpoints/epoch-<e>.pt file(s); a PCA "
                "needs at least 2 (the Trainer keeps only last.pt: train with "
                "TrajectoryRecorder(save=True) among the callbacks, or pass a list of state_dicts)"
            )
        trajectory = [p for _, p in files]
    if isinstance(trajectory, (str, bytes, os.PathLike, Mapping)) or not isinstance(trajectory, Iterable):
        raise TypeError(
            "trajectory must be a sequence of state_dicts / checkpoint paths or a run directory, "
            f"got {type(trajectory).__name__}"
        )
    return [_state_of(item, f"trajectory[{i}]") for i, item in enumerate(trajectory)]


def pca_directions(
    model: nn.Module,
    trajectory: Any,
    *,
    k: int = 2,
    ignore: str | None = "biasbn",
    center: bool = True,
    param_filter: ParamFilter = None,
) -> TrajectoryPCA:
    r"""Directions from the PCA of a training trajectory around the model (Li et al. 2018, §7).

    With :math:`\theta` the model's (final) parameters and :math:`\theta_1, \dots, \theta_m` the states
    of the trajectory, the rows :math:`D_t = \theta_t - \theta` (ignored parameters set to zero with
    ``ignore="biasbn"``), centred over :math:`t` when ``center`` (as ``sklearn.decomposition.PCA``), are
    decomposed :math:`D = U \Sigma V^\top` in float64; the directions are the top ``k`` right singular
    vectors :math:`u_j = V_{:,j}`, orthonormal, with explained variance ratio
    :math:`\sigma_j^2 / \sum_i \sigma_i^2`, and the trajectory's coordinates are
    :math:`\langle \theta_t - \theta, u_j\rangle` (the model itself sits at the origin).

    Args:
        model: the centre of the landscape (usually the final model); not modified.
        trajectory: see :func:`load_trajectory` (states must hold every covered parameter).
        k: number of directions, at most ``m`` (``m - 1`` when centred).
        ignore: ``"biasbn"`` (default) or ``None``.
        center: subtract the mean state difference before the SVD.
        param_filter: which parameters (see :func:`~stablecore.curvature.select_parameters`).

    Raises:
        ValueError: fewer than 2 states, ``k`` too large, missing or mis-shaped parameters.
    """
    _check_choice(ignore, "ignore", IGNORES)
    params = _covered(model, param_filter)
    states = load_trajectory(trajectory)
    if len(states) < 2:
        raise ValueError(f"trajectory needs at least 2 states, got {len(states)}")
    rank = len(states) - 1 if center else len(states)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= rank:
        raise ValueError(f"k must be an int in [1, {rank}] for {len(states)} states, got {k!r}")
    skipped = ignored_parameters(model) if ignore == "biasbn" else set()
    moving = [n for n in params if n not in skipped]
    if not moving:
        raise ValueError("no parameter moves: every covered parameter is a bias or a norm-layer parameter")
    rows = []
    for t, state in enumerate(states):
        parts = []
        for n in moving:
            if n not in state:
                raise ValueError(f"trajectory[{t}] lacks the parameter {n!r}")
            value = state[n]
            if not isinstance(value, torch.Tensor) or value.shape != params[n].shape:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(
                    f"trajectory[{t}][{n!r}] has shape {shape}, the model {tuple(params[n].shape)}"
                )
            parts.append((value.detach().cpu().double() - params[n].cpu().double()).reshape(-1))
        rows.append(torch.cat(parts))
    diffs = torch.stack(rows)
    centred = diffs - diffs.mean(dim=0, keepdim=True) if center else diffs
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    total = float((s**2).sum())
    if total == 0.0:
        raise ValueError("trajectory: every state equals the model (no variance to decompose)")
    vectors = vh[:k]
    coordinates = (diffs @ vectors.T).numpy()
    directions = []
    for v in vectors:
        d, i = {}, 0
        for n, p in params.items():
            if n in skipped:
                d[n] = torch.zeros_like(p)
                continue
            d[n] = v[i : i + p.numel()].reshape(p.shape).to(p.device, p.dtype)
            i += p.numel()
        directions.append(d)
    return TrajectoryPCA(
        directions=directions,
        explained_variance_ratio=(s[:k] ** 2 / total).numpy(),
        coordinates=coordinates,
    )


class TrajectoryRecorder:
    """Trainer callback keeping the parameters after every ``every``-th epoch, for :func:`pca_directions`.

    ``states`` holds CPU copies of ``model.state_dict()`` (call :meth:`record` before training to add the
    initial point); with ``save=True`` each is also written to the trainer's run as
    ``checkpoints/epoch-<e>.pt`` (the state_dict alone, loadable with ``weights_only=True``), so
    ``pca_directions(model, run_path)`` finds them.

    Args:
        every: record every ``every`` epochs.
        save: also write the checkpoints into the run (needs ``Trainer(run=...)``).
        keep: keep the states in memory (``states``).
    """

    def __init__(self, every: int = 1, *, save: bool = False, keep: bool = True) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1, got {every!r}")
        self.every, self.save, self.keep = every, bool(save), bool(keep)
        self.states: list[dict[str, torch.Tensor]] = []
        self.epochs: list[int] = []

    def record(self, model: nn.Module, epoch: int = 0, run: Any = None) -> None:
        """Add the model's current state (as epoch ``epoch``)."""
        state = {n: t.detach().cpu().clone() for n, t in model.state_dict().items()}
        if self.keep:
            self.states.append(state)
            self.epochs.append(int(epoch))
        if self.save:
            if run is None:
                raise ValueError("TrajectoryRecorder(save=True) needs a run: Trainer(..., run=...)")
            from stablecore.results import atomic_torch_save

            atomic_torch_save(run.checkpoint_path(f"epoch-{int(epoch)}.pt"), state)

    def __call__(self, trainer: Any, epoch: int, metrics: Mapping[str, float]) -> None:
        if epoch % self.every == 0:
            model = getattr(trainer.model, "module", trainer.model)  # DDP wraps the model
            self.record(model, epoch, getattr(trainer, "run", None))
        return None
