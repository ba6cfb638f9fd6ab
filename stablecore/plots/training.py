"""Figures of training: loss and accuracy per epoch, and the outcome of Lipschitz-penalised training
(accuracy, the network's upper bound and empirical lower bound per penalty strength)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stablecore.plots._common import TEMPLATE, require

__all__ = ["regularization_plot", "training_curves"]


def training_curves(
    history: pd.DataFrame, *, metrics: Sequence[str] | None = None, title: str = "Training"
) -> go.Figure:
    """Loss (left) and accuracy (right) per epoch from a Trainer history / ``metrics`` table.

    Args:
        history: one row per epoch with an ``epoch`` column and ``*_loss`` / ``*_accuracy`` columns.
        metrics: columns to draw (default: every ``*_loss`` and ``*_accuracy`` column present).
        title: figure title.
    """
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    if "epoch" not in history.columns:
        raise ValueError("history must have an 'epoch' column")
    if metrics is None:
        metrics = [c for c in history.columns if c.endswith("_loss") or c.endswith("_accuracy")]
    missing = [m for m in metrics if m not in history.columns]
    if missing:
        raise ValueError(f"metrics not in history: {missing}; available: {list(history.columns)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"))
    for name in metrics:
        col = 2 if name.endswith("accuracy") else 1
        fig.add_trace(
            go.Scatter(x=history["epoch"], y=history[name], mode="lines+markers", name=name), row=1, col=col
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE, legend_title_text="metric")
    return fig


def regularization_plot(df: pd.DataFrame, *, title: str = "Lipschitz penalty strength r") -> go.Figure:
    """Left: test accuracy per penalty strength ``r``; right: the network's upper bound and empirical lower
    bound per ``r`` (log axis); three traces, ``r`` as categories (``r = 0`` is the baseline).

    Args:
        df: :func:`~stablecore.chapters.ch02_gram_iteration.lipschitz_regularized_training` output
            (columns ``r, test_accuracy, bound, lower_bound``).
        title: figure title.
    """
    require(df, ("r", "test_accuracy", "bound", "lower_bound"))
    x = [f"r={r:g}" for r in df["r"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy", "Lipschitz constant"))
    fig.add_trace(go.Bar(x=x, y=df["test_accuracy"], name="test accuracy"), row=1, col=1)
    fig.add_trace(
        go.Scatter(x=x, y=df["bound"], mode="lines+markers", name="upper bound (Gram)"), row=1, col=2
    )
    fig.add_trace(
        go.Scatter(x=x, y=df["lower_bound"], mode="lines+markers", name="lower bound (max ‖J‖)"), row=1, col=2
    )
    fig.update_yaxes(range=[0, 1.02], row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(title=title, template=TEMPLATE)
    return fig
