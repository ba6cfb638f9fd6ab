"""Randomized smoothing: Cohen et al.'s certificates, confidence bounds and multi-class intervals,
LVM-RS, Lipschitz-aware radii, and dataset certification (ARCHITECTURE.md, ``stablecore.smoothing``)."""

from stablecore.smoothing import bounds

__all__ = ["bounds"]
