"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from stablecore.train import MODES

__all__ = [
    "CLIError",
    "add_common_options",
    "device_option",
    "finite_float",
    "non_negative_float",
    "non_negative_int",
    "output_dir",
    "positive_float",
    "positive_int",
    "print_table",
    "seed_int",
]


class CLIError(Exception):
    """An error reported as one line with exit code 2."""


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


#: Seeds are 64-bit generator seeds: 0 <= seed < 2**63.
MAX_SEED = 2**63 - 1


def seed_int(text: str) -> int:
    """A random seed: an integer in ``[0, 2**63)`` (what torch's and numpy's generators accept)."""
    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a seed in [0, 2**63), got {text!r}")
    return value


def finite_float(text: str, expected: str, accept: Callable[[float], bool]) -> float:
    """``float(text)`` when it is finite and ``accept``-ed, else an argparse error saying ``expected``
    (argparse's ``float`` alone accepts ``nan`` and ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not (math.isfinite(value) and accept(value)):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (``inf`` and ``nan`` are refused)."""
    return finite_float(text, "a finite number > 0", lambda v: v > 0)


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (``inf`` and ``nan`` are refused)."""
    return finite_float(text, "a finite number >= 0", lambda v: v >= 0)


def _first_existing(path: Path) -> Path | None:
    return next((p for p in (path, *path.parents) if p.exists()), None)


def output_dir(text: str) -> str:
    """A directory to write into (``--out DIR``): refused when it, or the nearest existing folder
    above it, is not a directory (a file there would make every write fail)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a directory, got an empty path")
    path = Path(text).expanduser()
    existing = _first_existing(path)
    if existing is not None and not existing.is_dir():
        where = "" if existing == path else f" (its parent {str(existing)!r} is a file)"
        raise argparse.ArgumentTypeError(f"expected a directory, got {text!r}, which is not one{where}")
    return text


def device_option(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` that this machine can run (checked by
    :func:`stablecore.workflows.resolve_device`); ``mps``, ``xla``, ``meta`` ... are refused."""
    if text == "auto":
        return text
    from stablecore.workflows import resolve_device

    try:
        resolve_device(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--seed`` and ``--mode``, shared by every command that computes."""
    parser.add_argument(
        "--device",
        type=device_option,
        default="auto",
        help="cpu, cuda, cuda:N or auto (default: auto); refused when this machine cannot run it",
    )
    parser.add_argument("--seed", type=seed_int, default=0, help="random seed in [0, 2**63) (default: 0)")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="quick (CPU, no download) or full (thesis settings); default $STABLECORE_MODE or quick",
    )


def print_table(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 80):
        print(frame.to_string(index=False) if not frame.empty else "(empty)")
