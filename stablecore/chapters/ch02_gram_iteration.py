"""Chapter 2: spectral norms of dense and convolutional layers (Gram iteration, paddings, spectral rescaling).

Reported numbers only (THESIS.md §3; papers: Delattre et al. ICML'23, arXiv 2305.16173, and arXiv
2402.00240). ``[num]`` values were computed by THESIS.md's author on random matrices or kernels whose seed
is not given: an experiment reproduces them in distribution, not digit for digit.
"""

from __future__ import annotations

from functools import partial

from stablecore.chapters.reported import ReportedNumber, missing, number

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
