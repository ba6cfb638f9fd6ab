"""One module per thesis chapter: its reported numbers (and, later, its experiments).

``CHAPTERS`` maps the chapter number (docs/chapters/ch01.md §1, proposed map) to its module; each module
defines ``CHAPTER``, ``TITLE``, ``NOTEBOOK`` and ``REPORTED``.
"""

from __future__ import annotations

from types import ModuleType

from stablecore.chapters import (
    ch01_background,
    ch02_gram_iteration,
    ch03_lipschitz_layers,
    ch04_curvature,
    ch05_lvm_rs,
    ch06_bridging_rs,
)
from stablecore.chapters.reported import (
    STATUSES,
    ReportedNumber,
    UnknownReportedNumberError,
    get_reported,
    reported_numbers,
)

CHAPTERS: dict[int, ModuleType] = {
    m.CHAPTER: m
    for m in (
        ch01_background,
        ch02_gram_iteration,
        ch03_lipschitz_layers,
        ch04_curvature,
        ch05_lvm_rs,
        ch06_bridging_rs,
    )
}

__all__ = [
    "CHAPTERS",
    "STATUSES",
    "ReportedNumber",
    "UnknownReportedNumberError",
    "get_reported",
    "reported_numbers",
]
