"""Checks every table-driven figure must pass (shared by the topic test modules)."""

from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
import pytest


def check_trace_count(fn: Callable, make: Callable[[], pd.DataFrame], traces: int) -> None:
    """``fn(make())`` is a figure with ``traces`` traces and leaves its input untouched."""
    frame = make()
    copy = frame.copy()
    fig = fn(frame)
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == traces
    pd.testing.assert_frame_equal(frame, copy)  # input untouched


def check_table_refusals(fn: Callable, make: Callable[[], pd.DataFrame]) -> None:
    """``fn`` refuses a table without its last column, a non-DataFrame and an empty table."""
    frame = make()
    dropped = frame.columns[-1]
    with pytest.raises(ValueError, match=f"missing columns.*{dropped}"):
        fn(frame.drop(columns=[dropped]))
    with pytest.raises(TypeError, match="DataFrame"):
        fn(frame.to_dict())
    with pytest.raises(ValueError, match="empty"):
        fn(frame.iloc[0:0])
