"""Resource limits: refuse a request whose memory or work is out of reach *before* allocating.

A huge argument (a 10⁹-pixel input size, a million-step landscape grid, 10²³ noise samples) must give
a one-line ``ValueError`` naming the argument, never an out-of-memory kill or an hour-long hang. Each
check compares an estimate made from the arguments with a limit that the user may raise:

==========================  ====================================  ===================================
environment variable        what it limits                        default
==========================  ====================================  ===================================
``STABLECORE_MAX_MEMORY``   bytes one call may allocate at once   half of the machine's physical
                            (accepts ``512M``, ``8G``, ``1T``)    memory (4 GiB if unknown)
``STABLECORE_MAX_WORK``     model evaluations (forward passes of  ``10**9``
                            one example) one call may ask for
==========================  ====================================  ===================================

Functions that check take a ``max_memory=`` / ``max_work=`` keyword where overriding per call makes
sense; ``None`` means the environment's limit (or the default).
"""

from __future__ import annotations

import os
import re

__all__ = [
    "DEFAULT_MAX_WORK",
    "MAX_MEMORY_ENV",
    "MAX_WORK_ENV",
    "check_memory",
    "check_work",
    "format_bytes",
    "max_memory",
    "max_work",
]

MAX_MEMORY_ENV = "STABLECORE_MAX_MEMORY"
MAX_WORK_ENV = "STABLECORE_MAX_WORK"
#: 20x the largest certification in the papers reproduced here (500 test points at n = 100,000 noise
#: draws: 5·10⁷ evaluations), and hours of a 2-core CPU already.
DEFAULT_MAX_WORK = 10**9
_FALLBACK_MEMORY = 4 * 2**30
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def format_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it ≥ 1 (e.g. ``'7.3 TiB'``)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}" if unit != "B" else f"{value:.0f} B"
        value /= 1024
    raise AssertionError("unreachable")


def _physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _parse_size(text: str) -> int:
    match = _SIZE.match(text)
    if not match:
        raise ValueError(
            f"${MAX_MEMORY_ENV} must be a size such as 8G, 512M or 1073741824 (bytes), got {text!r}"
        )
    value = float(match.group(1)) * _UNITS[match.group(2).upper()]
    if value <= 0:
        raise ValueError(f"${MAX_MEMORY_ENV} must be > 0, got {text!r}")
    return int(value)


def max_memory() -> int:
    """The memory limit in bytes: ``$STABLECORE_MAX_MEMORY`` or half of the physical memory."""
    text = os.environ.get(MAX_MEMORY_ENV)
    if text:
        return _parse_size(text)
    physical = _physical_memory()
    return physical // 2 if physical else _FALLBACK_MEMORY


def max_work() -> int:
    """The work limit in model evaluations: ``$STABLECORE_MAX_WORK`` or ``10**9``."""
    text = os.environ.get(MAX_WORK_ENV)
    if not text:
        return DEFAULT_MAX_WORK
    try:
        value = int(float(text))
    except ValueError:
        raise ValueError(f"${MAX_WORK_ENV} must be a positive number, got {text!r}") from None
    if value < 1:
        raise ValueError(f"${MAX_WORK_ENV} must be a positive number, got {text!r}")
    return value


def check_memory(nbytes: float, *, argument: str, what: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` naming ``argument`` when ``nbytes`` exceeds the memory limit.

    Args:
        nbytes: the estimated peak allocation of the request (may be astronomically large: a float).
        argument: the argument that makes it large (e.g. ``"input_size"`` or ``"--steps"``).
        what: what would be allocated (e.g. ``"the FFT blocks"``).
        limit: bytes allowed; ``None`` for :func:`max_memory`.
    """
    allowed = max_memory() if limit is None else int(limit)
    if not nbytes <= allowed:  # also refuses NaN
        raise ValueError(
            f"{argument}: {what} would need about {format_bytes(nbytes)}, above the limit of "
            f"{format_bytes(allowed)} (reduce {argument}, or raise ${MAX_MEMORY_ENV})"
        )


def check_work(evaluations: float, *, argument: str, what: str, limit: int | None = None) -> None:
    """Raise ``ValueError`` naming ``argument`` when ``evaluations`` exceeds the work limit."""
    allowed = max_work() if limit is None else int(limit)
    if not evaluations <= allowed:
        raise ValueError(
            f"{argument}: {what} would need {evaluations:.3g} model evaluations, above the limit of "
            f"{allowed:.3g} (reduce {argument}, or raise ${MAX_WORK_ENV})"
        )
