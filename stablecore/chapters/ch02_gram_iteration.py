"""Chapter 2: spectral norms of dense and convolutional layers (Gram iteration, paddings, spectral rescaling).

Reported numbers (THESIS.md §3; papers: Delattre et al. ICML'23, arXiv 2305.16173, and arXiv 2402.00240)
and the chapter's experiments. ``[num]`` values were computed by THESIS.md's author on random matrices or
kernels whose seed is not given: an experiment reproduces them in distribution, not digit for digit.

Experiments (functions of a :class:`Ch02Config`, ``quick`` on a 2-core CPU or ``full`` on a GPU; each
returns a tidy DataFrame whose ``id`` column names the matching reported number where one exists):

* :func:`dense_convergence` -- Gram vs power iteration on a Gaussian matrix, error vs iterations and time;
* :func:`circular_conv_comparison` -- circular-padding conv norms: Gram, exact (FFT), power iteration,
  Fantastic Four, LipGrid;
* :func:`zero_vs_circular` -- zero padding: kernel-space bound, circular embedding, power iteration,
  explicit matrix;
* :func:`network_bound_vs_empirical` -- Lipschitz bound of a trained digits ConvNet vs gradient and
  Jacobian lower bounds;
* :func:`deep_linear_looseness` -- product of layer norms vs the norm of the product (THESIS.md §2, PUB);
* :func:`lipschitz_regularized_training` -- the Gram-iteration Lipschitz penalty on digits;
* :func:`resnet18_shapes` -- layer-wise bounds on random kernels with ResNet-18 shapes;
* :func:`reported_comparison` -- measured values next to :data:`REPORTED`.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from stablecore.certify import empirical_lipschitz
from stablecore.chapters.common import COMPARISON_COLUMNS, check_results, experiment, resolve_config
from stablecore.chapters.reported import ReportedNumber, missing, number, reported_numbers
from stablecore.models import build_model
from stablecore.spectral import (
    LipschitzPenalty,
    conv_norm,
    conv_operator_matrix,
    dense_spectral_norm,
    lipschitz_bound,
    matrix_norm,
)
from stablecore.spectral.conv import DEFAULT_CONV_GRAM_ITERS
from stablecore.train import current_mode
from stablecore.types import Bound, product_bound
from stablecore.workflows import TrainResult, train_classifier

CHAPTER: int = 2
TITLE: str = "Spectral norms of dense and convolutional layers: Gram iteration, circular and zero padding"
NOTEBOOK: str = "notebooks/ch02_gram_iteration.ipynb"

_n = partial(number, CHAPTER)
_m = partial(missing, CHAPTER)

_NUM_DENSE = "THESIS.md §3.1(a) table [num], numerical check by its author (not a thesis table)"
_NUM_CIRC = "THESIS.md §3.1(b) [num], numerical check by its author (not a thesis table)"
_NUM_ZERO = "THESIS.md §3.1(c) table [num], explicit zero-padded matrices (not a thesis table)"
_NUM_BRIDGE = "THESIS.md §3.1(c) 'Bridging' fact 1 [I, num], explicit matrices (not a thesis table)"
_NUM_SR = "THESIS.md §3.1(d) [num], numerical check by its author (not a thesis table)"
_NB = "lip4conv notebook_test_gram_iteration.ipynb (stored outputs, CUDA, float64 dense), THESIS.md §3.2"
_NB_RESNET = "lip4conv notebook_test_gram_iteration.ipynb, ResNet18 (ImageNet) cell: outputs not stored"
_ICML23 = "Delattre et al. ICML'23 (arXiv 2305.16173), table not retrieved (THESIS.md §3.2)"
_A2402 = "Delattre et al. arXiv 2402.00240, table not retrieved (THESIS.md §3.2)"
_SEED = "random Gaussian matrix, seed not given"
_KSEED = "random kernel(s), distribution and seed not given"

# §3.1(a): Gaussian 500×400 matrix, relative error of Gram iteration (GI) and power iteration (PI).
_GI_DENSE = (
    ("1", "+1.76"),
    ("3", "+0.16"),
    ("5", "+1.3e-2"),
    ("7", "+6.7e-5"),
    ("9", "+9.6e-12"),
    ("10", "+1.2e-15"),
)
_PI_DENSE = (("10", "−3.2e-2", "lower estimate"), ("100", "−3.7e-5", ""), ("1000", "≈0", ""))

# §3.1(c): zero-padded conv, exact norm and the kernel-space (norm2toep) bound for T = 1..4.
_ZERO_CASES = (
    ("c4x3_k3_n8", "c_out=4, c_in=3, k=3, n=8", "8.99", ("13.49", "11.08", "10.06", "9.64"), "9.37"),
    ("c5x5_k3_n6", "c_out=c_in=5, k=3, n=6", "11.57", ("19.60", "15.50", "13.81", "13.18"), "12.75"),
)

# §3.1(d): SR layer ‖diag(t)⁻¹W‖₂ of a Gaussian 64×32 matrix for T = 1..5.
_SR_GAUSS = ("0.70", "0.88", "0.96", "0.99", "0.995")

_dense: list[ReportedNumber] = [
    _n(
        "ch02.gi_dense.gauss500x400.sigma1",
        "σ₁ of a Gaussian 500×400 matrix",
        "41.9209",
        "",
        _NUM_DENSE,
        note=_SEED,
    ),
]
_dense += [
    _n(
        f"ch02.gi_dense.gauss500x400.gi_t{t}.rel_error",
        f"Gram iteration T={t} on a Gaussian 500×400 matrix: relative error of the bound vs σ₁",
        w,
        "relative error",
        _NUM_DENSE,
        note=_SEED,
    )
    for t, w in _GI_DENSE
]
_dense += [
    _n(
        f"ch02.gi_dense.gauss500x400.pi{it}.rel_error",
        f"power iteration, {it} iterations, on a Gaussian 500×400 matrix: relative error vs σ₁",
        w,
        "relative error",
        _NUM_DENSE,
        note="; ".join(x for x in (extra, _SEED) if x),
    )
    for it, w, extra in _PI_DENSE
]

_circular: list[ReportedNumber] = [
    _n(
        "ch02.circ.explicit.gi_t3.max_rel_error",
        "circular-padding conv, small cases with explicit matrix: Gram iteration T=3 relative error "
        "vs exact norm is within this value",
        "1e-4",
        "relative error",
        _NUM_CIRC,
        note="an upper limit ('within 1e-4 relative'); " + _KSEED,
    ),
    _n(
        "ch02.circ.explicit.gi_t6.rel_error",
        "circular-padding conv, small cases with explicit matrix: Gram iteration T=6 relative error vs exact",
        "0",
        "relative error",
        _NUM_CIRC,
        note="'GI(T=6) equals the exact value' (to printed precision); " + _KSEED,
    ),
    _n(
        "ch02.circ.cpu_time.c64_k3_n32.gi_t6",
        "CPU time of Gram iteration (numpy, 2 cores, T=6), circular conv c=64, k=3, n=32",
        "0.68",
        "s",
        _NUM_CIRC,
    ),
    _n(
        "ch02.circ.cpu_time.c512_n4.gi_t6",
        "CPU time of Gram iteration (numpy, 2 cores, T=6), circular conv c=512, n=4",
        "1.4",
        "s",
        _NUM_CIRC,
        note="kernel size not stated",
    ),
    _n(
        "ch02.circ.cpu_time.c512_n4.fft_svd.low",
        "CPU time of FFT+SVD (exact circular norm), c=512, n=4: lower end of the range",
        "0.7",
        "s",
        _NUM_CIRC,
        note="range '0.7–1.1 s'; kernel size not stated",
    ),
    _n(
        "ch02.circ.cpu_time.c512_n4.fft_svd.high",
        "CPU time of FFT+SVD (exact circular norm), c=512, n=4: upper end of the range",
        "1.1",
        "s",
        _NUM_CIRC,
        note="range '0.7–1.1 s'; kernel size not stated",
    ),
    _n(
        "ch02.circ.cpu_time.c256_n32.gi_t6",
        "CPU time of Gram iteration (T=6), circular conv c=256, n=32",
        "3.7",
        "s",
        "THESIS.md §3.3 feasibility table [num] ('took 3.7 s here', 2-core CPU)",
        note="kernel size not stated",
    ),
]

_zero: list[ReportedNumber] = []
for _key, _desc, _exact, _bounds, _sup in _ZERO_CASES:
    _zero.append(
        _n(
            f"ch02.zero.{_key}.exact",
            f"exact zero-padded conv norm ({_desc}), explicit matrix",
            _exact,
            "",
            _NUM_ZERO,
            note=_KSEED,
        )
    )
    _zero += [
        _n(
            f"ch02.zero.{_key}.norm2toep_t{t}",
            f"norm2toep kernel-space Gram bound T={t} ({_desc}, zero padding)",
            w,
            "",
            _NUM_ZERO,
            note=_KSEED,
        )
        for t, w in enumerate(_bounds, start=1)
    ]
    _zero.append(
        _n(
            f"ch02.zero.{_key}.sup_freq",
            f"sup over continuous frequencies of σ₁(K̂(ω)) ({_desc}), limit of the norm2toep bound",
            _sup,
            "",
            _NUM_ZERO,
            note=_KSEED,
        )
    )
_zero += [
    _n(
        "ch02.zero.c4x3_k3_n8.circ_n10",
        "circular conv norm on (n+k−1)×(n+k−1) = 10×10 for the c_out=4, c_in=3, k=3, n=8 kernel "
        "(upper bound of the zero-padded 'same' conv)",
        "9.37",
        "",
        _NUM_BRIDGE,
        note="THESIS.md writes the same 9.37 for sup_ω; " + _KSEED,
    ),
    _n(
        "ch02.zero.c5x5_k3_n6.circ_n8",
        "circular conv norm on (n+k−1)×(n+k−1) = 8×8 for the c_out=c_in=5, k=3, n=6 kernel",
        "12.49",
        "",
        _NUM_BRIDGE,
        note=_KSEED,
    ),
    _n(
        "ch02.zero.case3.exact",
        "exact zero-padded 'same' conv norm, third check case of the bridging fact",
        "16.42",
        "",
        _NUM_BRIDGE,
        note="kernel shape and n of this case not stated; " + _KSEED,
    ),
    _n(
        "ch02.zero.case3.circ_n_plus_k_minus_1",
        "circular conv norm on (n+k−1)×(n+k−1), third check case of the bridging fact",
        "19.42",
        "",
        _NUM_BRIDGE,
        note="kernel shape and n of this case not stated; " + _KSEED,
    ),
]

_sr: list[ReportedNumber] = [
    _n(
        f"ch02.sr.heavy_tailed2000.t{t}.max_norm",
        f"spectral rescaling T={t}: max ‖diag(t)⁻¹W‖₂ over 2,000 random heavy-tailed matrices",
        "1.0000",
        "",
        _NUM_SR,
        note="one value stated for T = 1..5; matrix sizes and seed not given",
    )
    for t in range(1, 6)
]
_sr += [
    _n(
        f"ch02.sr.gauss64x32.t{t}.norm",
        f"spectral rescaling T={t}: ‖diag(t)⁻¹W‖₂ of a Gaussian 64×32 matrix",
        w,
        "",
        _NUM_SR,
        note=_SEED,
    )
    for t, w in enumerate(_SR_GAUSS, start=1)
]
_sr += [
    _n(
        f"ch02.sr_sll_q.k{k}.max_jacobian_norm",
        f"SLL residual layer with Gram rescaling (q weights), k={k}: max Jacobian norm, 3,000 random draws",
        "1.0000",
        "",
        _NUM_SR,
        note="one value stated for k = 1..4; sizes and seed not given",
    )
    for k in range(1, 5)
]

_notebook: list[ReportedNumber] = [
    _n("ch02.lip4conv.dense500x400.svd", "dense 500×400: reference σ₁ by SVD", "41.9902", "", _NB),
    _n(
        "ch02.lip4conv.dense500x400.pi1000.diff",
        "dense 500×400: power iteration (1000 it.) minus SVD reference",
        "−1.2e-10",
        "",
        _NB,
    ),
    _n(
        "ch02.lip4conv.dense500x400.pi1000.time",
        "dense 500×400: power iteration (1000 it.) mean time",
        "59",
        "ms",
        _NB,
    ),
    _n(
        "ch02.lip4conv.dense500x400.gi15.diff",
        "dense 500×400: Gram iteration (15 it.) minus SVD reference",
        "−3.6e-12",
        "",
        _NB,
    ),
    _n(
        "ch02.lip4conv.dense500x400.gi15.time",
        "dense 500×400: Gram iteration (15 it.) mean time",
        "0.93",
        "ms",
        _NB,
    ),
    _n(
        "ch02.lip4conv.conv64_k5_n12.sedghi",
        "conv 64→64, k=5, n=12: exact circular norm (Sedghi 2019)",
        "83.092",
        "",
        _NB,
    ),
    _n(
        "ch02.lip4conv.conv64_k5_n12.ryu100",
        "conv 64→64, k=5, n=12: power iteration on the zero-padded conv (Ryu 2019, 100 it.)",
        "77.561",
        "",
        _NB,
    ),
]
_NB_CONV = (
    ("lipgrid50", "LipGrid (Araujo 2021), 50 samples", "+273.6", "1.0"),
    ("singla50", "Fantastic Four (Singla 2021), 50 it.", "+94.0", "17.9"),
    ("gi5_circular", "Gram iteration circular (delattre2023), 5 it.", "+0.026", "0.53"),
)
for _key, _desc, _diff, _time in _NB_CONV:
    _notebook += [
        _n(
            f"ch02.lip4conv.conv64_k5_n12.{_key}.diff",
            f"conv 64→64, k=5, n=12: {_desc}, bound minus reference",
            _diff,
            "",
            _NB,
            note="'difference vs reference' column; the reference is presumably Sedghi (not stated)",
        ),
        _n(
            f"ch02.lip4conv.conv64_k5_n12.{_key}.time",
            f"conv 64→64, k=5, n=12: {_desc}, mean time",
            _time,
            "ms",
            _NB,
        ),
    ]
_notebook += [
    _n(
        "ch02.lip4conv.conv64_k5_n12.norm2toep5.diff_sedghi",
        "conv 64→64, k=5, n=12: norm2toep zero-pad bound (delattre2024, 5 it.) minus Sedghi",
        "+3.34",
        "",
        _NB,
    ),
    _n(
        "ch02.lip4conv.conv64_k5_n12.norm2toep5.diff_ryu",
        "conv 64→64, k=5, n=12: norm2toep zero-pad bound (delattre2024, 5 it.) minus Ryu",
        "+8.87",
        "",
        _NB,
    ),
    _n(
        "ch02.lip4conv.conv64_k5_n12.norm2toep5.time",
        "conv 64→64, k=5, n=12: norm2toep zero-pad bound (delattre2024, 5 it.) mean time",
        "0.72",
        "ms",
        _NB,
    ),
]
_NB_RESNET_METHODS = (
    ("gi7", "Gram iteration, 7 it."),
    ("singla50", "Singla 2021, 50 it."),
    ("lipgrid20", "LipGrid, 20"),
)
_notebook += [
    _m(
        f"ch02.lip4conv.resnet18_imagenet.{key}.ratio_to_ryu",
        f"ResNet18 (ImageNet): layer-wise product of bounds, {desc}, divided by Ryu's",
        "",
        _NB_RESNET,
    )
    for key, desc in _NB_RESNET_METHODS
]
_notebook += [
    _m(
        f"ch02.lip4conv.resnet18_imagenet.{key}.time_total",
        f"ResNet18 (ImageNet): total time of the layer-wise bounds, {desc}",
        "s",
        _NB_RESNET,
        note="unit assumed",
    )
    for key, desc in (*_NB_RESNET_METHODS, ("ryu100", "Ryu 2019, 100 it."))
]

_RANDOM_KERNEL_METHODS = (
    ("gi", "Gram iteration (Lip_conv)"),
    ("sedghi2019", "Sedghi 2019 (exact circular)"),
    ("singla2021", "Singla 2021 (Fantastic Four)"),
    ("araujo2021", "Araujo 2021 (LipGrid)"),
    ("ryu2019", "Ryu 2019 (PI on zero-padded conv)"),
)
_papers: list[ReportedNumber] = []
for _key, _desc in _RANDOM_KERNEL_METHODS:
    _papers += [
        _m(
            f"ch02.icml23.random_kernels.{_key}.bound",
            f"random conv kernels: spectral-norm bound of {_desc}",
            "",
            _ICML23,
            note="table layout (kernel sizes) unknown; one placeholder per named method",
        ),
        _m(
            f"ch02.icml23.random_kernels.{_key}.time",
            f"random conv kernels: time of {_desc}",
            "",
            _ICML23,
            note="table layout and unit unknown; one placeholder per named method",
        ),
    ]
_papers += [
    _m(
        "ch02.icml23.resnet18_imagenet.product_ratio",
        "ResNet18 pretrained on ImageNet-1k: product-ratio of the layer-wise bounds (paper table)",
        "",
        _ICML23,
        note="per-method layout unknown",
    ),
    _m(
        "ch02.icml23.resnet18_imagenet.time",
        "ResNet18 pretrained on ImageNet-1k: timing of the layer-wise bounds (paper table)",
        "",
        _ICML23,
        note="per-method layout and unit unknown",
    ),
    _m(
        "ch02.icml23.cifar10_resnet18.unregularised.test_accuracy",
        "ResNet18 on CIFAR-10 (200 epochs, batch 256) without Lipschitz regularisation: test accuracy",
        "%",
        _ICML23,
        note="unit assumed",
    ),
    _m(
        "ch02.icml23.cifar10_resnet18.regularised.test_accuracy",
        "ResNet18 on CIFAR-10 (200 epochs, batch 256) with Gram-iteration Lipschitz penalty: test accuracy",
        "%",
        _ICML23,
        note="unit assumed",
    ),
    _m(
        "ch02.arxiv2402.zero_padding.precision",
        "zero-padding conv norm bounds: precision comparison (paper table)",
        "",
        _A2402,
    ),
    _m(
        "ch02.arxiv2402.zero_padding.time",
        "zero-padding conv norm bounds: time comparison (paper table)",
        "",
        _A2402,
    ),
    _m(
        "ch02.arxiv2402.sr.cifar10.certified_accuracy",
        "CIFAR-10 certified accuracy with spectral-rescaling (SR) layers",
        "%",
        _A2402,
        note="radii and unit unknown",
    ),
    _m(
        "ch02.arxiv2402.sr.cifar100.certified_accuracy",
        "CIFAR-100 certified accuracy with spectral-rescaling (SR) layers",
        "%",
        _A2402,
        note="radii and unit unknown",
    ),
]

REPORTED: tuple[ReportedNumber, ...] = (*_dense, *_circular, *_zero, *_sr, *_notebook, *_papers)


# =================================================================================== experiments
@dataclass(frozen=True)
class Ch02Config:
    """Sizes, iteration counts and repeats of the chapter's experiments.

    Use :meth:`quick` (2-core CPU, the notebook in well under two minutes) or :meth:`full` (thesis sizes,
    GPU), or :meth:`for_mode`; change single fields with :func:`dataclasses.replace`.

    Conv cases are ``(c_out, c_in, k, n)`` (``k×k`` kernel, ``n×n`` input); zero-padding cases add the
    number ``T`` of kernel-space Gram iterations, ``(c_out, c_in, k, n, T)``. Kernels are standard normal
    (as in the lip4conv notebook), dense matrices too.
    """

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    """torch CPU threads during an experiment (restored afterwards); ``None`` leaves torch's setting.
    One thread avoids the oversubscription that makes small workloads on a shared 2-core CPU slow."""
    repeats: int = 1
    """timed runs per measurement; the median is reported (with one untimed warm-up run when > 1)."""
    # dense_convergence
    dense_shapes: tuple[tuple[int, int], ...] = ((500, 400),)
    dense_gram_iters: int = 15
    dense_power_iters: int = 1000
    dense_gram_timed: tuple[int, ...] = (1, 3, 5, 7, 10, 15)
    dense_power_timed: tuple[int, ...] = (1, 10, 100, 1000)
    # circular_conv_comparison
    circ_cases: tuple[tuple[int, int, int, int], ...] = ((16, 16, 3, 8), (8, 8, 5, 12), (64, 64, 5, 12))
    circ_gram_iters: tuple[int, ...] = (3, 5, 6)
    circ_power_iters: int = 20
    lipgrid_samples: int = 50
    explicit_max_dim: int = 2048
    """build the explicit matrix (exact oracle) only when ``c·n²`` is at most this, on both sides."""
    # zero_vs_circular
    zero_cases: tuple[tuple[int, int, int, int, int], ...] = (
        (4, 3, 3, 8, 4),
        (5, 5, 3, 6, 4),
        (64, 64, 5, 12, 3),
    )
    zero_power_iters: int = 30
    sup_grid: int = 32
    # network_bound_vs_empirical and lipschitz_regularized_training (digits ConvNet)
    digits_channels: tuple[int, ...] = (8, 16)
    digits_hidden: tuple[int, ...] = (32,)
    epochs: int = 4
    penalty_rs: tuple[float, ...] = (0.0, 0.1, 1.0)
    penalty_iters: int = 4
    # deep_linear_looseness
    linear_dim: int = 50
    linear_out: int = 10
    linear_depths: tuple[int, ...] = (1, 2, 5, 10, 20, 40)
    # resnet18_shapes
    resnet_width: float = 0.125
    resnet_input: int = 64
    resnet_methods: tuple[str, ...] = ("gram", "power", "fantastic4", "lipgrid")
    resnet_gram_iters: int | None = 4
    """Gram iterations of both zero-padding candidates (``None``: the library's defaults, 6 for the
    circular embedding and a work-budgeted count for the kernel-space bound, slow on a CPU)."""
    resnet_power_iters: int = 20
    resnet_lipgrid_samples: int = 20

    def __post_init__(self) -> None:
        if self.mode not in ("quick", "full"):
            raise ValueError(f"mode must be 'quick' or 'full', got {self.mode!r}")
        for name in (
            "repeats",
            "dense_gram_iters",
            "dense_power_iters",
            "circ_power_iters",
            "lipgrid_samples",
            "zero_power_iters",
            "sup_grid",
            "epochs",
            "penalty_iters",
            "linear_dim",
            "linear_out",
            "resnet_input",
            "resnet_power_iters",
            "resnet_lipgrid_samples",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.resnet_gram_iters is not None and (
            isinstance(self.resnet_gram_iters, bool)
            or not isinstance(self.resnet_gram_iters, int)
            or self.resnet_gram_iters < 1
        ):
            raise ValueError(f"resnet_gram_iters must be None or an int >= 1, got {self.resnet_gram_iters!r}")
        if self.num_threads is not None and (not isinstance(self.num_threads, int) or self.num_threads < 1):
            raise ValueError(f"num_threads must be None or an int >= 1, got {self.num_threads!r}")
        if not self.resnet_width > 0:
            raise ValueError(f"resnet_width must be > 0, got {self.resnet_width!r}")
        if any(r < 0 for r in self.penalty_rs):
            raise ValueError(f"penalty_rs must be >= 0, got {self.penalty_rs!r}")
        if any(d < 1 for d in self.linear_depths) or not self.linear_depths:
            raise ValueError(
                f"linear_depths must be a non-empty tuple of ints >= 1, got {self.linear_depths!r}"
            )
        unknown = set(self.resnet_methods) - set(_RESNET_METHODS)
        if unknown:
            raise ValueError(f"resnet_methods must be among {_RESNET_METHODS}, got {sorted(unknown)}")

    @classmethod
    def quick(cls, **overrides: Any) -> Ch02Config:
        """CPU sizes: the thesis's 500×400 matrix and small kernels, a 4-epoch digits ConvNet, a
        50-dimensional linear net up to depth 40, ResNet-18 shapes at 1/8 width on 64×64 inputs."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch02Config:
        """Thesis sizes on a GPU (CPU if none): dense up to 4000×3000, circular kernels up to c = 512 at
        n = 56, 100 power iterations, the 110-layer dimension-100 linear net, ResNet-18 (ImageNet)
        shapes at 224×224, 30 training epochs."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            repeats=5,
            dense_shapes=((500, 400), (2000, 2000), (4000, 3000)),
            dense_gram_timed=tuple(range(1, 16)),
            circ_cases=(
                (16, 16, 3, 8),
                (8, 8, 5, 12),
                (64, 64, 5, 12),
                (64, 64, 3, 32),
                (128, 128, 3, 32),
                (256, 256, 3, 32),
                (512, 512, 3, 4),
                (512, 512, 3, 56),
            ),
            circ_power_iters=100,
            zero_cases=((4, 3, 3, 8, 4), (5, 5, 3, 6, 4), (64, 64, 5, 12, 5)),
            zero_power_iters=100,
            sup_grid=256,
            digits_channels=(16, 32),
            digits_hidden=(64,),
            epochs=30,
            penalty_rs=(0.0, 0.01, 0.1, 1.0),
            penalty_iters=6,
            linear_dim=100,
            linear_depths=(1, 2, 5, 10, 20, 50, 110),
            resnet_width=1.0,
            resnet_input=224,
            resnet_gram_iters=None,
            resnet_power_iters=100,
        )
        return replace(base, **overrides)

    @classmethod
    def for_mode(cls, mode: str | None = None, **overrides: Any) -> Ch02Config:
        """:meth:`quick` or :meth:`full` for ``mode`` (default ``$STABLECORE_MODE``, else quick)."""
        return cls.full(**overrides) if current_mode(mode) == "full" else cls.quick(**overrides)


_RESNET_METHODS = ("gram", "power", "fantastic4", "lipgrid")
_DIGITS_SHAPE = (1, 8, 8)

DENSE_COLUMNS = (
    "id", "shape", "method", "kind", "iteration", "value", "exact", "diff", "rel_error", "time_ms",
)  # fmt: skip
CONV_COLUMNS = (
    "id", "case", "c_out", "c_in", "k", "n", "method", "n_iter", "value", "kind", "exact", "diff",
    "rel_gap", "time_ms",
)  # fmt: skip
ZERO_COLUMNS = (*CONV_COLUMNS, "winner")
NETWORK_COLUMNS = ("id", "quantity", "value", "kind", "bound_over_value", "test_accuracy", "description")
LINEAR_COLUMNS = (
    "id", "depth", "dim", "product_exact", "product_gram", "product_kind", "true_norm", "true_kind",
    "ratio", "log10_ratio",
)  # fmt: skip
REGULARIZATION_COLUMNS = (
    "id", "r", "epochs", "test_accuracy", "bound", "bound_kind", "lower_bound", "lower_kind", "gap",
    "penalty_n_iter", "seconds",
)  # fmt: skip
RESNET_COLUMNS = (
    "id", "layer", "c_out", "c_in", "k", "stride", "n", "method", "n_iter", "value", "kind", "time_ms",
    "ratio_to_power",
)  # fmt: skip


# ----------------------------------------------------------------------------------- helpers
def _config(cfg: Ch02Config | None) -> Ch02Config:
    return resolve_config(cfg, Ch02Config)


_experiment = experiment(Ch02Config)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def median_time(fn: Callable[[], Any], repeats: int = 1, *, device: str = "cpu") -> tuple[Any, float]:
    """Run ``fn`` once untimed (warm-up), then ``repeats`` times; return its last result and the median
    wall time in seconds (``time.perf_counter``, CUDA synchronised)."""
    out = fn()
    times = []
    for _ in range(max(int(repeats), 1)):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return out, statistics.median(times)


def _timed(fn: Callable[[], Any], cfg: Ch02Config, *, warm: bool = True) -> tuple[Any, float]:
    """(result, median milliseconds) over ``cfg.repeats`` runs after a warm-up; a single run without
    warm-up when ``cfg.repeats == 1`` or ``warm=False`` (slow methods)."""
    if warm and cfg.repeats > 1:
        out, seconds = median_time(fn, cfg.repeats, device=cfg.device)
    else:
        _sync(cfg.device)
        start = time.perf_counter()
        out = fn()
        _sync(cfg.device)
        seconds = time.perf_counter() - start
    return out, 1000.0 * seconds


def _kernel(shape: tuple[int, int, int, int], seed: int, device: str, scale: float = 1.0) -> torch.Tensor:
    """Standard normal float32 kernel (times ``scale``); the same ``(shape, seed)`` gives the same kernel."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=gen) * scale).to(device)


def _case_key(c_out: int, c_in: int, k: int, n: int) -> str:
    return f"c{c_out}x{c_in}_k{k}_n{n}"


# Rows whose protocol matches a reported number carry its id (or its id without the metric suffix).
_SPECIAL_IDS: dict[tuple[str, str, str], str] = {
    ("circ", "c64x64_k5_n12", "exact"): "ch02.lip4conv.conv64_k5_n12.sedghi",
    ("circ", "c64x64_k5_n12", "gram_t5"): "ch02.lip4conv.conv64_k5_n12.gi5_circular",
    ("circ", "c64x64_k5_n12", "fantastic4"): "ch02.lip4conv.conv64_k5_n12.singla50",
    ("circ", "c64x64_k5_n12", "lipgrid50"): "ch02.lip4conv.conv64_k5_n12.lipgrid50",
    ("circ", "c64x64_k3_n32", "gram_t6"): "ch02.circ.cpu_time.c64_k3_n32.gi_t6",
    ("circ", "c512x512_k3_n4", "gram_t6"): "ch02.circ.cpu_time.c512_n4.gi_t6",
    ("circ", "c512x512_k3_n4", "exact"): "ch02.circ.cpu_time.c512_n4.fft_svd",
    ("circ", "c256x256_k3_n32", "gram_t6"): "ch02.circ.cpu_time.c256_n32.gi_t6",
    ("zero", "c64x64_k5_n12", "power100"): "ch02.lip4conv.conv64_k5_n12.ryu100",
    ("zero", "c64x64_k5_n12", "norm2toep_t5"): "ch02.lip4conv.conv64_k5_n12.norm2toep5",
}


def _row_id(table: str, key: str, label: str) -> str:
    return _SPECIAL_IDS.get((table, key, label), f"ch02.{table}.{key}.{label}")


def _rel(value: float, reference: float) -> float:
    return (value - reference) / reference if reference and math.isfinite(reference) else math.nan


# ----------------------------------------------------------------------------------- dense
@_experiment
def dense_convergence(cfg: Ch02Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Gram iteration vs power iteration on standard Gaussian matrices (float64; THESIS.md §3.1a).

    Gram iteration :math:`G_{t+1} = G_t^\top G_t` gives :math:`\sigma_1(W) \le \|G_t\|_F^{2^{-t}}` at
    every :math:`t` (``upper_bound``); power iteration gives :math:`\|Wv_t\| \le \sigma_1(W)`
    (``lower_bound``). Each row is one method after ``iteration`` steps, with
    ``rel_error = (value − σ₁)/σ₁`` (≥ 0 for Gram, ≤ 0 for power) against the SVD value ``exact``.
    ``time_ms`` is the median wall time of a run of exactly ``iteration`` steps, measured at the
    iteration counts of ``cfg.dense_gram_timed`` / ``cfg.dense_power_timed`` (NaN elsewhere). The library
    inflates Gram bounds by a worst-case rounding margin (≥ 2⁻⁴⁰; about 1e-10 for 500×400) so that they
    stay bounds in floating point: their relative error stops at that margin.

    Ids: ``ch02.gi_dense.gauss{m}x{n}.gi_t{t}`` and ``.pi{t}`` (the reported ids add ``.rel_error``).

    References: Delattre et al., ICML 2023 (arXiv 2305.16173), §5.5 and Algorithms 1--2.
    """
    rows: list[dict[str, Any]] = []
    for i, (m, n) in enumerate(cfg.dense_shapes):
        gen = torch.Generator().manual_seed(seed + i)
        W = torch.randn(m, n, generator=gen, dtype=torch.float64).to(cfg.device)
        exact = matrix_norm(W, method="exact").value
        runs = {
            "gram": (
                matrix_norm(W, method="gram", n_iter=cfg.dense_gram_iters, tol=0.0),
                cfg.dense_gram_timed,
                "gi_t",
            ),
            "power": (
                matrix_norm(W, method="power", n_iter=cfg.dense_power_iters, tol=0.0, seed=seed),
                cfg.dense_power_timed,
                "pi",
            ),
        }
        for method, (bound, timed, label) in runs.items():
            run = partial(matrix_norm, W, method=method, tol=0.0, seed=seed)
            times = {t: _timed(partial(run, n_iter=t), cfg)[1] for t in timed if t <= bound.n_iter}
            for it, value in enumerate(bound.history, start=1):
                rows.append(
                    {
                        "id": f"ch02.gi_dense.gauss{m}x{n}.{label}{it}",
                        "shape": f"{m}x{n}",
                        "method": method,
                        "kind": bound.kind,
                        "iteration": it,
                        "value": value,
                        "exact": exact,
                        "diff": value - exact,
                        "rel_error": _rel(value, exact),
                        "time_ms": times.get(it, math.nan),
                    }
                )
    return pd.DataFrame(rows, columns=list(DENSE_COLUMNS))


# ----------------------------------------------------------------------------------- circular
def _conv_rows(
    table: str,
    case: tuple[int, int, int, int],
    entries: list[tuple[str, str, Bound, float]],
    exact: float,
) -> list[dict[str, Any]]:
    c_out, c_in, k, n = case
    key = _case_key(*case)
    return [
        {
            "id": _row_id(table, key, label),
            "case": key,
            "c_out": c_out,
            "c_in": c_in,
            "k": k,
            "n": n,
            "method": method,
            "n_iter": bound.n_iter,
            "value": bound.value,
            "kind": bound.kind,
            "exact": exact,
            "diff": bound.value - exact,
            "rel_gap": _rel(bound.value, exact),
            "time_ms": ms,
        }
        for label, method, bound, ms in entries
    ]


def _explicit_norm(kernel: torch.Tensor, n: int, padding: str) -> Bound:
    """Exact norm from the explicit float64 operator matrix (impulse responses, then SVD)."""
    matrix = conv_operator_matrix(kernel, n, padding=padding)
    return Bound(dense_spectral_norm(matrix), "exact", "explicit")


@_experiment
def circular_conv_comparison(cfg: Ch02Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Circular-padding convolutions: Gram bound vs exact, power iteration and two literature bounds.

    For a kernel :math:`K\in\mathbb R^{c_\text{out}\times c_\text{in}\times k\times k}` on an
    :math:`n\times n` torus, :math:`\|C\|_2 = \max_{u,v}\sigma_1(\hat K_{uv})` (Sedghi et al. 2019,
    ``exact``, FFT blocks); ``gram`` runs Gram iteration on all blocks at once (Delattre et al. 2023,
    ``upper_bound`` for ``n_iter`` in ``cfg.circ_gram_iters``); ``power`` is power iteration on the
    operator (``lower_bound``); ``fantastic4`` (Singla & Feizi 2021, with exact reshaped norms) and
    ``lipgrid`` (Araujo et al. 2021) are ``upper_bound`` s; ``explicit`` (small cases) is the SVD of the
    explicit matrix, an independent exact oracle. ``rel_gap = value/exact − 1``; ``time_ms`` is the
    median over ``cfg.repeats`` runs after a warm-up (power and explicit: one run).

    Standard normal kernels as in the lip4conv notebook (case ``c64x64_k5_n12`` carries the notebook's
    ids ``ch02.lip4conv.conv64_k5_n12.{sedghi,gi5_circular,singla50,lipgrid50}``).
    """
    rows: list[dict[str, Any]] = []
    for case in cfg.circ_cases:
        c_out, c_in, k, n = case
        K = _kernel((c_out, c_in, k, k), seed, cfg.device)
        norm = partial(conv_norm, K, n, padding="circular")
        exact, ms = _timed(partial(norm, method="exact"), cfg)
        entries: list[tuple[str, str, Bound, float]] = [("exact", "exact", exact, ms)]
        if max(c_in, c_out) * n * n <= cfg.explicit_max_dim:
            explicit, ms = _timed(partial(_explicit_norm, K, n, "circular"), cfg, warm=False)
            entries.append(("explicit", "explicit", explicit, ms))
        for t in cfg.circ_gram_iters:
            bound, ms = _timed(partial(norm, method="gram", n_iter=t, tol=0.0), cfg)
            entries.append((f"gram_t{t}", "gram", bound, ms))
        it, s = cfg.circ_power_iters, cfg.lipgrid_samples
        bound, ms = _timed(partial(norm, method="power", n_iter=it, tol=0.0, seed=seed), cfg, warm=False)
        entries.append((f"power{it}", "power", bound, ms))
        bound, ms = _timed(partial(norm, method="fantastic4"), cfg)
        entries.append(("fantastic4", "fantastic4", bound, ms))
        bound, ms = _timed(partial(norm, method="lipgrid", n_iter=s), cfg)
        entries.append((f"lipgrid{s}", "lipgrid", bound, ms))
        rows += _conv_rows("circ", case, entries, exact.value)
    return pd.DataFrame(rows, columns=list(CONV_COLUMNS))


# ----------------------------------------------------------------------------------- zero padding
@_experiment
def zero_vs_circular(cfg: Ch02Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Zero-padded "same" convolutions: two Gram upper bounds, a lower bound and the exact norm.

    * ``norm2toep`` (Delattre et al. 2024): Gram iteration in kernel space, a Schur-test bound of the
      convolution on :math:`\ell_2(\mathbb Z^2)` that holds for every input size; one row per
      iteration count :math:`T = 1..T_\text{case}` (``time_ms`` on the last);
    * ``circular_embedding``: the zero-padded conv on :math:`n\times n` is a block of the circular conv on
      :math:`(n+k-1)\times(n+k-1)`, so :math:`\|T_\text{zero}\| \le \|C_{n+k-1}\|` (THESIS.md §3.1c);
    * ``gram``: what :func:`~stablecore.spectral.conv_norm` returns, the smaller of the two (``winner``);
    * ``power``: power iteration on the zero-padded operator (Ryu et al. 2019), ``lower_bound``;
    * ``exact``: SVD of the explicit matrix, when ``c·n² ≤ cfg.explicit_max_dim``;
    * ``sup_freq``: the circular norm on a ``cfg.sup_grid`` grid, a lower estimate of
      :math:`\sup_\omega\sigma_1(\hat K(\omega))`, the limit of ``norm2toep`` as :math:`T\to\infty`
      (kind ``estimate``: it is no bound of the zero-padded norm).

    ``exact`` (column) is the explicit-matrix norm (NaN when too large). Ids follow THESIS.md §3.1c
    (``ch02.zero.c4x3_k3_n8.norm2toep_t2``, ``.circ_n10``, ``.sup_freq``) and the lip4conv notebook
    (``ch02.lip4conv.conv64_k5_n12.ryu100`` / ``.norm2toep5`` when 100 power / 5 Gram iterations).
    """
    rows: list[dict[str, Any]] = []
    for c_out, c_in, k, n, T in cfg.zero_cases:
        case = (c_out, c_in, k, n)
        K = _kernel((c_out, c_in, k, k), seed, cfg.device)
        norm = partial(conv_norm, K, n, padding="zeros")
        entries: list[tuple[str, str, Bound, float]] = []
        exact = math.nan
        if max(c_in, c_out) * n * n <= cfg.explicit_max_dim:
            bound, ms = _timed(partial(norm, method="exact"), cfg, warm=False)
            exact = bound.value
            entries.append(("exact", "exact", bound, ms))
        it = cfg.zero_power_iters
        bound, ms = _timed(partial(norm, method="power", n_iter=it, tol=0.0, seed=seed), cfg, warm=False)
        entries.append((f"power{it}", "power", bound, ms))
        toep, ms = _timed(partial(norm, method="norm2toep", n_iter=T, tol=0.0), cfg, warm=False)
        for t, value in enumerate(toep.history, start=1):
            b = Bound(value, "upper_bound", "norm2toep", n_iter=t)
            entries.append((f"norm2toep_t{t}", "norm2toep", b, ms if t == len(toep.history) else math.nan))
        gram, ms = _timed(partial(norm, method="gram"), cfg)
        emb = gram.details["candidates"]["circular_embedding"]
        emb_bound = Bound(emb, "upper_bound", "gram", DEFAULT_CONV_GRAM_ITERS)
        entries.append((f"circ_n{n + k - 1}", "circular_embedding", emb_bound, math.nan))
        entries.append(("gram", "gram", gram, ms))
        sup, ms = _timed(partial(conv_norm, K, cfg.sup_grid, padding="circular", method="exact"), cfg)
        entries.append(("sup_freq", f"circular_n{cfg.sup_grid}", replace(sup, kind="estimate"), ms))
        for row in _conv_rows("zero", case, entries, exact):
            row["winner"] = gram.details["winner"] if row["method"] == "gram" else ""
            rows.append(row)
    return pd.DataFrame(rows, columns=list(ZERO_COLUMNS))


# ----------------------------------------------------------------------------------- networks
def _test_tensors(result: TrainResult) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(result.data.test[i] for i in range(len(result.data.test))))
    return torch.stack(xs), torch.stack(ys)


def _train_digits(
    cfg: Ch02Config, *, seed: int, r: float, experiment: str, home: str | Path | None
) -> TrainResult:
    """The digits ConvNet of the chapter, with the Gram-iteration Lipschitz penalty when ``r > 0``."""
    model_kwargs = {"channels": list(cfg.digits_channels), "hidden": list(cfg.digits_hidden)}
    penalties = []
    if r > 0:
        # a twin of the model the workflow builds (same architecture, hence the same layer names and
        # conv input sizes); the penalty reads the weights of the model it is called with
        twin = build_model("convnet", input_shape=_DIGITS_SHAPE, num_classes=10, seed=seed, **model_kwargs)
        penalties.append(LipschitzPenalty(twin, _DIGITS_SHAPE, r=r, n_iter=cfg.penalty_iters))
    return train_classifier(
        "digits",
        "convnet",
        epochs=cfg.epochs,
        mode=cfg.mode,
        seed=seed,
        device=cfg.device,
        model_kwargs=model_kwargs,
        experiment=experiment,
        home=home,
        progress=False,
        penalties=penalties,
    )


@_experiment
def network_bound_vs_empirical(
    cfg: Ch02Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Certified Lipschitz bound of a trained digits ConvNet vs empirical lower bounds: the gap.

    Trains ``Normalize → (Conv → ReLU → MaxPool)×2 → Linear → ReLU → Linear`` on scikit-learn's digits
    for ``cfg.epochs`` epochs (a run under ``home``), then

    .. math::

        \max_{x\in\text{test}} \sigma_1(J_f(x)) \;\le\; L(f) \;\le\; \prod_l \|W_l\|_2 \;\le\;
        \prod_l \overline{\sigma}_l^{\,\text{Gram}}

    with ``bound_gram`` (:func:`~stablecore.spectral.lipschitz_bound`, Gram bounds per layer),
    ``bound_exact_layers`` (exact layer norms: what remains is the looseness of the product) and the
    lower bounds of :func:`~stablecore.certify.empirical_lipschitz`. ``bound_over_value`` is
    ``bound_gram / value``.
    Ids: ``ch02.digits_convnet.<quantity>``.
    """
    result = _train_digits(cfg, seed=seed, r=0.0, experiment="ch02-network-bound", home=home)
    model = result.model
    gram = lipschitz_bound(model, _DIGITS_SHAPE, method="gram")
    exact = lipschitz_bound(model, _DIGITS_SHAPE, method="exact")
    x, y = _test_tensors(result)
    emp = empirical_lipschitz(model, x, y)
    entries = [
        ("bound_gram", gram.value, gram.kind, "product of Gram upper bounds of the layers (incl. Normalize)"),
        ("bound_exact_layers", exact.value, exact.kind, "product of exact layer norms"),
        *(
            (name, emp[name].value, emp[name].kind, text)
            for name, text in (
                ("max_jacobian_norm", "max over test points of σ₁(J_f(x))"),
                ("max_logit_gradient", "max ‖∇f_ŷ(x)‖, predicted class"),
                ("max_margin_gradient", "max ‖∇(f_y − f_j*)(x)‖/√2"),
            )
        ),
    ]
    rows = [
        {
            "id": f"ch02.digits_convnet.{name}",
            "quantity": name,
            "value": value,
            "kind": kind,
            "bound_over_value": gram.value / value if value > 0 else math.inf,
            "test_accuracy": result.test["accuracy"],
            "description": text,
        }
        for name, value, kind, text in entries
    ]
    return pd.DataFrame(rows, columns=list(NETWORK_COLUMNS))


@_experiment
def deep_linear_looseness(cfg: Ch02Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Product of layer norms vs the norm of the product for a deep linear net (THESIS.md §2, PUB).

    A depth-:math:`L` net :math:`x \mapsto W_L \cdots W_1 x` with :math:`L-1` layers
    :math:`d\times d` and a last layer ``linear_out × d``, all drawn as PyTorch's default ``nn.Linear``
    initialisation :math:`\mathcal U(-1/\sqrt d, 1/\sqrt d)` (the protocol of the Bridging repository's
    ``example_linear_bad_pub_estimation.py``, 110 layers of dimension 100 in full mode). Its Lipschitz
    constant is exactly :math:`\|W_L\cdots W_1\|_2` (``true_norm``); the layer-wise product
    :math:`\prod_l\|W_l\|_2` (``product_exact``; ``product_gram`` with Gram bounds) is an upper bound
    whose ``ratio`` to it grows exponentially with depth, because the top singular directions of
    consecutive random layers are not aligned. Ids: ``ch02.pub.linear_d{d}.depth{L}``.
    """
    d, out = cfg.linear_dim, cfg.linear_out
    gen = torch.Generator().manual_seed(seed)
    deepest = max(cfg.linear_depths)
    bound = 1 / math.sqrt(d)
    hidden = [
        (torch.rand(d, d, generator=gen, dtype=torch.float64) * 2 - 1) * bound for _ in range(deepest - 1)
    ]
    head = (torch.rand(out, d, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    exact_norms = [matrix_norm(w, method="exact") for w in hidden]
    gram_norms = [matrix_norm(w, method="gram") for w in hidden]
    head_exact, head_gram = matrix_norm(head, method="exact"), matrix_norm(head, method="gram")
    rows = []
    for depth in sorted(set(cfg.linear_depths)):
        layers = hidden[: depth - 1]
        prod = head.clone()
        for w in reversed(layers):
            prod = prod @ w
        true = matrix_norm(prod, method="exact")
        p_exact = product_bound([*exact_norms[: depth - 1], head_exact])
        p_gram = product_bound([*gram_norms[: depth - 1], head_gram])
        ratio = p_exact.value / true.value
        rows.append(
            {
                "id": f"ch02.pub.linear_d{d}.depth{depth}",
                "depth": depth,
                "dim": d,
                "product_exact": p_exact.value,
                "product_gram": p_gram.value,
                "product_kind": p_gram.kind,
                "true_norm": true.value,
                "true_kind": true.kind,
                "ratio": ratio,
                "log10_ratio": math.log10(ratio),
            }
        )
    return pd.DataFrame(rows, columns=list(LINEAR_COLUMNS))


@_experiment
def lipschitz_regularized_training(
    cfg: Ch02Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""The digits ConvNet trained with the Gram-iteration Lipschitz penalty, one run per ``cfg.penalty_rs``.

    Loss :math:`= \text{CE} + r\sum_l \operatorname{relu}(\overline\sigma_l - 1)` with differentiable Gram
    bounds :math:`\overline\sigma_l` (``cfg.penalty_iters`` iterations; ICML'23 §6, lip4conv
    ``trainer.py``); ``r = 0`` is the unregularised baseline. Reports the test accuracy, the network's
    Gram ``bound`` (``upper_bound``), the Jacobian ``lower_bound`` of
    :func:`~stablecore.certify.empirical_lipschitz` and their ``gap``. A research outcome, reported as
    measured: nothing here asserts that the penalty helps. Ids: ``ch02.lipreg.digits_convnet.r{r}``.
    """
    rows = []
    for r in cfg.penalty_rs:
        result = _train_digits(cfg, seed=seed, r=float(r), experiment="ch02-lipschitz-penalty", home=home)
        bound = lipschitz_bound(result.model, _DIGITS_SHAPE, method="gram")
        x, y = _test_tensors(result)
        lower = empirical_lipschitz(result.model, x, y)["max_jacobian_norm"].value
        rows.append(
            {
                "id": f"ch02.lipreg.digits_convnet.r{r:g}",
                "r": float(r),
                "epochs": cfg.epochs,
                "test_accuracy": result.test["accuracy"],
                "bound": bound.value,
                "bound_kind": bound.kind,
                "lower_bound": lower,
                "lower_kind": "lower_bound",
                "gap": bound.value / lower if lower > 0 else math.inf,
                "penalty_n_iter": cfg.penalty_iters if r > 0 else 0,
                "seconds": result.seconds,
            }
        )
    return pd.DataFrame(rows, columns=list(REGULARIZATION_COLUMNS))


# ----------------------------------------------------------------------------------- ResNet-18 shapes
def resnet18_layer_shapes(width: float = 1.0, input_size: int = 224) -> list[dict[str, Any]]:
    """The 20 convolutions of torchvision's ImageNet ResNet-18 (stem 7×7/2 + max-pool 3×3/2, four stages
    of two BasicBlocks, 1×1/2 downsample shortcuts): name, channels, kernel, stride and input size.
    Channels are ``round(c·width)`` (at least 1)."""
    if not width > 0:
        raise ValueError(f"width must be > 0, got {width!r}")
    if isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 32:
        raise ValueError(f"input_size must be an int >= 32, got {input_size!r}")
    ch = [max(1, round(c * width)) for c in (64, 128, 256, 512)]
    n = input_size
    layers = [{"layer": "conv1", "c_out": ch[0], "c_in": 3, "k": 7, "stride": 2, "n": n}]
    n = (n + 2 * 3 - 7) // 2 + 1
    n = (n + 2 * 1 - 3) // 2 + 1  # max-pool 3×3, stride 2, padding 1
    c_prev = ch[0]
    for s, c in enumerate(ch):
        for b in range(2):
            stride = 2 if s > 0 and b == 0 else 1
            c_in = c_prev if b == 0 else c
            n_out = (n + 2 - 3) // stride + 1
            name = f"layer{s + 1}.{b}"
            layers.append(
                {"layer": f"{name}.conv1", "c_out": c, "c_in": c_in, "k": 3, "stride": stride, "n": n}
            )
            layers.append({"layer": f"{name}.conv2", "c_out": c, "c_in": c, "k": 3, "stride": 1, "n": n_out})
            if stride != 1 or c_in != c:
                layers.append(
                    {
                        "layer": f"{name}.downsample",
                        "c_out": c,
                        "c_in": c_in,
                        "k": 1,
                        "stride": stride,
                        "n": n,
                    }
                )
            n = n_out
        c_prev = c
    return layers


@_experiment
def resnet18_shapes(cfg: Ch02Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Per-layer norm bounds and times on random kernels with ResNet-18 (ImageNet) shapes.

    Kernels are He-normal, :math:`\mathcal N(0, 2/(c_\text{in}k^2))`, zero padding ``k // 2``, input size
    tracked through the strides from ``cfg.resnet_input`` (224 in full mode; the lip4conv notebook's
    protocol, on random rather than pretrained weights). Methods: ``gram`` (the zero-padding Gram bound of
    :func:`~stablecore.spectral.conv_norm` with ``cfg.resnet_gram_iters``, ``upper_bound``), ``power``
    (Ryu et al. 2019, ``cfg.resnet_power_iters`` iterations, ``lower_bound``), ``fantastic4`` and
    ``lipgrid`` (``upper_bound``). Rows with ``layer == "product"`` hold the product over all 20
    convolutions per method (shortcuts included as factors: a cruder aggregate than a residual network's
    bound; kind by the composition rules, so a product of lower bounds is an ``estimate``) and the
    summed time; ``ratio_to_power`` is value / power's value, the ratio the lip4conv notebook prints.
    Ids: ``ch02.resnet18_shapes.<layer>.<method>``.
    """
    rows = []
    bounds: dict[str, list[Bound]] = {m: [] for m in cfg.resnet_methods}
    times: dict[str, float] = {m: 0.0 for m in cfg.resnet_methods}
    for i, spec in enumerate(resnet18_layer_shapes(cfg.resnet_width, cfg.resnet_input)):
        c_out, c_in, k, stride, n = (spec[key] for key in ("c_out", "c_in", "k", "stride", "n"))
        K = _kernel((c_out, c_in, k, k), seed + i, cfg.device, scale=math.sqrt(2 / (c_in * k * k)))
        norm = partial(conv_norm, K, n, padding="zeros", pad=k // 2, stride=stride)
        calls: dict[str, Callable[[], Bound]] = {
            "gram": partial(norm, method="gram", n_iter=cfg.resnet_gram_iters),
            "power": partial(norm, method="power", n_iter=cfg.resnet_power_iters, tol=0.0, seed=seed),
            "fantastic4": partial(norm, method="fantastic4"),
            "lipgrid": partial(norm, method="lipgrid", n_iter=cfg.resnet_lipgrid_samples),
        }
        layer_rows = []
        for method in cfg.resnet_methods:
            bound, ms = _timed(calls[method], cfg, warm=method != "power")
            bounds[method].append(bound)
            times[method] += ms
            layer_rows.append(
                {
                    "id": f"ch02.resnet18_shapes.{spec['layer']}.{method}",
                    **spec,
                    "method": method,
                    "n_iter": bound.n_iter,
                    "value": bound.value,
                    "kind": bound.kind,
                    "time_ms": ms,
                }
            )
        power = next((r["value"] for r in layer_rows if r["method"] == "power"), math.nan)
        for row in layer_rows:
            row["ratio_to_power"] = row["value"] / power if power > 0 else math.nan
        rows += layer_rows
    products = {m: product_bound(b, method=f"product({m})") for m, b in bounds.items()}
    power_product = products["power"].value if "power" in products else math.nan
    for method, prod in products.items():
        rows.append(
            {
                "id": f"ch02.resnet18_shapes.product.{method}",
                "layer": "product",
                "method": method,
                "n_iter": prod.n_iter,
                "value": prod.value,
                "kind": prod.kind,
                "time_ms": times[method],
                "ratio_to_power": prod.value / power_product if power_product > 0 else math.nan,
            }
        )
    frame = pd.DataFrame(rows, columns=list(RESNET_COLUMNS))
    return frame.astype({c: "Int64" for c in ("c_out", "c_in", "k", "stride", "n")})


# ----------------------------------------------------------------------------------- reported numbers
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "dense_convergence": dense_convergence,
    "circular_conv_comparison": circular_conv_comparison,
    "zero_vs_circular": zero_vs_circular,
    "network_bound_vs_empirical": network_bound_vs_empirical,
    "deep_linear_looseness": deep_linear_looseness,
    "lipschitz_regularized_training": lipschitz_regularized_training,
    "resnet18_shapes": resnet18_shapes,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""

Getter = Callable[[Mapping[str, pd.DataFrame]], "float | None"]


def _cell(experiment: str, row_id: str, column: str, scale: float = 1.0) -> Getter:
    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        frame = results.get(experiment)
        if frame is None or "id" not in frame.columns or column not in frame.columns:
            return None
        hit = frame.loc[frame["id"] == row_id, column]
        if hit.empty or pd.isna(hit.iloc[0]):
            return None
        return float(hit.iloc[0]) * scale

    return get


def _minus(a: Getter, b: Getter) -> Getter:
    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        x, y = a(results), b(results)
        return None if x is None or y is None else x - y

    return get


def _explicit_gram_gap(t: int) -> Getter:
    """Largest relative gap of Gram (``t`` iterations) to the explicit-matrix norm over the small cases."""

    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        frame = results.get("circular_conv_comparison")
        if frame is None:
            return None
        gaps = []
        for _, case in frame.groupby("case"):
            explicit = case.loc[case["method"] == "explicit", "value"]
            gram = case.loc[(case["method"] == "gram") & (case["n_iter"] == t), "value"]
            if not explicit.empty and not gram.empty:
                gaps.append(float(gram.iloc[0]) / float(explicit.iloc[0]) - 1)
        return max(gaps) if gaps else None

    return get


def _comparison_specs() -> list[tuple[str, str, Getter, str]]:
    """(reported id, experiment, getter, note) for every reported number an experiment measures."""
    dense, circ, zero = "dense_convergence", "circular_conv_comparison", "zero_vs_circular"
    g = "ch02.gi_dense.gauss500x400"
    other_draw = "another draw of the same Gaussian matrix / kernel distribution (THESIS.md gives no seed)"
    specs: list[tuple[str, str, Getter, str]] = [
        (f"{g}.sigma1", dense, _cell(dense, f"{g}.gi_t1", "exact"), other_draw)
    ]
    for t, *_ in _GI_DENSE:
        specs.append(
            (f"{g}.gi_t{t}.rel_error", dense, _cell(dense, f"{g}.gi_t{t}", "rel_error"), "our bound includes "
             "the library's rounding margin (it stays a guaranteed bound), so the error stops at that margin")
        )  # fmt: skip
    for it, *_ in _PI_DENSE:
        specs.append((f"{g}.pi{it}.rel_error", dense, _cell(dense, f"{g}.pi{it}", "rel_error"), other_draw))
    nb = "ch02.lip4conv.dense500x400"
    cpu = "median time on this run's device; lip4conv timed on CUDA"
    specs += [
        (f"{nb}.svd", dense, _cell(dense, f"{g}.gi_t1", "exact"), other_draw),
        (
            f"{nb}.pi1000.diff",
            dense,
            _cell(dense, f"{g}.pi1000", "diff"),
            "lower bound, deflated for rounding",
        ),
        (f"{nb}.pi1000.time", dense, _cell(dense, f"{g}.pi1000", "time_ms"), cpu),
        (f"{nb}.gi15.diff", dense, _cell(dense, f"{g}.gi_t15", "diff"), "upper bound incl. rounding margin"),
        (f"{nb}.gi15.time", dense, _cell(dense, f"{g}.gi_t15", "time_ms"), cpu),
    ]
    specs += [
        (
            "ch02.circ.explicit.gi_t3.max_rel_error",
            circ,
            _explicit_gram_gap(3),
            "max over the explicit cases",
        ),
        ("ch02.circ.explicit.gi_t6.rel_error", circ, _explicit_gram_gap(6), "max over the explicit cases"),
    ]
    for rid, label in (
        ("ch02.circ.cpu_time.c64_k3_n32.gi_t6", "ch02.circ.cpu_time.c64_k3_n32.gi_t6"),
        ("ch02.circ.cpu_time.c512_n4.gi_t6", "ch02.circ.cpu_time.c512_n4.gi_t6"),
        ("ch02.circ.cpu_time.c512_n4.fft_svd.low", "ch02.circ.cpu_time.c512_n4.fft_svd"),
        ("ch02.circ.cpu_time.c512_n4.fft_svd.high", "ch02.circ.cpu_time.c512_n4.fft_svd"),
        ("ch02.circ.cpu_time.c256_n32.gi_t6", "ch02.circ.cpu_time.c256_n32.gi_t6"),
    ):
        specs.append(
            (rid, circ, _cell(circ, label, "time_ms", 1e-3), "k = 3 assumed; torch on this run's device "
             "(THESIS.md: numpy, 2-core CPU); exact = FFT + eigvalsh of the Gram blocks")
        )  # fmt: skip
    for key, _desc, _exact, bounds, _sup in _ZERO_CASES:
        z = f"ch02.zero.{key}"
        specs.append((f"{z}.exact", zero, _cell(zero, f"{z}.exact", "value"), other_draw))
        specs += [
            (f"{z}.norm2toep_t{t}", zero, _cell(zero, f"{z}.norm2toep_t{t}", "value"), other_draw)
            for t in range(1, len(bounds) + 1)
        ]
        specs.append(
            (f"{z}.sup_freq", zero, _cell(zero, f"{z}.sup_freq", "value"), "circular norm on a fine grid: "
             "a lower estimate of sup_ω σ₁(K̂(ω)); " + other_draw)
        )  # fmt: skip
    for rid, row in (
        ("ch02.zero.c4x3_k3_n8.circ_n10", "circ_n10"),
        ("ch02.zero.c5x5_k3_n6.circ_n8", "circ_n8"),
    ):
        z = rid.rsplit(".", 1)[0]
        specs.append(
            (rid, zero, _cell(zero, f"{z}.{row}", "value"), "Gram bound (6 it.) of the circular norm")
        )
    c = "ch02.lip4conv.conv64_k5_n12"
    sedghi = _cell(circ, f"{c}.sedghi", "value")
    lipgrid_note = "our LipGrid uses a proven Bernstein correction (not the paper's factor)"
    f4_note = "our Fantastic Four takes exact norms of the reshapings (the limit of 50 power iterations)"
    specs += [
        (f"{c}.sedghi", circ, sedghi, other_draw),
        (f"{c}.ryu100", zero, _cell(zero, f"{c}.ryu100", "value"), "100 power iterations, full mode"),
        (f"{c}.lipgrid50.diff", circ, _minus(_cell(circ, f"{c}.lipgrid50", "value"), sedghi), lipgrid_note),
        (f"{c}.lipgrid50.time", circ, _cell(circ, f"{c}.lipgrid50", "time_ms"), cpu),
        (f"{c}.singla50.diff", circ, _minus(_cell(circ, f"{c}.singla50", "value"), sedghi), f4_note),
        (f"{c}.singla50.time", circ, _cell(circ, f"{c}.singla50", "time_ms"), cpu),
        (f"{c}.gi5_circular.diff", circ, _minus(_cell(circ, f"{c}.gi5_circular", "value"), sedghi), ""),
        (f"{c}.gi5_circular.time", circ, _cell(circ, f"{c}.gi5_circular", "time_ms"), cpu),
        (
            f"{c}.norm2toep5.diff_sedghi",
            zero,
            _minus(_cell(zero, f"{c}.norm2toep5", "value"), sedghi),
            "5 kernel-space iterations: full mode only",
        ),
        (
            f"{c}.norm2toep5.diff_ryu",
            zero,
            _minus(_cell(zero, f"{c}.norm2toep5", "value"), _cell(zero, f"{c}.ryu100", "value")),
            "full mode only",
        ),
        (f"{c}.norm2toep5.time", zero, _cell(zero, f"{c}.norm2toep5", "time_ms"), cpu + "; full mode only"),
    ]
    return specs


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value the experiments measured.

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned; missing
            experiments leave their numbers unmeasured.

    Returns:
        One row per reported number (:func:`~stablecore.chapters.reported_numbers` order) with columns
        ``id, quantity, unit, status, reported, measured, measured_by, comparison, note``. ``status`` is
        the reported number's own (``transcribed`` / ``recalled`` / ``not transcribed``);
        ``comparison`` is ``"measured"`` (both values), ``"not measured"`` (no experiment of this
        notebook, or not in this mode: ``note`` says which) or ``"not transcribed"`` (THESIS.md gives no
        value). Measured times are converted to the reported unit.
    """
    results = check_results(results, EXPERIMENTS)
    specs = {rid: (exp, get, note) for rid, exp, get, note in _comparison_specs()}
    rows = []
    for rep in reported_numbers(CHAPTER).itertuples(index=False):
        exp, get, note = specs.get(rep.id, ("", None, ""))
        measured = get(results) if get is not None else None  # getters convert ms to the reported unit
        if rep.status == "not transcribed":
            comparison = "not transcribed"
        elif measured is None:
            comparison = "not measured"
            if not exp:
                note = "no experiment of this notebook measures it"
            elif exp not in results:
                note = f"{exp} was not run"
            else:
                note = f"not in this configuration ({note})" if note else "not in this configuration"
        else:
            comparison = "measured"
        rows.append(
            {
                "id": rep.id,
                "quantity": rep.quantity,
                "unit": rep.unit,
                "status": rep.status,
                "reported": rep.value,
                "measured": math.nan if measured is None else measured,
                "measured_by": exp if measured is not None else "",
                "comparison": comparison,
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
