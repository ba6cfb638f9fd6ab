"""End-to-end workflows shared by the CLI, the notebooks and the dashboard.

:func:`train_classifier` = data set + model + :class:`~stablecore.train.Trainer` + run store;
:func:`load_model` rebuilds a trained model from a run directory (its config is in the manifest
and in the checkpoint; the checkpoint is loaded with ``weights_only=True``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from stablecore.data import DatasetBundle, load_dataset
from stablecore.models import build_model, model_config, rebuild_model
from stablecore.results import Run, create_run, load_run, open_run
from stablecore.train import TrainConfig, Trainer, build_loss, current_mode, evaluate

__all__ = ["TrainResult", "load_model", "resolve_device", "train_classifier"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``"auto"`` -> CUDA when available else CPU; anything else must be a valid device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    return resolved


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` produced (``run`` is None on DDP replicas other than rank 0)."""

    run: Run | None
    model: nn.Module
    data: DatasetBundle
    history: pd.DataFrame
    test: dict[str, float]
    seconds: float

    def summary(self) -> pd.DataFrame:
        """A one-row table: data set, model, epochs, accuracies, time, run path."""
        last = self.history.iloc[-1]
        return pd.DataFrame(
            [
                {
                    "dataset": self.data.name,
                    "model": model_config(self.model)["name"],
                    "parameters": sum(p.numel() for p in self.model.parameters()),
                    "epochs": int(last["epoch"]),
                    "train_accuracy": float(last["train_accuracy"]),
                    "test_accuracy": self.test["accuracy"],
                    "test_loss": self.test["loss"],
                    "seconds": round(self.seconds, 2),
                    "run": str(self.run.path),
                }
            ]
        )


def train_classifier(
    dataset: str = "moons",
    model: str = "mlp",
    *,
    epochs: int | None = None,
    mode: str | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    loss: str = "ce",
    loss_kwargs: Mapping[str, float] | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    home: str | os.PathLike | None = None,
    progress: bool = True,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Train ``model`` on ``dataset`` and store everything in a new run.

    ``trainer_kwargs`` go to :class:`~stablecore.train.Trainer` (``penalties``, ``step``,
    ``callbacks``, ``transform``, ``distributed``; under DDP only rank 0 creates and writes the run).
    The model's standardisation (``Normalize``) is taken from the data set's train mean/std unless
    ``model_kwargs`` sets ``mean``/``std``.
    """
    mode = current_mode(mode)
    torch_device = resolve_device(device)
    data = load_dataset(dataset, **dict(data_kwargs or {}))
    kwargs = {
        "input_shape": data.input_shape,
        "num_classes": data.num_classes,
        "mean": data.mean,
        "std": data.std,
        "seed": seed,
    }
    kwargs.update(model_kwargs or {})
    net = build_model(model, **kwargs).to(torch_device)
    overrides = dict(train_kwargs or {})
    if epochs is not None:
        overrides["epochs"] = epochs
    config = TrainConfig.preset(mode, **overrides)
    criterion = build_loss(loss, **dict(loss_kwargs or {}))
    ddp = trainer_kwargs.get("distributed")
    run = (
        None
        if ddp is not None and not ddp.is_main
        else create_run(
            experiment or f"train-{dataset}-{model}",
            {
                "dataset": dataset,
                "data_kwargs": dict(data_kwargs or {}),
                "model": model_config(net),
                "train": config.to_dict(),
                "loss": {"name": loss, **dict(loss_kwargs or {})},
            },
            seed=seed,
            mode=mode,
            device=str(torch_device),
            home=home,
        )
    )
    start = time.perf_counter()
    trainer = Trainer(
        net,
        criterion,
        train_data=data.train,
        test_data=data.test,
        config=config,
        run=run,
        model_config=model_config(net),
        seed=seed,
        progress=progress,
        **trainer_kwargs,
    )
    history = trainer.fit()
    test = evaluate(net, data.test, criterion, batch_size=config.eval_batch_size)
    seconds = time.perf_counter() - start
    if run is not None:
        run.update_manifest(test_accuracy=test["accuracy"], test_loss=test["loss"], seconds=seconds)
    return TrainResult(run=run, model=net, data=data, history=history, test=test, seconds=seconds)


def load_model(
    run: str | os.PathLike | Run, *, checkpoint: str = "last.pt", device: str | torch.device | None = "cpu"
) -> nn.Module:
    """Rebuild the model of a run and load its checkpoint (``weights_only=True``), in eval mode."""
    path = run.path if isinstance(run, Run) else Path(run)
    handle = open_run(path)
    ckpt = handle.checkpoint_path(checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(f"run {path} has no checkpoint {checkpoint!r} (looked for {ckpt})")
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    config = state.get("model_config") or load_run(path, tables=False).config.get("model")
    if not config:
        raise ValueError(f"run {path} does not record its model config; cannot rebuild the model")
    model = rebuild_model(config)
    model.load_state_dict(state["model"])
    return model.to(resolve_device(device)).eval()
