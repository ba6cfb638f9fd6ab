"""Chapter 6: randomized smoothing II: Lipschitz-aware radii and CPM confidence intervals (AISTATS'25).

Reported numbers (docs/chapters/ch06.md §7): radii are ℓ₂ radii at σ = 0.5 for a base score f_c: ℝᵈ → [0, 1]
that is L-Lipschitz; p_A is the (lower bound on the) smoothed top-class probability.

Experiments (functions of a :class:`Ch06Config`; each returns a tidy DataFrame, see :data:`EXPERIMENTS`):

* :func:`counter_example` -- exact coverage of uncorrected top-2 vs Bonferroni Clopper–Pearson intervals by
  enumeration of every multinomial outcome (docs/chapters/ch06.md §7.2(c)), with the event stated;
* :func:`lipschitz_aware_radii` -- Cohen's radius, R_monoLip and the comparison-ODE radius R_ode over
  (p, L, σ), with the worst-case ramp's true distance to the smoothed decision boundary; and the multi-class
  forms (Cohen's multi-class radius, R_multiLip, the multi-class ODE radius) for a runner-up p̄_B < 1 − p;
* :func:`interval_comparison` -- CPM vs Bonferroni vs top-1 Clopper–Pearson re-certification of logged
  count vectors (synthetic multinomial counts with known truth, and digits counts of a noise-trained MLP);
* :func:`lipschitz_gap` -- a Lipschitz (SLL) base on digits: certified accuracy (Cohen, soft-score, R_monoLip,
  R_ode, the deterministic Lipschitz margin certificate) vs the base's empirical PGD robustness;
* :func:`reported_comparison` -- our values next to :data:`REPORTED`.

The randomized-smoothing machinery is the library's (:mod:`stablecore.smoothing`): the Lipschitz-aware radii
of docs/chapters/ch06.md §7.2(a) (:func:`~stablecore.smoothing.lipschitz.ramp_start`,
:func:`~stablecore.smoothing.lipschitz.phi_lipschitz`, :func:`~stablecore.smoothing.lipschitz.monolip_radius`,
:func:`~stablecore.smoothing.lipschitz.multilip_radius`, :func:`~stablecore.smoothing.lipschitz.ode_radius`),
the interval methods, the certificates and the noisy logits
(:meth:`~stablecore.smoothing.Smooth.sample_logits`); this module arranges the chapter's experiments.
Abstain convention (package-wide): prediction −1 and radius 0.0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import multinomial

from stablecore.certify.accuracy import certified_mask
from stablecore.chapters import ch05_lvm_rs as ch05
from stablecore.chapters.common import COMPARISON_COLUMNS as COMPARISON_COLUMNS
from stablecore.chapters.common import ModeConfig, comparison_table, experiment
from stablecore.chapters.reported import ReportedNumber, load_reported
from stablecore.chapters.validate import (
    check_choice,
    check_frame,
    check_int,
    check_ints,
    check_mode,
    check_number_tuple,
    check_numbers,
    check_optional_int,
    check_probability,
    is_int,
    is_number,
)
from stablecore.smoothing import ABSTAIN, Smooth, certify_from_counts, certify_lvm
from stablecore.smoothing import bounds as _bounds
from stablecore.smoothing.intervals import multiclass_interval, smoothing_radius
from stablecore.smoothing.lipschitz import (
    cohen_multi_radius,
    cohen_radius,
    monolip_radius,
    multi_ode_radius,
    multilip_radius,
    ode_radius,
    phi_lipschitz,
    ramp_start,
    score_lipschitz,
)

CHAPTER: int = 6
TITLE: str = "Randomized smoothing II: Lipschitz-aware certificates and CPM confidence intervals"
NOTEBOOK: str = "notebooks/ch06_bridging_rs.ipynb"


def _key(x: str) -> str:
    """``"0.5"`` -> ``"0_5"`` so that numbers do not add dots to ids."""
    return x.replace(".", "_")


REPORTED: tuple[ReportedNumber, ...] = load_reported(CHAPTER)
"""The chapter's reported numbers (data file ``stablecore/chapters/reported/ch06.csv``)."""


# =================================================================================== experiments
@dataclass(frozen=True)
class Ch06Config(ModeConfig):
    """Settings of the chapter's experiments: :meth:`quick` (2-core CPU, digits), :meth:`full` (GPU, larger
    budgets) or :meth:`for_mode`; change single fields with :func:`dataclasses.replace`."""

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    batch_size: int = 4096
    # counter_example
    counter_cases: tuple[tuple[tuple[float, ...], int], ...] = (
        ((0.45, 0.45, 0.10), 30),
        ((0.5, 0.05, 0.45), 10),
    )
    counter_alpha: float = 0.05
    # lipschitz_aware_radii
    radii_ps: tuple[float, ...] = (0.6, 0.8, 0.9, 0.99)
    radii_ls: tuple[float, ...] = (0.5, 1.0, 2.0, 10.0, 100.0)
    radii_sigmas: tuple[float, ...] = (0.25, 0.5, 1.0)
    radii_pb_share: float = 0.5  # multi-class rows: p̄_B = radii_pb_share · (1 − p)
    # interval_comparison
    num_classes: int = 10
    synthetic_points: int = 300
    dirichlet: float = 0.3
    n0: int = 100
    n: int = 10_000
    alpha: float = 0.001
    digits_points: int = 150
    # lipschitz_gap / digits models (trained by ch05's helpers)
    sigma: float = 0.25
    digits_epochs: int = 15
    score_temperature: float = 1.0
    gap_points: int = 60
    gap_n: int = 5_000
    pgd_steps: int = 20
    pgd_restarts: int = 1
    eps: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_ints(self, (
            "batch_size", "synthetic_points", "n0", "digits_points", "digits_epochs", "gap_points",
            "pgd_steps", "pgd_restarts",
        ))  # fmt: skip
        check_ints(self, ("n", "gap_n"), minimum=2)
        check_int(self.num_classes, "num_classes", minimum=3)
        check_optional_int(self.num_threads, "num_threads")
        check_probability(self.alpha, "alpha")
        check_probability(self.counter_alpha, "counter_alpha")
        check_numbers(self, ("sigma", "dirichlet", "score_temperature"))
        if not (
            isinstance(self.radii_ps, tuple)
            and self.radii_ps
            and all(is_number(p) and 0.5 < p < 1 for p in self.radii_ps)
        ):
            raise ValueError(
                f"radii_ps must be a non-empty tuple of numbers in (1/2, 1), got {self.radii_ps!r}"
            )
        if not (is_number(self.radii_pb_share) and 0 < self.radii_pb_share <= 1):
            raise ValueError(f"radii_pb_share must be a number in (0, 1], got {self.radii_pb_share!r}")
        check_number_tuple(self.radii_ls, "radii_ls", strict=True)
        check_number_tuple(self.radii_sigmas, "radii_sigmas", strict=True)
        check_number_tuple(self.eps, "eps")
        for i, case in enumerate(self.counter_cases if isinstance(self.counter_cases, tuple) else [None]):
            ok = isinstance(case, tuple) and len(case) == 2 and is_int(case[1])
            ok = ok and len(case[0]) >= 2 and abs(sum(case[0]) - 1) < 1e-9 and all(q >= 0 for q in case[0])
            if not ok:
                raise ValueError(
                    f"counter_cases[{i}] must be ((p_1, ..., p_K) summing to 1, n >= 1), got {case!r}"
                )

    @classmethod
    def quick(cls, **overrides: Any) -> Ch06Config:
        """CPU sizes: 300 synthetic count vectors (K = 10, n₀ = 100, n = 10 000), 150 digits test points of a
        noise-trained MLP (σ = 0.25), 60 points of an SLL base with n = 5 000 and 20-step PGD."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch06Config:
        """GPU (CPU if none): more points, n = 100 000, longer PGD."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            batch_size=10_000,
            synthetic_points=2000,
            n=100_000,
            digits_points=450,
            digits_epochs=40,
            gap_points=450,
            gap_n=100_000,
            pgd_steps=100,
            pgd_restarts=5,
        )
        return replace(base, **overrides)


COUNTER_COLUMNS = ("id", "p", "n", "alpha", "method", "event", "alpha_each", "coverage", "target", "passes")
RADII_COLUMNS = ("id", "sigma", "L", "p", "p_upper", "radius", "value", "kind")
INTERVAL_COLUMNS = (
    "id",
    "source",
    "index",
    "label",
    "method",
    "prediction",
    "p_lower",
    "p_upper",
    "radius",
    "correct",
    "covered",
    "n_buckets",
)
GAP_COLUMNS = ("id", "method", "eps", "accuracy", "kind", "n_points", "base_lipschitz", "score_lipschitz")
EVENTS = {
    "top_and_runner_up": (
        "p̲ of the top class by counts ≤ its true p, and p̄ of the runner-up by counts ≥ its true p"
    ),
    "radius_valid": (
        "p̲_A ≤ p_A and p̄_B ≥ max_{c≠A} p_c (A = top class by counts): the multi-class radius is valid"
    ),
}


_experiment = experiment(Ch06Config, blas=True)


# ----------------------------------------------------------------------------------- counter-example
def _compositions(n: int, k: int) -> np.ndarray:
    """Every count vector of ``k`` non-negative integers summing to ``n`` (rows)."""
    out = [c for c in itertools.product(range(n + 1), repeat=k - 1) if sum(c) <= n]
    return np.array([[*c, n - sum(c)] for c in out], dtype=np.int64)


def top2_coverage(p: Sequence[float], n: int, alpha: float, alpha_each: float, event: str) -> float:
    r"""Exact probability of ``event`` (a key of :data:`EVENTS`) for one-sided Clopper–Pearson bounds at level
    ``alpha_each`` on the top class by counts (lower) and the runner-up by counts (upper), summing the
    multinomial pmf over all outcomes (ties broken towards the lower class index).

    ``alpha_each = alpha`` is the uncorrected top-2 pair; ``alpha / K`` is Bonferroni over the K classes."""
    check_choice(event, "event", tuple(EVENTS))
    p = np.asarray(p, float)
    counts = _compositions(n, len(p))
    pmf = multinomial.pmf(counts, n, p)
    order = np.argsort(-counts, axis=1, kind="stable")
    a, b = order[:, 0], order[:, 1]
    na, nb = counts[np.arange(len(counts)), a], counts[np.arange(len(counts)), b]
    low = np.asarray(_bounds.clopper_pearson_lower(na, n, alpha_each), float)
    up = np.asarray(_bounds.clopper_pearson_upper(nb, n, alpha_each), float)
    ok_a = low <= p[a]
    if event == "top_and_runner_up":
        ok_b = up >= p[b]
    else:
        pm = np.where(np.eye(len(p), dtype=bool)[a], -np.inf, p[None, :]).max(1)
        ok_b = up >= pm
    return float(pmf[ok_a & ok_b].sum())


@_experiment
def counter_example(cfg: Ch06Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    """Exact coverage of top-2 Clopper–Pearson intervals, uncorrected (α each) vs Bonferroni (α/K each), for
    each (p, n) of ``cfg.counter_cases`` at α = ``cfg.counter_alpha`` and each event of :data:`EVENTS`
    (docs/chapters/ch06.md §7.2(c)). ``passes`` is coverage ≥ 1 − α. One sample of n draws selects and
    estimates, as in the reference script. ``seed`` unused (exact)."""
    alpha = cfg.counter_alpha
    rows = []
    for p, n in cfg.counter_cases:
        k = len(p)
        tag = "p" + "_".join(f"{round(100 * q):02d}" for q in p)
        for method, each in (("uncorrected", alpha), ("bonferroni", alpha / k)):
            for event in EVENTS:
                cov = top2_coverage(p, n, alpha, each, event)
                rows.append(
                    {
                        "id": f"ch06.counter_example.{tag}.n{n}.{method}.{event}",
                        "p": str(tuple(p)),
                        "n": n,
                        "alpha": alpha,
                        "method": method,
                        "event": EVENTS[event],
                        "alpha_each": each,
                        "coverage": cov,
                        "target": 1 - alpha,
                        "passes": cov >= 1 - alpha,
                    }
                )
    return pd.DataFrame(rows, columns=list(COUNTER_COLUMNS))


# ----------------------------------------------------------------------------------- Lipschitz-aware radii
@_experiment
def lipschitz_aware_radii(cfg: Ch06Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Radii over (σ, L, p), from :mod:`stablecore.smoothing.lipschitz`. p plays p̲_A (``cfg.radii_ps`` > 1/2,
    so no radius abstains).

    Two-class ("mono") rows, ``p_upper`` NaN: ``cohen`` σΦ⁻¹(p) (:func:`~stablecore.smoothing.lipschitz.
    cohen_radius`, ``L`` = inf), ``monolip`` (:func:`~stablecore.smoothing.lipschitz.monolip_radius`), ``ode``
    (:func:`~stablecore.smoothing.lipschitz.ode_radius`) and ``ramp_distance``, the worst-case ramp's true
    distance :math:`|s_0 + 1/(2L)|` to the smoothed decision boundary (:func:`~stablecore.smoothing.lipschitz.
    ramp_start`; an upper limit for every sound two-class radius); plus ``lphi`` rows
    (:func:`~stablecore.smoothing.lipschitz.phi_lipschitz` at p).

    Multi-class rows, with a runner-up bound ``p_upper`` :math:`\overline p_B` =
    ``cfg.radii_pb_share`` · (1 − p) (share 1 is the two-class case): ``cohen_multi``
    :math:`\frac\sigma2(\Phi^{-1}(p)-\Phi^{-1}(\overline p_B))`
    (:func:`~stablecore.smoothing.lipschitz.cohen_multi_radius`, ``L`` = inf), ``multilip``
    (:func:`~stablecore.smoothing.lipschitz.multilip_radius`) and ``multi_ode``
    (:func:`~stablecore.smoothing.lipschitz.multi_ode_radius`). Proven orderings (module docstring of
    :mod:`stablecore.smoothing.lipschitz`): cohen ≤ monolip ≤ ode = ramp_distance and cohen_multi ≤
    multilip ≤ multi_ode, ode ≤ multi_ode. ``multilip`` ≥ ``monolip`` is **not** a theorem (R_monoLip is not
    monotone in p for small Lσ).

    Ids follow :data:`REPORTED` (``ch06.radius.sigma0_5.pA0_80.monolip.L0_5``). Closed forms and quadrature;
    ``seed`` unused."""
    share = float(cfg.radii_pb_share)
    rows = []

    def add(pre: str, name: str, sigma: float, lip: float, p: float, pb: float, value: float) -> None:
        kind = {"ramp_distance": "exact", "lphi": "upper_bound"}.get(name, "certified")
        suffix = "" if math.isinf(lip) else f".L{_key(f'{lip:g}')}"
        rows.append(
            {
                "id": f"{pre}.{name}{suffix}",
                "sigma": sigma,
                "L": lip,
                "p": p,
                "p_upper": pb,
                "radius": name,
                "value": float(value),
                "kind": kind,
            }
        )

    for sigma in cfg.radii_sigmas:
        for p in cfg.radii_ps:
            pre = f"ch06.radius.sigma{_key(f'{sigma:g}')}.pA{_key(f'{p:.2f}')}"
            pb = share * (1 - p)
            add(pre, "cohen", sigma, math.inf, p, math.nan, cohen_radius(p, sigma).radius)
            add(pre, "cohen_multi", sigma, math.inf, p, pb, cohen_multi_radius(p, pb, sigma).radius)
            for lip in cfg.radii_ls:
                add(pre, "monolip", sigma, lip, p, math.nan, monolip_radius(p, lip, sigma).radius)
                add(pre, "multilip", sigma, lip, p, pb, multilip_radius(p, pb, lip, sigma).radius)
                add(pre, "ode", sigma, lip, p, math.nan, ode_radius(p, lip, sigma).radius)
                add(pre, "multi_ode", sigma, lip, p, pb, multi_ode_radius(p, pb, lip, sigma).radius)
                add(pre, "ramp_distance", sigma, lip, p, math.nan, abs(ramp_start(p, lip, sigma) + 0.5 / lip))
                add(pre, "lphi", sigma, lip, p, math.nan, phi_lipschitz(p, lip, sigma))
    return pd.DataFrame(rows, columns=list(RADII_COLUMNS))


# ----------------------------------------------------------------------------------- intervals on counts
INTERVAL_METHODS: tuple[tuple[str, str, str], ...] = (
    ("cp_top1", "bonferroni", "mono"),
    ("bonferroni", "bonferroni", "multi"),
    ("cpm", "cpm", "multi"),
    ("top2_uncorrected", "top2", "multi"),
)


def _ch05_config(cfg: Ch06Config) -> ch05.Ch05Config:
    return ch05.Ch05Config(
        mode=cfg.mode,
        device=cfg.device,
        num_threads=None,
        batch_size=cfg.batch_size,
        sigma=cfg.sigma,
        digits_epochs=cfg.digits_epochs,
    )


def _interval_rows(
    source: str,
    index: int,
    label: int,
    sel: np.ndarray,
    est: np.ndarray,
    cfg: Ch06Config,
    truth: np.ndarray | None,
) -> list[dict[str, Any]]:
    rows = []
    for name, method, mode in INTERVAL_METHODS:
        iv = multiclass_interval(sel, est, cfg.alpha, method=method, mode=mode)
        r = smoothing_radius(iv, cfg.sigma)
        covered = math.nan
        if truth is not None:
            others = np.delete(truth, iv.prediction)
            covered = bool(
                iv.p_lower <= truth[iv.prediction] and (mode == "mono" or iv.p_upper >= others.max())
            )
        rows.append(
            {
                "id": f"ch06.intervals.{source}.{name}.{index}",
                "source": source,
                "index": index,
                "label": label,
                "method": name,
                "prediction": ABSTAIN if r.abstain else iv.prediction,
                "p_lower": iv.p_lower,
                "p_upper": iv.p_upper,
                "radius": float(r.radius),
                "correct": bool(not r.abstain and iv.prediction == label),
                "covered": covered,
                "n_buckets": len(iv.buckets),
            }
        )
    return rows


@_experiment
def interval_comparison(
    cfg: Ch06Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Re-certification of logged count vectors (no new forward pass for the comparison itself):

    * ``cp_top1`` -- Cohen's :math:`\sigma\Phi^{-1}(\underline p_A)`, Clopper–Pearson at α;
    * ``bonferroni`` -- :math:`\frac\sigma2(\Phi^{-1}(\underline p_A)-\Phi^{-1}(\overline p_B))`, every class
      at α/K;
    * ``cpm`` -- the same radius with the Class Partitioning Method's buckets at α/#buckets;
    * ``top2_uncorrected`` -- A and the runner-up at α each: **not a valid joint interval**, shown for scale.

    Sources: ``synthetic`` -- ``cfg.synthetic_points`` class-probability vectors :math:`p\sim
    \mathrm{Dirichlet}(\text{cfg.dirichlet}\cdot 1_K)`, counts drawn from the multinomial (n₀, n); ``label``
    is the true argmax and ``covered`` says whether the interval holds for the true p (empirical coverage);
    ``digits`` -- votes of the noise-trained digits MLP
    (:func:`stablecore.chapters.ch05_lvm_rs.trained_model`, noisy logits from
    :meth:`stablecore.smoothing.Smooth.sample_logits`) at σ on ``cfg.digits_points`` test points
    (``covered`` NaN: the truth is unknown). Radii from :func:`stablecore.smoothing.smoothing_radius`; an
    abstention has prediction −1 and radius 0.0 (``correct`` False).
    """
    rng = np.random.default_rng(seed)
    k = cfg.num_classes
    rows: list[dict[str, Any]] = []
    for i in range(cfg.synthetic_points):
        p = rng.dirichlet(np.full(k, cfg.dirichlet))
        sel, est = rng.multinomial(cfg.n0, p), rng.multinomial(cfg.n, p)
        rows += _interval_rows("synthetic", i, int(np.argmax(p)), sel, est, cfg, p)
    from stablecore.data import load_dataset

    data = load_dataset("digits")
    model = ch05.trained_model(_ch05_config(cfg), "mlp", seed=seed, home=home, dataset="digits").model
    smooth = Smooth(model, data.num_classes, cfg.sigma)
    for i in ch05._test_points(data, cfg.digits_points):
        x, y = data.test[i]
        gen = torch.Generator(device=cfg.device).manual_seed(seed * 100_003 + i)
        votes = smooth.sample_logits(x, cfg.n0 + cfg.n, cfg.batch_size, generator=gen).argmax(1)
        sel = np.bincount(votes[: cfg.n0], minlength=data.num_classes)
        est = np.bincount(votes[cfg.n0 :], minlength=data.num_classes)
        rows += _interval_rows("digits", i, int(y), sel, est, cfg, None)
    return pd.DataFrame(rows, columns=list(INTERVAL_COLUMNS))


def interval_summary(table: pd.DataFrame, radii: Sequence[float] = (0.0, 0.25, 0.5, 0.75)) -> pd.DataFrame:
    """Per (source, method): certified accuracy at each radius (correct and radius > r; correct at r = 0, an
    abstention never being correct), mean radius (an abstention counts its radius 0), empirical coverage
    (synthetic) and mean number of buckets."""
    check_frame(table, INTERVAL_COLUMNS, "interval_comparison", "table")
    rows = []
    for (src, m), d in table.groupby(["source", "method"], sort=False):
        row = {
            "source": src,
            "method": m,
            "mean_radius": float(d["radius"].mean()),
            "coverage": float(d["covered"].astype(float).mean()),
            "n_buckets": float(d["n_buckets"].mean()),
        }
        for r in radii:
            ok = certified_mask(d["radius"], d["correct"].to_numpy(bool), r)
            row[f"certified@{r:g}"] = float(ok.mean())
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------- the gap
@_experiment
def lipschitz_gap(
    cfg: Ch06Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""A Lipschitz (SLL) base on digits, trained with noise at σ: certified accuracy vs its empirical
    robustness, at each ε of ``cfg.eps``, on ``cfg.gap_points`` test points. Methods (``kind``):

    * ``cohen`` -- hard votes, Clopper–Pearson, σΦ⁻¹(p̲_A) (``certified``, smoothed classifier);
    * ``soft_cohen``, ``monolip``, ``ode`` -- the smoothed softmax score at ``cfg.score_temperature`` (class
      chosen on n₀ draws, mean bounded by empirical Bernstein on ``cfg.gap_n`` draws: the single-candidate
      :func:`stablecore.smoothing.lvm.certify_lvm` in ``mono`` mode), radii σΦ⁻¹(p̲_A),
      :func:`~stablecore.smoothing.lipschitz.monolip_radius` and
      :func:`~stablecore.smoothing.lipschitz.ode_radius` with the score's Lipschitz constant
      :math:`L_s = L(z)/(2\sqrt2\,T)` (:func:`~stablecore.smoothing.lipschitz.score_lipschitz`; ``certified``,
      smoothed soft classifier; :math:`L(z)` from :func:`stablecore.spectral.lipschitz_bound`);
    * ``lipschitz_margin`` -- the base's deterministic margin certificate
      (:func:`stablecore.certify.lipschitz.certify_model`, pairwise head) (``certified``, base);
    * ``pgd_base`` -- accuracy of the base under ℓ₂ PGD (:func:`stablecore.certify.pgd`): an empirical
      *upper bound* on the base's robust accuracy; the gap to ``lipschitz_margin`` brackets the truth.

    An abstention (prediction −1, radius 0.0) is never counted as certified, at any ε.
    """
    from stablecore.certify import pgd
    from stablecore.certify.lipschitz import certify_model
    from stablecore.data import load_dataset

    data = load_dataset("digits")
    c5 = _ch05_config(cfg)
    model = ch05.trained_model(c5, "sll", seed=seed, home=home, dataset="digits").model
    bound = ch05._logits_bound(model, data.input_shape)
    lip, lip_kind = float(bound.value), str(bound.kind)
    ls = float(score_lipschitz(bound, cfg.score_temperature).value)
    idx = ch05._test_points(data, cfg.gap_points)
    kk = data.num_classes
    smooth = Smooth(model, kk, cfg.sigma)
    soft = {"sigma": cfg.sigma, "alpha": cfg.alpha, "maps": ("softmax",), "mode": "mono"}
    radii: dict[str, list[float]] = {m: [] for m in ("cohen", "soft_cohen", "monolip", "ode")}
    labels, preds_soft, preds_hard = [], [], []
    for i in idx:
        x, y = data.test[i]
        labels.append(int(y))
        gen = torch.Generator(device=cfg.device).manual_seed(seed * 100_003 + i)
        logits = smooth.sample_logits(x, cfg.n0 + cfg.gap_n, cfg.batch_size, generator=gen)
        sel, est = logits[: cfg.n0], logits[cfg.n0 :]
        cert = certify_from_counts(
            np.bincount(sel.argmax(1), minlength=kk),
            np.bincount(est.argmax(1), minlength=kk),
            cfg.alpha,
            cfg.sigma,
        )
        preds_hard.append(cert.prediction)
        radii["cohen"].append(cert.radius)
        scert = certify_lvm(sel, est, temperatures=(cfg.score_temperature,), **soft)
        preds_soft.append(scert.prediction)
        radii["soft_cohen"].append(scert.radius)
        radii["monolip"].append(monolip_radius(scert.p_lower, ls, cfg.sigma).radius)
        radii["ode"].append(ode_radius(scert.p_lower, ls, cfg.sigma).radius)
    y_all = np.array(labels)
    xs = torch.stack([data.test[i][0] for i in idx])
    ys = torch.tensor(labels)
    det = certify_model(model, (xs, ys), [e for e in cfg.eps if e > 0] or [0.1], last_layer="auto")
    base = {"n_points": len(idx), "base_lipschitz": lip, "score_lipschitz": ls}
    rows = []
    for e in cfg.eps:
        for m, r in radii.items():
            pred = np.array(preds_hard if m == "cohen" else preds_soft)
            r = np.array(r)
            ok = (pred == y_all) & (r > e) if e > 0 else pred == y_all
            rows.append({"method": m, "eps": e, "accuracy": float(ok.mean()), "kind": "certified", **base})
        ok = det["correct"].to_numpy() & ((det["radius"].to_numpy() > e) if e > 0 else True)
        rows.append(
            {
                "method": "lipschitz_margin",
                "eps": e,
                "accuracy": float(np.mean(ok)),
                "kind": "certified",
                **base,
            }
        )
        if e > 0:
            adv = pgd(model, xs, ys, e, steps=cfg.pgd_steps, restarts=cfg.pgd_restarts, seed=seed)
            with torch.no_grad():
                acc = float((model(adv).argmax(1) == ys).float().mean())
        else:
            with torch.no_grad():
                acc = float((model(xs).argmax(1) == ys).float().mean())
        rows.append(
            {"method": "pgd_base", "eps": e, "accuracy": acc, "kind": "empirical (upper bound)", **base}
        )
    df = pd.DataFrame(rows)
    df["id"] = [f"ch06.gap.{m}.eps{_key(f'{e:g}')}" for m, e in zip(df["method"], df["eps"])]
    df.attrs["base_lipschitz_kind"] = lip_kind
    return df[list(GAP_COLUMNS)]


# ----------------------------------------------------------------------------------- comparison
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "counter_example": counter_example,
    "lipschitz_aware_radii": lipschitz_aware_radii,
    "interval_comparison": interval_comparison,
    "lipschitz_gap": lipschitz_gap,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""


def _measured(results: Mapping[str, pd.DataFrame], rep_id: str) -> tuple[float | None, str, str]:
    if rep_id.startswith(("ch06.radius.", "ch06.lphi.")):
        frame = results.get("lipschitz_aware_radii")
        if frame is None:
            return None, "", "lipschitz_aware_radii was not run"
        key = rep_id
        if rep_id.startswith("ch06.lphi."):  # ch06.lphi.sigma0_5.L0_5.q0_9 -> radius table id
            _, _, sig, lip, q = rep_id.split(".")
            qv = float(q.removeprefix("q").replace("_", "."))
            key = f"ch06.radius.{sig}.pA{_key(f'{qv:.2f}')}.lphi.{lip}"
        hit = frame.loc[frame["id"] == key, "value"]
        if len(hit):
            return float(hit.iloc[0]), "lipschitz_aware_radii", ""
        if rep_id.startswith("ch06.lphi."):
            sig, lip = rep_id.split(".")[2:4]
            s = float(sig.removeprefix("sigma").replace("_", "."))
            lv = float(lip.removeprefix("L").replace("_", "."))
            return (
                phi_lipschitz(qv, lv, s),
                "phi_lipschitz (closed form)",
                "not on the lipschitz_aware_radii grid",
            )
        return None, "", "(p, L, σ) not on this run's grid"
    if rep_id == "ch06.ramp.L0_1.p0_60.s0":
        return ramp_start(0.6, 0.1, 0.5), "ramp_start (closed form)", "σ = 0.5 assumed (not stated)"
    if rep_id.startswith("ch06.counter_example."):
        frame = results.get("counter_example")
        if frame is None:
            return None, "", "counter_example was not run"
        if rep_id == "ch06.counter_example.script_value":
            return None, "", "the script's event does not use the true p; we compute coverages instead"
        parts = rep_id.split(".")
        tag, what = parts[2], parts[3]
        n = 30 if tag == "p45_45_10" else 10
        method = "bonferroni" if what.startswith("bonferroni") else "uncorrected"
        sub = frame[(frame["id"].str.startswith(f"ch06.counter_example.{tag}.n{n}.{method}."))]
        if sub.empty:
            return None, "", "case not in cfg.counter_cases"
        if what.endswith(".low") or parts[-1] == "low":
            return float(sub["coverage"].min()), "counter_example", "minimum over our two events"
        if parts[-1] == "high":
            return float(sub["coverage"].max()), "counter_example", "maximum over our two events"
        hit = sub[sub["id"].str.endswith(".top_and_runner_up")]
        return float(hit["coverage"].iloc[0]), "counter_example", "event top_and_runner_up"
    return None, "", "no matching experiment"


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value we measured (``comparison``: ``"not
    transcribed"`` for missing thesis tables, else ``"measured"`` / ``"not measured"``).

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned.
    """
    return comparison_table(CHAPTER, EXPERIMENTS, results, _measured)
