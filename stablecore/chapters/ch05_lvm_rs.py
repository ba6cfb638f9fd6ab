"""Chapter 5: randomized smoothing I: Weierstrass-transform view, Lipschitz-variance-margin, LVM-RS (ICLR'24).

Reported numbers only (THESIS.md §6 and §9). Cohen et al.'s certified accuracies (the baseline of chapters 5
and 6) are fractions of the evaluated images (unit ``"accuracy"``); Carlini et al.'s are percentages.
"""

from __future__ import annotations

from functools import partial

from stablecore.chapters.reported import ReportedNumber, missing, number

CHAPTER: int = 5
TITLE: str = "Randomized smoothing I: Weierstrass transform, Lipschitz-variance-margin tradeoff, LVM-RS"
NOTEBOOK: str = "notebooks/ch05_lvm_rs.ipynb"

_n = partial(number, CHAPTER)
_m = partial(missing, CHAPTER)

_NUM_ERF = "THESIS.md §6.1 caveat [I, num], closed forms checked by its author"
_LVMRS = "Delattre et al. ICLR'24 (LVM-RS, arXiv 2309.16883), table not retrieved (THESIS.md §6.2)"
_CARLINI = "Carlini et al. ICLR'23 (diffusion-denoised smoothing), abstract"
_CARLINI_2ND = "Carlini et al. ICLR'23 via a secondary note (THESIS.md §6.2)"
_COHEN = "Cohen et al. 2019, per-image results (CIFAR-10, every 20th test image), recomputed (THESIS.md §9)"
_COHEN_SETTING = "ResNet-110, train σ = test σ, N0 = 100, N = 100 000, α = 0.001"

_COHEN_RADII = ("0", "0.25", "0.5", "0.75", "1.0", "1.25", "1.5")
_COHEN_TABLE = {
    "0.12": ("0.814", "0.586", "0", "0", "0", "0", "0"),
    "0.25": ("0.748", "0.600", "0.428", "0.266", "0", "0", "0"),
    "0.50": ("0.652", "0.546", "0.414", "0.320", "0.234", "0.152", "0.094"),
    "1.00": ("0.472", "0.392", "0.340", "0.278", "0.216", "0.174", "0.140"),
}


def _key(x: str) -> str:
    """``"0.25"`` -> ``"0_25"`` so that numbers do not add dots to ids."""
    return x.replace(".", "_")


_lipschitz: list[ReportedNumber] = [
    _n(
        "ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.exact",
        "Lipschitz constant of the Gaussian-smoothed L-Lipschitz function with values in [0, r]: exact worst "
        "case L·erf(r/(2√2·L·σ)) at L = 2, r = 1, σ = 0.5",
        "0.766",
        "",
        _NUM_ERF,
    ),
    _n(
        "ch05.smoothed_lipschitz.ramp_L2_r1_sigma0_5.code_formula",
        "Lipschitz constant of the Gaussian-smoothed L-Lipschitz function with values in [0, r]: "
        "bridging_the_gap_rs code formula L·erf(r/(√2·L·σ)) at L = 2, r = 1, σ = 0.5",
        "1.365",
        "",
        _NUM_ERF,
        note="conservative (valid) for [0, r]; exact for range 2r",
    ),
    _n(
        "ch05.lvmrs_code.n_candidates",
        "number of (simplex map, temperature, radius type) candidates the LVM-RS code maximises over",
        "~410",
        "",
        "THESIS.md §6.2 statistical caveat [I], from code/core_lvmrs.py",
        note="approximate; all chosen on the same n samples",
    ),
]

_lvmrs: list[ReportedNumber] = [
    _m(
        "ch05.lvmrs24.cifar10.certified_accuracy",
        "LVM-RS certified accuracy on CIFAR-10 at several radii vs Carlini et al. (Table 1)",
        "%",
        _LVMRS,
        note="radii and unit unknown",
    ),
    _m(
        "ch05.lvmrs24.imagenet.certified_accuracy",
        "LVM-RS certified accuracy on ImageNet at several radii vs Carlini et al. (ImageNet table)",
        "%",
        _LVMRS,
        note="radii and unit unknown",
    ),
    _n(
        "ch05.carlini23.imagenet.r0_5",
        "diffusion-denoised smoothing, ImageNet: certified accuracy at ℓ₂ radius 0.5",
        "71",
        "%",
        _CARLINI,
        note="the secondary note gives the same 71",
    ),
]
_lvmrs += [
    _n(
        f"ch05.carlini23.{data}.r{_key(r)}",
        f"diffusion-denoised smoothing, {label}: certified accuracy at ℓ₂ radius {r}",
        w,
        "%",
        _CARLINI_2ND,
        "recalled",
        note="secondary, unverified",
    )
    for data, label, cells in (
        ("cifar10", "CIFAR-10", (("0.25", "77"), ("0.5", "63"), ("1.0", "32"))),
        ("imagenet", "ImageNet", (("1.0", "54"), ("2.0", "30"))),
    )
    for r, w in cells
]

_cohen: list[ReportedNumber] = [
    _n(
        f"ch05.cohen19.cifar10.sigma{_key(sigma)}.r{_key(r)}",
        f"Cohen et al. randomized smoothing, CIFAR-10, σ = {sigma}: certified accuracy at ℓ₂ radius {r}",
        w,
        "accuracy",
        _COHEN,
        note=_COHEN_SETTING,
    )
    for sigma, row in _COHEN_TABLE.items()
    for r, w in zip(_COHEN_RADII, row)
]
_cohen.append(
    _n(
        "ch05.cohen19.max_radius_over_sigma",
        "largest certifiable radius over σ with N = 10⁵, α = 0.001: Φ⁻¹(0.001^(1/N))",
        "3.81",
        "σ",
        "THESIS.md §9 (closed form)",
        note="approximate ('≈ 3.81σ')",
    )
)

REPORTED: tuple[ReportedNumber, ...] = (*_lipschitz, *_lvmrs, *_cohen)
