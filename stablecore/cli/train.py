"""``stablecore train``: train a model on a data set and store the run.

With ``--ddp`` under torchrun (``torchrun --nproc_per_node N -m stablecore.cli.main train --ddp ...``)
every process trains one DDP replica (gloo on CPU, nccl on CUDA); ``--batch-size`` is the global
batch, split evenly over the replicas, and only rank 0 writes the run (:mod:`stablecore.train.distributed`).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from stablecore.cli.common import add_common_options, positive_int, print_table
from stablecore.data import DATASETS
from stablecore.models import MODELS

if TYPE_CHECKING:
    from stablecore.workflows import TrainResult

HELP = "train a model on a data set; the run (manifest, metrics, checkpoints) goes to the run store"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=HELP, description=HELP)
    p.add_argument("--dataset", default="moons", choices=sorted(DATASETS))
    p.add_argument("--model", default="mlp", choices=sorted(MODELS))
    p.add_argument("--epochs", type=positive_int, default=None, help="default: the mode's preset")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--loss", choices=("ce", "offset_ce", "hinge", "hkr"), default="ce")
    p.add_argument(
        "--model-arg", action="append", default=[], type=key_value, metavar="KEY=VALUE",
        help="model keyword, repeatable (e.g. layout=conv, width=32, head=lln); values parsed as JSON",
    )  # fmt: skip
    p.add_argument(
        "--loss-arg", action="append", default=[], type=key_value, metavar="KEY=VALUE",
        help="loss keyword, repeatable (e.g. offset=1.0, temperature=0.25)",
    )  # fmt: skip
    p.add_argument("--experiment", default=None, help="experiment name (default: train-<dataset>-<model>)")
    p.add_argument(
        "--out", default=None, metavar="DIR", help="run store root (default: $STABLECORE_HOME or runs/)"
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--ddp",
        action="store_true",
        help="data-parallel training under torchrun (one replica per process; --batch-size is global)",
    )
    add_common_options(p)
    p.set_defaults(func=run)


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE parsed as JSON when it parses (``3``, ``0.5``, ``true``), else a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY a name, got {text!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key, parsed


def run(args: argparse.Namespace) -> int:
    train_kwargs = {}
    if args.batch_size is not None:
        train_kwargs["batch_size"] = args.batch_size
    if args.lr is not None:
        if not args.lr > 0:
            raise ValueError(f"--lr must be > 0, got {args.lr}")
        train_kwargs["lr"] = args.lr
    if args.ddp:
        from stablecore.train.distributed import distributed_session

        with distributed_session(args.device) as ctx:
            result = _train(args, train_kwargs, device=ctx.device, distributed=ctx)
        if not ctx.is_main:
            return 0
    else:
        result = _train(args, train_kwargs, device=args.device)
    print_table(result.summary())
    print(f"run stored in {result.run.path}")
    return 0


def _train(args: argparse.Namespace, train_kwargs: dict, **kwargs: object) -> TrainResult:
    from stablecore.workflows import train_classifier

    return train_classifier(
        args.dataset,
        args.model,
        epochs=args.epochs,
        mode=args.mode,
        seed=args.seed,
        loss=args.loss,
        loss_kwargs=dict(args.loss_arg),
        model_kwargs=dict(args.model_arg),
        train_kwargs=train_kwargs,
        experiment=args.experiment,
        home=args.out,
        progress=not args.no_progress,
        **kwargs,
    )
