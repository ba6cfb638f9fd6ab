"""Typed values from URL query parameters (the dashboard's shareable state), tested without Streamlit.

A query string is user input: any text can arrive. :func:`parse_param` turns one value into the type of
the parameter's default and refuses what a widget could never hold; :func:`param_value` falls back to the
default instead. Numbers are parsed strictly (ASCII decimal only): ``nan``, ``inf``, ``-inf``,
``infinity``, ``1e999`` (overflows to ``inf``), ``1_000``, hexadecimal, empty and garbage are refused, so
a range check ``lo <= value <= hi`` never meets a NaN (for which both comparisons are false).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_INT", "param_value", "parse_param"]

#: Largest integer magnitude accepted (2**53 - 1: the largest integer a browser's number widget holds
#: exactly).
MAX_INT = 2**53 - 1
_INT = re.compile(r"[+-]?[0-9]{1,30}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]{1,5})?")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_param(
    key: str,
    raw: Any,
    default: Any,
    options: Sequence[Any] | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> Any:
    """The value of query parameter ``key`` given as text ``raw``, of the type of ``default``.

    ``bool``: ``1/true/yes/on`` or ``0/false/no/off`` (any case); ``int``: decimal digits, ``|v| <=``
    :data:`MAX_INT`; ``float``: a finite decimal number; ``list``/``tuple``: comma-separated text, items
    not in ``options`` dropped; anything else: the text. Numbers must lie in ``[lo, hi]`` (bounds given)
    and every value in ``options`` (given).

    Raises:
        ValueError: ``raw`` is not a valid value; the message names ``key``, what was expected and ``raw``.
    """
    if isinstance(raw, (list, tuple)):  # a repeated parameter: the last one wins, as in st.query_params
        raw = raw[-1] if raw else ""
    if not isinstance(raw, str):
        raise ValueError(f"query parameter {key!r} must be text, got {type(raw).__name__}")
    text = raw.strip()
    value: Any
    if isinstance(default, bool):
        if text.lower() not in _TRUE + _FALSE:
            raise ValueError(f"query parameter {key!r} must be true or false, got {raw!r}")
        value = text.lower() in _TRUE
    elif isinstance(default, int):
        if not _INT.fullmatch(text) or abs(int(text)) > MAX_INT:
            raise ValueError(f"query parameter {key!r} must be an integer of at most 2**53 - 1, got {raw!r}")
        value = int(text)
    elif isinstance(default, float):
        value = float(text) if _FLOAT.fullmatch(text) else math.nan
        if not math.isfinite(value):
            raise ValueError(f"query parameter {key!r} must be a finite decimal number, got {raw!r}")
    elif isinstance(default, (list, tuple)):
        items = [v for v in text.split(",") if v]
        return items if options is None else [v for v in items if v in options]
    else:
        value = raw
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (lo is not None and not value >= lo) or (hi is not None and not value <= hi):
            bounds = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
            raise ValueError(f"query parameter {key!r} must be in {bounds}, got {raw!r}")
    if options is not None and value not in options:
        raise ValueError(f"query parameter {key!r} must be one of {list(options)}, got {raw!r}")
    return value


def param_value(
    key: str,
    raw: Any,
    default: Any,
    options: Sequence[Any] | None = None,
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> Any:
    """:func:`parse_param`, or ``default`` when ``raw`` is missing (``None``) or invalid."""
    if raw is None:
        return default
    try:
        return parse_param(key, raw, default, options, lo=lo, hi=hi)
    except ValueError:
        return default
