"""Training: Trainer with extension points, losses, configs, DDP under torchrun."""

from stablecore.train.config import MODES, TrainConfig, build_optimizer, current_mode
from stablecore.train.distributed import (
    DistributedContext,
    destroy_distributed,
    distributed_session,
    init_distributed,
)
from stablecore.train.evaluate import eval_mode, evaluate, model_device
from stablecore.train.extensions import GaussianNoise, StandardStep, StepOutput
from stablecore.train.losses import CrossEntropy, HKRLoss, MultiMarginHinge, OffsetCrossEntropy, build_loss
from stablecore.train.trainer import NonFiniteLossError, Trainer, epoch_seed

__all__ = [
    "MODES",
    "CrossEntropy",
    "DistributedContext",
    "GaussianNoise",
    "HKRLoss",
    "MultiMarginHinge",
    "NonFiniteLossError",
    "OffsetCrossEntropy",
    "StandardStep",
    "StepOutput",
    "TrainConfig",
    "Trainer",
    "build_loss",
    "build_optimizer",
    "current_mode",
    "destroy_distributed",
    "distributed_session",
    "epoch_seed",
    "eval_mode",
    "evaluate",
    "init_distributed",
    "model_device",
]
