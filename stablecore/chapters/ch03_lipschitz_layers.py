"""Chapter 3: Lipschitz-by-design layers: CPL (ICML'22, dynamical systems) and SLL/AOL (ICLR'23, SDP view).

Reported numbers only (THESIS.md §4). Accuracies are percentages on the test set; certified accuracy at an
ℓ₂ radius ε (in [0, 1] pixel space) uses the last-layer-normalised (LLN) margin certificate.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

from stablecore.chapters.reported import ReportedNumber, missing, number

CHAPTER: int = 3
TITLE: str = "Lipschitz-by-design layers: CPL (dynamical-system view), SLL and AOL (SDP view)"
NOTEBOOK: str = "notebooks/ch03_lipschitz_layers.ipynb"

_n = partial(number, CHAPTER)
_m = partial(missing, CHAPTER)

_NUM = "THESIS.md §4 [num], numerical check by its author (not a thesis table)"
_PRACH_CPL = "Prach et al. CVPR'24 '1-Lipschitz Layers Compared', comparison table, citing CPL [25, Table 1]"
_CPL_T1 = "Meunier et al. ICML'22 (CPL, arXiv 2110.12690) Table 1, not retrieved (THESIS.md §4.1)"
_PRACH_SLL = "Prach et al. CVPR'24 comparison table (quoting Araujo et al. ICLR'23, SLL)"
_LIRESNET = "LiResNet README (quoting Araujo et al. ICLR'23, SLL)"
_SLL_R = "Araujo et al. ICLR'23 (SLL, arXiv 2303.03169) results table, recalled in THESIS.md §4.2"
_SANDWICH = "Sandwich paper markdown and LiResNet README (quoting Araujo et al. ICLR'23, SLL)"
_PRACH_T2 = "Prach et al. CVPR'24 '1-Lipschitz Layers Compared' Table 2 and repo training CSVs"
_PRACH_SETTING = "24 h on one A100, ConvNet family XS/S/M/L, offset loss 2√2·ε, T = 0.25; CIFAR-10 test set"

_EPS = (("clean", "clean accuracy"), ("eps36", "certified accuracy at ε = 36/255"))
_EPS4 = (
    *_EPS,
    ("eps72", "certified accuracy at ε = 72/255"),
    ("eps108", "certified accuracy at ε = 108/255"),
)
_EPS5 = (*_EPS4, ("eps255", "certified accuracy at ε = 1 (255/255)"))


def _row(
    prefix: str,
    label: str,
    written: tuple[str, ...],
    source: str,
    status: Literal["transcribed", "recalled"] = "transcribed",
    note: str = "",
) -> list[ReportedNumber]:
    """Rows ``prefix.<metric>``, one per value in ``written`` (clean, then ε = 36, 72, 108, 255 /255)."""
    return [
        _n(f"{prefix}.{key}", f"{label}: {desc}", w, "%", source, status=status, note=note)
        for (key, desc), w in zip(_EPS5, written)
    ]


_jacobian: list[ReportedNumber] = [
    _n(
        f"ch03.{layer}.jacobian.max_norm_3000",
        f"{name}: max Jacobian spectral norm over 3,000 random draws",
        "1.0000",
        "",
        _NUM,
        note="sizes and seed not given",
    )
    for layer, name in (
        ("cpl", "CPL layer"),
        ("sll", "SLL layer (dense, random W, b, q)"),
        ("aol", "AOL layer"),
    )
]

_cpl: list[ReportedNumber] = [
    _n("ch03.cpl22.cifar10.xl.params", "CPL-XL number of parameters", "236", "M parameters", _PRACH_CPL),
    *_row("ch03.cpl22.cifar10.xl", "CPL-XL, CIFAR-10", ("78.5", "64.4", "48.0", "33.0"), _PRACH_CPL),
]
_cpl += [
    _m(f"ch03.cpl22.{data}.{size}.{key}", f"CPL-{size.upper()}, {label}: {desc}", "%", _CPL_T1, note=note)
    for data, label, sizes, note in (
        ("cifar10", "CIFAR-10", ("s", "m", "l"), ""),
        ("cifar100", "CIFAR-100", ("s", "m", "l", "xl"), "columns assumed as for CIFAR-10"),
    )
    for size in sizes
    for key, desc in _EPS4
]

_sll: list[ReportedNumber] = [
    _n(
        "ch03.sll23.cifar10.small.params",
        "SLL Small number of parameters",
        "41",
        "M parameters",
        _SLL_R,
        "recalled",
    ),
    _n(
        "ch03.sll23.cifar10.small.eps36",
        "SLL Small, CIFAR-10: certified accuracy at ε = 36/255",
        "62.6",
        "%",
        _LIRESNET,
    ),
    *[
        _n(f"ch03.sll23.cifar10.small.{key}", f"SLL Small, CIFAR-10: {desc}", w, "%", _SLL_R, "recalled")
        for (key, desc), w in zip(_EPS5, ("71.2", "", "53.8", "45.3", "20.4"))
        if w
    ],
    *_row(
        "ch03.sll23.cifar10.medium",
        "SLL Medium, CIFAR-10",
        ("72.2", "64.3", "56.0", "48.3", "23.9"),
        _SLL_R,
        "recalled",
    ),
    *_row(
        "ch03.sll23.cifar10.large",
        "SLL Large, CIFAR-10",
        ("72.7", "65.0", "57.3", "49.7", "25.4"),
        _SLL_R,
        "recalled",
    ),
    *_row(
        "ch03.sll23.cifar10.xlarge",
        "SLL X-Large, CIFAR-10",
        ("73.3", "65.8", "58.4", "51.3", "27.3"),
        _PRACH_SLL,
    ),
    _n(
        "ch03.sll23.cifar10.xlarge.params_prach",
        "SLL X-Large number of parameters (per Prach et al.)",
        "236",
        "M parameters",
        _PRACH_SLL,
    ),
    _n(
        "ch03.sll23.cifar10.xlarge.params_liresnet",
        "SLL X-Large number of parameters (per LiResNet)",
        "263",
        "M parameters",
        _LIRESNET,
    ),
    _n(
        "ch03.sll23.cifar10.xlarge.eps36_postfix",
        "SLL X-Large, CIFAR-10: certified accuracy at ε = 36/255 in the post-fix arXiv revision",
        "64.8",
        "%",
        "third-party note on the revised arXiv 2303.03169 (THESIS.md §4.2)",
        "recalled",
        note="unverified secondary source",
    ),
    *_row("ch03.sll23.cifar100.small", "SLL Small, CIFAR-100", ("44.9", "34.7"), _SANDWICH),
    *_row("ch03.sll23.cifar100.xlarge", "SLL X-Large, CIFAR-100", ("46.5", "36.5"), _SANDWICH),
    *_row(
        "ch03.sll23.tiny_imagenet.small",
        "SLL Small, Tiny-ImageNet",
        ("26.6", "19.5"),
        _SANDWICH,
        note="clean / 36/255 as for CIFAR-100",
    ),
    *_row(
        "ch03.sll23.tiny_imagenet.xlarge",
        "SLL X-Large, Tiny-ImageNet",
        ("32.1", "23.2"),
        _SANDWICH,
        note="clean / 36/255 as for CIFAR-100",
    ),
    *_row(
        "ch03.sll23.cifar10.aol_large",
        "AOL-Large, CIFAR-10",
        ("71.6", "64.0", "56.4", "49.0", "23.7"),
        _PRACH_SLL,
    ),
    *_row("ch03.sll23.cifar10.soc_lipnet25", "SOC LipNet-25, CIFAR-10", ("76.4", "61.9"), _PRACH_SLL),
    *_row(
        "ch03.sll23.cifar10.lot_lipnet25",
        "LOT LipNet-25, CIFAR-10",
        ("76.8", "64.4", "49.8", "37.3"),
        _PRACH_SLL,
    ),
]

# Prach et al. Table 2: layer -> (clean, certified@36/255) per size XS/S/M/L, and training img/s (size M).
_PRACH_TABLE: dict[str, tuple[tuple[tuple[str, str], ...], str]] = {
    "aol": ((("71.7", "59.1"), ("73.6", "60.8"), ("73.4", "61.0"), ("73.7", "61.5")), "1408"),
    "cpl": ((("74.9", "62.5"), ("76.1", "64.2"), ("76.6", "65.1"), ("76.8", "65.2")), "1370"),
    "sll": ((("73.7", "61.0"), ("74.2", "62.0"), ("75.3", "62.8"), ("74.3", "62.3")), "1142"),
    "soc": ((("74.1", "61.3"), ("75.0", "62.9"), ("76.9", "66.3"), ("76.9", "65.4")), "459"),
    "cayley": ((("73.1", "59.5"), ("74.2", "61.1"), ("74.4", "61.0"), ("73.6", "60.1")), "341"),
    "bcop": ((("71.7", "58.5"), ("73.1", "59.3"), ("74.0", "60.5"), ("74.6", "61.5")), "429"),
}
_prach: list[ReportedNumber] = []
for _layer, (_cells, _speed) in _PRACH_TABLE.items():
    for _size, _pair in zip(("xs", "s", "m", "l"), _cells):
        _prach += _row(
            f"ch03.prach24.cifar10.{_layer}.{_size}",
            f"{_layer.upper()} ConvNet-{_size.upper()}, CIFAR-10, 24 h budget",
            _pair,
            _PRACH_T2,
            note=_PRACH_SETTING,
        )
    _prach.append(
        _n(
            f"ch03.prach24.cifar10.{_layer}.m.train_img_per_s",
            f"{_layer.upper()} ConvNet-M training throughput",
            _speed,
            "img/s",
            _PRACH_T2,
            note="one A100",
        )
    )
_prach += [
    _n(
        "ch03.prach24.throughput_ratio.cpl_over_sll",
        "training-throughput ratio CPL (≈ AOL) / SLL",
        "1.2",
        "ratio",
        "THESIS.md §4.2, from the Prach et al. Table 2 throughput column",
        note="'CPL ≈ AOL ≈ 1.2× SLL ≈ 3× SOC'; approximate; hardware-independent comparison target",
    ),
    _n(
        "ch03.prach24.throughput_ratio.cpl_over_soc",
        "training-throughput ratio CPL (≈ AOL) / SOC",
        "3",
        "ratio",
        "THESIS.md §4.2, from the Prach et al. Table 2 throughput column",
        note="'CPL ≈ AOL ≈ 1.2× SLL ≈ 3× SOC'; approximate; hardware-independent comparison target",
    ),
]

REPORTED: tuple[ReportedNumber, ...] = (*_jacobian, *_cpl, *_sll, *_prach)
