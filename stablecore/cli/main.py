"""Entry point of ``stablecore``: parses arguments, dispatches, turns errors into one line + exit 2.

What a user gives (arguments, and a run's files: manifests, tables, checkpoints) may be wrong in many
ways; every such error is one line on stderr and exit code 2: ``ValueError``/``TypeError`` (the library's
validation), :class:`~stablecore.cli.common.CLIError`, ``OSError`` (unreadable, missing or misplaced
files: permissions, a file where a folder is expected, ...), ``pickle.UnpicklingError`` and running out
of memory (``MemoryError``, ``torch.OutOfMemoryError``, torch's CPU allocator failing). Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

import torch

import stablecore.cli
from stablecore import __version__
from stablecore.cli.common import CLIError

#: Commands listed first in ``--help``, in this order; any other module of ``stablecore.cli`` that
#: defines ``add_parser(sub)`` is a command too (listed after these, alphabetically).
_FIRST = ("train", "runs", "spectral", "hessian", "landscape", "certify", "demo")


def _command_modules() -> tuple[ModuleType, ...]:
    """Every module of ``stablecore.cli`` with an ``add_parser`` function, ``_FIRST`` first."""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(stablecore.cli.__path__)
        if not info.name.startswith("_") and info.name not in ("main", "common")
    )
    ordered = [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST]
    modules = (importlib.import_module(f"stablecore.cli.{name}") for name in ordered)
    return tuple(m for m in modules if callable(getattr(m, "add_parser", None)))


COMMANDS = _command_modules()


class _Parser(argparse.ArgumentParser):
    """Usage errors as one readable line (no usage dump), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stablecore",
        description="Stability of neural networks: Lipschitz bounds, Lipschitz layers, curvature, "
        "randomized smoothing.",
    )
    parser.add_argument("--version", action="version", version=f"stablecore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError, TypeError, OSError, pickle.UnpicklingError) as exc:
        return _error(args.command, _first_line(exc))
    except (MemoryError, torch.OutOfMemoryError) as exc:
        return _error(args.command, f"out of memory: {_first_line(exc)}")
    except RuntimeError as exc:
        if not _is_allocation_failure(exc):
            raise
        return _error(args.command, f"out of memory: {_first_line(exc)}")
    except KeyboardInterrupt:
        print(f"stablecore {args.command}: interrupted", file=sys.stderr)
        return 130


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _is_allocation_failure(exc: RuntimeError) -> bool:
    """torch's CPU allocator reports a failed allocation as a plain RuntimeError."""
    text = str(exc)
    return "can't allocate memory" in text or "not enough memory" in text


def _error(command: str, message: str) -> int:
    print(f"stablecore {command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
