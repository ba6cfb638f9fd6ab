"""Where a report's model comes from: a run directory, or a bare checkpoint with its model config.

A run (ARCHITECTURE.md, "Storage") holds the model config, the data set and the training loss in its
manifest; :func:`stablecore.workflows.load_model` rebuilds the model. A bare checkpoint is either a
Trainer checkpoint (``{"model": state_dict, ...}``) or a plain ``state_dict``, loaded with
``weights_only=True``; its model config is a JSON file holding the model config itself (``{"name": ...}``),
a run config (``{"model": {...}, "dataset": ..., "loss": {...}}``) or a run manifest
(``{"config": {...}}``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stablecore.data import DatasetBundle, load_dataset

__all__ = ["ReportInputs", "inputs_from_checkpoint", "inputs_from_run"]


@dataclass(frozen=True)
class ReportInputs:
    """A model (eval mode), its data set, its training loss (and the loss's config), and where it came
    from: what :func:`~stablecore.report.build_report` needs."""

    model: nn.Module
    data: DatasetBundle
    loss_fn: nn.Module
    loss: dict[str, Any]
    source: str


def _data_and_loss(
    config: Mapping[str, Any], dataset: str | None, where: str
) -> tuple[DatasetBundle, Any, dict]:
    from stablecore.train import build_loss

    name = dataset or config.get("dataset")
    if not name:
        raise ValueError(f"{where} names no data set; pass dataset (--dataset NAME)")
    kwargs = dict(config.get("data_kwargs") or {}) if not dataset or dataset == config.get("dataset") else {}
    data = load_dataset(str(name), **kwargs)
    loss = dict(config.get("loss") or {"name": "ce"})
    params = {k: v for k, v in loss.items() if k != "name"}
    return data, build_loss(str(loss.get("name", "ce")), **params), loss


def inputs_from_run(
    run: str | os.PathLike,
    *,
    checkpoint: str = "last.pt",
    dataset: str | None = None,
    device: str | torch.device | None = "cpu",
) -> ReportInputs:
    """The model of a run (its ``checkpoint``), the run's data set (or ``dataset``) and training loss."""
    from stablecore.results import open_run
    from stablecore.workflows import load_model

    path = Path(run)
    if not path.is_dir():
        raise FileNotFoundError(f"run {str(run)!r} is not a directory")
    config = open_run(path).manifest.get("config", {})
    model = load_model(path, checkpoint=checkpoint, device=device)
    data, loss_fn, loss = _data_and_loss(config, dataset, f"the manifest of {path}")
    return ReportInputs(model, data, loss_fn, loss, f"run {path} ({checkpoint})")


def _read_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, run config) from a JSON file (module docstring for the accepted layouts)."""
    if not path.is_file():
        raise FileNotFoundError(f"model config {str(path)!r} does not exist")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"model config {str(path)!r} is not valid JSON: {exc}") from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("config"), Mapping):
        obj = obj["config"]
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        return dict(obj["model"]), dict(obj)
    if isinstance(obj, Mapping) and "name" in obj:
        return dict(obj), {}
    raise ValueError(
        f"model config {str(path)!r} must hold a model config ({{'name': ...}}), a run config "
        "({'model': {...}}) or a run manifest ({'config': {...}})"
    )


def inputs_from_checkpoint(
    checkpoint: str | os.PathLike,
    model_config: str | os.PathLike,
    *,
    dataset: str | None = None,
    device: str | torch.device | None = "cpu",
) -> ReportInputs:
    """A bare checkpoint rebuilt from ``model_config`` (a JSON file), on ``dataset`` (required unless the
    config file names one)."""
    from stablecore.models import rebuild_model
    from stablecore.workflows import resolve_device

    ckpt = Path(checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(f"checkpoint {str(ckpt)!r} does not exist")
    model_cfg, run_cfg = _read_config(Path(model_config))
    data, loss_fn, loss = _data_and_loss(run_cfg, dataset, f"model config {str(model_config)!r}")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise ValueError(f"checkpoint {str(ckpt)!r} cannot be loaded with weights_only=True: {exc}") from exc
    if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {str(ckpt)!r} holds no state_dict")
    model = rebuild_model(model_cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ValueError(f"checkpoint {str(ckpt)!r} does not fit the model config: {first}") from exc
    return ReportInputs(model.to(resolve_device(device)).eval(), data, loss_fn, loss, f"checkpoint {ckpt}")
