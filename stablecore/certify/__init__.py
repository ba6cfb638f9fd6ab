"""Deterministic certificates and empirical robustness (ARCHITECTURE.md, ``stablecore.certify``).

* :mod:`~stablecore.certify.lipschitz` -- margin radii from a Lipschitz bound: global M/(√2·L)
  (Tsuzuku et al. 2018) and pairwise min_{j≠y}(f_y − f_j)/(L·‖w_y − w_j‖) for a last linear layer (LLN,
  Araujo et al. 2023); :func:`certify_model` (one row per example) and certified accuracy.
* :mod:`~stablecore.certify.attacks` -- PGD in ℓ2 / ℓ∞ (Madry et al. 2018) to check certificates
  empirically, and an empirical Lipschitz ``lower_bound`` from pairs of inputs.

Certificates accept only ``exact`` and ``upper_bound`` bounds; radii are in the input space the model is
fed (pixels).
"""

from stablecore.certify.attacks import lipschitz_lower_bound, pgd
from stablecore.certify.callbacks import CertifiedAccuracyCallback
from stablecore.certify.lipschitz import (
    ROUND_DOWN,
    certified_accuracy,
    certified_accuracy_curve,
    certify_model,
    lipschitz_radius,
    logit_margin,
    split_last_linear,
)

__all__ = [
    "ROUND_DOWN",
    "CertifiedAccuracyCallback",
    "certified_accuracy",
    "certified_accuracy_curve",
    "certify_model",
    "lipschitz_lower_bound",
    "lipschitz_radius",
    "logit_margin",
    "pgd",
    "split_last_linear",
]
