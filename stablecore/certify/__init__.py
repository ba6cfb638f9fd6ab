r"""Deterministic certificates and empirical robustness (ARCHITECTURE.md, ``stablecore.certify``).

* :mod:`~stablecore.certify.lipschitz` -- margin radii from a Lipschitz bound: global M/(√2·L)
  (Tsuzuku et al. 2018) and pairwise min_{j≠y}(f_y − f_j)/(L·‖w_y − w_j‖) for a last linear layer (LLN,
  Araujo et al. 2023); :func:`certify_model` (one row per example).
* :mod:`~stablecore.certify.accuracy` -- the one certified-accuracy rule (correct, not abstained, radius
  ≥ r; Cohen et al. 2019): :func:`certified_accuracy_curve` of any table of radii, deterministic or
  randomized smoothing.
* :mod:`~stablecore.certify.attacks` -- PGD in ℓ2 / ℓ∞ (Madry et al. 2018) to check certificates
  empirically.
* :mod:`~stablecore.certify.empirical` -- empirical Lipschitz ``lower_bound``\ s: Jacobian and gradient
  norms (:func:`empirical_lipschitz`), pairs optimised by gradient ascent (:func:`lipschitz_lower_bound`),
  ratios over PGD perturbations (:func:`pgd_lower_bound`).

Certificates accept only ``exact`` and ``upper_bound`` bounds; radii are in the input space the model is
fed (pixels).
"""

from stablecore.certify.accuracy import certified_accuracy, certified_accuracy_curve, certified_mask
from stablecore.certify.attacks import pgd
from stablecore.certify.callbacks import CertifiedAccuracyCallback
from stablecore.certify.empirical import (
    empirical_lipschitz,
    input_jacobians,
    lipschitz_lower_bound,
    pgd_lower_bound,
)
from stablecore.certify.lipschitz import (
    ROUND_DOWN,
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
    "certified_mask",
    "certify_model",
    "empirical_lipschitz",
    "input_jacobians",
    "lipschitz_lower_bound",
    "lipschitz_radius",
    "logit_margin",
    "pgd",
    "pgd_lower_bound",
    "split_last_linear",
]
