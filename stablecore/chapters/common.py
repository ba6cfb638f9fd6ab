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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd
import torch

from stablecore.train import current_mode

__all__ = [
    "COMPARISON_COLUMNS",
    "Compared",
    "ModeConfig",
    "cell",
    "check_results",
    "check_seed",
    "compared_ids",
    "comparison_table",
    "difference",
    "experiment",
    "resolve_config",
    "threads",
]

C = TypeVar("C")
M = TypeVar("M", bound="ModeConfig")


class ModeConfig:
    """Base of the chapter configs (frozen dataclasses): each chapter's :meth:`quick` and :meth:`full`
    hold its sizes for the two modes of ``STABLECORE_MODE``; :meth:`for_mode` picks one."""

    @classmethod
    def quick(cls: type[M], **overrides: Any) -> M:
        """CPU sizes (``STABLECORE_MODE=quick``); every chapter defines its own."""
        raise NotImplementedError(f"{cls.__name__} must define quick()")

    @classmethod
    def full(cls: type[M], **overrides: Any) -> M:
        """Thesis sizes (``STABLECORE_MODE=full``); every chapter defines its own."""
        raise NotImplementedError(f"{cls.__name__} must define full()")

    @classmethod
    def for_mode(cls: type[M], mode: str | None = None, **overrides: Any) -> M:
        """:meth:`quick` or :meth:`full` for ``mode`` (default ``$STABLECORE_MODE``, else quick)."""
        return cls.full(**overrides) if current_mode(mode) == "full" else cls.quick(**overrides)


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
    of ``config_cls`` or None) and ``seed``, and runs ``fn`` under :func:`threads` ``(cfg.num_threads)``.

    Inside a ``stablecore reproduce`` kernel (``STABLECORE_RECORD`` set) the result of a top-level call is
    also stored in the reproduction (:mod:`stablecore.chapters.recording`)."""
    from stablecore.chapters.recording import top_level

    def decorate(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        @functools.wraps(fn)
        def wrapper(cfg: Any = None, *, seed: int = 0, **kwargs: Any) -> pd.DataFrame:
            with top_level(fn) as keep:
                cfg = resolve_config(cfg, config_cls)
                with threads(cfg.num_threads, blas=blas):
                    out = fn(cfg, seed=check_seed(seed), **kwargs)
                keep(out)
                return out

        return wrapper

    return decorate


#: Columns of every chapter's ``reported_comparison``.
COMPARISON_COLUMNS: tuple[str, ...] = (
    "id", "quantity", "unit", "status", "reported", "measured", "measured_by", "comparison", "note",
)  # fmt: skip

#: ``measure(results, reported_id) -> (value or None, measured_by, note)``.
Measure = Callable[[Mapping[str, pd.DataFrame], str], tuple[float | None, str, str]]

#: ``value(results) -> float``, ``(float, note)`` (a note computed from the table) or None (not measured).
Getter = Callable[[Mapping[str, pd.DataFrame]], "float | tuple[float, str] | None"]


@dataclass(frozen=True)
class Compared:
    """A declarative comparison: reported number ``id`` is measured by ``experiment``'s table, read by
    ``value`` (e.g. :func:`cell`, :func:`difference`).

    ``note`` says how ours was obtained; ``missing`` replaces ``"not in this configuration (note)"`` when
    the experiment ran without this value; ``not_run`` replaces ``"<experiment> was not run"``.
    """

    id: str
    experiment: str
    value: Getter
    note: str = ""
    missing: str | None = None
    not_run: str | None = None

    def explain(self, results: Mapping[str, pd.DataFrame]) -> str:
        """Why ``value`` gave nothing on ``results``."""
        if self.experiment not in results:
            return self.not_run if self.not_run is not None else f"{self.experiment} was not run"
        if self.missing is not None:
            return self.missing
        return f"not in this configuration ({self.note})" if self.note else "not in this configuration"


def cell(experiment: str, row_id: str, column: str, scale: float = 1.0) -> Getter:
    """``scale × experiment[id == row_id, column]`` (None when the table, row, column or value is missing)."""

    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        frame = results.get(experiment)
        if frame is None or "id" not in frame.columns or column not in frame.columns:
            return None
        hit = frame.loc[frame["id"] == row_id, column]
        if hit.empty or pd.isna(hit.iloc[0]):
            return None
        return float(hit.iloc[0]) * scale

    return get


def difference(a: Getter, b: Getter) -> Getter:
    """``a − b`` of two plain getters (None when either is)."""

    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        x, y = a(results), b(results)
        return None if x is None or y is None else x - y  # type: ignore[operator]

    return get


def compared_ids(
    chapter: int, experiments: Mapping[str, Any], specs: Sequence[Compared], experiment: str | None = None
) -> list[str]:
    """Ids of ``chapter``'s reported numbers that ``specs`` measure (all, or ``experiment``'s), in
    :func:`~stablecore.chapters.reported_numbers` order."""
    from stablecore.chapters.reported import reported_numbers

    if experiment is not None and experiment not in experiments:
        raise ValueError(f"experiment must be None or one of {sorted(experiments)}, got {experiment!r}")
    wanted = {s.id for s in specs if experiment is None or s.experiment == experiment}
    return [rid for rid in reported_numbers(chapter)["id"] if rid in wanted]


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


def _from_spec(
    spec: Compared | None, results: Mapping[str, pd.DataFrame], status: str, explain: bool
) -> tuple[float | None, str, str]:
    if spec is None:
        return None, "", "" if status == "not transcribed" else "no experiment of this notebook measures it"
    got = spec.value(results)
    value, note = got if isinstance(got, tuple) else (got, spec.note)
    if value is not None:
        return value, spec.experiment, note
    return None, "", spec.explain(results) if explain or status != "not transcribed" else note


def comparison_table(
    chapter: int,
    experiments: Mapping[str, Any],
    results: Any,
    measure: Measure | Sequence[Compared],
    *,
    explain_untranscribed: bool = False,
) -> pd.DataFrame:
    """One row per reported number of ``chapter`` (:data:`COMPARISON_COLUMNS`): the thesis's value beside
    ours. ``comparison`` is ``"not transcribed"`` where the chapter note gives no value (``measured`` still
    shows ours), else ``"measured"`` or ``"not measured"``.

    ``measure`` is a function ``(results, id) -> (value or None, measured_by, note)`` or a sequence of
    :class:`Compared` specs; with specs, an unmeasured number's note says why (:meth:`Compared.explain`;
    for a ``"not transcribed"`` one only with ``explain_untranscribed``, else it keeps the spec's note).
    """
    from stablecore.chapters.reported import reported_numbers

    results = check_results(results, experiments)
    specs = {} if callable(measure) else {s.id: s for s in measure}
    rows = []
    for rep in reported_numbers(chapter).itertuples(index=False):
        if callable(measure):
            measured, by, note = measure(results, rep.id)
        else:
            measured, by, note = _from_spec(specs.get(rep.id), results, rep.status, explain_untranscribed)
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
