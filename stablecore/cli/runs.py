"""``stablecore runs``: the run store as a table.

The status shown is the one a reader derives (:func:`stablecore.results.run_status`): a run whose
manifest is broken is ``incomplete``, a ``running`` run whose process died or whose heartbeat is older
than ``$STABLECORE_STALE_AFTER`` seconds (default 3600) is ``interrupted``; ``problem`` says why.
Listing never writes anything.
"""

from __future__ import annotations

import argparse

from stablecore.cli.common import CLIError, print_table

HELP = "list the runs in the run store"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help=HELP, description=HELP)
    p.add_argument(
        "--home", default=None, metavar="DIR", help="run store root (default: $STABLECORE_HOME or runs/)"
    )
    p.add_argument(
        "--experiment",
        default=None,
        metavar="NAME",
        help="only this experiment: a folder name inside the run store (letters, digits, '_', '-', '.')",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stablecore.results import list_runs, runs_home

    home = runs_home(args.home)
    if home.exists() and not home.is_dir():
        raise CLIError(f"--home must be a run store folder, got {str(home)!r} (a file)")
    try:
        table = list_runs(args.home, experiment=args.experiment)
    except ValueError as exc:
        if str(exc).startswith("experiment "):  # name the option as typed
            raise CLIError(f"--{exc}") from None
        raise
    print(f"run store: {home}  ({len(table)} runs)")
    if not table.empty:
        columns = ["experiment", "run_id", "status", "mode", "device", "start_time", "path"]
        if table["problem"].astype(bool).any():
            columns.append("problem")
        print_table(table[columns].fillna(""))
    return 0
