"""Small live computations behind the dashboard (and usable from notebooks), tested without Streamlit.

* :mod:`~stablecore.explore.models` -- :class:`ModelSpec` and :func:`train_or_load`: quick models trained
  on demand and cached in the run store (``<home>/explore/``).
* :mod:`~stablecore.explore.radii` -- decision grids, per-point Lipschitz-margin, Cohen and LVM-RS
  radii, certified-accuracy curves.
* :mod:`~stablecore.explore.curvature` -- landscapes, Hessian top-k / trace / density of a run, λ_max
  along training, tables stored by the CLI.
* :mod:`~stablecore.explore.spectral` -- per-layer norms (Gram vs power vs exact), Gram convergence.
* :mod:`~stablecore.explore.runs` -- the run store as a table, run details, paths confined to the store.
* :mod:`~stablecore.explore.commands` -- the CLI command to copy for the full-size computation.
* :mod:`~stablecore.explore.params` -- typed, validated values of URL query parameters.
* :mod:`~stablecore.explore.links` -- every view's URL state (:data:`VIEW_PARAMS`) and links to a view
  with its state prefilled (:func:`dashboard_url`).
* :mod:`~stablecore.explore.example` -- one example, up close: margin, Lipschitz and smoothing radii,
  the closest PGD adversarial, noisy draws.
"""

from stablecore.explore.commands import cli_command
from stablecore.explore.example import ExampleCloseUp, example_close_up
from stablecore.explore.links import (
    DASHBOARD_URL,
    VIEW_PARAMS,
    ViewParam,
    dashboard_url,
    parse_dashboard_url,
    view_keys,
)
from stablecore.explore.models import (
    DATASETS,
    EMBEDDED_MODELS,
    FAMILIES,
    FAMILY_LABELS,
    ExploreModel,
    ModelSpec,
    find_run,
    snapshot_epochs,
    spec_data,
    train_or_load,
)
from stablecore.explore.params import MAX_INT, param_value, parse_param
from stablecore.explore.radii import (
    RADIUS_COLUMNS,
    certified_curves,
    decision_grid,
    grid_axes,
    lipschitz_margin_radii,
    smoothing_radii,
)
from stablecore.explore.runs import RunDetails, confine, model_runs, relative, run_details, runs_table

__all__ = [
    "DASHBOARD_URL",
    "DATASETS",
    "EMBEDDED_MODELS",
    "FAMILIES",
    "FAMILY_LABELS",
    "MAX_INT",
    "RADIUS_COLUMNS",
    "VIEW_PARAMS",
    "ExampleCloseUp",
    "ExploreModel",
    "ModelSpec",
    "RunDetails",
    "ViewParam",
    "certified_curves",
    "cli_command",
    "confine",
    "dashboard_url",
    "decision_grid",
    "example_close_up",
    "find_run",
    "grid_axes",
    "lipschitz_margin_radii",
    "model_runs",
    "param_value",
    "parse_dashboard_url",
    "parse_param",
    "relative",
    "run_details",
    "runs_table",
    "smoothing_radii",
    "snapshot_epochs",
    "spec_data",
    "train_or_load",
    "view_keys",
]
