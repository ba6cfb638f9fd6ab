r"""One sensitivity report on any classifier: input sensitivity, parameter sensitivity, certified accuracy.

:func:`build_report` runs the library's estimators on a small sample of a data set and returns a frozen
:class:`SensitivityReport`; :mod:`stablecore.report.html` renders it. Nothing is computed twice: every
number comes from the function named in its ``method`` column, with that function's kind.

**Input sensitivity** (ℓ2, logits). With :math:`L` the Lipschitz constant of the logit map :math:`f`,

.. math::

    \max_{x} \sigma_1(J_f(x)) \;\le\; L \;\le\; \prod_l \overline{\sigma}_l,
    \qquad
    \frac{\|f(x+\delta) - f(x)\|_2}{\|\delta\|_2} \;\le\; L,

the right-hand product from :func:`stablecore.spectral.lipschitz_bound` (``upper_bound``; refused, with
the reason kept, when a module has no registered bound), the Jacobian and logit-gradient maxima from
:func:`stablecore.certify.empirical_lipschitz` and the ratios over the perturbations δ found by PGD
(:func:`stablecore.certify.pgd`, Madry et al. 2018; :func:`stablecore.certify.pgd_lower_bound`) and by
gradient ascent on pairs (:func:`stablecore.certify.lipschitz_lower_bound`), all ``lower_bound``\ s.
``upper / max(lower)`` bounds how much the upper bound can overstate :math:`L` (Szegedy et al. 2014;
docs/chapters/ch01.md §2).

**Parameter sensitivity** of the training loss on the first ``train_points`` training examples: top
Hessian eigenvalues (Lanczos), Hutchinson trace, SLQ density (:mod:`stablecore.curvature`; Ghorbani et
al. 2019, Yao et al. 2020) and a 2-D slice along two filter-normalised random directions
(:func:`stablecore.landscape.slice_2d`; Li et al. 2018). All ``estimate`` but the landscape's loss
values, which are evaluations.

**Certified accuracy** at each radius of ``radii``: the Lipschitz margin certificate
(:func:`stablecore.certify.certify_model`, pairwise when the model ends in a linear layer; Tsuzuku et al.
2018, Araujo et al. 2023) when a bound exists, randomized smoothing otherwise (Cohen et al. 2019,
:class:`stablecore.smoothing.Smooth`); beside it the accuracy under PGD at the same radius, an
``upper_bound`` of the robust accuracy.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm.auto import tqdm

from stablecore.data import DatasetBundle
from stablecore.train.evaluate import eval_mode, model_device
from stablecore.types import Bound

if TYPE_CHECKING:
    from stablecore.landscape import Landscape

__all__ = [
    "NUMBER_COLUMNS",
    "SMOOTHING_CHOICES",
    "ReportSettings",
    "SensitivityReport",
    "build_report",
    "sample_indices",
]

SMOOTHING_CHOICES: tuple[str, ...] = ("auto", "always", "never")
NUMBER_COLUMNS: tuple[str, ...] = ("section", "quantity", "value", "kind", "method", "description")
_BOUND_METHODS = ("gram", "exact")


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _positive_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ReportSettings:
    """How much work a report does. :meth:`preset` ``"quick"`` (the default: a digits report in seconds on
    a CPU) or ``"full"`` (more points, probes and Lanczos steps).

    Attributes:
        test_points: test examples sampled (seeded, without replacement) for every input-space quantity.
        train_points: first training examples defining the loss for the Hessian and the landscape.
        radii: ℓ2 radii of the certified / PGD accuracy curves (pixel space); 0 included gives accuracy.
        bound_method: ``"gram"`` or ``"exact"`` layer norms for :func:`~stablecore.spectral.lipschitz_bound`.
        pgd_steps, pgd_restarts: PGD-ℓ2 settings (margin loss), at every positive radius.
        pair_steps: gradient-ascent steps of :func:`~stablecore.certify.lipschitz_lower_bound`.
        hessian_k, lanczos_steps: top eigenvalues and the Lanczos steps spent on them.
        trace_samples: Hutchinson probes. density_steps, density_runs: SLQ steps and runs.
        landscape_steps, landscape_span: grid ``steps × steps`` on ``[-span, span]²``.
        smoothing: ``"auto"`` (randomized smoothing only when no Lipschitz bound exists), ``"always"`` or
            ``"never"``. sigma, n0, n, alpha, smoothing_points: Cohen et al.'s CERTIFY settings and the
            number of sampled test points certified.
        batch_size: batch size of every forward pass over the samples.
    """

    test_points: int = 128
    train_points: int = 256
    radii: tuple[float, ...] = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)
    bound_method: str = "gram"
    pgd_steps: int = 20
    pgd_restarts: int = 1
    pair_steps: int = 50
    hessian_k: int = 3
    lanczos_steps: int = 20
    trace_samples: int = 20
    density_steps: int = 20
    density_runs: int = 1
    landscape_steps: int = 11
    landscape_span: float = 1.0
    smoothing: str = "auto"
    sigma: float = 0.25
    n0: int = 64
    n: int = 512
    alpha: float = 0.001
    smoothing_points: int = 32
    batch_size: int = 256

    def __post_init__(self) -> None:
        for name in (
            "test_points",
            "train_points",
            "pgd_steps",
            "pgd_restarts",
            "pair_steps",
            "hessian_k",
            "trace_samples",
            "density_runs",
            "n0",
            "n",
            "smoothing_points",
            "batch_size",
        ):
            _positive_int(getattr(self, name), name)
        for name in ("lanczos_steps", "density_steps", "landscape_steps"):
            if _positive_int(getattr(self, name), name) < 2:
                raise ValueError(f"{name} must be an int >= 2, got {getattr(self, name)!r}")
        _positive_float(self.landscape_span, "landscape_span")
        _positive_float(self.sigma, "sigma")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if self.bound_method not in _BOUND_METHODS:
            raise ValueError(f"bound_method must be one of {_BOUND_METHODS}, got {self.bound_method!r}")
        if self.smoothing not in SMOOTHING_CHOICES:
            raise ValueError(f"smoothing must be one of {SMOOTHING_CHOICES}, got {self.smoothing!r}")
        if isinstance(self.radii, (str, bytes)) or not isinstance(self.radii, Sequence) or not self.radii:
            raise ValueError(f"radii must be a non-empty sequence of numbers >= 0, got {self.radii!r}")
        radii = []
        for r in self.radii:
            if isinstance(r, bool) or not isinstance(r, (int, float, np.floating, np.integer)):
                raise TypeError(f"radii must contain numbers, got {type(r).__name__}")
            if not (math.isfinite(r) and r >= 0):
                raise ValueError(f"radii must contain finite numbers >= 0, got {r!r}")
            radii.append(float(r))
        object.__setattr__(self, "radii", tuple(sorted(set(radii))))

    @classmethod
    def preset(cls, mode: str = "quick", **overrides: Any) -> ReportSettings:
        """``"quick"`` (defaults) or ``"full"`` (more points, probes and steps), then ``overrides``."""
        if mode not in ("quick", "full"):
            raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
        base: dict[str, Any] = {}
        if mode == "full":
            base = dict(
                test_points=1000,
                train_points=2048,
                pgd_steps=100,
                pgd_restarts=3,
                pair_steps=200,
                hessian_k=5,
                lanczos_steps=80,
                trace_samples=100,
                density_steps=80,
                density_runs=3,
                landscape_steps=31,
                n0=100,
                n=10_000,
                smoothing_points=200,
            )
        unknown = sorted(set(overrides) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(
                f"unknown report setting(s) {unknown}; known: {sorted(cls.__dataclass_fields__)}"
            )
        return cls(**{**base, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SensitivityReport:
    """What :func:`build_report` measured. Every scalar is a row of ``numbers`` (columns
    :data:`NUMBER_COLUMNS`: section, quantity, value, kind, method, description).

    Attributes:
        title: the report's title. model: name, parameters, dataset, input shape, classes, source.
        settings: the :class:`ReportSettings` used; seed: the seed of every random choice.
        test_indices: the sampled test examples (input sensitivity, certificates, PGD).
        numbers: every number with its kind.
        upper_bound: the Lipschitz :class:`~stablecore.types.Bound` of the whole network, or None;
            refusal: why there is none (the bound's own message). layer_bounds: its per-layer table.
        curves: ``method, eps, accuracy, kind, certificate``: certified accuracy (``lower_bound`` of the
            robust accuracy) and PGD accuracy (``upper_bound``) at each radius.
        certificate: ``"lipschitz-global"``, ``"lipschitz-pairwise"``, ``"smoothing"`` or a combination.
        eigenvalues: :meth:`~stablecore.curvature.EigenResult.to_frame`. trace: the
            :class:`~stablecore.curvature.TraceEstimate`. density: ``eigenvalue, density``.
        landscape: the 2-D :class:`~stablecore.landscape.Landscape`.
        timings: seconds per section.
    """

    title: str
    model: dict[str, Any]
    settings: ReportSettings
    seed: int
    test_indices: tuple[int, ...]
    numbers: pd.DataFrame
    upper_bound: Bound | None
    refusal: str | None
    layer_bounds: pd.DataFrame | None
    curves: pd.DataFrame
    certificate: str
    eigenvalues: pd.DataFrame
    trace: Any
    density: pd.DataFrame
    landscape: Any
    timings: dict[str, float] = field(default_factory=dict)

    def number(self, quantity: str) -> float:
        """The value of one row of ``numbers`` by its ``quantity`` (``KeyError`` if absent)."""
        hit = self.numbers.loc[self.numbers["quantity"] == quantity, "value"]
        if hit.empty:
            raise KeyError(f"no number {quantity!r}; have {list(self.numbers['quantity'])}")
        return float(hit.iloc[0])

    def kind(self, quantity: str) -> str:
        hit = self.numbers.loc[self.numbers["quantity"] == quantity, "kind"]
        if hit.empty:
            raise KeyError(f"no number {quantity!r}")
        return str(hit.iloc[0])

    @property
    def lower_bounds(self) -> pd.DataFrame:
        """The input-sensitivity rows of kind ``lower_bound``."""
        n = self.numbers
        return n[(n["section"] == "input") & (n["kind"] == "lower_bound")]


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def _stack(dataset: Dataset, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    items = [dataset[int(i)] for i in indices]
    x = torch.stack([torch.as_tensor(it[0]) for it in items]).float()
    y = torch.as_tensor([int(it[1]) for it in items], dtype=torch.int64)
    return x, y


def sample_indices(size: int, count: int, seed: int) -> tuple[int, ...]:
    """``min(count, size)`` distinct indices of ``range(size)``, seeded, in increasing order."""
    if size < 1:
        raise ValueError("the test split is empty")
    chosen = np.random.default_rng(int(seed)).choice(size, size=min(int(count), size), replace=False)
    return tuple(int(i) for i in np.sort(chosen))


def _input_box(x: torch.Tensor) -> tuple[float, float] | None:
    """(0, 1) when the inputs are pixels in [0, 1] (PGD then stays in the box), else None."""
    return (0.0, 1.0) if bool((x >= 0).all() and (x <= 1).all()) else None


def _row(section: str, quantity: str, value: float, kind: str, method: str, description: str) -> dict:
    return {
        "section": section,
        "quantity": quantity,
        "value": float(value),
        "kind": kind,
        "method": method,
        "description": description,
    }


def _batched(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = model_device(model)
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    with torch.no_grad():
        return torch.cat(
            [model(x[i : i + batch_size].to(device, dtype)).cpu() for i in range(0, len(x), batch_size)]
        )


# --------------------------------------------------------------------------------------------------
# sections
# --------------------------------------------------------------------------------------------------
def _input_section(
    model: nn.Module, data: DatasetBundle, x: torch.Tensor, y: torch.Tensor, s: ReportSettings, seed: int
) -> tuple[list[dict], Bound | None, str | None, list[torch.Tensor], tuple[float, float] | None]:
    from stablecore.certify import empirical_lipschitz, lipschitz_lower_bound, pgd, pgd_lower_bound
    from stablecore.spectral import lipschitz_bound

    rows: list[dict] = []
    bound, refusal = None, None
    try:
        bound = lipschitz_bound(model, data.input_shape, method=s.bound_method)
    except ValueError as exc:
        refusal = str(exc)
    if bound is not None:
        rows.append(
            _row(
                "input",
                "lipschitz_upper_bound",
                bound.value,
                bound.kind,
                f"lipschitz_bound({bound.method})",
                "ℓ2 Lipschitz constant of the logits: product of per-layer bounds",
            )
        )
    device = model_device(model)
    emp = empirical_lipschitz(model, x.to(device), y.to(device), batch_size=s.batch_size)
    texts = {
        "max_jacobian_norm": "max over the sampled test points of σ₁(J_f(x)) (float64)",
        "max_logit_gradient": "max ‖∇f_ŷ(x)‖ for the predicted class",
        "max_margin_gradient": "max ‖∇(f_y − f_j*)(x)‖ / √2, j* the runner-up class",
    }
    rows += [
        _row("input", name, emp[name].value, emp[name].kind, "empirical_lipschitz", text)
        for name, text in texts.items()
    ]
    box = _input_box(x)
    adversarial = []
    for i, eps in enumerate(r for r in s.radii if r > 0):
        adversarial.append(
            pgd(
                model,
                x.to(device),
                y.to(device),
                eps,
                steps=s.pgd_steps,
                restarts=s.pgd_restarts,
                seed=seed + i,
                loss="margin",
                clip=box,
            ).cpu()
        )
    if adversarial:
        rows.append(
            _row(
                "input",
                "pgd_ratio",
                pgd_lower_bound(model, x, adversarial).value,
                "lower_bound",
                f"pgd(l2, margin, {s.pgd_steps} steps)",
                "max ‖f(x+δ) − f(x)‖ / ‖δ‖ over the perturbations δ found by PGD at every radius > 0",
            )
        )
    pairs = lipschitz_lower_bound(model, x.to(device), steps=s.pair_steps, seed=seed)
    rows.append(
        _row(
            "input",
            "pairs_ratio",
            pairs.value,
            pairs.kind,
            pairs.method,
            "max ‖f(a) − f(b)‖ / ‖a − b‖ over pairs optimised by gradient ascent",
        )
    )
    lower = max(r["value"] for r in rows if r["kind"] == "lower_bound")
    if bound is not None:
        gap = bound.value / lower if lower > 0 else math.inf
        rows.append(
            _row(
                "input",
                "looseness",
                gap,
                "upper_bound",
                "upper / max(lower)",
                "the upper bound overstates the true constant L by at most this factor",
            )
        )
    return rows, bound, refusal, adversarial, box


def _certified_section(
    model: nn.Module,
    data: DatasetBundle,
    x: torch.Tensor,
    y: torch.Tensor,
    indices: Sequence[int],
    adversarial: list[torch.Tensor],
    bound: Bound | None,
    s: ReportSettings,
    seed: int,
    progress: bool,
) -> tuple[list[dict], pd.DataFrame, str]:
    from stablecore.certify import certified_accuracy_curve, certify_model
    from stablecore.smoothing import Smooth, example_generator
    from stablecore.smoothing import certified_accuracy_curve as rs_curve

    rows: list[dict] = []
    curves: list[pd.DataFrame] = []
    kinds = []
    logits = _batched(model, x, s.batch_size)
    accuracy = float((logits.argmax(1) == y).double().mean())
    rows.append(
        _row(
            "certified",
            "accuracy",
            accuracy,
            "exact",
            "forward pass",
            f"accuracy on the {len(y)} sampled test points",
        )
    )
    if bound is not None:
        table = certify_model(
            model, (x, y), s.radii, method=s.bound_method, batch_size=s.batch_size, last_layer="auto"
        )
        certificate = str(table.attrs["certificate"])
        kinds.append(f"lipschitz-{certificate}")
        curve = certified_accuracy_curve(table, s.radii)
        curves.append(
            curve.rename(columns={"certified_accuracy": "accuracy"}).assign(
                method=f"Lipschitz margin ({certificate})",
                kind="lower_bound",
                certificate=f"lipschitz-{certificate}",
            )
        )
        rows.append(
            _row(
                "certified",
                "certificate_lipschitz",
                table.attrs["lipschitz"],
                table.attrs["kind"],
                f"certify_model({certificate})",
                "bound used by the certificate (the body's, before the last layer, when pairwise)",
            )
        )
        finite = table["radius"].to_numpy()[table["correct"].to_numpy()]
        rows.append(
            _row(
                "certified",
                "median_certified_radius_lipschitz",
                float(np.median(np.where(np.isfinite(finite), finite, np.inf))) if finite.size else 0.0,
                "lower_bound",
                f"certify_model({certificate})",
                "median over correctly classified sampled points of the certified ℓ2 radius",
            )
        )
    if s.smoothing == "always" or (s.smoothing == "auto" and bound is None):
        smooth = Smooth(model, data.num_classes, s.sigma)
        device = model_device(model)
        records = []
        chosen = list(range(min(s.smoothing_points, len(indices))))
        for j in tqdm(chosen, desc="randomized smoothing", disable=not progress, leave=False):
            cert = smooth.certify(
                x[j], s.n0, s.n, s.alpha, s.batch_size, generator=example_generator(seed, indices[j], device)
            )
            records.append(
                {
                    "index": indices[j],
                    "label": int(y[j]),
                    "prediction": cert.prediction,
                    "radius": cert.radius,
                    "correct": cert.prediction == int(y[j]),
                }
            )
        table = pd.DataFrame(records)
        curve = rs_curve(table, list(s.radii))
        kinds.append("smoothing")
        method = f"randomized smoothing (σ = {s.sigma:g}, n = {s.n}, α = {s.alpha:g})"
        curves.append(
            curve.rename(columns={"certified_accuracy": "accuracy"}).assign(
                method=method, kind="lower_bound", certificate="smoothing"
            )
        )
        rows.append(
            _row(
                "certified",
                "median_certified_radius_smoothing",
                float(table["radius"][table["correct"]].median()) if table["correct"].any() else 0.0,
                "lower_bound",
                "Smooth.certify (Cohen et al.)",
                f"median certified radius of the smoothed classifier over its correct points (of "
                f"{len(table)}), each holding with probability ≥ 1 − α",
            )
        )
    # PGD accuracy at every radius: radius 0 is the clean accuracy, then one attack per positive radius
    positive = [r for r in s.radii if r > 0]
    pgd_acc = [accuracy if r == 0 else None for r in s.radii]
    for adv, r in zip(adversarial, positive):
        pgd_acc[list(s.radii).index(r)] = float(
            (_batched(model, adv, s.batch_size).argmax(1) == y).double().mean()
        )
    curves.append(
        pd.DataFrame({"eps": list(s.radii), "accuracy": pgd_acc}).assign(
            method=f"PGD-ℓ2 ({s.pgd_steps} steps)" + (" in [0, 1]" if _input_box(x) else ""),
            kind="upper_bound",
            certificate="attack",
        )
    )
    frame = pd.concat(curves, ignore_index=True)[["method", "eps", "accuracy", "kind", "certificate"]]
    for _, r in frame.iterrows():
        if r["eps"] > 0:
            rows.append(
                _row(
                    "certified",
                    f"{r['certificate']}@{r['eps']:g}",
                    r["accuracy"],
                    r["kind"],
                    r["method"],
                    "certified accuracy (lower bound of the robust accuracy)"
                    if r["kind"] == "lower_bound"
                    else "accuracy under PGD (upper bound of the robust accuracy)",
                )
            )
    return rows, frame, "+".join(kinds) if kinds else "none"


def _parameter_section(
    model: nn.Module, loss_fn: Callable, loader: DataLoader, s: ReportSettings, seed: int, progress: bool
) -> tuple[list[dict], pd.DataFrame, Any, pd.DataFrame, Any]:
    from stablecore.curvature import ConvergenceWarning, hessian_density, hessian_eigenvalues, hessian_trace
    from stablecore.landscape import slice_2d

    with warnings.catch_warnings():  # non-convergence is said in the rows, not warned twice
        warnings.simplefilter("ignore", ConvergenceWarning)
        top = hessian_eigenvalues(
            model, loss_fn, loader, k=s.hessian_k, max_steps=max(s.lanczos_steps, s.hessian_k), seed=seed
        )
    trace = hessian_trace(model, loss_fn, loader, num_samples=s.trace_samples, seed=seed)
    density = hessian_density(
        model, loss_fn, loader, lanczos_steps=s.density_steps, num_runs=s.density_runs, seed=seed
    )
    land = slice_2d(
        model,
        loss_fn,
        loader,
        span=(-s.landscape_span, s.landscape_span),
        steps=s.landscape_steps,
        seed=seed,
        batch_size=s.batch_size,
        progress=progress,
    )
    rows = [
        _row(
            "parameter",
            f"hessian_eigenvalue_{i + 1}",
            v,
            top.kind,
            f"Lanczos ({top.n_hvp} HVPs)",
            f"eigenvalue {i + 1} (largest algebraic) of the training-loss Hessian"
            + ("" if ok else f"; NOT converged to tol {top.tol:g} (raise lanczos_steps)"),
        )
        for i, (v, ok) in enumerate(zip(top.eigenvalues, top.converged, strict=True))
    ]
    rows += [
        _row(
            "parameter",
            "hessian_trace",
            trace.mean,
            trace.kind,
            f"Hutchinson ({len(trace.samples)} probes)",
            f"trace of the Hessian, standard error {trace.stderr:.3g}",
        ),
        _row(
            "parameter",
            "hessian_trace_stderr",
            trace.stderr,
            "estimate",
            "Hutchinson",
            "standard error of the trace estimate",
        ),
        _row(
            "parameter",
            "landscape_centre_loss",
            land.centre_loss,
            "exact",
            "slice_2d",
            "training loss of the model (centre of the plane)",
        ),
        _row(
            "parameter",
            "landscape_max_increase",
            _max_increase(land),
            "exact",
            "slice_2d",
            f"largest loss increase on the {s.landscape_steps}² grid of [−{s.landscape_span:g}, "
            f"{s.landscape_span:g}]² (filter-normalised random directions)"
            + (
                f"; {land.summary().nonfinite} grid points have a NaN or infinite loss (reported as inf)"
                if land.summary().nonfinite
                else ""
            ),
        ),
    ]
    return rows, top.to_frame(), trace, density.to_frame(), land


def _max_increase(land: Landscape) -> float:
    """Largest loss increase over the grid; ``inf`` when a grid point's loss is NaN or infinite (the
    increase is then unbounded or undefined, never the finite points' maximum)."""
    summary = land.summary()
    if summary.nonfinite or summary.loss_max is None:
        return math.inf
    return float(summary.loss_max) - land.centre_loss


# --------------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------------
def build_report(
    model: nn.Module,
    data: DatasetBundle,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    settings: ReportSettings | None = None,
    seed: int = 0,
    title: str | None = None,
    source: str = "",
    progress: bool = True,
) -> SensitivityReport:
    """Measure ``model`` on ``data`` (module docstring). The model's modes and parameters are left as they
    were (everything runs in eval mode, restored afterwards).

    Args:
        model: a classifier returning ``(N, K)`` logits from inputs shaped ``data.input_shape``.
        data: the data set (test split: input sensitivity and certificates; train split: the loss).
        loss_fn: the training loss (default cross-entropy), for the Hessian and the landscape.
        settings: :class:`ReportSettings` (default: quick).
        seed: seeds the test sample, PGD, the pairs, the probes, the directions and the smoothing noise.
        title: the report's title (default from the model and data names).
        source: where the model came from (a run directory, a checkpoint), for the header.
        progress: a tqdm bar over the sections.

    Raises:
        TypeError / ValueError: arguments of the wrong type or value (named).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(data, DatasetBundle):
        raise TypeError(f"data must be a stablecore.data.DatasetBundle, got {type(data).__name__}")
    settings = ReportSettings() if settings is None else settings
    if not isinstance(settings, ReportSettings):
        raise TypeError(f"settings must be a ReportSettings, got {type(settings).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    seed = int(seed)
    loss_fn = nn.CrossEntropyLoss() if loss_fn is None else loss_fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    from stablecore.models import model_config

    try:
        name = str(model_config(model)["name"])
    except (ValueError, KeyError, TypeError, AttributeError):
        name = type(model).__name__
    indices = sample_indices(len(data.test), settings.test_points, seed)
    x, y = _stack(data.test, indices)
    train = Subset(data.train, range(min(settings.train_points, len(data.train))))
    loader = DataLoader(train, batch_size=settings.batch_size, shuffle=False)
    timings: dict[str, float] = {}
    steps = ("input sensitivity", "certified accuracy", "parameter sensitivity")
    bar = tqdm(total=len(steps), desc="report", disable=not progress)
    with eval_mode(model):
        start = time.perf_counter()
        bar.set_postfix_str(steps[0])
        in_rows, bound, refusal, adversarial, _ = _input_section(model, data, x, y, settings, seed)
        timings[steps[0]] = time.perf_counter() - start
        bar.update()
        start = time.perf_counter()
        bar.set_postfix_str(steps[1])
        cert_rows, curves, certificate = _certified_section(
            model, data, x, y, indices, adversarial, bound, settings, seed, progress
        )
        timings[steps[1]] = time.perf_counter() - start
        bar.update()
        start = time.perf_counter()
        bar.set_postfix_str(steps[2])
        par_rows, eigen, trace, density, land = _parameter_section(
            model, loss_fn, loader, settings, seed, progress=False
        )
        timings[steps[2]] = time.perf_counter() - start
        bar.update()
    bar.close()
    numbers = pd.DataFrame(in_rows + cert_rows + par_rows, columns=list(NUMBER_COLUMNS))
    info = {
        "name": name,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dataset": data.name,
        "input_shape": tuple(int(s) for s in data.input_shape),
        "num_classes": int(data.num_classes),
        "test_points": len(indices),
        "train_points": len(train),
        "source": str(source),
    }
    return SensitivityReport(
        title=title or f"Sensitivity report: {name} on {data.name}",
        model=info,
        settings=settings,
        seed=seed,
        test_indices=indices,
        numbers=numbers,
        upper_bound=bound,
        refusal=refusal,
        layer_bounds=None if bound is None else bound.details,
        curves=curves,
        certificate=certificate,
        eigenvalues=eigen,
        trace=trace,
        density=density,
        landscape=land,
        timings=timings,
    )
