"""What every figure shares: one colour palette (and its light fills for class regions), the colours of the
bound kinds, the plotly theme, and the check of a figure's input table."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

TEMPLATE = "plotly_white"

# tab10 colours (blue and red first); FILLS[i] is a light tint of COLORS[i], for class regions
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f")
FILLS = ("#c6dbef", "#fcbba1", "#c7e9c0", "#dadaeb", "#fdd0a2", "#d9c2b8", "#f7c8e4", "#d9d9d9")

# the honest kinds of a number (exact, upper / lower bound, estimate), the same colour in every figure
KIND_COLORS = {"exact": COLORS[2], "upper_bound": COLORS[0], "lower_bound": COLORS[1], "estimate": COLORS[7]}


def palette_color(i: int) -> str:
    """The ``i``-th colour of the palette, cycling."""
    return COLORS[int(i) % len(COLORS)]


def require(frame: pd.DataFrame, columns: Sequence[str], name: str = "df") -> None:
    """Raise ``TypeError`` unless ``frame`` is a DataFrame and ``ValueError`` naming missing columns, or
    when it is empty."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{name} is empty")
