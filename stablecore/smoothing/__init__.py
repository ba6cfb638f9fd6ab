"""Randomized smoothing: Cohen et al.'s certificates, confidence bounds and multi-class intervals,
LVM-RS, Lipschitz-aware radii, and dataset certification (ARCHITECTURE.md, ``stablecore.smoothing``).

Every per-point certification goes through one engine, :mod:`~stablecore.smoothing.engine`
(:func:`certify_point`, :func:`point_logits`, seeded by :func:`example_generator` ``(seed, index)``);
certified accuracy is :func:`certified_accuracy_curve` (correct, not abstained, radius ≥ r), the one of
:mod:`stablecore.certify.accuracy`.

Abstain convention, package-wide: a prediction of ``-1`` (:data:`ABSTAIN`) and a radius of ``0.0``;
radius functions return :class:`Radius` ``(radius, abstain)``.
"""

from stablecore.certify.accuracy import certified_accuracy_curve
from stablecore.smoothing import bounds, engine, intervals, lipschitz, lvm
from stablecore.smoothing.core import (
    ABSTAIN,
    SCORE_MAPS,
    Certificate,
    NoiseStatistics,
    NonFiniteLogitsError,
    Smooth,
    certify_from_counts,
)
from stablecore.smoothing.dataset import METHOD_OPTIONS, certify_dataset
from stablecore.smoothing.engine import METHODS, certify_point, example_generator, point_logits
from stablecore.smoothing.intervals import (
    MultiClassInterval,
    cpm_buckets,
    multiclass_interval,
    smoothing_radius,
)
from stablecore.smoothing.lipschitz import (
    Radius,
    cohen_multi_radius,
    cohen_radius,
    margin_radius,
    monolip_radius,
    multi_ode_radius,
    multilip_radius,
    ode_radius,
    score_lipschitz,
    smoothed_lipschitz,
    smoothed_score_lipschitz,
    softmax_score_lipschitz,
    sparsemax_score_lipschitz,
)
from stablecore.smoothing.lvm import (
    LVMCertificate,
    LVMChoice,
    certify_lvm,
    lvm_best_of_candidates_uncertified,
    lvm_certificate_from_moments,
    select_lvm_candidate,
)

__all__ = [
    "ABSTAIN",
    "METHODS",
    "METHOD_OPTIONS",
    "SCORE_MAPS",
    "Certificate",
    "LVMCertificate",
    "LVMChoice",
    "MultiClassInterval",
    "NoiseStatistics",
    "NonFiniteLogitsError",
    "Radius",
    "Smooth",
    "bounds",
    "certified_accuracy_curve",
    "certify_dataset",
    "certify_from_counts",
    "certify_lvm",
    "certify_point",
    "cohen_multi_radius",
    "cohen_radius",
    "cpm_buckets",
    "engine",
    "example_generator",
    "intervals",
    "lipschitz",
    "lvm",
    "lvm_best_of_candidates_uncertified",
    "lvm_certificate_from_moments",
    "margin_radius",
    "monolip_radius",
    "multi_ode_radius",
    "multiclass_interval",
    "multilip_radius",
    "ode_radius",
    "point_logits",
    "score_lipschitz",
    "select_lvm_candidate",
    "smoothed_lipschitz",
    "smoothed_score_lipschitz",
    "smoothing_radius",
    "softmax_score_lipschitz",
    "sparsemax_score_lipschitz",
]
