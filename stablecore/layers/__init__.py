"""Lipschitz-by-design layers (ARCHITECTURE.md, ``stablecore.layers``).

Importing this package registers every layer's guaranteed Lipschitz constant with
:func:`stablecore.spectral.register`, so :func:`stablecore.spectral.lipschitz_bound` bounds networks
built from them.

* :mod:`~stablecore.layers.aol` -- :class:`AOLLinear`, :class:`AOLConv2d` (Prach & Lampert 2022).
* :mod:`~stablecore.layers.sll` -- :class:`SLLLinear`, :class:`SLLConv2d` (Araujo et al. 2023) and
  :class:`SLLGramLinear`, :class:`SLLGramConv2d` (SLL with Gram rescaling, docs/chapters/ch02.md §3.1(d)).
* :mod:`~stablecore.layers.cpl` -- :class:`CPLLinear`, :class:`CPLConv2d` (Meunier et al. 2022).
* :mod:`~stablecore.layers.normalized` -- :class:`SpectralNormLinear`, :class:`SpectralNormConv2d`
  (weight divided by a Gram upper bound of the operator norm).
* :mod:`~stablecore.layers.rescaled` -- :class:`SRLinear`, :class:`SRConv2d` (spectral rescaling, depth T).
* :mod:`~stablecore.layers.activations` -- :class:`MaxMin`, :class:`GroupSort`, :class:`HouseHolder`.
* :mod:`~stablecore.layers.heads` -- :class:`NormalizedLinear` (unit rows; constant ``‖W'‖``, not 1).
* :mod:`~stablecore.layers.orthogonal` -- :class:`OrthogonalLinear` (Cayley / matrix exponential /
  Householder).
* :mod:`~stablecore.layers.export` -- :func:`export` (parametrizations folded into plain weights) and
  the frozen residual layers :class:`ResidualReLULinear`, :class:`ResidualReLUConv2d`.
* :mod:`~stablecore.layers.reference` -- **unsound** reference: :class:`ReferenceCPLLinear`, the CPL
  authors' layer normalised by one-step power iteration (:func:`reference_power_iteration`), *not*
  1-Lipschitz (:func:`cpl_step_lipschitz`); never registered, so no bound or certificate accepts it.

Parametrized layers (``nn.Linear``/``nn.Conv2d`` subclasses) are found by the registry through the class
that ``torch.nn.utils.parametrize`` generates for each instance (its base is the registered class).
"""

from stablecore.layers.activations import GroupSort, HouseHolder, MaxMin
from stablecore.layers.aol import AOLConv2d, AOLLinear, aol_scale
from stablecore.layers.cpl import CPLConv2d, CPLLinear
from stablecore.layers.export import ResidualReLUConv2d, ResidualReLULinear, export
from stablecore.layers.heads import NormalizedLinear
from stablecore.layers.normalized import SpectralNormConv2d, SpectralNormLinear
from stablecore.layers.orthogonal import OrthogonalLinear
from stablecore.layers.reference import ReferenceCPLLinear, cpl_step_lipschitz, reference_power_iteration
from stablecore.layers.rescaled import SRConv2d, SRLinear, sr_scale
from stablecore.layers.sll import (
    SLLConv2d,
    SLLGramConv2d,
    SLLGramLinear,
    SLLLinear,
    sll_gram_inverse_diagonal,
    sll_inverse_diagonal,
)

__all__ = [
    "AOLConv2d",
    "AOLLinear",
    "CPLConv2d",
    "CPLLinear",
    "GroupSort",
    "HouseHolder",
    "MaxMin",
    "NormalizedLinear",
    "OrthogonalLinear",
    "ReferenceCPLLinear",
    "ResidualReLUConv2d",
    "ResidualReLULinear",
    "SLLConv2d",
    "SLLGramConv2d",
    "SLLGramLinear",
    "SLLLinear",
    "SRConv2d",
    "SRLinear",
    "SpectralNormConv2d",
    "SpectralNormLinear",
    "aol_scale",
    "cpl_step_lipschitz",
    "export",
    "reference_power_iteration",
    "sll_gram_inverse_diagonal",
    "sll_inverse_diagonal",
    "sr_scale",
]
