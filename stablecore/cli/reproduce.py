"""``stablecore reproduce``: execute the chapter notebooks and compare our numbers with the thesis's.

Writes ``<home>/reproduce/<run_id>/`` (executed ``.ipynb`` + HTML per chapter, the experiments' tables,
``tables/summary.parquet`` and ``summary.md``); see :mod:`stablecore.reproduce`. Exit code 1 when a
notebook failed (the other chapters still run), 0 otherwise.
"""

from __future__ import annotations

import argparse

from stablecore.cli.common import output_dir, positive_int, print_table
from stablecore.train import MODES

HELP = "execute the chapter notebooks (quick or full mode) and write the thesis-vs-ours summary table"


def _chapter(text: str) -> str | int:
    from stablecore.chapters import CHAPTERS

    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'all' or one of {sorted(CHAPTERS)}, got {text!r}"
        ) from None
    if value not in CHAPTERS:
        raise argparse.ArgumentTypeError(f"expected 'all' or one of {sorted(CHAPTERS)}, got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help=HELP, description=HELP)
    p.add_argument(
        "--chapter",
        type=_chapter,
        action="append",
        default=None,
        metavar="N|all",
        help="chapter number, repeatable, or 'all' (default: all)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="quick (CPU, no download) or full (thesis settings, GPU, data under $STABLECORE_DATA); "
        "default $STABLECORE_MODE or quick",
    )
    p.add_argument(
        "--out",
        default=None,
        type=output_dir,
        metavar="DIR",
        help="run store root (default: $STABLECORE_HOME or runs/)",
    )
    p.add_argument(
        "--cell-timeout",
        type=positive_int,
        default=None,
        metavar="S",
        help="seconds per cell (default: none)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stablecore.reproduce import reproduce

    picked = args.chapter or ["all"]
    chapters = "all" if "all" in picked else sorted(set(picked))
    result = reproduce(
        chapters, mode=args.mode, home=args.out, cell_timeout=args.cell_timeout, progress=not args.no_progress
    )
    timings = result.timings
    print(f"reproduction ({result.mode} mode) in {result.path}")
    print_table(timings.round({"seconds": 1, "cpu_seconds": 1}))
    counts = result.summary.groupby(["status", "comparison"]).size().rename("numbers").reset_index()
    print_table(counts)
    print(f"summary: {result.path / 'summary.md'} and {result.path / 'tables' / 'summary.parquet'}")
    missing = timings.loc[timings["status"] == "missing", "notebook"].tolist()
    if missing:
        print(f"no notebook yet for: {', '.join(missing)}")
    return 1 if (timings["status"] == "failed").any() else 0
