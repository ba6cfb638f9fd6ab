"""Models: MLP, ConvNet, CIFAR ResNet-18/20/110, built by name with ``build_model(name, **config)``.

Every model is an ``nn.Sequential`` of ``Sequential`` / ``Residual`` containers and standard leaf modules,
starting with ``Normalize(mean, std)``, and carries its JSON-serialisable config (:func:`model_config`,
:func:`rebuild_model`). New architectures register with :func:`register_model`.
"""

from stablecore.models import convnet as _convnet  # noqa: F401  (registers "convnet")
from stablecore.models import lipschitz_nets as _lipschitz_nets  # noqa: F401  (registers aol, sll, cpl, sr)
from stablecore.models import mlp as _mlp  # noqa: F401  (registers "mlp")
from stablecore.models import resnet as _resnet  # noqa: F401  (registers the ResNets)
from stablecore.models.registry import (
    ACTIVATIONS,
    MODELS,
    build_model,
    model_config,
    rebuild_model,
    register_model,
)

__all__ = ["ACTIVATIONS", "MODELS", "build_model", "model_config", "rebuild_model", "register_model"]
