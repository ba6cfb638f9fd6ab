"""Scaffolding shared by the chapter modules: config and seed checks, thread limits, the experiment
decorator.

Every chapter experiment has the signature ``fn(cfg=None, *, seed=0, **kwargs) -> DataFrame``:
:func:`experiment` resolves ``cfg`` (``None`` → the chapter config's ``for_mode()``, i.e.
``STABLECORE_MODE``), checks ``seed`` and runs ``fn`` under ``cfg.num_threads`` CPU threads.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pandas as pd
import torch

__all__ = [
    "COMPARISON_COLUMNS",
    "check_results",
    "check_seed",
    "comparison_table",
    "experiment",
    "resolve_config",
    "threads",
]

C = TypeVar("C")


def check_seed(seed: Any) -> int:
    """``seed`` itself if it is an int (not a bool), else TypeError."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed


def resolve_config(cfg: C | None, config_cls: type[C]) -> C:
    """``cfg``, or ``config_cls.for_mode()`` when None; TypeError for anything else."""
    if cfg is None:
        return config_cls.for_mode()  # type: ignore[attr-defined]
    if not isinstance(cfg, config_cls):
        raise TypeError(f"cfg must be a {config_cls.__name__} or None, got {type(cfg).__name__}")
    return cfg


@contextlib.contextmanager
def threads(n: int | None, *, blas: bool = False) -> Iterator[None]:
    """Set torch's CPU thread count (and with ``blas``, the BLAS libraries' through threadpoolctl) for the
    duration of a block; ``None`` leaves them.

    Limiting OpenBLAS matters for the Lanczos chapters: on the 2-core CPU, numpy's ``eigh`` of a small
    tridiagonal took 30 ms per call with two OpenBLAS threads competing with torch, 10× the single-thread
    time.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        if blas:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=n):
                yield
        else:
            yield
    finally:
        torch.set_num_threads(old)


def experiment(
    config_cls: type, *, blas: bool = False
) -> Callable[[Callable[..., pd.DataFrame]], Callable[..., pd.DataFrame]]:
    """Decorator of a chapter experiment ``fn(cfg, *, seed, **kwargs)``: validates ``cfg`` (an instance
    of ``config_cls`` or None) and ``seed``, and runs ``fn`` under :func:`threads` ``(cfg.num_threads)``."""

    def decorate(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        @functools.wraps(fn)
        def wrapper(cfg: Any = None, *, seed: int = 0, **kwargs: Any) -> pd.DataFrame:
            cfg = resolve_config(cfg, config_cls)
            with threads(cfg.num_threads, blas=blas):
                return fn(cfg, seed=check_seed(seed), **kwargs)

        return wrapper

    return decorate


#: Columns of every chapter's ``reported_comparison``.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "id", "quantity", "unit", "status", "reported", "measured", "measured_by", "comparison", "note",
)  # fmt: skip

#: ``measure(results, reported_id) -> (value or None, measured_by, note)``.
Measure = Callable[[Mapping[str, pd.DataFrame], str], tuple[float | None, str, str]]


def check_results(results: Any, experiments: Mapping[str, Any]) -> Mapping[str, pd.DataFrame]:
    """``results`` if it maps names of ``experiments`` to DataFrames; TypeError/ValueError otherwise."""
    if not isinstance(results, Mapping):
        raise TypeError(
            f"results must be a mapping of experiment name -> DataFrame, got {type(results).__name__}"
        )
    unknown = set(results) - set(experiments)
    if unknown:
        raise ValueError(
            f"unknown experiment names {sorted(unknown)}; expected keys of {sorted(experiments)}"
        )
    for name, frame in results.items():
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"results[{name!r}] must be a DataFrame, got {type(frame).__name__}")
    return results


def comparison_table(
    chapter: int, experiments: Mapping[str, Any], results: Any, measure: Measure
) -> pd.DataFrame:
    """One row per reported number of ``chapter`` (:data:`COMPARISON_COLUMNS`): the thesis's value beside
    ``measure``'s. ``comparison`` is ``"not transcribed"`` where THESIS.md gives no value (``measured``
    still shows ours), else ``"measured"`` or ``"not measured"``."""
    from stablecore.chapters.reported import reported_numbers

    results = check_results(results, experiments)
    rows = []
    for rep in reported_numbers(chapter).itertuples(index=False):
        measured, by, note = measure(results, rep.id)
        if rep.status == "not transcribed":
            comparison = "not transcribed"
        else:
            comparison = "measured" if measured is not None else "not measured"
        rows.append(
            {
                "id": rep.id,
                "quantity": rep.quantity,
                "unit": rep.unit,
                "status": rep.status,
                "reported": rep.value,
                "measured": math.nan if measured is None else measured,
                "measured_by": by,
                "comparison": comparison,
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
