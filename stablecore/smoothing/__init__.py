"""Randomized smoothing: Cohen et al.'s certificates, confidence bounds and multi-class intervals,
LVM-RS, Lipschitz-aware radii, and dataset certification (ARCHITECTURE.md, ``stablecore.smoothing``)."""

from stablecore.smoothing import bounds
from stablecore.smoothing.core import ABSTAIN, Certificate, NoiseStatistics, Smooth, certify_from_counts
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
    "certify_from_counts",
    "cpm_buckets",
    "multiclass_interval",
    "smoothing_radius",
]
