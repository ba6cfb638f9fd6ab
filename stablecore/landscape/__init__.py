"""Loss landscapes: 1-D / 2-D slices along filter-normalised random, Hessian or trajectory-PCA
directions, and linear interpolation between two models (Li et al. 2018; Goodfellow et al. 2015).

See :mod:`stablecore.landscape.slices` for the evaluation (vmap over stacked parameters, the model never
mutated), :mod:`stablecore.landscape.directions` for the directions and
:mod:`stablecore.landscape.flatness` for :func:`landscape_flatness` (mean loss increase on a disk).
"""

from stablecore.landscape.directions import (
    Direction,
    TrajectoryPCA,
    TrajectoryRecorder,
    as_direction,
    direction_norm,
    hessian_directions,
    ignored_parameters,
    load_trajectory,
    normalize_direction,
    pca_directions,
    random_direction,
    random_directions,
)
from stablecore.landscape.flatness import landscape_flatness
from stablecore.landscape.slices import (
    GRID_BYTES_PER_POINT,
    Landscape,
    LandscapeSummary,
    as_landscape,
    check_grid_size,
    evaluate_points,
    interpolate,
    landscape_grid,
    slice_1d,
    slice_2d,
)

__all__ = [
    "GRID_BYTES_PER_POINT",
    "Direction",
    "Landscape",
    "LandscapeSummary",
    "TrajectoryPCA",
    "TrajectoryRecorder",
    "as_direction",
    "as_landscape",
    "check_grid_size",
    "direction_norm",
    "evaluate_points",
    "hessian_directions",
    "ignored_parameters",
    "interpolate",
    "landscape_flatness",
    "landscape_grid",
    "load_trajectory",
    "normalize_direction",
    "pca_directions",
    "random_direction",
    "random_directions",
    "slice_1d",
    "slice_2d",
]
