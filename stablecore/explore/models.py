"""Small models trained on demand and cached in the run store, for the dashboard and the notebooks.

A :class:`ModelSpec` names a data set, a model family and the few training knobs the dashboard exposes.
:func:`train_or_load` looks for a completed run of that spec under ``<home>/explore/`` (its manifest
records the spec and ``explore_key``, a hash of the spec's canonical JSON) and loads its checkpoint, or trains
one with :func:`stablecore.workflows.train_classifier` and stores it there; a second call, in the same
process or another, loads the stored model instead of training again.

Families (docs/chapters/ch03.md §4 for CPL / SLL / AOL; Cohen et al. 2019 for noise training):

* ``mlp``: a ReLU MLP (``hidden = (width,) * depth``), cross-entropy (offset cross-entropy when
  ``offset > 0``);
* ``cpl``, ``sll``, ``aol``: dense Lipschitz networks (``width × depth``, last-layer-normalised head),
  offset cross-entropy :math:`T\\cdot\\mathrm{CE}((z - \\text{offset}\\cdot e_y)/T, y)` when ``offset > 0``;
* ``noise``: the MLP trained on :math:`x + \\sigma\\varepsilon`, :math:`\\varepsilon\\sim\\mathcal N(0, I)`
  (:class:`~stablecore.train.GaussianNoise`), the base classifier of randomized smoothing.

Checkpoints ``epoch-<e>.pt`` are kept at a few epochs (:func:`snapshot_epochs`) besides ``last.pt`` so
curvature can be followed along training.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from stablecore.data import DatasetBundle, load_dataset
from stablecore.results import atomic_torch_save, read_json, runs_home
from stablecore.train import GaussianNoise

__all__ = [
    "DATASETS",
    "EMBEDDED_MODELS",
    "EXPERIMENT",
    "FAMILIES",
    "FAMILY_LABELS",
    "ExploreModel",
    "ModelSpec",
    "find_run",
    "snapshot_epochs",
    "spec_data",
    "train_or_load",
]

EXPERIMENT = "explore"
#: Data sets a spec may name (no download): the synthetic 2-D sets and scikit-learn's digits.
DATASETS: tuple[str, ...] = ("moons", "circles", "spirals", "blobs", "digits")
FAMILIES: tuple[str, ...] = ("mlp", "cpl", "sll", "aol", "noise")
FAMILY_LABELS: dict[str, str] = {
    "mlp": "standard MLP",
    "cpl": "CPL (convex potential layers)",
    "sll": "SLL (SDP-based Lipschitz layers)",
    "aol": "AOL (almost-orthogonal layers)",
    "noise": "noise-trained MLP (Gaussian σ)",
}
_SYNTHETIC = ("moons", "circles", "spirals", "blobs")
_TEMPERATURE = 0.25  # offset cross-entropy temperature (the offset-CE default)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    return int(value)


def _float(value: Any, name: str, lo: float, hi: float, *, open_lo: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value > hi or value < lo or (open_lo and value == lo):
        bracket = "(" if open_lo else "["
        raise ValueError(f"{name} must be in {bracket}{lo}, {hi}], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ModelSpec:
    """What to train: data set, family and knobs (validated; :meth:`canonical` drops unused knobs).

    Attributes:
        dataset: one of :data:`DATASETS`.
        family: one of :data:`FAMILIES`.
        epochs: training epochs (1..500).
        offset: loss offset (0 = plain cross-entropy), 0..10.
        sigma: training noise σ of the ``noise`` family (ignored by the others), 0 < σ ≤ 2.
        seed: data, initialisation and batch-order seed.
        n_samples: size of a synthetic data set (ignored for digits), 40..20000.
        width, depth: hidden width (even, for MaxMin) and number of hidden layers / residual blocks.
        lr: Adam learning rate.
        batch_size: training batch size.
    """

    dataset: str = "moons"
    family: str = "mlp"
    epochs: int = 15
    offset: float = 0.0
    sigma: float = 0.25
    seed: int = 0
    n_samples: int = 400
    width: int = 32
    depth: int = 2
    lr: float = 1e-2
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {FAMILIES}, got {self.family!r}")
        _int(self.epochs, "epochs", 1, 500)
        _float(self.offset, "offset", 0.0, 10.0)
        _float(self.sigma, "sigma", 0.0, 2.0, open_lo=True)
        _int(self.seed, "seed", 0, 2**31 - 1)
        _int(self.n_samples, "n_samples", 40, 20_000)
        _int(self.width, "width", 2, 1024)
        if self.width % 2:
            raise ValueError(f"width must be even (MaxMin pairs channels), got {self.width}")
        _int(self.depth, "depth", 1, 16)
        _float(self.lr, "lr", 0.0, 1.0, open_lo=True)
        _int(self.batch_size, "batch_size", 1, 4096)

    def canonical(self) -> ModelSpec:
        """The same spec with the knobs its family / data set ignores set to their defaults, so two
        specs that train the same model share one cache entry."""
        default = ModelSpec()
        spec = self
        if self.family != "noise":
            spec = replace(spec, sigma=default.sigma)
        if self.dataset not in _SYNTHETIC:
            spec = replace(spec, n_samples=default.n_samples)
        return spec

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.canonical())

    def key(self) -> str:
        """12 hex digits of the SHA-256 of the canonical spec's JSON (stable across processes)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def label(self) -> str:
        extra = f", σ={self.sigma:g}" if self.family == "noise" else ""
        offset = f", offset {self.offset:g}" if self.offset > 0 else ""
        return f"{self.family} on {self.dataset} ({self.epochs} epochs{offset}{extra}, seed {self.seed})"


#: The models the dashboard can train on demand and its pickers offer first (``embedded:<name>``): no
#: download and no stored run needed.
EMBEDDED_MODELS: dict[str, ModelSpec] = {
    "moons-mlp": ModelSpec("moons", "mlp"),
    "moons-sll": ModelSpec("moons", "sll", offset=1.0),
    "moons-noise": ModelSpec("moons", "noise", sigma=0.25),
    "digits-mlp": ModelSpec("digits", "mlp", epochs=8, width=32, depth=1),
}


@dataclass(frozen=True)
class ExploreModel:
    """A model of a spec: the spec, its run directory, the model (eval mode, CPU), the data set, whether
    this call trained it (False: loaded from the run store), and the seconds it took."""

    spec: ModelSpec
    run_path: Path
    model: nn.Module
    data: DatasetBundle
    trained: bool
    seconds: float


def spec_data(spec: ModelSpec) -> DatasetBundle:
    """The data set of ``spec`` (seeded by ``spec.seed``; synthetic sets have ``n_samples`` points)."""
    return load_dataset(spec.dataset, **_data_kwargs(spec))


def _data_kwargs(spec: ModelSpec) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"seed": spec.seed}
    if spec.dataset in _SYNTHETIC:
        kwargs["n_samples"] = spec.n_samples
    return kwargs


def snapshot_epochs(epochs: int, count: int = 4) -> list[int]:
    """Epochs at which a checkpoint ``epoch-<e>.pt`` is kept: about ``count`` epochs spread
    geometrically from 1 to ``epochs`` (always 1 and ``epochs``)."""
    epochs = _int(epochs, "epochs", 1, 10**6)
    if epochs == 1:
        return [1]
    points = {1, epochs}
    for i in range(1, count - 1):
        points.add(round(epochs ** (i / (count - 1))))
    return sorted(p for p in points if 1 <= p <= epochs)


class _Snapshots:
    """Trainer callback: save the model (with its config) as ``epoch-<e>.pt`` at the given epochs."""

    def __init__(self, epochs: list[int]) -> None:
        self.epochs = set(epochs)

    def __call__(self, trainer: Any, epoch: int, metrics: dict) -> None:
        if epoch in self.epochs and trainer.run is not None:
            state = {
                "model": trainer.model.state_dict(),
                "model_config": trainer.model_config,
                "epoch": epoch,
            }
            atomic_torch_save(trainer.run.checkpoint_path(f"epoch-{epoch:04d}.pt"), state)
        return None


def find_run(spec: ModelSpec, home: str | os.PathLike | None = None) -> Path | None:
    """The newest completed run of ``spec`` under ``<home>/explore/`` (manifest ``explore_key`` equal to
    ``spec.key()`` and ``explore_spec`` equal to the canonical spec) with a ``last.pt``, or None.
    Unreadable, unfinished or failed runs are skipped."""
    root = runs_home(home) / EXPERIMENT
    if not root.is_dir():
        return None
    spec = spec.canonical()
    key, wanted = spec.key(), spec.to_dict()
    found = []
    for path in root.iterdir():
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            manifest = read_json(path / "manifest.json")
        except (OSError, ValueError):
            continue
        if (
            isinstance(manifest, dict)
            and manifest.get("explore_key") == key
            and manifest.get("explore_spec") == wanted
            and manifest.get("status") == "completed"
            and (path / "checkpoints" / "last.pt").is_file()
        ):
            stamp = (path / "manifest.json").stat().st_mtime_ns  # orders runs finished in the same second
            found.append((str(manifest.get("end_time") or ""), stamp, path.name, path))
    return max(found)[-1] if found else None


def _model_kwargs(spec: ModelSpec) -> dict[str, Any]:
    if spec.family in ("mlp", "noise"):
        return {"hidden": [spec.width] * spec.depth}
    return {"width": spec.width, "depth": spec.depth, "head": "lln"}


def train_or_load(
    spec: ModelSpec, *, home: str | os.PathLike | None = None, progress: bool = False
) -> ExploreModel:
    """Load the stored model of ``spec`` (:func:`find_run`) or train and store it (module docstring).

    Training runs on the CPU with Adam, a constant learning rate and no mixed precision, so the same spec
    gives the same weights on every machine; the run's manifest records the spec (``explore_spec``) and
    the training noise of the ``noise`` family (``transform``).

    A stored run whose checkpoint cannot be loaded is left untouched and the spec is trained again
    (the new run is the newest, so it is the one found next time).

    Raises:
        TypeError: ``spec`` is not a :class:`ModelSpec`.
    """
    from stablecore.workflows import load_model, train_classifier

    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    spec = spec.canonical()
    start = time.perf_counter()
    found = find_run(spec, home)
    if found is not None:
        try:
            model = load_model(found, device="cpu")
        except Exception:  # an unreadable checkpoint is left as it is and the spec trained again
            found = None
        else:
            return ExploreModel(spec, found, model, spec_data(spec), False, time.perf_counter() - start)
    model_name = "mlp" if spec.family == "noise" else spec.family
    loss, loss_kwargs = ("ce", {}) if spec.offset == 0 else (
        "offset_ce", {"offset": spec.offset, "temperature": _TEMPERATURE}
    )  # fmt: skip
    extra: dict[str, Any] = {}
    if spec.family == "noise":
        extra["transform"] = GaussianNoise(spec.sigma)
    result = train_classifier(
        spec.dataset,
        model_name,
        epochs=spec.epochs,
        mode="quick",
        seed=spec.seed,
        device="cpu",
        loss=loss,
        loss_kwargs=loss_kwargs,
        data_kwargs=_data_kwargs(spec),
        model_kwargs=_model_kwargs(spec),
        train_kwargs={
            "batch_size": spec.batch_size,
            "lr": spec.lr,
            "optimizer": "adam",
            "scheduler": None,
            "weight_decay": 0.0,
            "amp": False,
        },
        experiment=EXPERIMENT,
        home=home,
        progress=progress,
        callbacks=[_Snapshots(snapshot_epochs(spec.epochs))],
        **extra,
    )
    result.run.update_manifest(
        explore_key=spec.key(),
        explore_spec=spec.to_dict(),
        transform={"name": "gaussian_noise", "sigma": spec.sigma} if spec.family == "noise" else None,
    )
    model = result.model.to("cpu").eval()
    return ExploreModel(spec, result.run.path, model, result.data, True, time.perf_counter() - start)
