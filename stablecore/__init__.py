"""stablecore: stability of neural networks -- Lipschitz bounds, curvature, randomized smoothing."""

from stablecore.types import Bound

__version__ = "0.1.0"

__all__ = ["Bound", "__version__"]
