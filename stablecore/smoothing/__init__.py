"""Randomized smoothing: Cohen et al.'s certificates, confidence bounds and multi-class intervals,
LVM-RS, Lipschitz-aware radii, and dataset certification (ARCHITECTURE.md, ``stablecore.smoothing``)."""

from stablecore.smoothing import bounds
from stablecore.smoothing.core import ABSTAIN, Certificate, NoiseStatistics, Smooth, certify_from_counts
from stablecore.smoothing.dataset import certified_accuracy_curve, certify_dataset
from stablecore.smoothing.intervals import (
    MultiClassInterval,
    cpm_buckets,
    multiclass_interval,
    smoothing_radius,
)

__all__ = [
    "ABSTAIN",
    "Certificate",
    "MultiClassInterval",
    "NoiseStatistics",
    "Smooth",
    "bounds",
    "certified_accuracy_curve",
    "certify_dataset",
    "certify_from_counts",
    "cpm_buckets",
    "multiclass_interval",
    "smoothing_radius",
]
