"""stablecore: stability of neural networks -- Lipschitz bounds, curvature, randomized smoothing.

A map of the package, base first. Imports point one way: an entry uses only entries above it (the
import-linter contracts in ``pyproject.toml``). Every dotted name below imports as written
(``tests/test_package_map.py`` checks it).

Base
    * ``stablecore.types.Bound`` -- a number with its kind (exact / upper_bound / lower_bound /
      estimate); ``stablecore.types.product_bound`` composes them.
    * ``stablecore.numerics.unit_roundoff``, ``stablecore.numerics.round_up`` -- rounding margins.
    * ``stablecore.torch_utils.eval_mode``, ``stablecore.torch_utils.model_device``.
    * ``stablecore.limits.check_memory``, ``stablecore.limits.check_work`` -- refuse out-of-reach requests.
    * ``stablecore.blocks.Residual``, ``stablecore.blocks.Normalize`` -- containers every bound knows.
    * ``stablecore.data.load_dataset`` -- synthetic 2-D sets, digits, MNIST, CIFAR-10.
    * ``stablecore.results.create_run``, ``stablecore.results.load_run``,
      ``stablecore.results.list_runs`` -- the run store.
    * ``stablecore.train.Trainer``, ``stablecore.train.TrainConfig``, ``stablecore.train.build_loss``.

Spectral norms and Lipschitz bounds
    * ``stablecore.spectral.lipschitz_bound`` (whole networks), ``stablecore.spectral.matrix_norm``,
      ``stablecore.spectral.conv_norm``, ``stablecore.spectral.LipschitzPenalty``.

Lipschitz layers and models
    * ``stablecore.layers`` -- ``stablecore.layers.AOLLinear``, ``stablecore.layers.SLLLinear``,
      ``stablecore.layers.CPLLinear``, ``stablecore.layers.SRLinear``, ``stablecore.layers.export``
      (and their ``Conv2d`` twins, activations, heads).
    * ``stablecore.models.build_model`` -- MLP, ConvNet, ResNets, Lipschitz nets by name.

Certificates, curvature, landscapes, smoothing
    * ``stablecore.certify.certify_model`` (margin radii per example), ``stablecore.certify.lipschitz_radius``
      (radii from logits), ``stablecore.certify.certified_accuracy_curve`` (the one certified-accuracy
      rule), ``stablecore.certify.empirical_lipschitz`` (lower bounds), ``stablecore.certify.pgd``.
    * ``stablecore.curvature.HessianOperator``, ``stablecore.curvature.GGNOperator``,
      ``stablecore.curvature.as_operator`` with ``stablecore.curvature.eigenvalues``,
      ``stablecore.curvature.trace``, ``stablecore.curvature.density``; wrappers
      ``stablecore.curvature.hessian_eigenvalues`` / ``hessian_trace`` / ``hessian_density``.
    * ``stablecore.landscape.slice_1d``, ``stablecore.landscape.slice_2d``,
      ``stablecore.landscape.random_directions``, ``stablecore.landscape.landscape_flatness``.
    * ``stablecore.smoothing.Smooth`` (predict / certify), ``stablecore.smoothing.certify_point`` (the one
      per-point engine), ``stablecore.smoothing.certify_dataset``, ``stablecore.smoothing.lvm.certify_lvm``,
      ``stablecore.smoothing.monolip_radius`` (Lipschitz-aware radii).

Clients of the above
    * ``stablecore.workflows.train_classifier``, ``stablecore.workflows.load_model``.
    * ``stablecore.chapters.CHAPTERS`` -- one module per thesis chapter (config + experiments).
    * ``stablecore.plots`` -- plotly figures by topic, e.g. ``stablecore.plots.training_curves``.
    * ``stablecore.explore`` -- the dashboard's live computations, e.g.
      ``stablecore.explore.smoothing_radii``.
    * ``stablecore.report.build_report``, ``stablecore.report.write_html`` -- the HTML report.
    * ``stablecore.reproduce.reproduce`` -- runs the chapter notebooks, collects their tables.

Command line (``stablecore <command> --help``; one module of ``stablecore.cli`` per command):
``train``, ``runs``, ``spectral``, ``hessian``, ``landscape``, ``certify``, ``demo``, ``dashboard``,
``report``, ``reproduce``.
"""

from stablecore.types import Bound

__version__ = "0.1.0"

__all__ = ["Bound", "__version__"]
