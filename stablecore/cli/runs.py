"""``stablecore runs``: the run store as a table."""

from __future__ import annotations

import argparse

from stablecore.cli.common import print_table

HELP = "list the runs in the run store"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help=HELP, description=HELP)
    p.add_argument(
        "--home", default=None, metavar="DIR", help="run store root (default: $STABLECORE_HOME or runs/)"
    )
    p.add_argument("--experiment", default=None, help="only this experiment")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stablecore.results import list_runs, runs_home

    table = list_runs(args.home, experiment=args.experiment)
    print(f"run store: {runs_home(args.home)}  ({len(table)} runs)")
    if not table.empty:
        print_table(table[["experiment", "run_id", "status", "mode", "device", "start_time", "path"]])
    return 0
