"""Reported numbers: the values each chapter sets out to reproduce, with their source and status.

The numbers are data, not code: one CSV file per chapter, ``stablecore/chapters/reported/chNN.csv``
(shipped as package data), with the columns :data:`DATA_COLUMNS`:

* ``id`` (unique, ``"chNN.<source>.<setting>.<metric>"``), ``quantity``, ``unit``, ``source``;
* ``value``: the number *as written* in the chapter note (``"−3.2e-2"``, ``"+0.026"``, ``"1.0000"``,
  ``"≈0"``), parsed by :func:`parse_written`; empty iff the status is ``"not transcribed"``;
* ``status`` and ``note`` (caveats; the loader prepends the written form where ``float`` loses it).

The sources are the project's chapter notes ``docs/chapters/chNN.md`` (in the repository; each names the
paper, table or code a number comes from). Their tags map to a status:

* ``[code]``, ``[src]``, ``[num]`` (read in code or a public text, checked numerically) -> ``"transcribed"``;
* ``[R]`` (recalled) and unverified secondary notes -> ``"recalled"`` (check before quoting);
* tables that a note names but does not give -> ``"not transcribed"``, with ``value=None``.

Example:
    >>> from stablecore.chapters import get_reported
    >>> get_reported("ch02.lip4conv.dense500x400.svd").value
    41.9902
"""

from __future__ import annotations

import csv
import functools
import io
import math
import numbers
import re
from dataclasses import dataclass, fields
from importlib import resources
from typing import Literal

import pandas as pd

Status = Literal["transcribed", "recalled", "not transcribed"]
STATUSES: tuple[str, ...] = ("transcribed", "recalled", "not transcribed")

__all__ = [
    "DATA_COLUMNS",
    "STATUSES",
    "ReportedNumber",
    "Status",
    "UnknownReportedNumberError",
    "get_reported",
    "load_reported",
    "missing",
    "number",
    "parse_reported",
    "parse_written",
    "reported_numbers",
]

_ID_PREFIX = re.compile(r"^ch(\d{2})\.\S+$")


@dataclass(frozen=True)
class ReportedNumber:
    """One number a chapter reproduces (or would, once it is transcribed).

    Args:
        id: stable unique id, ``"chNN.<source>.<setting>.<metric>"``; ``NN`` is ``chapter``.
        chapter: chapter number (the chapter map of docs/chapters/ch01.md §1).
        quantity: what is measured: setting, model, data set, metric.
        value: the number as written (``None`` iff ``status == "not transcribed"``).
        unit: ``""`` (pure number), ``"%"``, ``"accuracy"`` (fraction), ``"ms"``, ``"s"``, ...
        source: table, figure or file and the paper or code it comes from.
        status: ``"transcribed"``, ``"recalled"`` or ``"not transcribed"``.
        note: caveats (approximate, unverified, unknown seed, digits as written ...).

    Raises:
        ValueError: on an empty or malformed id, an unknown status, or a value inconsistent with it.
    """

    id: str
    chapter: int
    quantity: str
    value: float | None
    unit: str
    source: str
    status: Status
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"id must be a non-empty string, got {self.id!r}")
        if isinstance(self.chapter, bool) or not isinstance(self.chapter, int):
            raise TypeError(f"chapter must be an int, got {type(self.chapter).__name__}")
        match = _ID_PREFIX.match(self.id)
        if match is None or int(match.group(1)) != self.chapter:
            raise ValueError(
                f"id must start with 'ch{self.chapter:02d}.' (chapter={self.chapter}), got {self.id!r}"
            )
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r} (id={self.id!r})")
        if (self.value is None) != (self.status == "not transcribed"):
            raise ValueError(
                f"value must be None iff status == 'not transcribed'; got value={self.value!r}, "
                f"status={self.status!r} (id={self.id!r})"
            )
        if self.value is not None:
            if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
                raise TypeError(
                    f"value must be a float or None, got {type(self.value).__name__} ({self.id!r})"
                )
            if not math.isfinite(self.value):
                raise ValueError(f"value must be finite, got {self.value!r} (id={self.id!r})")
            object.__setattr__(self, "value", float(self.value))


def parse_written(written: str) -> float:
    """Parse a number as the chapter notes write it (``"−3.2e-2"``, ``"+0.026"``, ``"1.0000"``, ``"≈0"``)."""
    text = written.strip().replace("−", "-").replace("≈", "").replace("~", "").replace("+", "", 1)
    return float(text)


def number(
    chapter: int,
    id: str,
    quantity: str,
    written: str,
    unit: str,
    source: str,
    status: Literal["transcribed", "recalled"] = "transcribed",
    note: str = "",
) -> ReportedNumber:
    """Build a :class:`ReportedNumber` from the text ``written`` in the chapter note.

    When ``float`` would lose how the number is written (sign, trailing zeros, ``≈``, exponent), the
    note records the written form, so the digits as written are never lost.
    """
    value = parse_written(written)
    if repr(value) != written and not written.isdigit():
        note = f'written "{written}"' + (f"; {note}" if note else "")
    return ReportedNumber(id, chapter, quantity, value, unit, source, status, note)


def missing(chapter: int, id: str, quantity: str, unit: str, source: str, note: str = "") -> ReportedNumber:
    """A quantity the chapter note names but does not give: ``value=None``, status ``"not transcribed"``."""
    return ReportedNumber(id, chapter, quantity, None, unit, source, "not transcribed", note)


class UnknownReportedNumberError(ValueError, KeyError):
    """Unknown reported-number id (a ``ValueError`` that is also a ``KeyError``)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(ReportedNumber))


#: Columns of a chapter's data file ``reported/chNN.csv``, in this order.
DATA_COLUMNS: tuple[str, ...] = ("id", "quantity", "unit", "value", "source", "status", "note")
_DATA_FILE = re.compile(r"^ch(\d{2})\.csv$")


@functools.cache
def _chapters() -> tuple[int, ...]:
    """The chapter numbers that have a data file, ascending."""
    names = (f.name for f in resources.files(__package__).joinpath("reported").iterdir())
    return tuple(sorted(int(m.group(1)) for m in map(_DATA_FILE.match, names) if m))


@functools.cache
def load_reported(chapter: int) -> tuple[ReportedNumber, ...]:
    """The reported numbers of ``chapter``, read from ``reported/chNN.csv`` in file order.

    Raises:
        ValueError: ``chapter`` is not an int with a data file, or the file is malformed (see
            :func:`parse_reported`).
    """
    if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral):
        raise ValueError(f"chapter must be an int, got {chapter!r}")
    name = f"ch{int(chapter):02d}.csv"
    file = resources.files(__package__).joinpath("reported", name)
    if not file.is_file():
        raise ValueError(f"no reported-number file {name!r} for chapter {chapter!r}")
    return parse_reported(file.read_text(encoding="utf-8"), int(chapter), name=name)


def parse_reported(text: str, chapter: int, *, name: str = "<text>") -> tuple[ReportedNumber, ...]:
    """Parse a chapter's CSV ``text`` (columns :data:`DATA_COLUMNS`): each row becomes :func:`number`
    (``value`` as written) or, for status ``"not transcribed"``, :func:`missing`.

    Raises:
        ValueError: a wrong header, a duplicate id, an empty value of a transcribed / recalled number,
            a value given for a not-transcribed one, and whatever :class:`ReportedNumber` refuses.
    """
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if tuple(reader.fieldnames or ()) != DATA_COLUMNS:
        raise ValueError(f"{name}: columns must be {DATA_COLUMNS}, got {reader.fieldnames}")
    rows: list[ReportedNumber] = []
    for row in reader:
        where = f"{name}, id {row['id']!r}"
        if row["status"] == "not transcribed":
            if row["value"]:
                raise ValueError(f"{where}: a not-transcribed number has no value, got {row['value']!r}")
            rows.append(missing(chapter, row["id"], row["quantity"], row["unit"], row["source"], row["note"]))
        elif not row["value"]:
            raise ValueError(f"{where}: value is empty but status is {row['status']!r}")
        else:
            fields_ = (row["id"], row["quantity"], row["value"], row["unit"], row["source"], row["status"])
            rows.append(number(chapter, *fields_, note=row["note"]))  # type: ignore[arg-type]
    ids = [r.id for r in rows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{name}: duplicate ids {duplicates}")
    return tuple(rows)


def _all_reported() -> tuple[ReportedNumber, ...]:
    return tuple(r for chapter in _chapters() for r in load_reported(chapter))


def reported_numbers(chapter: int | None = None) -> pd.DataFrame:
    """All reported numbers (``chapter=None``) or one chapter's, one row per number.

    Columns are the fields of :class:`ReportedNumber`; ``value`` is float64 with NaN where the
    number is not transcribed.

    Raises:
        ValueError: if ``chapter`` is not one of the chapter numbers.
    """
    chapters = _chapters()
    if chapter is not None and (
        isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or chapter not in chapters
    ):
        raise ValueError(f"chapter must be None or one of {list(chapters)}, got {chapter!r}")
    rows = _all_reported() if chapter is None else load_reported(int(chapter))
    frame = pd.DataFrame([[getattr(r, c) for c in _COLUMNS] for r in rows], columns=list(_COLUMNS))
    return frame.astype({"chapter": "int64", "value": "float64"})


def get_reported(id: str) -> ReportedNumber:
    """The reported number with this ``id``.

    Raises:
        UnknownReportedNumberError: (a ``ValueError`` and ``KeyError``) if no number has this id.
    """
    for r in _all_reported():
        if r.id == id:
            return r
    raise UnknownReportedNumberError(
        f"id {id!r} is not a reported number; see reported_numbers()['id'] for the valid ids"
    )
