"""Chapter 4: curvature regularisation of the loss (parameter sensitivity), incl. "activation decay".

THESIS.md §5: the chapter's content is unknown (no paper, no code); THESIS.md gives no number. Every row is
therefore "not transcribed". The regularisers and metrics below are THESIS.md's reconstruction [I] (its
candidate list and suggested notebook), not the thesis's own tables; align them once the PDF is read.
"""

from __future__ import annotations

from functools import partial

from stablecore.chapters.reported import ReportedNumber, missing

CHAPTER: int = 4
TITLE: str = "Curvature regularisation of the loss: parameter sensitivity, flat minima, activation decay"
NOTEBOOK: str = "notebooks/ch04_curvature.ipynb"

_m = partial(missing, CHAPTER)

_SOURCE = "thesis curvature chapter (arXiv 2510.25282), content unknown (THESIS.md §5)"
_NOTE = "regulariser and metric from THESIS.md's reconstruction [I]; model and data set unknown"

_REGULARISERS = (
    ("none", "no regulariser"),
    ("weight_decay", "weight decay"),
    ("activation_decay", "activation decay (penalty on hidden-activation norms, reconstruction)"),
    ("hutchinson_trace", "Hutchinson Hessian-trace penalty"),
    ("gradient_norm", "gradient-norm penalty"),
    ("sam", "SAM"),
    ("noise_injection", "Gaussian parameter smoothing / noise injection"),
    ("hessian_bound", "Hessian-bound penalty (curvature upper bound from layer norms)"),
)
_METRICS = (
    ("test_accuracy", "test accuracy", "%"),
    ("lambda_max", "top Hessian eigenvalue λ_max of the training loss", ""),
    ("hessian_trace", "Hessian trace of the training loss", ""),
)

REPORTED: tuple[ReportedNumber, ...] = tuple(
    _m(f"ch04.thesis.{reg}.{metric}", f"training with {reg_desc}: {desc}", unit, _SOURCE, note=_NOTE)
    for reg, reg_desc in _REGULARISERS
    for metric, desc, unit in _METRICS
)
