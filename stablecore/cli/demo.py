"""``stablecore demo``: a short end-to-end tour (train an MLP on two-moons, evaluate, store the run).

The data are always the synthetic two-moons set (no download). The mode (``--mode``, else
``$STABLECORE_MODE``, else quick) picks the training schedule, as for ``stablecore train``: quick is
:meth:`TrainConfig.preset("quick") <stablecore.train.TrainConfig.preset>` (30 epochs of Adam), full
``TrainConfig.preset("full")`` (200 epochs of SGD with momentum, weight decay and a cosine learning rate;
seconds on a CPU for this model). The first line printed states the mode and the schedule actually run.
"""

from __future__ import annotations

import argparse

from stablecore.cli.common import add_common_options, output_dir, print_table
from stablecore.train import TrainConfig, current_mode

HELP = "end-to-end demo: train an MLP on two-moons (no download), evaluate it and store the run"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help=HELP, description=HELP)
    p.add_argument(
        "--out",
        default=None,
        type=output_dir,
        metavar="DIR",
        help="run store root (default: $STABLECORE_HOME or runs/)",
    )
    add_common_options(p)
    p.set_defaults(func=run)


def schedule(config: TrainConfig) -> str:
    """The training schedule of ``config`` in words, e.g. ``"30 epochs of adam, lr 0.01"``."""
    text = f"{config.epochs} epochs of {config.optimizer}, lr {config.lr:g}"
    return text + (f", {config.scheduler} schedule" if config.scheduler else "")


def run(args: argparse.Namespace) -> int:
    from stablecore.workflows import train_classifier

    mode = current_mode(args.mode)
    config = TrainConfig.preset(mode)
    print(f"stablecore demo: training an MLP on two-moons, {mode} mode ({schedule(config)}) ...")
    result = train_classifier(
        "moons",
        "mlp",
        mode=mode,
        seed=args.seed,
        device=args.device,
        train_kwargs=config.to_dict(),  # the schedule printed above, whatever the preset's defaults
        experiment="demo",
        home=args.out,
    )
    print_table(result.summary())
    print(f"run stored in {result.run.path}")
    print("next: `stablecore runs` lists the run store; `stablecore train --help` trains other models.")
    return 0
