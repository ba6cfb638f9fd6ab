"""Entry point of ``stablecore``: parses arguments, dispatches, turns errors into one line + exit 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from stablecore import __version__
from stablecore.cli import certify, demo, hessian, landscape, runs, spectral, train
from stablecore.cli.common import CLIError

COMMANDS = (train, runs, spectral, hessian, landscape, certify, demo)


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
    except (CLIError, ValueError, TypeError, FileNotFoundError, FileExistsError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"stablecore {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stablecore {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
