r"""Loss landscapes and Hessian summaries of a stored run, small enough to compute live.

The loss is the run's training loss (its manifest's ``loss``) on the first ``samples`` examples of the
run's data set (as ``stablecore landscape`` / ``stablecore hessian`` do), the model in eval mode:

* landscapes :math:`\alpha\mapsto\mathcal L(\theta+\alpha\delta)` and
  :math:`(\alpha,\beta)\mapsto\mathcal L(\theta+\alpha\delta+\beta\eta)` along filter-normalised random
  directions (Li et al. 2018; :func:`stablecore.landscape.slice_1d` / :func:`~stablecore.landscape.slice_2d`);
* the top-k Hessian eigenvalues (Lanczos), the Hutchinson trace
  :math:`\operatorname{tr}H\approx\frac1m\sum_i v_i^\top H v_i` and the SLQ spectral density
  (:mod:`stablecore.curvature`), all ``estimate``\ s;
* λ_max at every stored checkpoint (``epoch-<e>.pt``, ``last.pt``), i.e. along training.

:func:`hessian_frame` lays these out as the table :func:`stablecore.plots.hessian_spectrum_plot` draws.
Tables that ``stablecore landscape`` / ``stablecore hessian`` stored in the run are read back by
:func:`stored_landscape` and :func:`stored_hessian`.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from stablecore.landscape import Landscape
from stablecore.results import load_run, read_table, table_names

__all__ = [
    "RunData",
    "checkpoint_epochs",
    "hessian_frame",
    "hessian_summary",
    "hessian_table",
    "landscape",
    "run_data",
    "sharpness_along_training",
    "stored_hessian",
    "stored_landscape",
]

_EPOCH = re.compile(r"^epoch-(\d+)\.pt$")


@dataclass(frozen=True)
class RunData:
    """The training batch and loss of a run: ``x``, ``y`` (first ``n`` examples, in order), ``loss_fn``
    and the loss config from the manifest."""

    x: torch.Tensor
    y: torch.Tensor
    loss_fn: nn.Module
    loss: dict[str, Any]

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x, self.y


def run_data(run_path: str | os.PathLike, *, samples: int = 256, split: str = "train") -> RunData:
    """The first ``samples`` examples of the run's data set (``split``) and its training loss.

    Raises:
        ValueError: the manifest names no data set, or bad ``samples`` / ``split``.
    """
    from stablecore.data import load_dataset
    from stablecore.train import build_loss

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be an int >= 1, got {samples!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    config = load_run(run_path, tables=False).config
    if "dataset" not in config:
        raise ValueError(f"the manifest of {run_path} names no dataset")
    bundle = load_dataset(config["dataset"], **dict(config.get("data_kwargs") or {}))
    data = bundle.train if split == "train" else bundle.test
    n = min(samples, len(data))
    xs, ys = zip(*(data[i] for i in range(n)))
    loss = dict(config.get("loss") or {"name": "ce"})
    kwargs = {k: v for k, v in loss.items() if k != "name"}
    return RunData(
        torch.stack(xs), torch.as_tensor([int(v) for v in ys]), build_loss(loss["name"], **kwargs), loss
    )


def landscape(
    model: nn.Module,
    data: RunData,
    *,
    dims: int = 1,
    steps: int = 41,
    span: tuple[float, float] = (-1.0, 1.0),
    seed: int = 0,
    normalization: str = "filter",
) -> Landscape:
    """A 1-D or 2-D slice of the run's loss (module docstring); the model is never modified."""
    from stablecore.landscape import slice_1d, slice_2d

    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims!r}")
    fn = slice_1d if dims == 1 else slice_2d
    return fn(
        model, data.loss_fn, data.batch, span=tuple(span), steps=steps, normalization=normalization,
        seed=seed, progress=False,
    )  # fmt: skip


def hessian_summary(
    model: nn.Module,
    data: RunData,
    *,
    k: int = 3,
    trace_samples: int = 20,
    lanczos_steps: int = 40,
    density_runs: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Top-``k`` (``LA``) and bottom-``k`` (``SA``) eigenvalues, Hutchinson trace and SLQ density.

    Returns:
        ``{"top": EigenResult, "bottom": EigenResult, "trace": TraceEstimate, "density": SpectralDensity}``
        (every value an ``estimate``).
    """
    from stablecore.curvature import hessian_density, hessian_eigenvalues, hessian_trace

    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    k = max(1, min(int(k), n_params))
    top = hessian_eigenvalues(model, data.loss_fn, data.batch, k=k, which="LA", seed=seed)
    bottom = hessian_eigenvalues(model, data.loss_fn, data.batch, k=k, which="SA", seed=seed)
    trace = hessian_trace(model, data.loss_fn, data.batch, num_samples=trace_samples, seed=seed)
    density = hessian_density(
        model,
        data.loss_fn,
        data.batch,
        lanczos_steps=min(lanczos_steps, n_params),
        num_runs=density_runs,
        seed=seed,
    )
    return {"top": top, "bottom": bottom, "trace": trace, "density": density}


def checkpoint_epochs(run_path: str | os.PathLike) -> list[tuple[int, str]]:
    """``(epoch, checkpoint name)`` of the run's ``epoch-<e>.pt`` checkpoints, by epoch, then
    ``last.pt`` at the run's final epoch (when it is not already listed)."""
    folder = Path(run_path) / "checkpoints"
    if not folder.is_dir():
        return []
    out = sorted((int(m.group(1)), p.name) for p in folder.iterdir() if (m := _EPOCH.match(p.name)))
    if (folder / "last.pt").is_file():
        try:
            manifest = load_run(run_path, tables=False).manifest
            last = int(
                manifest.get("epochs_done") or manifest.get("config", {}).get("train", {}).get("epochs")
            )
        except (OSError, ValueError, TypeError):
            last = None
        if last is not None and all(e != last for e, _ in out):
            out.append((last, "last.pt"))
    return out


def sharpness_along_training(
    run_path: str | os.PathLike, data: RunData, *, seed: int = 0, max_checkpoints: int = 6
) -> pd.DataFrame:
    """λ_max (Lanczos, ``estimate``) of the loss at each checkpoint of :func:`checkpoint_epochs` (at most
    ``max_checkpoints``, evenly picked): columns ``epoch, checkpoint, lambda_max``."""
    from stablecore.curvature import hessian_eigenvalues
    from stablecore.workflows import load_model

    found = checkpoint_epochs(run_path)
    if len(found) > max_checkpoints:
        pick = np.unique(np.linspace(0, len(found) - 1, max_checkpoints).round().astype(int))
        found = [found[i] for i in pick]
    rows = []
    for epoch, name in found:
        model = load_model(run_path, checkpoint=name, device="cpu")
        top = hessian_eigenvalues(model, data.loss_fn, data.batch, k=1, which="LA", seed=seed)
        rows.append({"epoch": epoch, "checkpoint": name, "lambda_max": float(top.eigenvalues[0])})
    return pd.DataFrame(rows, columns=["epoch", "checkpoint", "lambda_max"])


def hessian_frame(summary: dict[str, Any], along: pd.DataFrame | None = None) -> pd.DataFrame:
    """The table of :func:`stablecore.plots.hessian_spectrum_plot` (columns ``stage, epoch, quantity,
    which, rank, x, value, stderr``) from a :func:`hessian_summary` result (stage ``trained``) and an
    optional :func:`sharpness_along_training` table (stage ``training``)."""
    rows: list[dict[str, Any]] = []
    nan = math.nan
    dens = summary["density"]
    for x, v in zip(dens.grid, dens.density):
        rows.append(
            dict(
                stage="trained",
                epoch=nan,
                quantity="density",
                which="",
                rank=nan,
                x=float(x),
                value=float(v),
                stderr=nan,
            )
        )
    for key, which in (("top", "LA"), ("bottom", "SA")):
        for r, v in enumerate(summary[key].eigenvalues, start=1):
            rows.append(
                dict(
                    stage="trained",
                    epoch=nan,
                    quantity="eigenvalue",
                    which=which,
                    rank=r,
                    x=nan,
                    value=float(v),
                    stderr=nan,
                )
            )
    if along is not None:
        for _, row in along.iterrows():
            rows.append(
                dict(
                    stage="training",
                    epoch=float(row["epoch"]),
                    quantity="lambda_max",
                    which="LA",
                    rank=1,
                    x=nan,
                    value=float(row["lambda_max"]),
                    stderr=nan,
                )
            )
    return pd.DataFrame(rows, columns=["stage", "epoch", "quantity", "which", "rank", "x", "value", "stderr"])


def hessian_table(summaries: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per labelled :func:`hessian_summary`: ``run, lambda_max, lambda_min, trace, trace_stderr,
    kind`` (every value an ``estimate``), to compare runs side by side."""
    if not isinstance(summaries, dict) or not summaries:
        raise ValueError("summaries must be a non-empty dict {label: hessian_summary(...)}")
    rows = [
        {
            "run": str(label),
            "lambda_max": float(s["top"].eigenvalues[0]),
            "lambda_min": float(s["bottom"].eigenvalues[0]),
            "trace": float(s["trace"].mean),
            "trace_stderr": float(s["trace"].stderr),
            "kind": "estimate",
        }
        for label, s in summaries.items()
    ]
    return pd.DataFrame(rows)


def stored_landscape(run_path: str | os.PathLike, dims: int) -> Landscape | None:
    """The run's ``landscape-<dims>d`` table (written by ``stablecore landscape``) as a
    :class:`~stablecore.landscape.Landscape`, or None when the run has none or it cannot be read."""
    from stablecore.landscape import as_landscape

    name = f"landscape-{int(dims)}d"
    if name not in table_names(run_path):
        return None
    try:
        return as_landscape(read_table(run_path, name))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stored_hessian(run_path: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The Hessian tables ``stablecore hessian`` stored in the run (``hessian-topk``, ``hessian-trace``,
    ``hessian-density``), those present and readable."""
    out = {}
    for name in ("hessian-topk", "hessian-trace", "hessian-density"):
        if name in table_names(run_path):
            try:
                out[name] = read_table(run_path, name)
            except (OSError, ValueError):
                continue
    return out
