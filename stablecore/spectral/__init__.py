"""Spectral norms and Lipschitz bounds of linear maps (ARCHITECTURE.md, ``stablecore.spectral``).

* :mod:`~stablecore.spectral.dense` -- matrices: Gram iteration (upper bound), power iteration (lower
  bound), SVD (exact); :func:`gram_norm_dense` is the differentiable tensor-level Gram bound.
* :mod:`~stablecore.spectral.conv` -- 2-D convolutions: circular padding (FFT blocks: Gram iteration,
  exact), zero padding (circular embedding and the kernel-space bound of Delattre et al. 2024,
  explicit matrix for small sizes), strides, groups (maximum over groups), transposed convolutions,
  the Fantastic Four and LipGrid baselines; tensor-level :func:`gram_norm_conv_circular` and
  :func:`gram_norm_conv_zeros`.
* :mod:`~stablecore.spectral.network` -- :func:`lipschitz_bound` of whole networks (registry walk;
  :mod:`~stablecore.spectral.leaves` registers the torch leaf modules), :func:`layer_norm` of one layer.
* :mod:`~stablecore.spectral.regularization` -- :class:`LipschitzPenalty`, the Trainer penalty
  ``r·Σ relu(bound_l − 1)`` with differentiable Gram bounds.
* :mod:`~stablecore.spectral.oracle` -- explicit float64 operator matrices (impulse responses) used as
  the independent oracle in tests and by ``method="exact"``.

Every public function returns a :class:`~stablecore.types.Bound` whose ``kind`` says what the number is.
"""

from stablecore.spectral.conv import (
    ConvGeometry,
    conv_geometry,
    conv_norm,
    conv_transpose_norm,
    gram_norm_conv_circular,
    gram_norm_conv_zeros,
)
from stablecore.spectral.dense import gram_norm_dense, matrix_norm
from stablecore.spectral.leaves import symmetric_padding
from stablecore.spectral.network import layer_norm, lipschitz_bound, register, registered_types
from stablecore.spectral.oracle import (
    conv_operator_matrix,
    conv_transpose_operator_matrix,
    dense_spectral_norm,
)
from stablecore.spectral.regularization import LipschitzPenalty, layer_gram_bound

__all__ = [
    "ConvGeometry",
    "LipschitzPenalty",
    "conv_geometry",
    "conv_norm",
    "conv_operator_matrix",
    "conv_transpose_norm",
    "conv_transpose_operator_matrix",
    "dense_spectral_norm",
    "gram_norm_conv_circular",
    "gram_norm_conv_zeros",
    "gram_norm_dense",
    "layer_gram_bound",
    "layer_norm",
    "lipschitz_bound",
    "matrix_norm",
    "register",
    "registered_types",
    "symmetric_padding",
]
