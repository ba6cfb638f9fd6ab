"""Timing and reporting helpers for the benchmarks.

Timings are medians over repeats after warm-up (``time.perf_counter``); ratios are only
meaningful between rows of one run on one machine, which is what each result file records.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from stablecore.results import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def median_time(fn: Callable[[], Any], *, repeats: int = 20, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            cells.append(f"{v:.4g}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_results(name: str, frame: pd.DataFrame, *, notes: str = "", meta: dict | None = None) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` atomically; return the Markdown path."""
    info = {
        "benchmark": name,
        "machine": machine(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        **(meta or {}),
    }
    atomic_write_json(RESULTS / f"{name}.json", {**info, "rows": json.loads(frame.to_json(orient="records"))})
    header = (
        f"# {name}\n\nMachine: {info['machine']['processor']}, {info['machine']['threads']} threads, "
        f"torch {info['machine']['torch']}, CUDA: {info['machine']['cuda']}. Run: {info['time']}.\n\n"
    )
    md = RESULTS / f"{name}.md"
    atomic_write_text(md, header + to_markdown(frame) + ("\n\n" + notes if notes else "") + "\n")
    return md


@contextlib.contextmanager
def results_dir(path: str | os.PathLike | None) -> Iterator[None]:
    """Write results into ``path`` instead of ``benchmarks/results`` for the duration of a block (quick
    runs and tests must not overwrite the record); ``None`` leaves the default."""
    global RESULTS
    if path is None:
        yield
        return
    saved = RESULTS
    RESULTS = Path(path)
    try:
        yield
    finally:
        RESULTS = saved
