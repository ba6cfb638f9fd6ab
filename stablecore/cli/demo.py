"""``stablecore demo``: a quick end-to-end tour (train on two-moons, evaluate, store the run)."""

from __future__ import annotations

import argparse

from stablecore.cli.common import add_common_options, print_table

HELP = "quick end-to-end demo: train an MLP on two-moons, evaluate it and store the run"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help=HELP, description=HELP)
    p.add_argument(
        "--out", default=None, metavar="DIR", help="run store root (default: $STABLECORE_HOME or runs/)"
    )
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stablecore.workflows import train_classifier

    print("stablecore demo: training an MLP on two-moons (quick mode, CPU-friendly) ...")
    result = train_classifier(
        "moons",
        "mlp",
        mode=args.mode or "quick",
        seed=args.seed,
        device=args.device,
        experiment="demo",
        home=args.out,
    )
    print_table(result.summary())
    print(f"run stored in {result.run.path}")
    print("next: `stablecore runs` lists the run store; `stablecore train --help` trains other models.")
    return 0
