"""Chapter 1: introduction and background (sensitivity, Lipschitz constants, margin certificates, RS basics).

Reported numbers (docs/chapters/ch01.md §2): one, a lower bound from a GitHub issue. The settings of §2 (radii
36/255 ..., n₀, n, α) are configuration, not numbers to reproduce; Cohen et al.'s certified accuracies live in
chapter 5.

Experiments (functions of a :class:`Ch01Config`, ``quick`` on a 2-core CPU or ``full``; each returns a tidy
DataFrame, see :data:`EXPERIMENTS`): a guided tour of the notions the later chapters build on.

* :func:`moons_sensitivity` -- input and parameter sensitivity of a standard MLP and a Lipschitz (SLL) network
  on two moons: accuracy under random input noise, under ℓ₂ PGD and certified, for growing ‖δ‖; loss and
  accuracy under random relative parameter perturbations (chapters 3 and 4);
* :func:`margin_certificate` -- the Lipschitz margin certificate (Tsuzuku et al. 2018,
  docs/chapters/ch01.md §2), global :math:`M/(\\sqrt2 L)` vs pairwise (LLN), with the network's Lipschitz
  upper bound and an empirical lower bound (chapter 3);
* :func:`deep_linear_looseness` -- the product of layer norms vs the norm of the product of a deep linear
  net as depth grows, float64 SVDs (docs/chapters/ch01.md §2 "PUB"; chapter 2's experiment with three
  initialisations);
* :func:`orthogonal_drift` -- the same orthogonal deep linear net rounded to float32 and float64: how far
  from exactly 1-Lipschitz rounding takes it as depth grows;
* :func:`randomized_smoothing` -- Cohen et al.'s CERTIFY on digits (docs/chapters/ch01.md §2, chapters 5 and
  6), next to the base network's deterministic margin certificate;
* :func:`hessian_top` and :func:`landscape_1d` -- loss-curvature basics: the top Hessian eigenvalues and the
  1-D loss along the top eigenvector and a random direction, with the quadratic model (chapter 4);
* :func:`reported_comparison` -- our values next to :data:`REPORTED`; :func:`chapter_map` links the tour to
  the chapter notebooks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from stablecore.certify.accuracy import certified_mask
from stablecore.chapters.ch02_gram_iteration import LINEAR_INITS, linear_looseness
from stablecore.chapters.common import (
    COMPARISON_COLUMNS,
    ModeConfig,
    comparison_table,
    experiment,
    resolve_config,
)
from stablecore.chapters.common import check_seed as _check_seed
from stablecore.chapters.reported import ReportedNumber, load_reported
from stablecore.chapters.validate import (
    check_choice,
    check_choices,
    check_frame,
    check_int,
    check_int_tuple,
    check_ints,
    check_mode,
    check_number,
    check_number_tuple,
    check_numbers,
    check_optional_int,
    check_probability,
)
from stablecore.train import eval_mode

CHAPTER: int = 1
TITLE: str = "Introduction and background: sensitivity, Lipschitz constants, margin certificates, RS basics"
NOTEBOOK: str = "notebooks/ch01_background.ipynb"

REPORTED: tuple[ReportedNumber, ...] = load_reported(CHAPTER)
"""The chapter's reported numbers (data file ``stablecore/chapters/reported/ch01.csv``)."""

__all__ = [
    "CERTIFICATE_COLUMNS",
    "CHAPTER",
    "COMPARISON_COLUMNS",
    "DRIFT_COLUMNS",
    "DRIFT_DTYPES",
    "EXPERIMENTS",
    "HESSIAN_COLUMNS",
    "LANDSCAPE_COLUMNS",
    "LINEAR_INITS",
    "NOTEBOOK",
    "REPORTED",
    "RS_COLUMNS",
    "SENSITIVITY_COLUMNS",
    "TITLE",
    "Ch01Config",
    "chapter_map",
    "deep_linear_looseness",
    "hessian_top",
    "landscape_1d",
    "lipschitz_summary",
    "margin_certificate",
    "max_cohen_radius",
    "moons_sensitivity",
    "orthogonal_drift",
    "randomized_smoothing",
    "reported_comparison",
    "rs_curve",
    "rs_summary",
    "sensitivity_summary",
    "trained_digits",
    "trained_moons",
]

FAMILIES: tuple[str, ...] = ("mlp", "sll")


# =================================================================================== configuration
@dataclass(frozen=True)
class Ch01Config(ModeConfig):
    """Data sizes, networks, radii and budgets of the chapter's experiments.

    Use :meth:`quick` (2-core CPU, the notebook in well under a minute of compute), :meth:`full` (larger
    samples and budgets; a GPU if present) or :meth:`for_mode`; change single fields with
    :func:`dataclasses.replace`. Radii are ℓ₂ radii in the space the model is fed (moons coordinates;
    pixels in [0, 1] for digits).
    """

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    """torch CPU threads during an experiment (restored afterwards); ``None`` leaves torch's setting."""
    # two moons: a standard MLP (cross-entropy) and an SLL network with an LLN head (offset cross-entropy)
    families: tuple[str, ...] = FAMILIES
    moons_samples: int = 600
    moons_noise: float = 0.1
    mlp_hidden: tuple[int, ...] = (64, 64)
    sll_width: int = 32
    sll_depth: int = 4
    moons_epochs: int = 20
    lr: float = 1e-2
    batch_size: int = 64
    offset: float = 1.0
    temperature: float = 0.25
    # moons_sensitivity / margin_certificate
    input_eps: tuple[float, ...] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)
    noise_draws: int = 10
    pgd_steps: int = 20
    param_scales: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
    param_draws: int = 6
    lower_bound_steps: int = 100
    # deep_linear_looseness
    linear_dim: int = 100
    linear_depths: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 110)
    linear_inits: tuple[str, ...] = LINEAR_INITS
    # randomized_smoothing (digits)
    rs_sigmas: tuple[float, ...] = (0.25, 0.5)
    rs_hidden: tuple[int, ...] = (128, 128)
    rs_epochs: int = 10
    rs_lr: float = 1e-3
    rs_points: int = 100
    n0: int = 100
    n: int = 2_000
    alpha: float = 0.001
    rs_batch_size: int = 2_000
    # hessian_top / landscape_1d
    hessian_k: int = 3
    landscape_span: float = 1.0
    landscape_steps: int = 41

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_optional_int(self.num_threads, "num_threads")
        check_ints(self, (
            "moons_samples", "sll_width", "sll_depth", "moons_epochs", "batch_size", "noise_draws",
            "param_draws", "linear_dim", "rs_epochs", "rs_points", "n0", "rs_batch_size", "hessian_k",
        ))  # fmt: skip
        check_ints(self, ("pgd_steps", "lower_bound_steps"), minimum=0)
        check_int(self.n, "n", minimum=2)
        check_int(self.landscape_steps, "landscape_steps", minimum=3)
        check_choices(self.families, "families", FAMILIES)
        check_choices(self.linear_inits, "linear_inits", LINEAR_INITS)
        check_int_tuple(self.linear_depths, "linear_depths")
        check_int_tuple(self.mlp_hidden, "mlp_hidden")
        check_int_tuple(self.rs_hidden, "rs_hidden")
        check_numbers(self, ("moons_noise", "lr", "temperature", "rs_lr", "landscape_span"))
        check_number(self.offset, "offset", strict=False)
        check_probability(self.alpha, "alpha")
        check_number_tuple(self.input_eps, "input_eps")
        check_number_tuple(self.param_scales, "param_scales")
        check_number_tuple(self.rs_sigmas, "rs_sigmas", strict=True)

    @classmethod
    def quick(cls, **overrides: Any) -> Ch01Config:
        """CPU sizes: 600 moons points, 20 epochs; a 100-layer-deep linear net of width 100 (cheap: SVDs);
        100 digits test points certified with n₀ = 100, n = 2 000 at σ ∈ {0.25, 0.5}."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch01Config:
        """More data and budget (GPU if present): 2000 moons points, 60 epochs, 450 digits test points
        (all) with n = 100 000 (Cohen et al.'s n), σ ∈ {0.12, 0.25, 0.5, 1.0}."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            moons_samples=2000,
            moons_epochs=60,
            noise_draws=100,
            pgd_steps=100,
            param_draws=32,
            lower_bound_steps=500,
            rs_sigmas=(0.12, 0.25, 0.5, 1.0),
            rs_hidden=(256, 256),
            rs_epochs=40,
            rs_points=450,
            n=100_000,
            rs_batch_size=10_000,
            hessian_k=5,
            landscape_steps=101,
        )
        return replace(base, **overrides)


SENSITIVITY_COLUMNS = (
    "id", "model", "perturbation", "method", "scale", "accuracy", "loss", "kind", "n_points", "draws",
)  # fmt: skip
CERTIFICATE_COLUMNS = (
    "id", "model", "certificate", "eps", "certified_accuracy", "clean_accuracy", "lipschitz",
    "lipschitz_kind", "lipschitz_whole", "lipschitz_lower", "n_points",
)  # fmt: skip
RS_COLUMNS = (
    "id", "sigma", "index", "label", "prediction", "selected", "count_selected", "n0", "n", "alpha",
    "p_lower", "radius", "correct", "max_radius", "base_correct", "lipschitz_radius", "test_accuracy",
)  # fmt: skip
DRIFT_COLUMNS = (
    "id", "dtype", "depth", "dim", "product_of_norms", "norm_of_product", "min_singular", "unit_roundoff",
)  # fmt: skip
HESSIAN_COLUMNS = ("id", "model", "rank", "eigenvalue", "residual", "kind", "n_params", "n_hvp", "loss")
LANDSCAPE_COLUMNS = (
    "id", "model", "direction", "alpha", "loss", "accuracy", "quadratic", "slope", "curvature",
)  # fmt: skip


# =================================================================================== shared helpers
def _config(cfg: Ch01Config | None) -> Ch01Config:
    return resolve_config(cfg, Ch01Config)


_experiment = experiment(Ch01Config)


def _key(value: float) -> str:
    """``0.05`` -> ``"0_05"`` so that numbers do not add dots to ids."""
    return f"{value:g}".replace(".", "_").replace("-", "m")


def _tensors(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(data[i] for i in range(len(data))))
    return torch.stack(xs), torch.as_tensor([int(y) for y in ys])


_TRAINED: dict[tuple, Any] = {}


def trained_moons(
    cfg: Ch01Config | None, family: str, *, seed: int = 0, home: str | Path | None = None
) -> Any:
    """The ``family`` network (``"mlp"`` or ``"sll"``) trained on two moons, once per process, configuration,
    seed and run home (a :class:`~stablecore.workflows.TrainResult`, model in eval mode).

    ``"mlp"``: ReLU MLP ``cfg.mlp_hidden``, cross-entropy. ``"sll"``: ``cfg.sll_width`` × ``cfg.sll_depth``
    SLL layers with a row-normalised (LLN) head, offset cross-entropy (``cfg.offset``, ``cfg.temperature``),
    as in chapter 3. Both: Adam at ``cfg.lr``, batch ``cfg.batch_size``, ``cfg.moons_epochs`` epochs."""
    from stablecore.workflows import train_classifier

    cfg = _config(cfg)
    check_choice(family, "family", FAMILIES)
    key = (cfg.moons_samples, cfg.moons_noise, cfg.mlp_hidden, cfg.sll_width, cfg.sll_depth,
           cfg.moons_epochs, cfg.lr, cfg.batch_size, cfg.offset, cfg.temperature, cfg.device, cfg.mode,
           family, _check_seed(seed), str(home))  # fmt: skip
    if key not in _TRAINED:
        if family == "mlp":
            model_kwargs: dict[str, Any] = {"hidden": list(cfg.mlp_hidden)}
            loss, loss_kwargs = "ce", {}
        else:
            model_kwargs = {"width": cfg.sll_width, "depth": cfg.sll_depth, "head": "lln"}
            loss, loss_kwargs = "offset_ce", {"offset": float(cfg.offset), "temperature": cfg.temperature}
        result = train_classifier(
            "moons", family, epochs=cfg.moons_epochs, mode=cfg.mode, seed=seed, device=cfg.device,
            loss=loss, loss_kwargs=loss_kwargs,
            data_kwargs={"n_samples": cfg.moons_samples, "noise": cfg.moons_noise, "seed": seed},
            model_kwargs=model_kwargs,
            train_kwargs={"batch_size": cfg.batch_size, "lr": cfg.lr, "optimizer": "adam", "scheduler": None,
                          "weight_decay": 0.0, "amp": False},
            experiment=f"ch01-moons-{family}", home=home, progress=False,
        )  # fmt: skip
        result.model.eval()
        _TRAINED[key] = result
    return _TRAINED[key]


def _moons_tensors(
    cfg: Ch01Config, family: str, split: str, *, seed: int, home: str | Path | None
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """(:func:`trained_moons` result, inputs, labels) of its ``split`` (``"train"`` or ``"test"``), the
    tensors on the model's device."""
    result = trained_moons(cfg, family, seed=seed, home=home)
    x, y = _tensors(getattr(result.data, split))
    dev = next(result.model.parameters()).device
    return result, x.to(dev), y.to(dev)


def _accuracy_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad(), eval_mode(model):
        logits = model(x)
    return float((logits.argmax(1) == y).double().mean()), float(nn.functional.cross_entropy(logits, y))


# =================================================================================== 1. sensitivity
@_experiment
def moons_sensitivity(
    cfg: Ch01Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Input and parameter sensitivity of each network of ``cfg.families`` on the two-moons test split.

    Input perturbations :math:`x+\delta`, :math:`\|\delta\|_2=\varepsilon` for each ε of ``cfg.input_eps``:

    * ``random_noise`` -- δ uniform on the sphere of radius ε, accuracy and loss averaged over
      ``cfg.noise_draws`` draws per point (``estimate``: the average case);
    * ``pgd`` -- ℓ₂ PGD (:func:`stablecore.certify.pgd`, ``cfg.pgd_steps`` steps, no box) inside the ball
      :math:`\|\delta\|\le\varepsilon`: an empirical ``upper_bound`` of the robust accuracy;
    * ``certified`` -- correct with a Lipschitz margin radius > ε (pairwise LLN certificate of
      :func:`stablecore.certify.certify_model`; every point at ε = 0 that is correct): a ``lower_bound`` of
      the robust accuracy.

    Parameter perturbations :math:`\theta + \rho\,d` for each ρ of ``cfg.param_scales``, ``d`` a
    filter-normalised Gaussian direction (:func:`stablecore.landscape.random_directions`, Li et al. 2018:
    each filter of ``d`` has the norm of the matching filter of θ, biases still), so ρ is a relative size;
    ``random_direction`` rows average accuracy and loss over ``cfg.param_draws`` directions
    (:func:`stablecore.landscape.evaluate_points`; the model is never modified) (``estimate``).

    Returns:
        Columns :data:`SENSITIVITY_COLUMNS`; ids
        ``ch01.sensitivity.<model>.<input|parameter>.<method>.<scale>``.
    """
    from stablecore.certify import certify_model, pgd
    from stablecore.landscape import evaluate_points, random_directions

    rows: list[dict[str, Any]] = []
    for family in cfg.families:
        result, x, y = _moons_tensors(cfg, family, "test", seed=seed, home=home)
        model = result.model
        gen = torch.Generator().manual_seed(seed)
        cert = certify_model(model, (x, y), [max(cfg.input_eps)], last_layer="auto")
        radius, correct = cert["radius"].to_numpy(), cert["correct"].to_numpy()
        base = {"model": family, "n_points": len(y)}
        for eps in cfg.input_eps:
            accs, losses = [], []
            for _ in range(cfg.noise_draws):
                u = torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
                u = u / u.norm(dim=1, keepdim=True)
                a, l_ = _accuracy_and_loss(model, x + eps * u, y)
                accs.append(a)
                losses.append(l_)
            common = {**base, "perturbation": "input", "scale": eps}
            pre = f"ch01.sensitivity.{family}.input"
            rows.append({**common, "id": f"{pre}.random_noise.{_key(eps)}", "method": "random_noise",
                         "accuracy": float(np.mean(accs)), "loss": float(np.mean(losses)), "kind": "estimate",
                         "draws": cfg.noise_draws})  # fmt: skip
            adv = x if eps == 0 else pgd(model, x, y, eps, steps=cfg.pgd_steps, clip=None, seed=seed)
            a, l_ = _accuracy_and_loss(model, adv, y)
            rows.append({**common, "id": f"{pre}.pgd.{_key(eps)}", "method": "pgd", "accuracy": a, "loss": l_,
                         "kind": "upper_bound", "draws": 1})  # fmt: skip
            ok = certified_mask(radius, correct, eps)
            rows.append({**common, "id": f"{pre}.certified.{_key(eps)}", "method": "certified",
                         "accuracy": float(np.mean(ok)), "loss": math.nan, "kind": "lower_bound",
                         "draws": 1})  # fmt: skip
        dirs = random_directions(model, cfg.param_draws, normalization="filter", seed=seed)
        coords = np.asarray(cfg.param_scales, dtype=float)[:, None]
        losses_p, accs_p = [], []
        for d in dirs:
            loss, acc = evaluate_points(model, nn.CrossEntropyLoss(), (x, y), [d], coords, progress=False)
            losses_p.append(np.asarray(loss, float))
            accs_p.append(np.asarray(acc, float))
        mean_loss, mean_acc = np.mean(losses_p, axis=0), np.mean(accs_p, axis=0)
        for j, rho in enumerate(cfg.param_scales):
            rows.append({**base, "id": f"ch01.sensitivity.{family}.parameter.random_direction.{_key(rho)}",
                         "perturbation": "parameter", "method": "random_direction", "scale": rho,
                         "accuracy": float(mean_acc[j]), "loss": float(mean_loss[j]), "kind": "estimate",
                         "draws": cfg.param_draws})  # fmt: skip
    return pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS))


def sensitivity_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of :func:`moons_sensitivity` as a wide table: one row per (model, perturbation, scale), one
    column per method."""
    check_frame(frame, SENSITIVITY_COLUMNS, "moons_sensitivity")
    wide = frame.pivot_table(index=["model", "perturbation", "scale"], columns="method", values="accuracy")
    order = [m for m in ("random_noise", "pgd", "certified", "random_direction") if m in wide.columns]
    return wide[order].reset_index().rename_axis(columns=None)


# =================================================================================== 2. margin certificate
@_experiment
def margin_certificate(
    cfg: Ch01Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""The Lipschitz margin certificate of each moons network, at each ε of ``cfg.input_eps``.

    With :math:`M(x) = f_y(x) - \max_{j\ne y} f_j(x)` and an ``upper_bound`` L of the logits' ℓ₂ Lipschitz
    constant (:func:`stablecore.spectral.lipschitz_bound`), the prediction is constant on :math:`B(x, r)`
    for :math:`r = M/(\sqrt2 L)` (``global``; Tsuzuku et al. 2018, docs/chapters/ch01.md §2); with the
    last layer :math:`W` apart and :math:`L_\text{body}` the bound of the rest,
    :math:`r=\min_{j\ne y}(f_y-f_j)/(L_\text{body}\|w_y-w_j\|)` (``pairwise``, the LLN certificate), never
    smaller. ``lipschitz`` is the bound the certificate used (whole network or body), ``lipschitz_whole``
    the bound of the whole network, ``lipschitz_lower`` an empirical ``lower_bound`` of the *whole*
    network's constant (:func:`stablecore.certify.lipschitz_lower_bound`, ``cfg.lower_bound_steps``
    steps of gradient ascent on pairs started at the test points). For the LLN network it may exceed the
    body's bound: the rows of its head have norm 1 but the head is not 1-Lipschitz, so the network as a
    whole is not (the SLL issue #2 phenomenon of :data:`REPORTED`), and only the pairwise certificate uses
    the body's bound.

    Returns:
        Columns :data:`CERTIFICATE_COLUMNS`; ids ``ch01.margin.<model>.<global|pairwise>.<eps>``.
    """
    from stablecore.certify import certify_model, lipschitz_lower_bound
    from stablecore.spectral import lipschitz_bound

    rows: list[dict[str, Any]] = []
    for family in cfg.families:
        result, x, y = _moons_tensors(cfg, family, "test", seed=seed, home=home)
        model = result.model
        with eval_mode(model):
            whole = lipschitz_bound(model, result.data.input_shape)
        lower = lipschitz_lower_bound(model, x, steps=cfg.lower_bound_steps, seed=seed)
        eps_pos = [e for e in cfg.input_eps if e > 0] or [1.0]
        for certificate, last in (("global", None), ("pairwise", "auto")):
            table = certify_model(model, (x, y), eps_pos, last_layer=last)
            radius, correct = table["radius"].to_numpy(), table["correct"].to_numpy()
            for eps in cfg.input_eps:
                ok = certified_mask(radius, correct, eps)
                rows.append(
                    {
                        "id": f"ch01.margin.{family}.{certificate}.{_key(eps)}",
                        "model": family,
                        "certificate": table.attrs["certificate"],
                        "eps": eps,
                        "certified_accuracy": float(np.mean(ok)),
                        "clean_accuracy": float(correct.mean()),
                        "lipschitz": float(table.attrs["lipschitz"]),
                        "lipschitz_kind": table.attrs["kind"],
                        "lipschitz_whole": whole.value,
                        "lipschitz_lower": lower.value,
                        "n_points": len(y),
                    }
                )
    return pd.DataFrame(rows, columns=list(CERTIFICATE_COLUMNS))


def lipschitz_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """The Lipschitz numbers of :func:`margin_certificate`, one row each (columns ``model, quantity, value,
    kind``, for :func:`stablecore.plots.bound_gap_plot`): the whole network's ``upper_bound``, the body's
    (pairwise certificate), and the empirical ``lower_bound``."""
    check_frame(frame, CERTIFICATE_COLUMNS, "margin_certificate")
    rows = []
    for model, d in frame.groupby("model", sort=False):
        pair = d[d["certificate"] == "pairwise"]
        rows.append({"model": model, "quantity": f"{model}: bound of the network",
                     "value": float(d["lipschitz_whole"].iloc[0]), "kind": "upper_bound"})  # fmt: skip
        if len(pair):
            rows.append({"model": model, "quantity": f"{model}: bound of the body (before the last layer)",
                         "value": float(pair["lipschitz"].iloc[0]),
                         "kind": str(pair["lipschitz_kind"].iloc[0])})  # fmt: skip
        rows.append({"model": model, "quantity": f"{model}: empirical (pairs, gradient ascent)",
                     "value": float(d["lipschitz_lower"].iloc[0]), "kind": "lower_bound"})  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "quantity", "value", "kind"])


# =================================================================================== 3. deep linear nets
@_experiment
def deep_linear_looseness(cfg: Ch01Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""How loose the product of layer norms is on a deep linear net :math:`x\mapsto W_L\cdots W_1x`:
    chapter 2's :func:`~stablecore.chapters.ch02_gram_iteration.linear_looseness` with square layers of
    width ``cfg.linear_dim``, depths ``cfg.linear_depths`` and every initialisation of ``cfg.linear_inits``
    (PyTorch's default, Gaussian, orthogonal). ``ratio`` grows exponentially with depth for random layers and
    stays 1 for orthogonal ones (the motivation of the orthogonal and 1-Lipschitz layers of chapters 2 and 3).
    """
    return linear_looseness(cfg.linear_dim, cfg.linear_depths, cfg.linear_inits, seed=seed)


#: The dtypes of :func:`orthogonal_drift`.
DRIFT_DTYPES: tuple[str, ...] = ("float32", "float64")


@_experiment
def orthogonal_drift(
    cfg: Ch01Config | None = None, *, depths: Sequence[int] | None = None, seed: int = 0
) -> pd.DataFrame:
    r"""How far rounding takes an orthogonal deep linear net from being exactly 1-Lipschitz.

    The orthogonal weights of :func:`~stablecore.chapters.ch02_gram_iteration.deep_linear_weights`
    (width ``cfg.linear_dim``) are rounded to each dtype of :data:`DRIFT_DTYPES` and multiplied in that
    dtype, :math:`P_l = W_l P_{l-1}`, for each depth L of ``depths`` (default ``cfg.linear_depths``). In
    exact arithmetic all three columns below are 1:

    * ``product_of_norms`` -- :math:`\prod_l\|W_l\|_2`, each norm the ``exact`` (float64 SVD) norm of the
      *rounded* matrix: the layer-wise bound of the rounded network;
    * ``norm_of_product`` -- :math:`\|P_L\|_2`, the ``exact`` norm of the product as computed in the dtype
      (float64 SVD of the rounded product);
    * ``min_singular`` -- :math:`\sigma_{\min}(P_L)` (the product is no longer norm-preserving either).

    ``unit_roundoff`` is the dtype's :math:`u` (2⁻²⁴ or 2⁻⁵³). Ids ``ch01.drift.<dtype>.depth<L>``.
    """
    from stablecore.chapters.ch02_gram_iteration import deep_linear_weights

    depths = tuple(cfg.linear_depths if depths is None else depths)
    check_int_tuple(depths, "depths")
    weights = deep_linear_weights("orthogonal", cfg.linear_dim, max(depths), seed=seed)
    rows = []
    for name in DRIFT_DTYPES:
        dtype = getattr(torch, name)
        prod = torch.eye(cfg.linear_dim, dtype=dtype)
        log_norms = 0.0
        for depth, w in enumerate(weights, start=1):
            w = w.to(dtype)
            prod = w @ prod
            log_norms += math.log(float(torch.linalg.matrix_norm(w.double(), 2)))
            if depth in depths:
                s = torch.linalg.svdvals(prod.double())
                rows.append(
                    {
                        "id": f"ch01.drift.{name}.depth{depth}",
                        "dtype": name,
                        "depth": depth,
                        "dim": cfg.linear_dim,
                        "product_of_norms": math.exp(log_norms),
                        "norm_of_product": float(s[0]),
                        "min_singular": float(s[-1]),
                        "unit_roundoff": float(torch.finfo(dtype).eps) / 2,
                    }
                )
    return pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))


# =================================================================================== 4. randomized smoothing
def max_cohen_radius(sigma: float, n: int, alpha: float) -> float:
    r"""The largest radius CERTIFY can return with ``n`` estimation samples at level α: all n votes for
    :math:`\hat c_A` give :math:`\underline p_A = \alpha^{1/n}` (Clopper–Pearson), so
    :math:`R_\max = \sigma\Phi^{-1}(\alpha^{1/n})` (≈ 3.81σ at n = 10⁵, α = 0.001; docs/chapters/ch05.md
    §9)."""
    check_number(sigma, "sigma")
    check_int(n, "n")
    check_probability(alpha, "alpha")
    return float(sigma * norm.ppf(alpha ** (1.0 / n)))


_RS_TRAINED: dict[tuple, Any] = {}


def _rs_model(cfg: Ch01Config, sigma: float, seed: int, home: str | Path | None) -> Any:
    from stablecore.train import GaussianNoise
    from stablecore.workflows import train_classifier

    key = (
        cfg.rs_hidden,
        cfg.rs_epochs,
        cfg.rs_lr,
        cfg.batch_size,
        cfg.device,
        cfg.mode,
        sigma,
        seed,
        str(home),
    )
    if key not in _RS_TRAINED:
        result = train_classifier(
            "digits", "mlp", epochs=cfg.rs_epochs, mode=cfg.mode, seed=seed, device=cfg.device,
            data_kwargs={"seed": seed}, model_kwargs={"hidden": list(cfg.rs_hidden)},
            train_kwargs={"batch_size": cfg.batch_size, "lr": cfg.rs_lr, "optimizer": "adam",
                          "scheduler": None, "amp": False},
            experiment=f"ch01-digits-mlp-sigma{sigma:g}", home=home, progress=False,
            transform=GaussianNoise(sigma),
        )  # fmt: skip
        result.model.eval()
        _RS_TRAINED[key] = result
    return _RS_TRAINED[key]


def trained_digits(
    cfg: Ch01Config | None, sigma: float, *, seed: int = 0, home: str | Path | None = None
) -> Any:
    """The digits base classifier of :func:`randomized_smoothing` at noise level ``sigma`` (a
    :class:`~stablecore.workflows.TrainResult`, model in eval mode): a ReLU MLP ``cfg.rs_hidden`` trained
    with Gaussian noise augmentation at σ, once per process, configuration, σ, seed and run home (the same
    object the experiment certifies)."""
    cfg = _config(cfg)
    check_number(sigma, "sigma")
    return _rs_model(cfg, float(sigma), _check_seed(seed), home)


@_experiment
def randomized_smoothing(
    cfg: Ch01Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Cohen et al.'s CERTIFY (docs/chapters/ch01.md §2) on ``cfg.rs_points`` digits test points, for each σ
    of ``cfg.rs_sigmas``, with a ReLU MLP (``cfg.rs_hidden``) trained with Gaussian noise augmentation at σ.

    :class:`stablecore.smoothing.Smooth`: ``selected`` :math:`\hat c_A` = the top class of n₀ selection
    draws; :math:`\underline p_A` = the one-sided Clopper–Pearson lower bound (level α) of its
    ``count_selected`` votes among n fresh draws; ``prediction`` -1 (abstain) if
    :math:`\underline p_A\le 1/2`, else radius :math:`\sigma\Phi^{-1}(\underline p_A)` (0 when abstaining).
    ``max_radius`` = :func:`max_cohen_radius`. For contrast, ``lipschitz_radius`` is the *base* network's
    deterministic margin radius for its clean prediction of the true label (pairwise certificate with the
    product-of-layer-norms bound; 0 when misclassified). Noise from a ``torch.Generator`` seeded per
    point. Ids ``ch01.rs.sigma<σ>.<index>``.
    """
    from stablecore.certify import certify_model
    from stablecore.data import load_dataset
    from stablecore.smoothing import Smooth

    data = load_dataset("digits", seed=seed)
    k = len(data.test)
    idx = np.unique(np.linspace(0, k - 1, min(cfg.rs_points, k)).round().astype(int)).tolist()
    x_all = torch.stack([data.test[i][0] for i in idx])
    y_all = torch.as_tensor([int(data.test[i][1]) for i in idx])
    rows = []
    for sigma in cfg.rs_sigmas:
        result = _rs_model(cfg, sigma, seed, home)
        model = result.model
        dev = next(model.parameters()).device
        det = certify_model(model, (x_all, y_all), [0.1], last_layer="auto")
        smooth = Smooth(model, data.num_classes, sigma)
        r_max = max_cohen_radius(sigma, cfg.n, cfg.alpha)
        for j, i in enumerate(idx):
            gen = torch.Generator(device=dev).manual_seed(seed * 1_000_003 + i)
            cert = smooth.certify(x_all[j], cfg.n0, cfg.n, cfg.alpha, cfg.rs_batch_size, generator=gen)
            selected = int(np.argmax(cert.counts_selection))
            label = int(y_all[j])
            rows.append(
                {
                    "id": f"ch01.rs.sigma{_key(sigma)}.{i}",
                    "sigma": sigma,
                    "index": i,
                    "label": label,
                    "prediction": cert.prediction,
                    "selected": selected,
                    "count_selected": int(cert.counts_estimation[selected]),
                    "n0": cfg.n0,
                    "n": cfg.n,
                    "alpha": cfg.alpha,
                    "p_lower": cert.p_lower,
                    "radius": cert.radius,
                    "correct": cert.prediction == label,
                    "max_radius": r_max,
                    "base_correct": bool(det["correct"].iloc[j]),
                    "lipschitz_radius": float(det["radius"].iloc[j]),
                    "test_accuracy": result.test["accuracy"],
                }
            )
    return pd.DataFrame(rows, columns=list(RS_COLUMNS))


def rs_curve(table: pd.DataFrame, radii: Sequence[float] | None = None) -> pd.DataFrame:
    """Certified accuracy vs radius per σ from :func:`randomized_smoothing`: ``cohen`` (correct and radius >
    r; not abstaining at r = 0) and ``lipschitz_margin`` (the base's deterministic certificate), long format
    (columns ``sigma, method, radius, certified_accuracy``)."""
    need = ("sigma", "radius", "correct", "lipschitz_radius", "base_correct", "max_radius")
    check_frame(table, need, "randomized_smoothing", "table")
    if radii is None:
        top = float(table["max_radius"].max())
        radii = np.round(np.linspace(0.0, top, 25), 4).tolist()
    rows = []
    for sigma, d in table.groupby("sigma", sort=True):
        for r in radii:
            cohen = certified_mask(d["radius"], d["correct"].to_numpy(bool), r)
            lip = certified_mask(d["lipschitz_radius"], d["base_correct"].to_numpy(bool), r)
            rows.append(
                {"sigma": sigma, "method": "cohen", "radius": r, "certified_accuracy": float(cohen.mean())}
            )
            rows.append(
                {"sigma": sigma, "method": "lipschitz_margin", "radius": r,
                 "certified_accuracy": float(lip.mean())}
            )  # fmt: skip
    return pd.DataFrame(rows)


def rs_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per σ of :func:`randomized_smoothing`: the base network's clean test accuracy (all test
    points), the smoothed classifier's certified accuracy at radius 0 and abstention rate, the median radius
    of the certified correct points, the largest radius n samples allow (:func:`max_cohen_radius`), and the
    median deterministic margin radius of the base's correct points."""
    need = ("sigma", "radius", "correct", "prediction", "max_radius", "test_accuracy", "lipschitz_radius",
            "base_correct")  # fmt: skip
    check_frame(table, need, "randomized_smoothing", "table")
    rows = []
    for sigma, d in table.groupby("sigma", sort=True):
        ok = d[d["correct"]]
        base = d[d["base_correct"]]
        rows.append(
            {
                "sigma": sigma,
                "base_test_accuracy": float(d["test_accuracy"].iloc[0]),
                "certified_at_0": float(d["correct"].mean()),
                "abstain_rate": float((d["prediction"] == -1).mean()),
                "median_radius": float(ok["radius"].median()) if len(ok) else 0.0,
                "max_radius": float(d["max_radius"].iloc[0]),
                "median_lipschitz_radius": float(base["lipschitz_radius"].median()) if len(base) else 0.0,
            }
        )
    return pd.DataFrame(rows)


# =================================================================================== 5. curvature basics
def _train_batch(cfg: Ch01Config, family: str, seed: int, home: str | Path | None) -> tuple[Any, tuple]:
    result, x, y = _moons_tensors(cfg, family, "train", seed=seed, home=home)
    return result.model, (x, y)


@_experiment
def hessian_top(
    cfg: Ch01Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Top ``cfg.hessian_k`` eigenvalues of the Hessian :math:`\nabla^2_\theta\mathcal L` of the
    cross-entropy on the full moons training set, for each network of ``cfg.families`` (Lanczos,
    :func:`stablecore.curvature.hessian_eigenvalues`; ``residual`` = :math:`\|Hv-\lambda v\|`; ``estimate``).
    The SLL network's parameters are its unconstrained ones (the parametrizations' originals). Ids
    ``ch01.curvature.<model>.lambda<rank>``."""
    from stablecore.curvature import hessian_eigenvalues

    rows = []
    for family in cfg.families:
        model, batch = _train_batch(cfg, family, seed, home)
        res = hessian_eigenvalues(model, nn.CrossEntropyLoss(), batch, k=cfg.hessian_k, seed=seed)
        _, loss = _accuracy_and_loss(model, *batch)
        for r, (lam, resid) in enumerate(zip(res.eigenvalues, res.residuals), start=1):
            rows.append(
                {
                    "id": f"ch01.curvature.{family}.lambda{r}",
                    "model": family,
                    "rank": r,
                    "eigenvalue": float(lam),
                    "residual": float(resid),
                    "kind": res.kind,
                    "n_params": res.n_params,
                    "n_hvp": res.n_hvp,
                    "loss": loss,
                }
            )
    return pd.DataFrame(rows, columns=list(HESSIAN_COLUMNS))


@_experiment
def landscape_1d(
    cfg: Ch01Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""The training loss along two unit directions d of parameter space, :math:`\alpha\mapsto\mathcal
    L(\theta+\alpha d)` for α in ±``cfg.landscape_span`` (``cfg.landscape_steps`` points,
    :func:`stablecore.landscape.slice_1d`; the model is never modified), for each network:

    * ``hessian`` -- the top Hessian eigenvector (Lanczos);
    * ``random`` -- a Gaussian direction scaled to unit norm (biases included; not filter-normalised, so both
      directions have the same length and the curvatures compare).

    ``quadratic`` is the second-order model :math:`\mathcal L_0 + \alpha\,g^\top d + \tfrac12\alpha^2
    d^\top Hd` with ``slope`` :math:`g^\top d` and ``curvature`` :math:`d^\top Hd` computed by one gradient
    and one Hessian-vector product (:class:`stablecore.curvature.HessianOperator`); along the eigenvector
    ``curvature`` is λ_max. Ids ``ch01.landscape.<model>.<direction>``.
    """
    from stablecore.curvature import HessianOperator, hessian_eigenvalues
    from stablecore.landscape import slice_1d

    ce = nn.CrossEntropyLoss()
    frames = []
    for family in cfg.families:
        model, batch = _train_batch(cfg, family, seed, home)
        op = HessianOperator(model, ce, batch)
        loss0, grad = op.loss_and_gradient()
        top = hessian_eigenvalues(model, ce, batch, k=1, seed=seed, return_eigenvectors=True)
        v_h = top.eigenvectors[0].to(grad)
        gen = torch.Generator().manual_seed(seed)
        v_r = torch.randn(op.size, generator=gen, dtype=torch.float64).to(grad)
        v_r = v_r / v_r.norm()
        for name, v in (("hessian", v_h), ("random", v_r)):
            land = slice_1d(
                model, ce, batch, direction=op.unflatten(v), span=(-cfg.landscape_span, cfg.landscape_span),
                steps=cfg.landscape_steps, normalization=None, progress=False,
            )  # fmt: skip
            slope = float(grad.double() @ v.double())
            curv = float(op.matvec(v).double() @ v.double())
            a = np.asarray(land.alphas, float)
            frames.append(
                pd.DataFrame(
                    {
                        "id": f"ch01.landscape.{family}.{name}",
                        "model": family,
                        "direction": name,
                        "alpha": a,
                        "loss": np.asarray(land.loss, float),
                        "accuracy": np.asarray(land.accuracy, float),
                        "quadratic": loss0 + slope * a + 0.5 * curv * a**2,
                        "slope": slope,
                        "curvature": curv,
                    }
                )
            )
        op.release()
    return pd.concat(frames, ignore_index=True)[list(LANDSCAPE_COLUMNS)]


# =================================================================================== the tour
_MAP = (
    (1, "introduction: sensitivity, margin certificate, product of norms, RS and curvature basics", ""),
    (2, "spectral norms of dense and convolutional layers (Gram iteration)", "deep_linear_looseness"),
    (3, "Lipschitz-by-design layers (CPL, SLL, AOL, SR) and their certificates", "margin_certificate"),
    (4, "curvature of the loss: Hessian spectrum, landscapes, regularisers", "hessian_top, landscape_1d"),
    (
        5,
        "randomized smoothing I: Weierstrass view, Lipschitz-variance-margin, LVM-RS",
        "randomized_smoothing",
    ),
    (6, "randomized smoothing II: Lipschitz-aware radii, CPM intervals", "randomized_smoothing"),
)


def chapter_map() -> pd.DataFrame:
    """The chapter notebooks this tour leads to: chapter, title, notebook path (relative to ``notebooks/``),
    the section of this chapter that introduces it, and the number of reported numbers it holds."""
    from stablecore.chapters import CHAPTERS

    rows = []
    for ch, what, section in _MAP:
        module = CHAPTERS[ch]
        rows.append(
            {
                "chapter": ch,
                "title": module.TITLE,
                "topic": what,
                "notebook": module.NOTEBOOK.removeprefix("notebooks/"),
                "introduced_by": section,
                "reported_numbers": len(module.REPORTED),
            }
        )
    return pd.DataFrame(rows)


# =================================================================================== comparison
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "moons_sensitivity": moons_sensitivity,
    "margin_certificate": margin_certificate,
    "deep_linear_looseness": deep_linear_looseness,
    "orthogonal_drift": orthogonal_drift,
    "randomized_smoothing": randomized_smoothing,
    "hessian_top": hessian_top,
    "landscape_1d": landscape_1d,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""


def _measured(results: Mapping[str, pd.DataFrame], rep_id: str) -> tuple[float | None, str, str]:
    if rep_id == "ch01.sll_issue2.lln_cifar100.pgd_lipschitz_lower_bound":
        note = "CIFAR-100 SLL model not run here (no checkpoint, quick mode has no CIFAR)"
        frame = results.get("margin_certificate")
        if frame is not None and (frame["model"] == "sll").any():
            low = float(frame.loc[frame["model"] == "sll", "lipschitz_lower"].iloc[0])
            note += f"; two-moons analogue: the LLN SLL network's empirical lower bound is {low:.3f}"
        return None, "", note
    return None, "", "no matching experiment"


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value we measured (``comparison``: ``"not
    transcribed"`` for missing thesis values, else ``"measured"`` / ``"not measured"``).

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned.
    """
    return comparison_table(CHAPTER, EXPERIMENTS, results, _measured)
