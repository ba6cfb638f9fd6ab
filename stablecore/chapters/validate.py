"""Argument checks shared by the chapter configs and experiments (the one place for them).

Predicates (:func:`is_number`, :func:`is_int`) answer yes/no for composite rules; the ``check_*``
functions raise ``ValueError`` naming the argument (``"<name> must be an int >= 1, got 0"``) and return
the value. Ints and numbers are Python ``int`` / ``float`` (``bool`` is refused). Seeds:
:func:`stablecore.chapters.common.check_seed`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from os import PathLike
from typing import Any

import pandas as pd

from stablecore.train.config import MODES

__all__ = [
    "check_choice",
    "check_choices",
    "check_frame",
    "check_int",
    "check_int_tuple",
    "check_ints",
    "check_mode",
    "check_number",
    "check_number_tuple",
    "check_numbers",
    "check_optional_int",
    "check_optional_path",
    "check_probability",
    "is_int",
    "is_number",
]


def is_number(value: Any) -> bool:
    """A finite ``int`` or ``float`` (not a bool)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def is_int(value: Any, minimum: int = 1) -> bool:
    """An ``int`` (not a bool) ≥ ``minimum``."""
    return not isinstance(value, bool) and isinstance(value, int) and value >= minimum


def check_mode(mode: Any) -> str:
    """``mode`` if it is one of :data:`stablecore.train.MODES` (``"quick"``, ``"full"``)."""
    if mode not in MODES:
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    return mode


def check_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` if it is an int ≥ ``minimum``."""
    if not is_int(value, minimum):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def check_ints(obj: Any, names: Iterable[str], minimum: int = 1) -> None:
    """:func:`check_int` on each attribute ``names`` of ``obj`` (a config)."""
    for name in names:
        check_int(getattr(obj, name), name, minimum)


def check_optional_int(value: Any, name: str) -> int | None:
    """``value`` if it is ``None`` (e.g. ``num_threads``: leave torch's setting) or an int ≥ 1."""
    if value is not None and not is_int(value):
        raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
    return value


def _in_range(value: Any, low: float, strict: bool) -> bool:
    return is_number(value) and (value > low if strict else value >= low)


def check_number(value: Any, name: str, *, low: float = 0.0, strict: bool = True) -> float:
    """``value`` if it is a finite number > ``low`` (≥ with ``strict=False``)."""
    if not _in_range(value, low, strict):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {low:g}, got {value!r}")
    return value


def check_numbers(obj: Any, names: Iterable[str], *, low: float = 0.0, strict: bool = True) -> None:
    """:func:`check_number` on each attribute ``names`` of ``obj``."""
    for name in names:
        check_number(getattr(obj, name), name, low=low, strict=strict)


def check_probability(value: Any, name: str) -> float:
    """``value`` if it is a number in the open interval (0, 1) (a level α, a probability)."""
    if not (is_number(value) and 0 < value < 1):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return value


def check_number_tuple(value: Any, name: str, *, low: float = 0.0, strict: bool = False) -> tuple:
    """``value`` if it is a non-empty tuple of finite numbers ≥ ``low`` (> with ``strict``)."""
    if not (isinstance(value, tuple) and value and all(_in_range(v, low, strict) for v in value)):
        what = f"> {low:g}" if strict else f">= {low:g}"
        raise ValueError(f"{name} must be a non-empty tuple of finite numbers {what}, got {value!r}")
    return value


def check_int_tuple(value: Any, name: str, minimum: int = 1) -> tuple:
    """``value`` if it is a non-empty tuple of ints ≥ ``minimum``."""
    if not (isinstance(value, tuple) and value and all(is_int(v, minimum) for v in value)):
        raise ValueError(f"{name} must be a non-empty tuple of ints >= {minimum}, got {value!r}")
    return value


def check_optional_path(value: Any, name: str) -> str | PathLike | None:
    """``value`` if it is ``None`` or a path (``str`` or ``os.PathLike``)."""
    if value is not None and not isinstance(value, (str, PathLike)):
        raise ValueError(f"{name} must be None or a path, got {value!r}")
    return value


def check_choice(value: Any, name: str, choices: tuple) -> Any:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_choices(value: Any, name: str, choices: tuple, *, unique: bool = False) -> tuple:
    """``value`` if it is a non-empty tuple of names in ``choices`` (each at most once with ``unique``)."""
    if not (isinstance(value, tuple) and value and all(v in choices for v in value)):
        raise ValueError(f"{name} must be a non-empty tuple of names in {choices}, got {value!r}")
    if unique and len(set(value)) != len(value):
        raise ValueError(f"{name} must not repeat a name, got {value!r}")
    return value


def check_frame(frame: Any, columns: Sequence[str], producer: str, name: str = "frame") -> pd.DataFrame:
    """``frame`` if it is a DataFrame with every one of ``columns`` (the output of ``producer``):
    TypeError for anything else than a DataFrame, ValueError naming the missing columns."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be the DataFrame returned by {producer}, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing columns {missing} (expected the DataFrame returned by {producer})"
        )
    return frame
