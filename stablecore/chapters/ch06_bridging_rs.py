"""Chapter 6: randomized smoothing II: Lipschitz-aware radii and CPM confidence intervals (AISTATS'25).

Reported numbers only (THESIS.md §7). Radii are ℓ₂ radii at σ = 0.5 for a base score f_c: ℝᵈ → [0, 1]
that is L-Lipschitz; p_A is the (lower bound on the) smoothed top-class probability.
"""

from __future__ import annotations

from functools import partial

from stablecore.chapters.reported import ReportedNumber, missing, number

CHAPTER: int = 6
TITLE: str = "Randomized smoothing II: Lipschitz-aware certificates and CPM confidence intervals"
NOTEBOOK: str = "notebooks/ch06_bridging_rs.ipynb"

_n = partial(number, CHAPTER)
_m = partial(missing, CHAPTER)

_NUM_RADII = "THESIS.md §7.2(a) R_monoLip table [num], SciPy, σ = 0.5 (not a thesis table)"
_NUM_ODE = "THESIS.md §7.2(a) R_ode table [I, num], SciPy, σ = 0.5 (not a thesis table)"
_NUM_LPHI = "THESIS.md §7.2(a) soundness check [I, num], SciPy (not a thesis table)"
_NUM_COUNTER = "THESIS.md §7.2(c) caveat [num], exact enumeration with SciPy (not a thesis table)"
_BRIDGING = (
    "Delattre et al. AISTATS'25 (PMLR 258, arXiv 2504.02412), tables not retrieved (THESIS.md §7.2); "
    "PMLR PDF delattre25a.pdf"
)


def _key(x: str) -> str:
    """``"0.5"`` -> ``"0_5"`` so that numbers do not add dots to ids."""
    return x.replace(".", "_")


# §7.2(a): p_A -> (Cohen σΦ⁻¹(p), R_monoLip at L = 0.5, 1, 2, 10, 100); the R_ode table repeats some cells.
_MONOLIP_L = ("0.5", "1", "2", "10", "100")
_MONOLIP = {
    "0.60": ("0.127", ("0.209", "0.148", "0.132", "0.127", "0.127")),
    "0.80": ("0.421", ("0.637", "0.487", "0.438", "0.422", "0.421")),
    "0.90": ("0.641", ("0.898", "0.733", "0.666", "0.642", "0.641")),
    "0.99": ("1.163", ("1.427", "1.289", "1.206", "1.165", "1.163")),
}
_ODE_L = ("0.5", "1")
_ODE = {"0.80": ("0.679", "0.490"), "0.90": ("0.999", "0.743"), "0.99": ("1.680", "1.331")}
_LPHI = (("0.51", "1.196"), ("0.9", "1.427"), ("0.99", "1.630"))

_radii: list[ReportedNumber] = []
for _p, (_cohen, _mono) in _MONOLIP.items():
    _radii.append(
        _n(
            f"ch06.radius.sigma0_5.pA{_key(_p)}.cohen",
            f"Cohen radius σΦ⁻¹(p_A) at σ = 0.5, p_A = {_p}",
            _cohen,
            "",
            _NUM_RADII,
            note="also in the R_ode table" if _p in _ODE else "",
        )
    )
    _radii += [
        _n(
            f"ch06.radius.sigma0_5.pA{_key(_p)}.monolip.L{_key(lip)}",
            f"Lipschitz-aware radius R_monoLip at σ = 0.5, p_A = {_p}, base Lipschitz constant L = {lip}",
            w,
            "",
            _NUM_RADII,
            note="also in the R_ode table" if _p in _ODE and lip in _ODE_L else "",
        )
        for lip, w in zip(_MONOLIP_L, _mono)
    ]
for _p, _cells in _ODE.items():
    _radii += [
        _n(
            f"ch06.radius.sigma0_5.pA{_key(_p)}.ode.L{_key(lip)}",
            f"comparison-ODE radius R_ode at σ = 0.5, p_A = {_p}, base Lipschitz constant L = {lip}",
            w,
            "",
            _NUM_ODE,
        )
        for lip, w in zip(_ODE_L, _cells)
    ]
_radii += [
    _n(
        f"ch06.lphi.sigma0_5.L0_5.q{_key(q)}",
        f"local Lipschitz constant L_Φ(q) of Φ⁻¹∘f̃_c at σ = 0.5, L = 0.5, q = {q}",
        w,
        "",
        _NUM_LPHI,
    )
    for q, w in _LPHI
]
_radii.append(
    _n(
        "ch06.ramp.L0_1.p0_60.s0",
        "start s₀ of the worst-case ramp solving p = 1 − L·∫_{s₀}^{s₀+1/L} Φ(s/σ) ds at L = 0.1, p = 0.6",
        "≈ −6.0",
        "",
        "THESIS.md §7.2(a) [code compute_rs_lipschitz_radius.py] bracket note",
        note="σ not stated",
    )
)

_counter: list[ReportedNumber] = [
    _n(
        "ch06.counter_example.script_value",
        "counter_example.py, p = (0.5, 0.05, 0.45), n = 10, α = 0.05: the probability the script computes "
        "(its event never uses the true p, so it is not a coverage)",
        "0.789",
        "probability",
        "bridging_the_gap_rs counter_example.py, via THESIS.md §7.2(c) [num]",
    ),
    _n(
        "ch06.counter_example.p50_05_45.uncorrected_coverage.low",
        "coverage of the true (p_A, p_B) by uncorrected top-2 Clopper–Pearson intervals, "
        "p = (0.5, 0.05, 0.45), n = 10, α = 0.05: lower end over the events considered",
        "0.95",
        "probability",
        _NUM_COUNTER,
        note="range '0.95–0.97 depending on the event'",
    ),
    _n(
        "ch06.counter_example.p50_05_45.uncorrected_coverage.high",
        "coverage of the true (p_A, p_B) by uncorrected top-2 Clopper–Pearson intervals, "
        "p = (0.5, 0.05, 0.45), n = 10, α = 0.05: upper end over the events considered",
        "0.97",
        "probability",
        _NUM_COUNTER,
        note="range '0.95–0.97 depending on the event'",
    ),
    _n(
        "ch06.counter_example.p45_45_10.uncorrected_coverage",
        "coverage by the uncorrected one-sided Clopper–Pearson pair, p = (0.45, 0.45, 0.10), n = 30, "
        "α = 0.05; event: lower bound of the top class by counts and upper bound of the runner-up "
        "cover their true p",
        "0.904",
        "probability",
        _NUM_COUNTER,
    ),
    _n(
        "ch06.counter_example.p45_45_10.bonferroni_coverage",
        "coverage by the Bonferroni-over-K Clopper–Pearson pair, p = (0.45, 0.45, 0.10), n = 30, α = 0.05; "
        "same event",
        "0.960",
        "probability",
        _NUM_COUNTER,
    ),
]

_tables: list[ReportedNumber] = [
    _m(
        f"ch06.aistats25.{data}.{key}",
        f"{label}: {desc}",
        "",
        _BRIDGING,
        note="table layout (radii, σ, models) and unit unknown",
    )
    for data, label in (("cifar10", "CIFAR-10"), ("imagenet", "ImageNet"))
    for key, desc in (
        ("cpm_vs_bonferroni", "certified accuracy with CPM vs Bonferroni confidence intervals"),
        (
            "lipschitz_radii",
            "certified accuracy with the Lipschitz-aware radii R_monoLip / R_multiLip vs Cohen",
        ),
    )
]

REPORTED: tuple[ReportedNumber, ...] = (*_radii, *_counter, *_tables)
