"""Chapter 5: randomized smoothing I: Weierstrass-transform view, Lipschitz-variance-margin, LVM-RS (ICLR'24).

Reported numbers (docs/chapters/ch05.md §6 and §9): Cohen et al.'s certified accuracies (the baseline of
chapters 5 and 6) are fractions of the evaluated images (unit ``"accuracy"``); Carlini et al.'s are
percentages.

Experiments (functions of a :class:`Ch05Config`, ``quick`` on a 2-core CPU or ``full`` on a GPU; each
returns a tidy DataFrame, see :data:`EXPERIMENTS`):

* :func:`smoothed_boundaries` -- Monte-Carlo smoothed class probabilities of a noise-trained MLP on a grid
  over two moons, for growing σ (the decision boundary smooths out, small islands vanish);
* :func:`weierstrass_lipschitz` -- closed forms of the Lipschitz constant of the smoothed classifier vs σ
  and the base's constant L (tight ramp worst case, the Bridging code's formula, the range-1 step limit,
  Salman et al.'s constant), with a numerical maximum of the smoothed ramp's slope beside them;
* :func:`simplex_maps` -- maps (softmax, sparsemax, hardmax) × temperatures on digits for an unconstrained
  and a Lipschitz (SLL) base: margin, Monte-Carlo variance, Poincaré variance bound and certified radius (the
  variance-margin-Lipschitz trade-off);
* :func:`bernstein_vs_clopper_pearson` -- widths of one-sided confidence bounds vs n, p and variance;
* :func:`certified_radii` -- certified radius per test point, Cohen et al. vs LVM-RS (sound: map and
  temperature chosen on the selection samples; and the reference code's best-of-candidates, *not a
  certificate*), on digits (quick) or CIFAR-10 with a noise-trained ResNet-110 (full, GPU);
* :func:`radius_formulas` -- for each (map, T) candidate fixed in advance, the multi-class certificate on
  the estimation draws and its two radii, R2 = σ/2 (Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B)) and the reference code's
  R_lip = σ√(π/2) (p̲_A − p̄_B);
* :func:`activation_decay_variance` -- Monte-Carlo variance and margin of the smoothed scores of the
  digits MLP trained with and without the activation-decay penalty
  (:class:`stablecore.curvature.regularizers.ActivationDecay`);
* :func:`reported_comparison` -- our values next to :data:`REPORTED`.

The randomized-smoothing machinery is the library's (:mod:`stablecore.smoothing`): noisy logits of test
point ``i`` from the one per-point engine (:func:`~stablecore.smoothing.point_logits`, seeded by
:func:`~stablecore.smoothing.example_generator` ``(seed, i)`` like ``certify_dataset``), smoothed
probabilities from :func:`~stablecore.smoothing.engine.smoothed_probabilities`, simplex maps,
certificates and radii from :mod:`stablecore.smoothing.lvm` and :mod:`stablecore.smoothing.lipschitz`
(closed forms of the smoothed classifier's Lipschitz constant included), certified accuracy from
:func:`stablecore.certify.certified_accuracy_curve`; this module only arranges the chapter's experiments.
Abstain convention (package-wide): prediction −1 and radius 0.0.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from stablecore.certify.accuracy import certified_accuracy_curve
from stablecore.chapters.common import COMPARISON_COLUMNS as COMPARISON_COLUMNS
from stablecore.chapters.common import ModeConfig, comparison_table, experiment, resolve_config
from stablecore.chapters.reported import ReportedNumber, load_reported
from stablecore.chapters.validate import (
    check_choice,
    check_choices,
    check_frame,
    check_int_tuple,
    check_ints,
    check_mode,
    check_number_tuple,
    check_numbers,
    check_optional_int,
    check_optional_path,
    check_probability,
    is_number,
)
from stablecore.smoothing import Smooth, certify_from_counts, example_generator, point_logits
from stablecore.smoothing import bounds as _bounds
from stablecore.smoothing.engine import smoothed_probabilities, votes
from stablecore.smoothing.lipschitz import (
    cohen_multi_radius,
    margin_radius,
    score_lipschitz,
    smoothed_lipschitz,
    smoothed_lipschitz_code,
    smoothed_ramp_slope,
)
from stablecore.smoothing.lvm import (
    certify_lvm,
    lvm_best_of_candidates_uncertified,
    lvm_certificate_from_moments,
    select_lvm_candidate,
    simplex_map,
)
from stablecore.types import Bound

CHAPTER: int = 5
TITLE: str = "Randomized smoothing I: Weierstrass transform, Lipschitz-variance-margin tradeoff, LVM-RS"
NOTEBOOK: str = "notebooks/ch05_lvm_rs.ipynb"


def _key(x: str) -> str:
    """``"0.25"`` -> ``"0_25"`` so that numbers do not add dots to ids."""
    return x.replace(".", "_")


REPORTED: tuple[ReportedNumber, ...] = load_reported(CHAPTER)
"""The chapter's reported numbers (data file ``stablecore/chapters/reported/ch05.csv``)."""


# =================================================================================== experiments
MAPS: tuple[str, ...] = ("softmax", "sparsemax", "hardmax")
_DATASETS: tuple[str, ...] = ("digits", "cifar10")


@dataclass(frozen=True)
class Ch05Config(ModeConfig):
    """Data sizes, noise levels, sample counts and training budgets of the chapter's experiments.

    Use :meth:`quick` (2-core CPU: two moons and scikit-learn's digits, the notebook in about a minute),
    :meth:`full` (GPU: larger budgets, CIFAR-10 with a noise-trained ResNet-110 read from the data dir, never
    downloaded) or :meth:`for_mode`; change single fields with :func:`dataclasses.replace`. Radii are ℓ₂
    radii in the space the model is fed (pixels in [0, 1] for digits and CIFAR-10).
    """

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    """torch and BLAS CPU threads during an experiment (restored afterwards); ``None`` leaves them."""
    batch_size: int = 4096
    """noisy copies per forward pass when sampling."""
    # smoothed_boundaries (two moons)
    moons_samples: int = 600
    moons_noise: float = 0.15
    moons_hidden: tuple[int, ...] = (64, 64)
    moons_epochs: int = 40
    moons_train_sigma: float = 0.1
    boundary_sigmas: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5)
    boundary_grid: int = 41
    boundary_samples: int = 200
    # weierstrass_lipschitz (closed forms)
    lipschitz_values: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 100.0)
    lipschitz_sigmas: tuple[float, ...] = (0.12, 0.25, 0.5, 1.0)
    value_range: float = 1.0
    # digits models (simplex_maps, certified_radii)
    sigma: float = 0.25
    digits_epochs: int = 15
    digits_lr: float = 1e-2
    digits_batch_size: int = 64
    mlp_hidden: tuple[int, ...] = (64, 64)
    lipschitz_family: str = "sll"
    lipschitz_width: int = 64
    lipschitz_depth: int = 2
    # simplex_maps
    maps: tuple[str, ...] = MAPS
    temperatures: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)
    map_points: int = 60
    map_samples: int = 2000
    # bernstein_vs_clopper_pearson
    bound_ns: tuple[int, ...] = (100, 1_000, 10_000, 100_000)
    bound_ps: tuple[float, ...] = (0.6, 0.9, 0.99)
    bound_variances: tuple[float, ...] = (0.01, 0.001)
    # certified_radii
    dataset: str = "digits"
    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    certify_points: int = 100
    radii: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0)
    # radius_formulas
    formula_points: int = 30
    """test points of :func:`radius_formulas` (the draws of :func:`certified_radii` at those points)."""
    # activation_decay_variance
    decay_weight: float = 0.03
    """λ of the activation-decay penalty (quick runs: λ ≥ 0.1 drove the digits MLP to a constant)."""
    # CIFAR-10 (full mode only): ResNet-110, Cohen et al.'s recipe
    cifar_model: str = "resnet110"
    cifar_epochs: int = 90
    cifar_batch_size: int = 256
    cifar_lr: float = 0.1
    cifar_root: str | None = None
    """data root holding ``cifar-10-batches-py`` (default ``$STABLECORE_DATA``); never downloaded."""

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_ints(self, (
            "batch_size", "moons_samples", "moons_epochs", "boundary_samples", "digits_epochs",
            "digits_batch_size", "lipschitz_width", "lipschitz_depth", "map_points", "n0", "certify_points",
            "cifar_epochs", "cifar_batch_size", "formula_points",
        ))  # fmt: skip
        check_ints(self, ("boundary_grid", "map_samples", "n"), minimum=2)
        if self.map_samples <= self.n0:
            raise ValueError(f"map_samples must exceed n0 = {self.n0}, got {self.map_samples!r}")
        check_optional_int(self.num_threads, "num_threads")
        check_numbers(self, ("sigma", "value_range", "digits_lr", "cifar_lr"))
        check_numbers(self, ("moons_noise", "moons_train_sigma", "decay_weight"), strict=False)
        check_probability(self.alpha, "alpha")
        for name in ("boundary_sigmas", "radii"):
            check_number_tuple(getattr(self, name), name)
        for name in ("lipschitz_values", "lipschitz_sigmas", "temperatures", "bound_variances"):
            check_number_tuple(getattr(self, name), name, strict=True)
        if not (
            isinstance(self.bound_ps, tuple)
            and self.bound_ps
            and all(is_number(p) and 0 < p < 1 for p in self.bound_ps)
        ):
            raise ValueError(
                f"bound_ps must be a non-empty tuple of numbers in (0, 1), got {self.bound_ps!r}"
            )
        check_int_tuple(self.bound_ns, "bound_ns", minimum=2)
        check_int_tuple(self.moons_hidden, "moons_hidden")
        check_int_tuple(self.mlp_hidden, "mlp_hidden")
        check_choices(self.maps, "maps", MAPS)
        check_choice(self.lipschitz_family, "lipschitz_family", ("cpl", "sll", "aol", "sr"))
        check_choice(self.dataset, "dataset", _DATASETS)
        if self.dataset == "cifar10" and self.mode != "full":
            raise ValueError("dataset='cifar10' needs mode='full' (quick mode never reads CIFAR-10)")
        check_optional_path(self.cifar_root, "cifar_root")

    @classmethod
    def quick(cls, **overrides: Any) -> Ch05Config:
        """CPU sizes: moons MLP 64-64 (40 epochs, trained at σ = 0.1), a 41×41 grid with 200 noise draws per
        point; digits MLP 64-64 and SLL 64×2 trained at σ = 0.25 for 15 epochs; 60 points × 2 000 draws for
        the maps × temperatures; 100 digits test points with n₀ = 100, n = 10 000, α = 0.001."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch05Config:
        """GPU (CPU if none): finer grids, more draws, and the certified-accuracy curve on CIFAR-10 with a
        ResNet-110 trained with Gaussian noise at σ (Cohen et al.'s recipe: 90 epochs, SGD 0.1, step 30),
        every 20th test image (500), n = 100 000."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            batch_size=1000,
            boundary_grid=81,
            boundary_samples=1000,
            digits_epochs=40,
            map_points=200,
            map_samples=10_000,
            dataset="cifar10",
            n=100_000,
            certify_points=500,
            radii=(0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
        )
        return replace(base, **overrides)


# ----------------------------------------------------------------------------------- helpers
def _config(cfg: Ch05Config | None) -> Ch05Config:
    return resolve_config(cfg, Ch05Config)


_experiment = experiment(Ch05Config, blas=True)


def _digits_train_kwargs(cfg: Ch05Config) -> dict[str, Any]:
    return {
        "batch_size": cfg.digits_batch_size,
        "lr": cfg.digits_lr,
        "optimizer": "adam",
        "scheduler": None,
        "amp": False,
    }


def train_noisy(
    cfg: Ch05Config,
    dataset: str,
    family: str,
    sigma: float,
    *,
    seed: int,
    home: str | Path | None = None,
    epochs: int | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
    penalties: Sequence[Any] = (),
    experiment_suffix: str = "",
) -> Any:
    """Train ``family`` (``"mlp"`` or a Lipschitz family) on ``dataset`` with Gaussian-noise augmentation at
    ``sigma`` (:class:`stablecore.train.GaussianNoise`; none at 0) and return the
    :class:`~stablecore.workflows.TrainResult` (its model in eval mode). ``penalties`` go to the Trainer
    (e.g. :class:`~stablecore.curvature.regularizers.ActivationDecay`); ``experiment_suffix`` is appended
    to the run's experiment name."""
    from stablecore.train import GaussianNoise
    from stablecore.workflows import train_classifier

    if dataset == "cifar10":
        model_kwargs: dict[str, Any] = {}
        train_kwargs: dict[str, Any] = {
            "batch_size": cfg.cifar_batch_size,
            "lr": cfg.cifar_lr,
            "optimizer": "sgd",
            "scheduler": "step",
            "weight_decay": 1e-4,
        }
        data_kwargs = {"root": cfg.cifar_root, **dict(data_kwargs or {})}
    elif family == "mlp":
        hidden = cfg.moons_hidden if dataset == "moons" else cfg.mlp_hidden
        model_kwargs = {"hidden": list(hidden)}
        train_kwargs = _digits_train_kwargs(cfg)
    else:
        model_kwargs = {"width": cfg.lipschitz_width, "depth": cfg.lipschitz_depth, "layout": "dense"}
        train_kwargs = _digits_train_kwargs(cfg)
    result = train_classifier(
        dataset,
        family,
        epochs=epochs,
        mode=cfg.mode,
        seed=seed,
        device=cfg.device,
        data_kwargs=data_kwargs,
        model_kwargs=model_kwargs,
        train_kwargs=train_kwargs,
        home=home,
        progress=False,
        experiment=f"ch05-{dataset}-{family}-sigma{sigma:g}{experiment_suffix}",
        transform=GaussianNoise(sigma) if sigma > 0 else None,
        **({"penalties": list(penalties)} if penalties else {}),
    )
    result.model.eval()
    return result


BOUNDARY_COLUMNS = ("id", "sigma", "x1", "x2", "p_vote", "p_soft", "n_samples", "test_accuracy", "kind")
WEIERSTRASS_COLUMNS = ("id", "sigma", "L", "value_range", "quantity", "value", "kind", "formula")
MAPS_COLUMNS = (
    "id",
    "model",
    "base_lipschitz",
    "base_lipschitz_kind",
    "map",
    "temperature",
    "index",
    "label",
    "prediction",
    "correct",
    "score_top",
    "score_runner_up",
    "margin",
    "variance",
    "variance_bound",
    "p_lower",
    "radius",
    "n",
    "alpha",
)
BOUNDS_COLUMNS = ("id", "n", "p", "variance", "alpha", "bound", "lower", "width", "radius_at_sigma1")
CERTIFIED_COLUMNS = (
    "id",
    "dataset",
    "model",
    "method",
    "index",
    "label",
    "prediction",
    "correct",
    "radius",
    "radius_kind",
    "map",
    "temperature",
    "p_lower",
    "n0",
    "n",
    "alpha",
    "sigma",
    "seconds",
)


# ----------------------------------------------------------------------------------- smoothed boundaries
@_experiment
def smoothed_boundaries(
    cfg: Ch05Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Smoothed class-1 probability of a noise-trained MLP on a grid over two moons, for each σ.

    .. math::

        \tilde f_1(x) = P_{\delta\sim\mathcal N(0,\sigma^2 I)}\bigl[\arg\max_c f_c(x+\delta) = 1\bigr]
        \quad(\text{``p_vote''}),\qquad
        \tilde s_1(x) = \mathbb E_\delta\,\mathrm{softmax}(f(x+\delta))_1 \quad(\text{``p_soft''}),

    each a Monte-Carlo mean of ``cfg.boundary_samples`` draws per grid point (an ``estimate``); σ = 0 is the
    base classifier. The decision boundary of the smoothed classifier is the level set 1/2.
    ``test_accuracy`` is the Monte-Carlo accuracy of the smoothed classifier (votes) on the moons test set.

    Returns:
        Columns :data:`BOUNDARY_COLUMNS`, ids ``ch05.boundary.sigma<σ>``, one row per (σ, grid point).
    """
    from stablecore.data import load_dataset

    data_kwargs = {"n_samples": cfg.moons_samples, "noise": cfg.moons_noise, "seed": seed}
    trained = train_noisy(
        cfg,
        "moons",
        "mlp",
        cfg.moons_train_sigma,
        seed=seed,
        home=home,
        epochs=cfg.moons_epochs,
        data_kwargs=data_kwargs,
    )
    model = trained.model
    data = load_dataset("moons", **data_kwargs)
    xt, yt = zip(*(data.test[i] for i in range(len(data.test))))
    x_test, y_test = torch.stack(xt), torch.stack(yt)
    g = cfg.boundary_grid
    a, b = np.linspace(-1.5, 2.5, g), np.linspace(-1.0, 1.5, g)
    aa, bb = np.meshgrid(a, b, indexing="xy")
    grid = torch.tensor(np.stack([aa.ravel(), bb.ravel()], 1), dtype=torch.float32)
    rows = []
    for k, sigma in enumerate(cfg.boundary_sigmas):
        gen = torch.Generator(device="cpu").manual_seed(seed * 1000 + k)
        probs = partial(
            smoothed_probabilities, sigma=float(sigma), num=cfg.boundary_samples, generator=gen,
            batch_size=cfg.batch_size,
        )  # fmt: skip
        p_vote, p_soft = probs(model, grid)
        tv, _ = probs(model, x_test)
        acc = float(np.mean((tv[:, 1] > 0.5).astype(int) == y_test.numpy()))
        rows.append(
            pd.DataFrame(
                {
                    "id": f"ch05.boundary.sigma{_key(f'{sigma:g}')}",
                    "sigma": float(sigma),
                    "x1": grid[:, 0].numpy().astype(float),
                    "x2": grid[:, 1].numpy().astype(float),
                    "p_vote": p_vote[:, 1],
                    "p_soft": p_soft[:, 1],
                    "n_samples": cfg.boundary_samples,
                    "test_accuracy": acc,
                    "kind": "estimate",
                }
            )
        )
    return pd.concat(rows, ignore_index=True)[list(BOUNDARY_COLUMNS)]


# ----------------------------------------------------------------------------------- Weierstrass view
@_experiment
def weierstrass_lipschitz(cfg: Ch05Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Lipschitz constant of the Gaussian-smoothed (Weierstrass-transformed) base vs σ and its constant L.

    For each σ in ``cfg.lipschitz_sigmas`` and L in ``cfg.lipschitz_values`` (values in [0, r],
    r = ``cfg.value_range``), rows with ``quantity``:

    * ``tight`` -- :func:`stablecore.smoothing.lipschitz.smoothed_lipschitz`
      :math:`L\,\mathrm{erf}(r/(2\sqrt2 L\sigma))` (``exact``: attained by the ramp);
    * ``numeric_ramp`` -- the maximum of :func:`smoothed_ramp_slope` over a fine grid (``lower_bound``: a
      maximum over finitely many points; an independent check of ``tight``);
    * ``code_formula`` -- :func:`smoothed_lipschitz_code` (``upper_bound``);
    * ``base`` -- L itself (smoothing never increases it: ``upper_bound``);
    * ``step_limit`` -- :math:`r/(\sigma\sqrt{2\pi})`, the limit L → ∞ (any measurable f into [0, r];
      ``smoothed_lipschitz`` at L = ∞);
    * ``salman`` -- :math:`r\sqrt{2/\pi}/\sigma`, Salman et al.'s constant (range-2 convention; an upper bound
      for range 1);
    * ``cohen_phi_inverse`` -- :math:`1/\sigma`, the constant of :math:`\Phi^{-1}\circ\tilde f` (Salman et
      al.), which gives Cohen's radius and ignores L.

    ``seed`` is unused (closed forms); kept for a uniform signature.
    """
    r = cfg.value_range
    rows = []
    for sigma in cfg.lipschitz_sigmas:
        for lip in cfg.lipschitz_values:
            xs = np.linspace(-6 * sigma, r / lip + 6 * sigma, 20001)
            vals = {
                ("tight", "exact", "L·erf(r/(2√2·L·σ))"): float(smoothed_lipschitz(lip, sigma, r)),
                ("numeric_ramp", "lower_bound", "max_x of the smoothed ramp's slope on a grid"): float(
                    smoothed_ramp_slope(xs, lip, sigma, r).max()
                ),
                ("code_formula", "upper_bound", "L·erf(r/(√2·L·σ))"): float(
                    smoothed_lipschitz_code(lip, sigma, r)
                ),
                ("base", "upper_bound", "L"): float(lip),
                ("step_limit", "exact", "r/(σ√(2π))"): float(smoothed_lipschitz(math.inf, sigma, r)),
                ("salman", "upper_bound", "r·√(2/π)/σ"): r * math.sqrt(2 / math.pi) / sigma,
                ("cohen_phi_inverse", "exact", "1/σ (of Φ⁻¹∘f̃)"): 1.0 / sigma,
            }
            rows += [
                {
                    "id": f"ch05.smoothed_lipschitz.sigma{_key(f'{sigma:g}')}.L{_key(f'{lip:g}')}.{q}",
                    "sigma": float(sigma),
                    "L": float(lip),
                    "value_range": r,
                    "quantity": q,
                    "value": v,
                    "kind": kind,
                    "formula": formula,
                }
                for (q, kind, formula), v in vals.items()
            ]
    # the reported cell (L = 2, r = 1, σ = 0.5): tight value and code formula, ids as in REPORTED
    for q, fn in (("exact", smoothed_lipschitz), ("code_formula", smoothed_lipschitz_code)):
        rows.append(
            {
                "id": f"ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.{q}",
                "sigma": 0.5,
                "L": 2.0,
                "value_range": 1.0,
                "quantity": "tight" if q == "exact" else q,
                "value": float(fn(2.0, 0.5, 1.0)),
                "kind": "exact" if q == "exact" else "upper_bound",
                "formula": "reported cell",
            }
        )
    return pd.DataFrame(rows, columns=list(WEIERSTRASS_COLUMNS))


# ----------------------------------------------------------------------------------- digits models
_TRAINED: dict[tuple[Any, ...], Any] = {}


def trained_model(
    cfg: Ch05Config, family: str, *, seed: int, home: str | Path | None = None, dataset: str | None = None
) -> Any:
    """The noise-trained (σ = ``cfg.sigma``) ``family`` model on ``dataset`` (default ``cfg.dataset``),
    trained once per process and configuration (a :class:`~stablecore.workflows.TrainResult`)."""
    dataset = dataset or cfg.dataset
    key = (cfg, family, seed, str(home), dataset)
    if key not in _TRAINED:
        epochs = cfg.cifar_epochs if dataset == "cifar10" else cfg.digits_epochs
        _TRAINED[key] = train_noisy(cfg, dataset, family, cfg.sigma, seed=seed, home=home, epochs=epochs)
    return _TRAINED[key]


def _logits_bound(model: nn.Module, input_shape: Sequence[int]) -> Bound:
    """The logits' Lipschitz :class:`~stablecore.types.Bound` from
    :func:`stablecore.spectral.lipschitz_bound`."""
    from stablecore.spectral import lipschitz_bound

    return lipschitz_bound(model, tuple(input_shape))


def _score_lipschitz(logits_bound: Bound, name: str, temperature: float, num_classes: int) -> float:
    r"""ℓ₂ Lipschitz constant (an upper bound) of one coordinate of :math:`x\mapsto\mathrm{map}_T(z(x))`:
    :func:`stablecore.smoothing.lipschitz.score_lipschitz`, i.e. :math:`L(z)` times the map's constant
    (softmax :math:`1/(2\sqrt2\,T)`; sparsemax :math:`\sqrt{1-1/K}/T`, the tight constant, where the
    chapter's first version used the looser, also valid, :math:`1/T`); ``inf`` for hardmax (not
    Lipschitz)."""
    if name == "hardmax":
        return math.inf
    return float(score_lipschitz(logits_bound, temperature, map=name, num_classes=num_classes).value)


def _candidates(cfg: Ch05Config) -> list[tuple[str, float]]:
    """(map, T) candidates in the library's order (:func:`stablecore.smoothing.lvm.certify_lvm`):
    hardmax once with T = 0, each soft map at every ``cfg.temperatures``."""
    out: list[tuple[str, float]] = []
    for m in cfg.maps:
        out += [("hardmax", 0.0)] if m == "hardmax" else [(m, float(t)) for t in cfg.temperatures]
    return out


def _test_points(data: Any, count: int) -> list[int]:
    m = len(data.test)
    return sorted({int(i) for i in np.linspace(0, m - 1, min(count, m))})


def _noisy_logits(
    smooth: Smooth, data: Any, idx: Sequence[int], cfg: Ch05Config, seed: int, n: int
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """(index, label, selection logits, estimation logits) of each test point of ``idx``: ``cfg.n0`` and
    ``n`` noisy logits of the base model, one generator per point."""
    for i in idx:
        x, y = data.test[i]
        sel, est = point_logits(
            smooth,
            x,
            n0=cfg.n0,
            n=n,
            batch_size=cfg.batch_size,
            generator=example_generator(seed, i, cfg.device),
        )
        yield i, int(y), sel, est


@_experiment
def simplex_maps(
    cfg: Ch05Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Maps × temperatures on digits, for an unconstrained (MLP) and a Lipschitz (``cfg.lipschitz_family``)
    base, both trained with Gaussian noise at σ = ``cfg.sigma``: the variance-margin-Lipschitz trade-off.

    For ``cfg.map_points`` test points, ``cfg.map_samples`` noisy logits are drawn once per point
    (:func:`stablecore.smoothing.point_logits`: ``cfg.n0`` selection then ``cfg.map_samples - cfg.n0``
    estimation draws; the same draws for every candidate); the selection draws choose the class A (argmax
    of the mean score), the rest estimate. Per (model, map, T, point):

    * ``score_top``, ``score_runner_up``, ``margin`` -- estimated :math:`\tilde s_A`, :math:`\max_{c\ne A}
      \tilde s_c`, their difference;
    * ``variance`` -- sample variance of :math:`s_A(z(x+\delta))`;
    * ``variance_bound`` -- Gaussian Poincaré: :math:`\mathrm{Var}\,h(x+\delta) \le \sigma^2 L_h^2` with
      :math:`L_h = L_\text{map}(T)\cdot L(z)` (:func:`stablecore.smoothing.lipschitz.score_lipschitz` of
      :func:`stablecore.spectral.lipschitz_bound`: softmax :math:`1/(2\sqrt2 T)`, sparsemax the tight
      :math:`\sqrt{1-1/K}/T`), capped at 1/4 (any [0, 1] variable); an ``upper_bound`` when
      ``base_lipschitz_kind`` is one;
    * ``p_lower``, ``radius``, ``prediction`` -- the single-candidate LVM-RS certificate in ``mono`` mode
      (:func:`stablecore.smoothing.lvm.select_lvm_candidate` on the selection draws,
      :func:`~stablecore.smoothing.lvm.lvm_certificate_from_moments` on the estimation draws):
      empirical-Bernstein lower bound at ``cfg.alpha`` of :math:`\tilde s_A` (Clopper–Pearson for hardmax
      votes) and :math:`\sigma\Phi^{-1}(\underline p_A)`; an abstention has prediction −1 and radius 0.0.
      ``correct`` is prediction = label (never for an abstention). Each row is a valid certificate for its
      own (map, T) fixed in advance, not for the best row of a point.

    Hardmax rows have ``temperature`` 0 (the T → 0 limit of both other maps).
    """
    from stablecore.data import load_dataset

    data = load_dataset("digits")
    idx = _test_points(data, cfg.map_points)
    k = data.num_classes
    mono = {"sigma": cfg.sigma, "alpha": cfg.alpha, "mode": "mono"}
    rows = []
    for family in ("mlp", cfg.lipschitz_family):
        model = trained_model(cfg, family, seed=seed, home=home, dataset="digits").model
        bound = _logits_bound(model, data.input_shape)
        smooth = Smooth(model, k, cfg.sigma)
        for i, y, sel, est in _noisy_logits(smooth, data, idx, cfg, seed, cfg.map_samples - cfg.n0):
            n = len(est)
            for name, t in _candidates(cfg):
                choice = select_lvm_candidate(sel, n, maps=(name,), temperatures=(t or 1.0,), **mono)
                s = simplex_map(est, name, t or 1.0)
                mean, var = s.mean(0), s.var(0, ddof=1)
                cert = lvm_certificate_from_moments(choice, mean, var, n, **mono)
                a = choice.prediction
                runner = float(np.max(np.delete(mean, a)))
                lip_h = _score_lipschitz(bound, name, t, k)
                vbound = min(0.25, cfg.sigma**2 * lip_h**2) if math.isfinite(lip_h) else 0.25
                rows.append(
                    {
                        "id": f"ch05.maps.{family}.{name}.T{_key(f'{t:g}')}",
                        "model": family,
                        "base_lipschitz": float(bound.value),
                        "base_lipschitz_kind": str(bound.kind),
                        "map": name,
                        "temperature": t,
                        "index": i,
                        "label": y,
                        "prediction": cert.prediction,
                        "correct": cert.prediction == y,
                        "score_top": float(mean[a]),
                        "score_runner_up": runner,
                        "margin": float(mean[a]) - runner,
                        "variance": float(var[a]),
                        "variance_bound": vbound,
                        "p_lower": cert.p_lower,
                        "radius": cert.radius,
                        "n": n,
                        "alpha": cfg.alpha,
                    }
                )
    return pd.DataFrame(rows, columns=list(MAPS_COLUMNS))


def maps_summary(table: pd.DataFrame, radii: Sequence[float] = (0.0, 0.25, 0.5)) -> pd.DataFrame:
    """Per (model, map, T): mean margin, mean variance, variance bound, mean certified radius (an abstention
    counts its radius 0) and certified accuracy at each of ``radii``
    (:func:`stablecore.certify.certified_accuracy_curve`: correct, not abstained, radius ≥ r) of
    :func:`simplex_maps`."""
    check_frame(table, MAPS_COLUMNS, "simplex_maps", "table")
    g = table.groupby(["model", "map", "temperature"], sort=False)
    out = g.agg(
        margin=("margin", "mean"),
        variance=("variance", "mean"),
        variance_bound=("variance_bound", "mean"),
        mean_radius=("radius", "mean"),
        base_lipschitz=("base_lipschitz", "first"),
    )
    keys = ["model", "map", "temperature"]
    curve = certified_accuracy_curve(table, radii, by=keys).pivot_table(
        index=keys, columns="eps", values="certified_accuracy", sort=False
    )
    for r in radii:
        out[f"certified@{r:g}"] = curve[float(r)]
    return out.reset_index()


# ----------------------------------------------------------------------------------- Bernstein vs CP
@_experiment
def bernstein_vs_clopper_pearson(cfg: Ch05Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Widths :math:`\bar X - \underline p` of one-sided lower bounds at level ``cfg.alpha`` for a sample
    mean equal to p, over n (``cfg.bound_ns``) and p (``cfg.bound_ps``):

    * hard votes (variance p(1−p)): ``clopper_pearson`` (k = round(pn)), ``hoeffding``, ``bernstein`` (known
      variance p(1−p)) and ``empirical_bernstein`` (sample variance p(1−p)·n/(n−1));
    * soft scores with variance v in ``cfg.bound_variances`` (a low-variance simplex map): ``hoeffding``,
      ``bernstein`` and ``empirical_bernstein``; Clopper–Pearson does not apply to non-0/1 values.

    ``radius_at_sigma1`` is :math:`\Phi^{-1}(\underline p)` (the certified radius in units of σ, NaN when
    :math:`\underline p \le 1/2`). Closed forms; ``seed`` unused.
    """
    a = cfg.alpha
    rows = []
    for n in cfg.bound_ns:
        for p in cfg.bound_ps:
            cases = [
                ("votes", p * (1 - p), "clopper_pearson"),
                ("votes", p * (1 - p), "hoeffding"),
                ("votes", p * (1 - p), "bernstein"),
                ("votes", p * (1 - p), "empirical_bernstein"),
            ]
            cases += [
                (f"{v:g}", v, b)
                for v in cfg.bound_variances
                for b in ("hoeffding", "bernstein", "empirical_bernstein")
            ]
            for vname, v, b in cases:
                if b == "clopper_pearson":
                    k = round(p * n)
                    lower, mean = float(_bounds.clopper_pearson_lower(k, n, a)), k / n
                elif b == "hoeffding":
                    lower, mean = float(_bounds.hoeffding_lower(p, n, a)), p
                elif b == "bernstein":
                    lower, mean = float(_bounds.bernstein_lower(p, n, a, v)), p
                else:
                    lower, mean = float(_bounds.empirical_bernstein_lower(p, v * n / (n - 1), n, a)), p
                rows.append(
                    {
                        "id": f"ch05.bounds.n{n}.p{_key(f'{p:g}')}.var{_key(vname)}.{b}",
                        "n": n,
                        "p": p,
                        "variance": v,
                        "alpha": a,
                        "bound": b,
                        "lower": lower,
                        "width": mean - lower,
                        "radius_at_sigma1": float(norm.ppf(lower)) if lower > 0.5 else math.nan,
                    }
                )
    return pd.DataFrame(rows, columns=list(BOUNDS_COLUMNS))


# ----------------------------------------------------------------------------------- certified accuracy
@_experiment
def certified_radii(
    cfg: Ch05Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Certified radius per test point: Cohen et al. vs LVM-RS, same model, same noise draws.

    The base (quick: digits MLP; full: ResNet-110 on CIFAR-10 from ``cfg.cifar_root``/``$STABLECORE_DATA``,
    never downloaded) is trained with Gaussian noise at σ = ``cfg.sigma``. For each of ``cfg.certify_points``
    evenly spaced test points, ``cfg.n0`` selection and ``cfg.n`` estimation logits are drawn once
    (:func:`stablecore.smoothing.point_logits`, the noise ``certify_dataset`` would draw with this seed and
    batch size); methods:

    * ``cohen`` -- :func:`stablecore.smoothing.certify_from_counts` on the hard votes (Clopper–Pearson,
      :math:`R=\sigma\Phi^{-1}(\underline p_A)`), ``radius_kind = "certified"``;
    * ``lvm_sound`` -- :func:`stablecore.smoothing.lvm.certify_lvm` in ``mono`` mode: map and temperature
      (``cfg.maps`` × ``cfg.temperatures``) and the class chosen on the selection draws only, the chosen score
      bounded on the estimation draws (empirical Bernstein; CP for hardmax),
      :math:`R=\sigma\Phi^{-1}(\underline p_A)`: ``"certified"`` (a smoothed score > 1/2 of a
      simplex-valued map is the smoothed argmax, and :math:`\Phi^{-1}\circ\tilde s_A` is 1/σ-Lipschitz);
    * ``lvm_best_of_candidates`` -- the reference code's maximum over candidates on the same draws
      (:func:`stablecore.smoothing.lvm.lvm_best_of_candidates_uncertified`, ``multi`` mode: every class at
      α/K, :math:`R=\frac\sigma2(\Phi^{-1}(\underline p_A)-\Phi^{-1}(\overline p_B))`; the code's
      :math:`\sigma\sqrt{\pi/2}(\underline p_A-\overline p_B)` is never larger), ``radius_kind = "not a
      certificate"``.

    An abstention has prediction −1 and radius 0.0 (``correct`` is False). ``p_lower`` is the lower bound
    of the predicted (or, on abstention, the chosen) class's smoothed score. Use :func:`certified_curve`
    for accuracy vs radius.
    """
    from stablecore.data import load_dataset

    dataset = cfg.dataset
    data = load_dataset(dataset, **({"root": cfg.cifar_root} if dataset == "cifar10" else {}))
    family = cfg.cifar_model if dataset == "cifar10" else "mlp"
    model = trained_model(cfg, family, seed=seed, home=home, dataset=dataset).model
    k = data.num_classes
    smooth = Smooth(model, k, cfg.sigma)
    lvm_options = {"sigma": cfg.sigma, "alpha": cfg.alpha, "maps": cfg.maps, "temperatures": cfg.temperatures}
    rows = []
    for i in _test_points(data, cfg.certify_points):
        x, y = data.test[i]
        t0 = time.perf_counter()
        sel, est = point_logits(
            smooth,
            x,
            n0=cfg.n0,
            n=cfg.n,
            batch_size=cfg.batch_size,
            generator=example_generator(seed, i, cfg.device),
        )
        t_draw = time.perf_counter() - t0
        base = {
            "dataset": dataset,
            "model": family,
            "index": i,
            "label": int(y),
            "n0": cfg.n0,
            "n": cfg.n,
            "alpha": cfg.alpha,
            "sigma": cfg.sigma,
        }
        t1 = time.perf_counter()
        cert = certify_from_counts(votes(sel, k), votes(est, k), cfg.alpha, cfg.sigma)
        rows.append(
            {
                **base,
                "method": "cohen",
                "prediction": cert.prediction,
                "radius": cert.radius,
                "radius_kind": "certified",
                "map": "hardmax",
                "temperature": 0.0,
                "p_lower": cert.p_lower,
                "seconds": t_draw + time.perf_counter() - t1,
            }
        )
        for method, kind, certify in (
            ("lvm_sound", "certified", partial(certify_lvm, sel, est, mode="mono", **lvm_options)),
            (
                "lvm_best_of_candidates",
                "not a certificate",
                partial(lvm_best_of_candidates_uncertified, est, mode="multi", **lvm_options),
            ),
        ):
            t1 = time.perf_counter()
            lvm = certify()
            rows.append(
                {
                    **base,
                    "method": method,
                    "prediction": lvm.prediction,
                    "radius": lvm.radius,
                    "radius_kind": kind,
                    "map": lvm.map,
                    "temperature": lvm.temperature,
                    "p_lower": lvm.p_lower,
                    "seconds": t_draw + time.perf_counter() - t1,
                }
            )
    df = pd.DataFrame(rows)
    df["correct"] = df["prediction"] == df["label"]
    df["id"] = [f"ch05.certified.{dataset}.{m}.{i}" for m, i in zip(df["method"], df["index"])]
    return df[list(CERTIFIED_COLUMNS)]


def certified_curve(table: pd.DataFrame, radii: Sequence[float]) -> pd.DataFrame:
    """Certified accuracy per method of :func:`certified_radii` at each radius: the library's one rule
    (:func:`stablecore.certify.certified_accuracy_curve`: correct, not abstained, radius ≥ r; r = 0 counts
    the correct, non-abstained points). Columns ``method, radius_kind, radius, certified_accuracy,
    n_points``."""
    check_frame(table, ("method", "radius_kind", "radius", "correct"), "certified_radii", "table")
    by = ["method", "radius_kind"]
    curve = certified_accuracy_curve(table, radii, by=by).rename(columns={"eps": "radius"})
    sizes = table.groupby(by, sort=False).size().rename("n_points").reset_index()
    return curve.merge(sizes, on=by, how="left")


# ----------------------------------------------------------------------------------- R2 vs R_lip
FORMULA_COLUMNS = (
    "id",
    "model",
    "map",
    "temperature",
    "index",
    "label",
    "prediction",
    "correct",
    "p_lower",
    "p_upper",
    "r2",
    "r_lip",
    "n",
    "alpha",
    "sigma",
)


@_experiment
def radius_formulas(
    cfg: Ch05Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""The two radius formulas of the LVM-RS code on the same certificates.

    For ``cfg.formula_points`` evenly spaced test points (the base, noise draws and seeding of
    :func:`certified_radii`: at a shared index the logits are the same) and every candidate (map, T) of
    ``cfg.maps`` × ``cfg.temperatures`` *fixed in advance*, the multi-class certificate of that candidate on
    the ``cfg.n`` estimation draws (:func:`stablecore.smoothing.lvm.lvm_best_of_candidates_uncertified`
    restricted to the one candidate): a lower and an upper one-sided bound per class at level α/K
    (empirical Bernstein, Clopper–Pearson for hardmax), A = the class with the largest lower bound,
    :math:`\overline p_B` = the largest upper bound of the others. With one candidate fixed in advance this
    is a certificate at level α (Bonferroni over the K classes: on the event that all K bounds hold,
    :math:`\tilde s_A \ge \underline p_A > \overline p_B \ge \tilde s_c` for every c ≠ A). Its radii:

    * ``r2`` -- :math:`\frac\sigma2(\Phi^{-1}(\underline p_A)-\Phi^{-1}(\overline p_B))`
      (:func:`~stablecore.smoothing.lipschitz.cohen_multi_radius`);
    * ``r_lip`` -- :math:`\sigma\sqrt{\pi/2}(\underline p_A-\overline p_B)`
      (:func:`~stablecore.smoothing.lipschitz.margin_radius` with an infinite base constant).

    ``r2 >= r_lip`` always (mean-value theorem: :math:`(\Phi^{-1})' = 1/\varphi(\Phi^{-1}) \ge \sqrt{2\pi}`);
    both are 0.0 on an abstention (prediction −1, :math:`\underline p_A \le \overline p_B`).

    Returns:
        Columns :data:`FORMULA_COLUMNS`, ids ``ch05.formulas.<map>.T<T>.<index>``, one row per (candidate,
        point); hardmax rows have ``temperature`` 0.
    """
    from stablecore.data import load_dataset

    dataset = cfg.dataset
    data = load_dataset(dataset, **({"root": cfg.cifar_root} if dataset == "cifar10" else {}))
    family = cfg.cifar_model if dataset == "cifar10" else "mlp"
    model = trained_model(cfg, family, seed=seed, home=home, dataset=dataset).model
    smooth = Smooth(model, data.num_classes, cfg.sigma)
    rows = []
    for i, y, _, est in _noisy_logits(smooth, data, _test_points(data, cfg.formula_points), cfg, seed, cfg.n):
        for name, t in _candidates(cfg):
            cert = lvm_best_of_candidates_uncertified(
                est, sigma=cfg.sigma, alpha=cfg.alpha, maps=(name,), temperatures=(t or 1.0,), mode="multi"
            )
            r2 = cohen_multi_radius(cert.p_lower, cert.p_upper, cfg.sigma)
            r_lip = margin_radius(cert.p_lower, cert.p_upper, math.inf, cfg.sigma)
            rows.append(
                {
                    "id": f"ch05.formulas.{name}.T{_key(f'{t:g}')}.{i}",
                    "model": family,
                    "map": name,
                    "temperature": t,
                    "index": i,
                    "label": y,
                    "prediction": cert.prediction,
                    "correct": cert.prediction == y,
                    "p_lower": cert.p_lower,
                    "p_upper": cert.p_upper,
                    "r2": float(r2.radius),
                    "r_lip": float(r_lip.radius),
                    "n": cfg.n,
                    "alpha": cfg.alpha,
                    "sigma": cfg.sigma,
                }
            )
    return pd.DataFrame(rows, columns=list(FORMULA_COLUMNS))


# ----------------------------------------------------------------------------------- activation decay
DECAY_COLUMNS = (
    "id",
    "model",
    "decay_weight",
    "map",
    "temperature",
    "index",
    "label",
    "prediction",
    "correct",
    "score_top",
    "margin",
    "variance",
    "n",
)


def decay_model(cfg: Ch05Config, *, seed: int, home: str | Path | None = None) -> Any:
    """The digits MLP of :func:`trained_model` trained the same way (same seed, data order, noise at σ) with
    the activation-decay penalty :math:`\\lambda\\sum_l\\frac1B\\sum_i\\|a_{l,i}\\|^2` on its hidden
    activations, λ = ``cfg.decay_weight``
    (:class:`stablecore.curvature.regularizers.ActivationDecay`); trained once per process and
    configuration (a :class:`~stablecore.workflows.TrainResult`)."""
    from stablecore.curvature.regularizers import ActivationDecay, hidden_activation_modules

    key = (cfg, "mlp+activation_decay", seed, str(home), "digits")
    if key not in _TRAINED:
        template = trained_model(cfg, "mlp", seed=seed, home=home, dataset="digits").model
        penalty = ActivationDecay(cfg.decay_weight, hidden_activation_modules(template))
        _TRAINED[key] = train_noisy(
            cfg, "digits", "mlp", cfg.sigma, seed=seed, home=home, epochs=cfg.digits_epochs,
            penalties=[penalty], experiment_suffix=f"-actdecay{cfg.decay_weight:g}",
        )  # fmt: skip
    return _TRAINED[key]


@_experiment
def activation_decay_variance(
    cfg: Ch05Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Monte-Carlo variance and margin of the smoothed scores, digits MLP without (``"mlp"``, the model of
    :func:`simplex_maps`) and with the activation-decay penalty (``"mlp+activation_decay"``,
    :func:`decay_model`), on the same test points and the same noise draws as :func:`simplex_maps`.

    Per (model, map, T, point), with A the class of largest mean score on the ``cfg.n0`` selection draws:
    ``score_top`` :math:`\tilde s_A`, ``margin`` :math:`\tilde s_A-\max_{c\ne A}\tilde s_c` and ``variance``
    (unbiased sample variance of :math:`s_A(z(x+\delta))`) on the ``cfg.map_samples - cfg.n0`` estimation
    draws (``estimate``\ s). Maps: ``softmax`` at each of ``cfg.temperatures``, ``hardmax`` (votes, T = 0)
    and ``logits`` (the raw top logit :math:`z_A`, not in [0, 1]; T = 0). The ``"mlp"`` rows of
    ``softmax``/``hardmax`` equal those of :func:`simplex_maps` (same model, draws and class rule).

    Reading [I]: the penalty shrinks the activations, hence the logits and their variance under noise; the
    variance of a *simplex-mapped* score also depends on how saturated the map is, so it can go either way.
    """
    from stablecore.data import load_dataset

    data = load_dataset("digits")
    idx = _test_points(data, cfg.map_points)
    models = {
        "mlp": (0.0, trained_model(cfg, "mlp", seed=seed, home=home, dataset="digits").model),
        "mlp+activation_decay": (cfg.decay_weight, decay_model(cfg, seed=seed, home=home).model),
    }
    maps = [("softmax", float(t)) for t in cfg.temperatures] + [("hardmax", 0.0), ("logits", 0.0)]
    rows = []
    for label_model, (weight, model) in models.items():
        smooth = Smooth(model, data.num_classes, cfg.sigma)
        for i, y, sel, est in _noisy_logits(smooth, data, idx, cfg, seed, cfg.map_samples - cfg.n0):
            for name, t in maps:
                if name == "logits":
                    s_sel, s = sel, est
                else:
                    s_sel, s = simplex_map(sel, name, t or 1.0), simplex_map(est, name, t or 1.0)
                a = int(np.argmax(s_sel.mean(0)))
                mean = s.mean(0)
                rows.append(
                    {
                        "id": f"ch05.decay.{label_model}.{name}.T{_key(f'{t:g}')}.{i}",
                        "model": label_model,
                        "decay_weight": weight,
                        "map": name,
                        "temperature": t,
                        "index": i,
                        "label": y,
                        "prediction": a,
                        "correct": a == y,
                        "score_top": float(mean[a]),
                        "margin": float(mean[a] - np.max(np.delete(mean, a))),
                        "variance": float(s[:, a].var(ddof=1)),
                        "n": len(est),
                    }
                )
    return pd.DataFrame(rows, columns=list(DECAY_COLUMNS))


# ----------------------------------------------------------------------------------- comparison
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "smoothed_boundaries": smoothed_boundaries,
    "weierstrass_lipschitz": weierstrass_lipschitz,
    "simplex_maps": simplex_maps,
    "bernstein_vs_clopper_pearson": bernstein_vs_clopper_pearson,
    "certified_radii": certified_radii,
    "radius_formulas": radius_formulas,
    "activation_decay_variance": activation_decay_variance,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""


def _measured(results: Mapping[str, pd.DataFrame], rep_id: str) -> tuple[float | None, str, str]:
    """(value, experiment, note) measured for one reported id, or (None, "", reason)."""
    if rep_id.startswith("ch05.smoothed_lipschitz.ramp_"):
        frame = results.get("weierstrass_lipschitz")
        if frame is None:
            return None, "", "weierstrass_lipschitz was not run"
        hit = frame.loc[frame["id"] == rep_id, "value"]
        return (float(hit.iloc[0]), "weierstrass_lipschitz", "closed form") if len(hit) else (None, "", "")
    if rep_id == "ch05.lvmrs_code.n_candidates":
        return None, "", "a property of the reference code; our sound variant chooses on the selection draws"
    if rep_id == "ch05.cohen19.max_radius_over_sigma":
        return float(norm.ppf(0.001 ** (1 / 100_000))), "closed form", "Φ⁻¹(α^(1/N)), N = 10⁵, α = 0.001"
    if rep_id.startswith("ch05.cohen19.cifar10."):
        frame = results.get("certified_radii")
        if frame is None or frame.empty or frame["dataset"].iloc[0] != "cifar10":
            return None, "", "needs certified_radii on CIFAR-10 (full mode)"
        sigma = float(rep_id.split(".")[3].removeprefix("sigma").replace("_", "."))
        r = float(rep_id.split(".")[4].removeprefix("r").replace("_", "."))
        if abs(sigma - float(frame["sigma"].iloc[0])) > 1e-12:
            return None, "", f"this run certified at σ = {frame['sigma'].iloc[0]:g}"
        curve = certified_curve(frame[frame["method"] == "cohen"], [r])
        return float(curve["certified_accuracy"].iloc[0]), "certified_radii", "our ResNet-110, cohen"
    return None, "", "no matching experiment (other method or data set)"


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value we measured (where an experiment measures
    it): ``comparison`` is ``"not transcribed"`` for missing thesis numbers, ``"measured"`` or
    ``"not measured"`` otherwise; ``note`` says how ours was obtained.

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned.
    """
    return comparison_table(CHAPTER, EXPERIMENTS, results, _measured)
