"""Chapter 4: curvature regularisation of the loss (parameter sensitivity), incl. "activation decay".

**This chapter is a documented RECONSTRUCTION.** docs/chapters/ch04.md §5: the thesis's curvature chapter is
known only from its abstract and a secondary summary (flat minima, noise injection, activation decay,
Weierstrass transform, "Hessian-bounded loss regularization"); no paper or code describes its method and the
chapter note gives no number. Every reported row is therefore "not transcribed". The regularisers, networks,
strengths and metrics below are the note's reconstruction [I] (its candidate list and suggested notebook),
**not the thesis's own method or tables**; align them once the PDF is read.

Experiments (functions of a :class:`Ch04Config`, ``quick`` on a 2-core CPU or ``full`` on a GPU; each
returns a tidy DataFrame; every curvature number is labelled ``estimate``):

* :func:`hessian_spectrum` -- top-k eigenvalues (both ends), trace and spectral density of the digits MLP's
  training-loss Hessian at initialisation and after training, with λ_max and the trace tracked during
  training (:func:`spectrum_summary` condenses it);
* :func:`landscapes` -- 1-D and 2-D filter-normalised loss landscapes of a standard, a Lipschitz (SLL) and a
  curvature-regularised network (:func:`landscape_of`, :func:`landscape_summary`,
  :func:`landscape_flatness`);
* :func:`hessian_bound_gap` -- the Hessian-bound (an ``upper_bound`` of each layer's diagonal Hessian
  block) next to the exact norm of that block, on a network small enough for its dense float64 Hessian
  (:func:`tiny_problem`, also the notebook's test bed for its from-scratch cells);
* :func:`regularizer_comparison` -- test accuracy, λ_max, trace, landscape flatness and training time per
  regulariser over several seeds (quick: digits MLP; full: ResNet-20 on CIFAR-10), condensed to mean ± std
  by :func:`comparison_summary`;
* :func:`reported_comparison` -- our values next to :data:`REPORTED` (all "not transcribed").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from stablecore.chapters.common import COMPARISON_COLUMNS as COMPARISON_COLUMNS
from stablecore.chapters.common import (
    Compared,
    Getter,
    ModeConfig,
    check_seed,
    comparison_table,
    experiment,
    resolve_config,
)
from stablecore.chapters.common import compared_ids as common_compared_ids
from stablecore.chapters.reported import ReportedNumber, load_reported
from stablecore.chapters.validate import (
    check_choice,
    check_frame,
    check_int,
    check_int_tuple,
    check_ints,
    check_mode,
    check_numbers,
    check_optional_int,
    check_optional_path,
    is_number,
)
from stablecore.curvature import (
    HessianOperator,
    hessian_density,
    hessian_eigenvalues,
    hessian_trace,
    parameter_hessian_bounds,
)
from stablecore.curvature.callbacks import CurvatureTracker
from stablecore.data import load_dataset
from stablecore.landscape import Landscape, landscape_flatness, slice_1d, slice_2d
from stablecore.models import build_model
from stablecore.train import eval_mode, evaluate
from stablecore.workflows import train_classifier

CHAPTER: int = 4
TITLE: str = "Curvature regularisation of the loss: parameter sensitivity, flat minima, activation decay"
NOTEBOOK: str = "notebooks/ch04_curvature.ipynb"

REPORTED: tuple[ReportedNumber, ...] = load_reported(CHAPTER)
"""The chapter's reported numbers (data file ``stablecore/chapters/reported/ch04.csv``)."""


# =================================================================================== experiments
# Everything below is a RECONSTRUCTION (docs/chapters/ch04.md §5): the thesis's curvature chapter is known
# only from its abstract and a secondary summary, so the regularisers, models, strengths and metrics here are
# our reading of its candidate list and suggested notebook, NOT the thesis's method or its tables.

RECONSTRUCTION_NOTE: str = (
    "RECONSTRUCTION (docs/chapters/ch04.md §5): the thesis's curvature chapter is known only from its "
    "abstract and a secondary summary; these regularisers, models and metrics are our reading, not the "
    "thesis's method"
)

_COMPARE_DATASETS: tuple[str, ...] = ("digits", "cifar10")
_SPECTRUM_MODELS: tuple[str, ...] = ("mlp",)
_LANDSCAPE_ROLES: tuple[str, ...] = ("standard", "lipschitz", "regularised")
_TRAINER_KEYS: tuple[str, ...] = ("penalties", "step", "callbacks", "transform")
_ACTIVATIONS: tuple[str, ...] = ("relu", "tanh", "gelu", "softplus", "elu", "sigmoid")

#: Default regulariser strengths for :func:`stablecore.curvature.regularizers.build_regularizer` (chosen
#: for the digits MLP so that no regulariser destroys accuracy in a few epochs; not tuned, not the thesis's).
DEFAULT_STRENGTHS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "none": MappingProxyType({}),
        "weight_decay": MappingProxyType({"weight": 5e-4}),
        "activation_decay": MappingProxyType({"weight": 1e-3}),
        "trace": MappingProxyType({"weight": 1e-3, "num_samples": 1}),
        "grad_norm": MappingProxyType({"weight": 1e-2}),
        "sam": MappingProxyType({"rho": 0.05}),
        "noise": MappingProxyType({"sigma": 1e-2}),
        "hessian_bound": MappingProxyType({"weight": 1e-3}),
    }
)
_ALL_REGULARISERS: tuple[str, ...] = tuple(DEFAULT_STRENGTHS)
# our regulariser names -> the names of the REPORTED rows (written before the regularizers module existed)
_REPORTED_NAME: Mapping[str, str] = MappingProxyType(
    {"trace": "hutchinson_trace", "grad_norm": "gradient_norm", "noise": "noise_injection"}
)


@dataclass(frozen=True)
class Ch04Config(ModeConfig):
    """Networks, data sizes, epochs and curvature-estimator budgets of the chapter's experiments.

    Use :meth:`quick` (2-core CPU, the notebook in about a minute) or :meth:`full` (GPU, ResNet-20 on
    CIFAR-10 for the regulariser comparison), or :meth:`for_mode`; change single fields with
    :func:`dataclasses.replace`.

    The digits networks are MLPs with a **smooth** activation (``activation``, default tanh) so that the
    Hessian-bound penalty (which refuses ReLU, whose second derivative is unbounded) applies to the same
    network as every other regulariser. Every curvature number is measured on the *training* loss
    (cross-entropy, mean) over a fixed seeded subset of ``hessian_examples`` training examples, with every
    module in eval mode (:mod:`stablecore.curvature`'s default policy), and is an ``estimate``.
    """

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    """torch and BLAS CPU threads during an experiment (restored afterwards); ``None`` leaves them."""
    # shared digits recipe (Adam, constant learning rate, plain cross-entropy)
    lr: float = 2e-2
    batch_size: int = 256
    mlp_hidden: tuple[int, ...] = (32, 32)
    activation: str = "tanh"
    # curvature estimators
    hessian_examples: int = 512
    top_k: int = 5
    trace_samples: int = 30
    density_steps: int = 40
    density_runs: int = 2
    # tiny float64 network with a dense Hessian (tiny_problem, hessian_bound_gap); the same in both modes
    tiny_hidden: tuple[int, ...] = (4,)
    tiny_examples: int = 64
    tiny_steps: int = 60
    """full-batch Adam steps (lr ``lr``) of the tiny network on its ``tiny_examples`` examples (0: none)."""
    # hessian_spectrum
    spectrum_epochs: int = 10
    track_every: int = 2
    track_trace_samples: int = 10
    # landscapes
    landscape_epochs: int = 10
    lipschitz_family: str = "sll"
    lipschitz_width: int = 32
    lipschitz_depth: int = 2
    landscape_regularizer: str = "hessian_bound"
    landscape_span: float = 1.0
    landscape_steps_1d: int = 41
    landscape_steps_2d: int = 21
    # regularizer_comparison
    compare_dataset: str = "digits"
    compare_epochs: int = 4
    regularizers: tuple[str, ...] = _ALL_REGULARISERS
    strengths: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: DEFAULT_STRENGTHS)
    """regulariser name -> keyword arguments of ``build_regularizer`` (default :data:`DEFAULT_STRENGTHS`)."""
    n_seeds: int = 3
    flatness_radius: float = 0.5
    flatness_steps: int = 11
    # CIFAR-10 (full mode only): ResNet-20, SGD + cosine
    cifar_model: str = "resnet20"
    cifar_activation: str = "relu"
    cifar_batch_size: int = 128
    cifar_lr: float = 0.1
    cifar_root: str | None = None
    """data root holding ``cifar-10-batches-py`` (default ``$STABLECORE_DATA``); never downloaded."""

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_ints(self, (
            "batch_size", "hessian_examples", "top_k", "trace_samples", "density_runs", "spectrum_epochs",
            "track_every", "track_trace_samples", "landscape_epochs", "lipschitz_width", "lipschitz_depth",
            "compare_epochs", "n_seeds", "cifar_batch_size", "tiny_examples",
        ))  # fmt: skip
        check_int(self.tiny_steps, "tiny_steps", 0)
        check_int_tuple(self.tiny_hidden, "tiny_hidden")
        check_ints(self, ("density_steps", "landscape_steps_1d", "landscape_steps_2d", "flatness_steps"), 2)
        check_optional_int(self.num_threads, "num_threads")
        check_numbers(self, ("lr", "cifar_lr", "landscape_span", "flatness_radius"))
        check_int_tuple(self.mlp_hidden, "mlp_hidden")
        for name in ("activation", "cifar_activation"):
            check_choice(getattr(self, name), name, _ACTIVATIONS)
        check_choice(self.lipschitz_family, "lipschitz_family", ("cpl", "sll", "aol", "sr"))
        if self.lipschitz_width % 2:
            raise ValueError(f"lipschitz_width must be even (MaxMin pairs units), got {self.lipschitz_width}")
        check_choice(self.landscape_regularizer, "landscape_regularizer", _ALL_REGULARISERS)
        if (
            not isinstance(self.regularizers, tuple)
            or not self.regularizers
            or not all(isinstance(r, str) for r in self.regularizers)
            or len(set(self.regularizers)) != len(self.regularizers)
        ):
            raise ValueError(
                f"regularizers must be a non-empty tuple of distinct names, got {self.regularizers!r}"
            )
        if not isinstance(self.strengths, Mapping) or not all(
            isinstance(v, Mapping) for v in self.strengths.values()
        ):
            raise ValueError("strengths must map regulariser names to keyword-argument mappings")
        check_choice(self.compare_dataset, "compare_dataset", _COMPARE_DATASETS)
        if self.compare_dataset == "cifar10" and self.mode != "full":
            raise ValueError("compare_dataset='cifar10' needs mode='full' (quick mode never reads CIFAR-10)")
        check_optional_path(self.cifar_root, "cifar_root")

    @classmethod
    def quick(cls, **overrides: Any) -> Ch04Config:
        """CPU sizes: digits MLP 32-32 (tanh); 512 examples for the Hessian; 10 epochs for the spectrum
        and the landscapes; 8 regularisers × 3 seeds × 4 epochs for the comparison (batch 256, Adam 2e-2).
        No CIFAR-10."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch04Config:
        """GPU (CPU if none): larger digits MLPs and estimator budgets, longer runs, and the regulariser
        comparison on CIFAR-10 with ResNet-20 (SGD 0.1, cosine, 30 epochs: a short budget). The
        Hessian-bound penalty is left out there: its bound covers plain chains of layers, not ResNet's
        residual blocks (:mod:`stablecore.curvature.bounds`)."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            mlp_hidden=(128, 128),
            hessian_examples=2048,
            top_k=10,
            trace_samples=100,
            density_steps=90,
            density_runs=5,
            spectrum_epochs=50,
            track_every=5,
            track_trace_samples=30,
            landscape_epochs=50,
            lipschitz_width=128,
            lipschitz_depth=4,
            landscape_steps_1d=101,
            landscape_steps_2d=51,
            compare_dataset="cifar10",
            compare_epochs=30,
            regularizers=tuple(r for r in _ALL_REGULARISERS if r != "hessian_bound"),
            flatness_steps=21,
        )
        return replace(base, **overrides)


SPECTRUM_COLUMNS = (
    "id", "stage", "epoch", "quantity", "which", "rank", "x", "value", "stderr", "kind", "method", "n_hvp",
    "n_params", "n_examples", "train_loss", "test_accuracy", "converged",
)  # fmt: skip
LANDSCAPE_COLUMNS = (
    "id", "model", "family", "regularizer", "dims", "alpha", "beta", "loss", "accuracy", "centre_loss",
    "test_accuracy", "direction_seed", "normalization", "kind",
)  # fmt: skip
COMPARE_COLUMNS = (
    "id", "dataset", "model", "regularizer", "options", "seed", "epochs", "test_accuracy", "train_loss",
    "lambda_max", "lambda_max_residual", "lambda_max_kind", "trace", "trace_stderr", "trace_kind",
    "flatness", "flatness_radius", "flatness_kind", "train_seconds", "seconds_per_epoch", "n_examples",
)  # fmt: skip
GAP_COLUMNS = (
    "id", "stage", "layer", "n_params", "exact", "exact_kind", "bound", "bound_kind", "ratio",
    "bound_global", "ratio_global", "hessian_norm", "train_loss", "n_examples",
)  # fmt: skip
SUMMARY_METRICS = ("test_accuracy", "lambda_max", "trace", "flatness", "seconds_per_epoch")


# ----------------------------------------------------------------------------------- helpers
def _config(cfg: Ch04Config | None) -> Ch04Config:
    return resolve_config(cfg, Ch04Config)


_experiment = experiment(Ch04Config, blas=True)


def hessian_batch(data: Dataset, n: int, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed ``(x, y)`` batch of ``min(n, len(data))`` examples of ``data``, drawn without replacement by
    a permutation seeded with ``seed`` (the data every curvature number of a run is measured on)."""
    if not isinstance(data, Dataset):
        raise TypeError(f"data must be a torch Dataset, got {type(data).__name__}")
    check_int(n, "n")
    if len(data) == 0:  # type: ignore[arg-type]
        raise ValueError("data is empty")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(int(seed)))  # type: ignore[arg-type]
    xs, ys = zip(*(data[int(i)] for i in order[: min(n, len(order))]))
    return torch.stack(xs), torch.stack(ys)


def _max_loss(land: Any) -> float:
    """Largest loss on the grid; ``inf`` when an evaluated point's loss is NaN or infinite."""
    summary = land.summary()
    if summary.nonfinite or summary.loss_max is None:
        return math.inf
    return float(summary.loss_max)


def _mlp_kwargs(cfg: Ch04Config) -> dict[str, Any]:
    return {"hidden": list(cfg.mlp_hidden), "activation": cfg.activation}


def _digits_train_kwargs(cfg: Ch04Config) -> dict[str, Any]:
    return {
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "optimizer": "adam",
        "scheduler": None,
        "weight_decay": 0.0,
        "amp": False,
    }


def _template(dataset: str, family: str, model_kwargs: Mapping[str, Any], cfg: Ch04Config) -> nn.Module:
    """An untrained network of the same architecture (for the module names a regulariser hooks)."""
    shape, classes = ((1, 8, 8), 10) if dataset == "digits" else ((3, 32, 32), 10)
    with torch.random.fork_rng(devices=[]):
        return build_model(family, input_shape=shape, num_classes=classes, **dict(model_kwargs))


def resolve_regularizers(
    regularizers: Any, cfg: Ch04Config, template: nn.Module
) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """``{name: (trainer kwargs, options)}`` for :func:`regularizer_comparison`.

    ``regularizers`` is None (``cfg.regularizers`` with ``cfg.strengths``), a sequence of names (built by
    :func:`stablecore.curvature.regularizers.build_regularizer` with ``cfg.strengths``), or a mapping
    ``name -> spec`` where ``spec`` is a keyword mapping for ``build_regularizer(name, ...)``, an object with
    ``trainer_kwargs()`` (a ``Regularizer``), or a callable ``template_model -> trainer kwargs`` (a dict with
    ``penalties`` and/or ``step``; the template has the trained network's architecture, not its weights).
    Penalties and steps must be fresh per call (each run builds its own).
    """
    if regularizers is None:
        regularizers = cfg.regularizers
    if isinstance(regularizers, str) or not isinstance(regularizers, (Mapping, Sequence)):
        raise TypeError(
            f"regularizers must be None, a sequence of names or a mapping name -> spec, "
            f"got {type(regularizers).__name__}"
        )
    specs: Mapping[str, Any] = (
        regularizers
        if isinstance(regularizers, Mapping)
        else {name: cfg.strengths.get(name, {}) for name in regularizers}
    )
    if not specs:
        raise ValueError("regularizers must not be empty")
    out: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, spec in specs.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"regularizers: names must be non-empty strings, got {name!r}")
        if name == "none" and isinstance(spec, Mapping) and not spec:
            out[name] = ({}, {})  # plain training needs no regularizer object
        elif isinstance(spec, Mapping):
            from stablecore.curvature.regularizers import build_regularizer  # a sibling module, loaded late

            reg = build_regularizer(name, model=template, **dict(spec))
            out[name] = (reg.trainer_kwargs(), dict(spec))
        elif hasattr(spec, "trainer_kwargs"):
            out[name] = (dict(spec.trainer_kwargs()), dict(getattr(spec, "options", {}) or {}))
        elif callable(spec):
            kwargs = spec(template)
            if not isinstance(kwargs, Mapping) or set(kwargs) - set(_TRAINER_KEYS):
                raise ValueError(
                    f"regularizers[{name!r}] must return a mapping with keys among penalties, step, "
                    f"callbacks, transform, got {kwargs!r}"
                )
            out[name] = (dict(kwargs), {})
        else:
            raise TypeError(
                f"regularizers[{name!r}] must be a keyword mapping, a Regularizer or a callable, "
                f"got {type(spec).__name__}"
            )
    return out


def _options_text(options: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:g}" if is_number(v) else f"{k}={v}" for k, v in sorted(options.items()))


# ----------------------------------------------------------------------------------- Hessian spectrum
def _spectrum_rows(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], cfg: Ch04Config, *, seed: int, stage: str,
    epoch: int, train_loss: float, test_accuracy: float,
) -> list[dict[str, Any]]:  # fmt: skip
    ce = nn.CrossEntropyLoss()
    n = len(batch[1])
    base = {"stage": stage, "epoch": epoch, "n_examples": n, "train_loss": train_loss,
            "test_accuracy": test_accuracy}  # fmt: skip
    rows: list[dict[str, Any]] = []
    for which in ("LA", "SA"):
        eig = hessian_eigenvalues(model, ce, batch, k=cfg.top_k, which=which, seed=seed)
        rows += [
            {**base, "id": f"ch04.spectrum.{stage}.{which}{r + 1}", "quantity": "eigenvalue", "which": which,
             "rank": r + 1, "value": float(v), "stderr": float(res), "kind": eig.kind, "method": eig.method,
             "n_hvp": eig.n_hvp, "n_params": eig.n_params, "converged": bool(ok)}
            for r, (v, res, ok) in enumerate(zip(eig.eigenvalues, eig.residuals, eig.converged))
        ]  # fmt: skip
    tr = hessian_trace(model, ce, batch, num_samples=cfg.trace_samples, seed=seed)
    n_params = rows[0]["n_params"]
    rows.append(
        {**base, "id": f"ch04.spectrum.{stage}.trace", "quantity": "trace", "value": tr.mean,
         "stderr": tr.stderr, "kind": tr.kind, "method": tr.method, "n_hvp": tr.n_hvp, "n_params": n_params}
    )  # fmt: skip
    dens = hessian_density(
        model,
        ce,
        batch,
        lanczos_steps=cfg.density_steps,
        num_runs=cfg.density_runs,
        seed=seed,
        grid_points=400,
    )
    rows += [
        {**base, "id": f"ch04.spectrum.{stage}.density", "quantity": "density", "x": float(x),
         "value": float(d), "kind": dens.kind, "method": "slq", "n_hvp": dens.n_hvp, "n_params": n_params}
        for x, d in zip(dens.grid, dens.density)
    ]  # fmt: skip
    return rows


@_experiment
def hessian_spectrum(
    cfg: Ch04Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Hessian spectrum of the digits MLP's training loss at initialisation and after training.

    The MLP (``cfg.mlp_hidden``, ``cfg.activation``) is built with ``seed`` (``"init"``: the weights
    :func:`~stablecore.workflows.train_classifier` starts from) and trained for ``cfg.spectrum_epochs``
    epochs of Adam with cross-entropy (``"trained"``). At both stages, on the same ``cfg.hessian_examples``
    training examples (:func:`hessian_batch`):

    * the ``cfg.top_k`` largest (``LA``) and smallest (``SA``) eigenvalues of
      :math:`H = \nabla^2_\theta\mathcal L` (Lanczos, :func:`~stablecore.curvature.hessian_eigenvalues`;
      ``stderr`` holds the Ritz residual :math:`\|Hv-\lambda v\|`);
    * the trace (Hutchinson, ``cfg.trace_samples`` probes, ``stderr`` its standard error);
    * the spectral density (SLQ, ``cfg.density_runs`` runs of ``cfg.density_steps`` Lanczos steps,
      Gaussian-smoothed: ``x`` the eigenvalue grid, ``value`` the density).

    During training, a :class:`CurvatureTracker` records λ_max and the trace every ``cfg.track_every``
    epochs (``stage == "training"``, quantities ``lambda_max`` and ``trace``; epoch 0 is the
    initialisation). All values are ``estimate``\ s.

    Returns:
        Long table (columns :data:`SPECTRUM_COLUMNS`), ids ``ch04.spectrum.<stage>.<LA1|SA1|...|trace|
        density>`` and ``ch04.spectrum.training.<lambda_max|trace>``.
    """
    data = load_dataset("digits", seed=seed)
    batch = hessian_batch(data.train, cfg.hessian_examples, seed=seed)
    model_kwargs = {**_mlp_kwargs(cfg), "input_shape": data.input_shape, "num_classes": data.num_classes,
                    "mean": data.mean, "std": data.std, "seed": seed}  # fmt: skip
    init = build_model("mlp", **model_kwargs).to(cfg.device)
    dev_batch = (batch[0].to(cfg.device), batch[1].to(cfg.device))
    ce = nn.CrossEntropyLoss()
    init_loss = evaluate(init, data.test, ce)
    with torch.no_grad(), eval_mode(init):
        init_train_loss = float(ce(init(dev_batch[0]), dev_batch[1]))
    tracker = CurvatureTracker(
        batch,
        every=cfg.track_every,
        trace_samples=cfg.track_trace_samples,
        last=cfg.spectrum_epochs,
        seed=seed,
    )
    tracker.measure(init, 0)
    result = train_classifier(
        "digits", "mlp", epochs=cfg.spectrum_epochs, mode=cfg.mode, seed=seed, device=cfg.device,
        data_kwargs={"seed": seed}, model_kwargs=_mlp_kwargs(cfg), train_kwargs=_digits_train_kwargs(cfg),
        experiment="ch04-spectrum", home=home, progress=False, callbacks=[tracker],
    )  # fmt: skip
    with torch.no_grad(), eval_mode(result.model):
        trained_loss = float(ce(result.model(dev_batch[0]), dev_batch[1]))
    rows = _spectrum_rows(init, dev_batch, cfg, seed=seed, stage="init", epoch=0, train_loss=init_train_loss,
                          test_accuracy=init_loss["accuracy"])  # fmt: skip
    rows += _spectrum_rows(
        result.model, dev_batch, cfg, seed=seed, stage="trained", epoch=cfg.spectrum_epochs,
        train_loss=trained_loss, test_accuracy=result.test["accuracy"],
    )  # fmt: skip
    history = result.history.set_index("epoch")
    for rec in tracker.records:
        epoch = int(rec["epoch"])
        loss = init_train_loss if epoch == 0 else float(history.loc[float(epoch), "train_loss"])
        acc = init_loss["accuracy"] if epoch == 0 else float(history.loc[float(epoch), "test_accuracy"])
        common = {"stage": "training", "epoch": epoch, "kind": "estimate", "n_examples": len(batch[1]),
                  "train_loss": loss, "test_accuracy": acc}  # fmt: skip
        rows.append({**common, "id": "ch04.spectrum.training.lambda_max", "quantity": "lambda_max",
                     "which": "LA", "rank": 1, "value": rec["lambda_max"], "method": "lanczos"})  # fmt: skip
        rows.append({**common, "id": "ch04.spectrum.training.trace", "quantity": "trace",
                     "value": rec["hessian_trace"], "stderr": rec["hessian_trace_stderr"],
                     "method": "hutchinson"})  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(SPECTRUM_COLUMNS))
    return frame.astype({"rank": "Int64", "n_hvp": "Int64", "n_params": "Int64"})


def spectrum_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per stage (``init``, ``trained``) of :func:`hessian_spectrum`: λ_max, λ_min, the trace ±
    its standard error, the ratio λ_max/trace, the density's mass below zero, loss and accuracy."""
    check_frame(frame, SPECTRUM_COLUMNS, "hessian_spectrum")
    rows = []
    for stage in ("init", "trained"):
        part = frame[frame["stage"] == stage]
        if part.empty:
            continue
        eig = part[part["quantity"] == "eigenvalue"]
        tr = part[part["quantity"] == "trace"].iloc[0]
        dens = part[part["quantity"] == "density"].sort_values("x")
        x, d = dens["x"].to_numpy(float), dens["value"].to_numpy(float)
        lam = float(eig.loc[eig["which"] == "LA", "value"].max())
        neg = float(np.trapezoid(np.where(x < 0, d, 0.0), x)) if len(x) > 1 else math.nan
        rows.append(
            {
                "stage": stage,
                "epoch": int(part["epoch"].iloc[0]),
                "lambda_max": lam,
                "lambda_min": float(eig.loc[eig["which"] == "SA", "value"].min()),
                "trace": float(tr["value"]),
                "trace_stderr": float(tr["stderr"]),
                "lambda_max_over_trace": lam / float(tr["value"]),
                "density_mass_below_0": neg,
                "train_loss": float(part["train_loss"].iloc[0]),
                "test_accuracy": float(part["test_accuracy"].iloc[0]),
                "kind": "estimate",
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- tiny dense problem
def tiny_problem(
    cfg: Ch04Config | None = None, *, seed: int = 0, trained: bool = True
) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """A digits network small enough for its dense Hessian, with the batch its loss is measured on.

    The digits MLP (:func:`~stablecore.models.build_model` ``"mlp"``, hidden widths ``cfg.tiny_hidden``,
    activation ``cfg.activation``, built with ``seed``) in **float64** and eval mode, and the seeded batch
    of ``cfg.tiny_examples`` training examples (:func:`hessian_batch`, inputs in float64). With
    ``trained=True`` (default) the network then takes ``cfg.tiny_steps`` full-batch Adam steps (lr
    ``cfg.lr``) of mean cross-entropy on that batch; ``trained=False`` returns the initial weights. The
    loss whose Hessian every caller takes is ``nn.CrossEntropyLoss()`` (mean) of the network on the batch.

    Returns:
        ``(model, (x, y))``.
    """
    cfg = _config(cfg)
    seed = check_seed(seed)
    if not isinstance(trained, bool):
        raise TypeError(f"trained must be a bool, got {type(trained).__name__}")
    data = load_dataset("digits", seed=seed)
    x, y = hessian_batch(data.train, cfg.tiny_examples, seed=seed)
    with torch.random.fork_rng(devices=[]):
        model = build_model(
            "mlp", input_shape=data.input_shape, num_classes=data.num_classes, mean=data.mean,
            std=data.std, seed=seed, hidden=list(cfg.tiny_hidden), activation=cfg.activation,
        )  # fmt: skip
    model = model.double().eval()
    x = x.to(torch.float64)
    if trained and cfg.tiny_steps:
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        for _ in range(cfg.tiny_steps):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
    return model, (x, y)


@_experiment
def hessian_bound_gap(cfg: Ch04Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""How loose is the Hessian bound? Each layer's bound next to the exact norm it bounds.

    RECONSTRUCTION (docs/chapters/ch04.md §5 (vi)): the bound is
    :func:`~stablecore.curvature.parameter_hessian_bounds`, an ``upper_bound`` of the spectral norm of
    each Linear layer's (weight, bias) diagonal block :math:`H_{ll}` of the loss Hessian. On
    :func:`tiny_problem` (at initialisation, ``stage="init"``, and after ``cfg.tiny_steps`` steps,
    ``"trained"``) the dense float64 Hessian :math:`H` of the mean cross-entropy is built column by column
    from Hessian-vector products (:class:`~stablecore.curvature.HessianOperator`) and
    :math:`\|H_{ll}\|_2 = \max|\lambda(H_{ll})|` taken by ``eigvalsh`` (``exact``: up to float64
    rounding).

    Columns: ``bound`` (local loss constants, the default) and ``bound_global`` (global ones), their
    ratios to ``exact`` (``ratio`` ≥ 1 when the bound holds), and ``hessian_norm`` :math:`\|H\|_2` of the
    whole Hessian (``exact``; every block's norm is at most it, and the bound says nothing about the
    off-diagonal blocks).

    Returns:
        One row per (stage, layer) (columns :data:`GAP_COLUMNS`), ids ``ch04.gap.<stage>.<layer>``.
    """
    ce = nn.CrossEntropyLoss()
    rows = []
    for stage, trained in (("init", False), ("trained", True)):
        model, (x, y) = tiny_problem(cfg, seed=seed, trained=trained)
        op = HessianOperator(model, ce, (x, y))
        dense = op.matmat(torch.eye(op.size, dtype=torch.float64))
        dense = (dense + dense.T) / 2  # symmetric up to rounding; eigvalsh reads one triangle
        hessian_norm = float(torch.linalg.eigvalsh(dense).abs().max())
        with torch.no_grad():
            loss = float(ce(model(x), y))
        local = parameter_hessian_bounds(model, x, y, loss="cross_entropy", local=True)
        glob = parameter_hessian_bounds(model, x, y, loss="cross_entropy", local=False)
        # each parameter's positions in the flat vector, from the operator's own layout
        positions = {name: ix.reshape(-1) for name, ix in op.unflatten(torch.arange(op.size)).items()}
        for layer, bound in local.items():
            idx = torch.cat([ix for name, ix in positions.items() if name.startswith(f"{layer}.")])
            exact = float(torch.linalg.eigvalsh(dense[idx][:, idx]).abs().max())
            rows.append(
                {
                    "id": f"ch04.gap.{stage}.{layer}",
                    "stage": stage,
                    "layer": layer,
                    "n_params": len(idx),
                    "exact": exact,
                    "exact_kind": "exact",
                    "bound": bound.value,
                    "bound_kind": bound.kind,
                    "ratio": bound.value / exact if exact > 0 else math.inf,
                    "bound_global": glob[layer].value,
                    "ratio_global": glob[layer].value / exact if exact > 0 else math.inf,
                    "hessian_norm": hessian_norm,
                    "train_loss": loss,
                    "n_examples": len(y),
                }
            )
    return pd.DataFrame(rows, columns=list(GAP_COLUMNS))


# ----------------------------------------------------------------------------------- landscapes
@_experiment
def landscapes(
    cfg: Ch04Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""1-D and 2-D loss landscapes of a standard, a Lipschitz and a curvature-regularised network.

    Three networks on digits, ``cfg.landscape_epochs`` epochs of Adam, all with plain cross-entropy (so
    the landscapes show one loss): ``"standard"`` (the MLP), ``"lipschitz"`` (``cfg.lipschitz_family``,
    e.g. SLL, ``cfg.lipschitz_width`` × ``cfg.lipschitz_depth`` with an LLN head; 1-Lipschitz by design,
    chapter 3) and ``"regularised"`` (the MLP trained with ``cfg.landscape_regularizer``, default the
    Hessian-bound penalty: a RECONSTRUCTION of docs/chapters/ch04.md §5 (vi)). Around each trained network,
    :func:`~stablecore.landscape.slice_1d` and :func:`~stablecore.landscape.slice_2d` of the training loss
    on the :func:`hessian_batch` examples, along filter-normalised random directions (Li et al. 2018)
    drawn with ``seed``, over ``[-cfg.landscape_span, cfg.landscape_span]``.

    Filter normalisation makes the directions scale-aware per filter, so the three networks can be
    compared on one axis although their weights have different scales; the directions are still random,
    so each landscape is one draw (``kind="estimate"`` for any number read from it).

    Returns:
        One row per grid point (columns :data:`LANDSCAPE_COLUMNS`; rebuild a
        :class:`~stablecore.landscape.Landscape` with :func:`landscape_of`), ids
        ``ch04.landscape.<model>.<1d|2d>``.
    """
    data = load_dataset("digits", seed=seed)
    batch = hessian_batch(data.train, cfg.hessian_examples, seed=seed)
    batch = (batch[0].to(cfg.device), batch[1].to(cfg.device))
    lip_kwargs = {"width": cfg.lipschitz_width, "depth": cfg.lipschitz_depth, "head": "lln"}
    template = _template("digits", "mlp", _mlp_kwargs(cfg), cfg)
    reg = resolve_regularizers(
        {cfg.landscape_regularizer: cfg.strengths.get(cfg.landscape_regularizer, {})}, cfg, template
    )[cfg.landscape_regularizer]
    runs = (
        ("standard", "mlp", _mlp_kwargs(cfg), "none", {}),
        ("lipschitz", cfg.lipschitz_family, lip_kwargs, "none", {}),
        ("regularised", "mlp", _mlp_kwargs(cfg), cfg.landscape_regularizer, reg[0]),
    )
    span = (-cfg.landscape_span, cfg.landscape_span)
    ce = nn.CrossEntropyLoss()
    frames = []
    for role, family, model_kwargs, reg_name, trainer_kwargs in runs:
        result = train_classifier(
            "digits", family, epochs=cfg.landscape_epochs, mode=cfg.mode, seed=seed, device=cfg.device,
            data_kwargs={"seed": seed}, model_kwargs=model_kwargs, train_kwargs=_digits_train_kwargs(cfg),
            experiment="ch04-landscape", home=home, progress=False, **trainer_kwargs,
        )  # fmt: skip
        for dims, fn, kw in (
            ("1d", slice_1d, {"direction": "random", "steps": cfg.landscape_steps_1d}),
            ("2d", slice_2d, {"directions": "random", "steps": cfg.landscape_steps_2d}),
        ):
            land = fn(result.model, ce, batch, span=span, seed=seed, progress=False, **kw)
            frame = land.to_frame()
            frame.insert(0, "dims", int(dims[0]))
            frame.insert(0, "regularizer", reg_name)
            frame.insert(0, "family", family)
            frame.insert(0, "model", role)
            frame.insert(0, "id", f"ch04.landscape.{role}.{dims}")
            frame["centre_loss"] = land.centre_loss
            frame["test_accuracy"] = result.test["accuracy"]
            frame["direction_seed"] = seed
            frame["normalization"] = "filter"
            frame["kind"] = "estimate"
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)[list(LANDSCAPE_COLUMNS)]


def landscape_of(frame: pd.DataFrame, model: str, dims: int) -> Landscape:
    """The :class:`~stablecore.landscape.Landscape` of ``model`` (``"standard"``, ``"lipschitz"``,
    ``"regularised"``) and ``dims`` (1 or 2) from :func:`landscapes` rows (for the landscape plots)."""
    check_frame(frame, LANDSCAPE_COLUMNS, "landscapes")
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    part = frame[(frame["model"] == model) & (frame["dims"] == dims)]
    if part.empty:
        raise ValueError(f"model must be one of {sorted(frame['model'].unique())}, got {model!r}")
    land = Landscape.from_frame(part[["alpha", "beta", "loss", "accuracy"]])
    if dims == 1 and land.betas is not None:
        raise ValueError("the 1-D rows have several beta values")
    return land


def landscape_summary(frame: pd.DataFrame, radius: float = 0.5) -> pd.DataFrame:
    """One row per network of :func:`landscapes`: test accuracy, loss at the centre, the 1-D and 2-D
    :func:`landscape_flatness` at ``radius`` and the largest loss on the 2-D plane (``estimate``\\ s)."""
    check_frame(frame, LANDSCAPE_COLUMNS, "landscapes")
    rows = []
    for model, part in frame.groupby("model", sort=False):
        two = landscape_of(frame, str(model), 2)
        rows.append(
            {
                "model": model,
                "family": part["family"].iloc[0],
                "regularizer": part["regularizer"].iloc[0],
                "test_accuracy": float(part["test_accuracy"].iloc[0]),
                "centre_loss": float(part["centre_loss"].iloc[0]),
                f"flatness_1d@{radius:g}": landscape_flatness(landscape_of(frame, str(model), 1), radius),
                f"flatness_2d@{radius:g}": landscape_flatness(two, radius),
                "max_loss_2d": _max_loss(two),
                "nonfinite_2d": two.summary().nonfinite,
                "kind": "estimate",
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- regulariser comparison
@_experiment
def regularizer_comparison(
    cfg: Ch04Config | None = None,
    *,
    seed: int = 0,
    regularizers: Any = None,
    home: str | Path | None = None,
) -> pd.DataFrame:
    r"""Train the same network with each curvature regulariser over ``cfg.n_seeds`` seeds and measure it.

    RECONSTRUCTION (docs/chapters/ch04.md §5): the candidate regularisers of
    :mod:`stablecore.curvature.regularizers` (none, weight decay, activation decay, Hutchinson trace, gradient
    norm, SAM, noise injection, the Hessian-bound penalty) at the strengths of ``cfg.strengths`` -- our
    choices, not the thesis's.

    Network: quick, the digits MLP (``cfg.mlp_hidden``, ``cfg.activation``; Adam, ``cfg.lr``, batch
    ``cfg.batch_size``); full, ResNet-20 on CIFAR-10 (SGD ``cfg.cifar_lr``, momentum 0.9, cosine, batch
    ``cfg.cifar_batch_size``, no augmentation; read from ``cfg.cifar_root`` / ``$STABLECORE_DATA``, never
    downloaded). ``cfg.compare_epochs`` epochs; run seeds ``seed, seed + 1, ...``.

    Per run, on the same :func:`hessian_batch` of the training set (``cfg.hessian_examples``, seeded by the
    run seed): ``lambda_max`` (Lanczos top-1 ``LA``, with its Ritz residual), ``trace`` (Hutchinson,
    ``cfg.trace_samples`` probes, ± standard error), ``flatness`` (:func:`landscape_flatness` of a
    filter-normalised random 2-D slice, ``cfg.flatness_steps``² points over ``±cfg.flatness_radius``, at
    radius ``cfg.flatness_radius``), all ``estimate``; ``test_accuracy``; ``train_seconds`` (the whole
    :func:`~stablecore.workflows.train_classifier` call) and ``seconds_per_epoch`` (mean of the Trainer's
    ``epoch_time``, which includes one test evaluation per epoch, the same for every regulariser). What a
    regulariser does to λ_max is a measured outcome, not a claim of this code.

    Args:
        regularizers: None (``cfg.regularizers``) or as :func:`resolve_regularizers`.

    Returns:
        One row per (regulariser, seed) (columns :data:`COMPARE_COLUMNS`), ids
        ``ch04.compare.<dataset>.<regulariser>.seed<s>``; :func:`comparison_summary` gives mean ± std.

    Raises:
        ValueError: an unknown regulariser or bad strength (from ``build_regularizer``).
        FileNotFoundError: CIFAR-10 is not in the data directory (full mode).
    """
    dataset = cfg.compare_dataset
    if dataset == "digits":
        family, model_kwargs = "mlp", _mlp_kwargs(cfg)
        train_kwargs = _digits_train_kwargs(cfg)
        data_kwargs_of: Callable[[int], dict[str, Any]] = lambda s: {"seed": s}  # noqa: E731
    else:
        family, model_kwargs = cfg.cifar_model, {"activation": cfg.cifar_activation}
        train_kwargs = {"batch_size": cfg.cifar_batch_size, "lr": cfg.cifar_lr, "optimizer": "sgd",
                        "momentum": 0.9, "scheduler": "cosine", "weight_decay": 0.0, "amp": False,
                        "eval_batch_size": 500}  # fmt: skip
        data_kwargs_of = lambda s: {"root": cfg.cifar_root, "download": False, "progress": False}  # noqa: E731
    template = _template(dataset, family, model_kwargs, cfg)
    resolve_regularizers(regularizers, cfg, template)  # validate every name and strength before training
    ce = nn.CrossEntropyLoss()
    span = (-cfg.flatness_radius, cfg.flatness_radius)
    rows = []
    for run_seed in range(seed, seed + cfg.n_seeds):
        specs = resolve_regularizers(regularizers, cfg, template)  # fresh penalties / steps per seed
        for name, (trainer_kwargs, options) in specs.items():
            result = train_classifier(
                dataset, family, epochs=cfg.compare_epochs, mode=cfg.mode, seed=run_seed, device=cfg.device,
                data_kwargs=data_kwargs_of(run_seed), model_kwargs=model_kwargs, train_kwargs=train_kwargs,
                experiment=f"ch04-compare-{name}", home=home, progress=False, **trainer_kwargs,
            )  # fmt: skip
            x, y = hessian_batch(result.data.train, cfg.hessian_examples, seed=run_seed)
            batch = (x.to(cfg.device), y.to(cfg.device))
            eig = hessian_eigenvalues(result.model, ce, batch, k=1, seed=run_seed)
            tr = hessian_trace(result.model, ce, batch, num_samples=cfg.trace_samples, seed=run_seed)
            plane = slice_2d(result.model, ce, batch, directions="random", span=span,
                             steps=cfg.flatness_steps, seed=run_seed, progress=False)  # fmt: skip
            rows.append(
                {
                    "id": f"ch04.compare.{dataset}.{name}.seed{run_seed}",
                    "dataset": dataset,
                    "model": family,
                    "regularizer": name,
                    "options": _options_text(options),
                    "seed": run_seed,
                    "epochs": cfg.compare_epochs,
                    "test_accuracy": result.test["accuracy"],
                    "train_loss": float(result.history["train_loss"].iloc[-1]),
                    "lambda_max": float(eig.eigenvalues[0]),
                    "lambda_max_residual": float(eig.residuals[0]),
                    "lambda_max_kind": eig.kind,
                    "trace": tr.mean,
                    "trace_stderr": tr.stderr,
                    "trace_kind": tr.kind,
                    "flatness": landscape_flatness(plane, cfg.flatness_radius),
                    "flatness_radius": cfg.flatness_radius,
                    "flatness_kind": "estimate",
                    "train_seconds": result.seconds,
                    "seconds_per_epoch": float(result.history["epoch_time"].mean()),
                    "n_examples": len(y),
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))


def comparison_summary(frame: pd.DataFrame, *, formatted: bool = False) -> pd.DataFrame:
    """Mean and standard deviation (``ddof=1``; NaN for one seed) over seeds of each metric of
    :func:`regularizer_comparison`, one row per regulariser (its order kept), with ``time_vs_none`` (mean
    seconds per epoch over that of ``"none"``, NaN without it). ``formatted=True`` gives ``"mean ± std"``
    strings instead (accuracy in %)."""
    check_frame(frame, COMPARE_COLUMNS, "regularizer_comparison")
    if frame.empty:
        raise ValueError("frame is empty")
    rows = []
    for name, part in frame.groupby("regularizer", sort=False):
        row: dict[str, Any] = {"regularizer": name, "options": part["options"].iloc[0], "seeds": len(part)}
        for metric in SUMMARY_METRICS:
            values = part[metric].to_numpy(float)
            row[f"{metric}_mean"] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    base = out.loc[out["regularizer"] == "none", "seconds_per_epoch_mean"]
    out["time_vs_none"] = out["seconds_per_epoch_mean"] / float(base.iloc[0]) if not base.empty else math.nan
    out["kind"] = "estimate"
    if not formatted:
        return out
    text = out[["regularizer", "options", "seeds"]].copy()
    for metric, scale, fmt in (
        ("test_accuracy", 100.0, "{:.1f} ± {:.1f}"),
        ("lambda_max", 1.0, "{:.3g} ± {:.2g}"),
        ("trace", 1.0, "{:.3g} ± {:.2g}"),
        ("flatness", 1.0, "{:.3g} ± {:.2g}"),
        ("seconds_per_epoch", 1.0, "{:.3f} ± {:.3f}"),
    ):
        label = "test_accuracy_%" if metric == "test_accuracy" else metric
        text[label] = [
            fmt.format(m * scale, s * scale) for m, s in zip(out[f"{metric}_mean"], out[f"{metric}_std"])
        ]
    text["time_vs_none"] = out["time_vs_none"].round(2)
    return text


# ----------------------------------------------------------------------------------- reported numbers
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "hessian_spectrum": hessian_spectrum,
    "hessian_bound_gap": hessian_bound_gap,
    "landscapes": landscapes,
    "regularizer_comparison": regularizer_comparison,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""

_METRIC_COLUMN = {"test_accuracy": ("test_accuracy", 100.0), "lambda_max": ("lambda_max", 1.0),
                  "hessian_trace": ("trace", 1.0)}  # fmt: skip


def _regularizer_mean(reg: str, metric: str) -> Getter:
    """Our mean over seeds of ``metric`` for the thesis's regulariser ``reg`` (with a note on the run)."""

    def get(results: Mapping[str, pd.DataFrame]) -> tuple[float, str] | None:
        frame = results.get("regularizer_comparison")
        if frame is None or not {"regularizer", "dataset"} <= set(frame.columns):
            return None
        ours = next((o for o, r in _REPORTED_NAME.items() if r == reg), reg)
        part = frame[frame["regularizer"] == ours]
        if part.empty:
            return None
        column, scale = _METRIC_COLUMN[metric]
        values = part[column].to_numpy(float) * scale
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        where = "digits MLP" if part["dataset"].iloc[0] == "digits" else "ResNet-20 on CIFAR-10"
        return float(values.mean()), (
            f"ours: mean over {len(values)} seeds (std {std:.3g}), {where}, {part['epochs'].iloc[0]} epochs, "
            f"{part['options'].iloc[0] or 'no options'}; " + RECONSTRUCTION_NOTE
        )

    return get


def _comparison_specs() -> list[Compared]:
    """Every reported number (all from :func:`regularizer_comparison`): id ``ch04.thesis.<reg>.<metric>``."""
    return [
        Compared(
            rep.id,
            "regularizer_comparison",
            _regularizer_mean(*rep.id.split(".")[2:4]),
            missing="regulariser not in this run's comparison",
        )
        for rep in REPORTED
    ]


def compared_ids(experiment: str | None = None) -> list[str]:
    """Ids of the reported numbers an experiment of this chapter measures (all of them come from
    :func:`regularizer_comparison`; every one is ``not transcribed``)."""
    return common_compared_ids(CHAPTER, EXPERIMENTS, _comparison_specs(), experiment)


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value our reconstruction measured.

    docs/chapters/ch04.md gives no number for this chapter, so every row is ``"not transcribed"``;
    ``measured`` still shows our mean over seeds from :func:`regularizer_comparison` (test accuracy in %,
    λ_max, trace), with a note saying it is our reconstruction's value, not a thesis number to compare
    against.

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned.

    Returns:
        Columns :data:`COMPARISON_COLUMNS` (as in the other chapters).
    """
    return comparison_table(CHAPTER, EXPERIMENTS, results, _comparison_specs(), explain_untranscribed=True)
