"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import argparse

import pandas as pd

from stablecore.train import MODES

__all__ = ["CLIError", "add_common_options", "non_negative_int", "positive_int", "print_table"]


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


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--device``, ``--seed`` and ``--mode``, shared by every command that computes."""
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="quick (CPU, no download) or full (thesis settings); default $STABLECORE_MODE or quick",
    )


def print_table(frame: pd.DataFrame) -> None:
    with pd.option_context("display.max_columns", None, "display.width", 200, "display.max_colwidth", 80):
        print(frame.to_string(index=False) if not frame.empty else "(empty)")
