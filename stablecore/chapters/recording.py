"""Recording chapter experiments into an active ``stablecore reproduce`` run.

``stablecore reproduce`` starts each chapter notebook's kernel with the environment variable
``STABLECORE_RECORD=<run directory>:<chapter>`` (:data:`RECORD_ENV`). While it is set, every *top-level*
call (one not made inside another experiment) of an experiment of that chapter (a name in the chapter
module's ``EXPERIMENTS``) that returns a DataFrame is counted, and the first such call per experiment,
the notebook's result, is written at once to ``<run>/tables/chNN.<experiment>.parquet`` (or, when
Parquet refuses the frame, pickled to ``<run>/objects/chNN.<experiment>.pkl``); the call counts go to
``<run>/kernels/chNN.json``. All writes are atomic (:mod:`stablecore.results`), so an experiment
finished before a failing cell still counts. Unset, nothing is recorded and nothing is written.

:func:`stablecore.chapters.common.experiment` calls :func:`top_level` around every experiment.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from stablecore.results import atomic_write_bytes, atomic_write_json, atomic_write_parquet

__all__ = ["RECORD_ENV", "active_record", "record_env", "top_level"]

RECORD_ENV = "STABLECORE_RECORD"

_DEPTH = [0]  # experiments running in this process (nested calls are not recorded)
_CALLS: dict[str, int] = {}  # top-level calls per experiment name of the active chapter
_KEPT: set[str] = set()  # experiments whose first top-level result is written


def record_env(run_path: str | os.PathLike, chapter: int) -> dict[str, str]:
    """The environment entry that makes a kernel record ``chapter``'s experiments into ``run_path``."""
    return {RECORD_ENV: f"{Path(run_path)}:{int(chapter)}"}


def active_record() -> tuple[Path, int] | None:
    """``(run directory, chapter)`` from :data:`RECORD_ENV`, or ``None`` when it is unset or empty.

    Raises:
        ValueError: the variable is set but not ``<path>:<chapter number>``.
    """
    value = os.environ.get(RECORD_ENV, "")
    if not value:
        return None
    path, sep, chapter = value.rpartition(":")
    if not (sep and path and chapter.isdigit()):
        raise ValueError(f"{RECORD_ENV} must be '<run path>:<chapter>', got {value!r}")
    return Path(path), int(chapter)


def _keep(run: Path, chapter: int, name: str, out: pd.DataFrame) -> None:
    _CALLS[name] = _CALLS.get(name, 0) + 1
    if name not in _KEPT:  # the first top-level call is the notebook's result
        stem = f"ch{chapter:02d}.{name}"
        try:
            atomic_write_parquet(run / "tables" / f"{stem}.parquet", out)
        except Exception:  # e.g. mixed object columns pyarrow cannot type
            atomic_write_bytes(run / "objects" / f"{stem}.pkl", pickle.dumps(out))
        _KEPT.add(name)
    atomic_write_json(run / "kernels" / f"ch{chapter:02d}.json", {"calls": dict(_CALLS)})


@contextlib.contextmanager
def top_level(fn: Callable[..., Any]) -> Iterator[Callable[[Any], None]]:
    """Run an experiment call in this block; the yielded ``keep(result)`` records ``result`` when the call
    is top-level, recording is active (:func:`active_record`), ``fn`` is an experiment of the active
    chapter and ``result`` is a DataFrame; otherwise it does nothing."""
    _DEPTH[0] += 1
    outermost = _DEPTH[0] == 1

    def keep(result: Any) -> None:
        target = active_record() if outermost else None
        if target is None or not isinstance(result, pd.DataFrame):
            return
        module = sys.modules.get(fn.__module__)
        name = fn.__name__
        if getattr(module, "CHAPTER", None) == target[1] and name in getattr(module, "EXPERIMENTS", {}):
            _keep(target[0], target[1], name, result)

    try:
        yield keep
    finally:
        _DEPTH[0] -= 1
