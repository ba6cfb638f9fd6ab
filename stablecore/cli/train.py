"""``stablecore train``: train a model on a data set and store the run; ``--resume RUN`` continues one.

With ``--ddp`` under torchrun (``torchrun --nproc_per_node N -m stablecore.cli.main train --ddp ...``)
every process trains one DDP replica (gloo on CPU, nccl on CUDA); ``--batch-size`` is the global
batch, split evenly over the replicas, and only rank 0 writes the run (:mod:`stablecore.train.distributed`).

``--resume RUN`` continues a run from its ``checkpoints/last.pt`` with the settings it stored (data set,
model, loss, seed, mode, training config), bit-identical to an uninterrupted run on the same device;
``--epochs N`` extends it (without a learning-rate schedule). Options that would change the stored
settings are refused; repeating them with the stored values is accepted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stablecore.cli.common import (
    CLIError,
    add_common_options,
    output_dir,
    positive_float,
    positive_int,
    print_table,
)
from stablecore.data import DATASETS
from stablecore.models import MODELS

if TYPE_CHECKING:
    from stablecore.workflows import TrainResult

HELP = "train a model on a data set; the run (manifest, metrics, checkpoints) goes to the run store"

#: Defaults of the options that ``--resume`` takes from the run (None in the parser: "not given").
DEFAULTS = {"dataset": "moons", "model": "mlp", "loss": "ce", "seed": 0}

#: Library argument names -> the options that set them, for error messages.
_OPTION_NAMES = (("model_kwargs", "--model-arg"), ("batch_size", "--batch-size"), ("epochs", "--epochs"))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help=HELP, description=HELP)
    p.add_argument("--dataset", default=None, choices=sorted(DATASETS), help="default: moons")
    p.add_argument("--model", default=None, choices=sorted(MODELS), help="default: mlp")
    p.add_argument("--epochs", type=positive_int, default=None, help="default: the mode's preset")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--lr", type=positive_float, default=None, help="learning rate, a finite number > 0")
    p.add_argument("--loss", choices=("ce", "offset_ce", "hinge", "hkr"), default=None, help="default: ce")
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
        "--out",
        type=output_dir,
        default=None,
        metavar="DIR",
        help="run store root (default: $STABLECORE_HOME or runs/)",
    )
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue this run directory from its last checkpoint with its stored settings "
        "(--epochs N extends it)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument(
        "--ddp",
        action="store_true",
        help="data-parallel training under torchrun (one replica per process; --batch-size is global)",
    )
    add_common_options(p)
    p.set_defaults(func=run, seed=None)


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
    from stablecore.train import NonFiniteLossError

    if args.resume is not None:
        if args.ddp:
            raise CLIError("--resume does not combine with --ddp yet; resume in a single process")
        _check_resume_options(args)
    try:
        if args.ddp:
            from stablecore.train.distributed import distributed_session

            with distributed_session(args.device) as ctx:
                result = _train(args, device=ctx.device, distributed=ctx)
            if not ctx.is_main:
                return 0
        elif args.resume is not None:
            result = _resume(args)
        else:
            result = _train(args, device=args.device)
    except NonFiniteLossError as exc:
        raise CLIError(f"training diverged: {exc} (a smaller --lr may help)") from exc
    except ValueError as exc:
        raise ValueError(_option_names(str(exc))) from exc
    if args.resume is not None and result.epochs_trained == 0:
        epochs = int(result.history["epoch"].iloc[-1]) if len(result.history) else 0
        print(
            f"run {result.run.path} is already complete ({epochs} epochs): nothing to do; "
            f"pass --epochs N (> {epochs}) to train it longer"
        )
        return 0
    print_table(result.summary())
    print(f"run stored in {result.run.path}")
    return 0


def _option_names(message: str) -> str:
    """A library message that starts with an argument name, with the option's name instead."""
    for name, option in _OPTION_NAMES:
        if message.startswith(f"{name}:"):
            message = option + message[len(name) :]
            return message.replace(f"(reduce {name},", f"(reduce {option},")
    return message


def _train(args: argparse.Namespace, **kwargs: Any) -> TrainResult:
    from stablecore.workflows import train_classifier

    train_kwargs: dict[str, Any] = {}
    if args.batch_size is not None:
        train_kwargs["batch_size"] = args.batch_size
    if args.lr is not None:
        train_kwargs["lr"] = args.lr
    dataset = args.dataset or DEFAULTS["dataset"]
    model = args.model or DEFAULTS["model"]
    return train_classifier(
        dataset,
        model,
        epochs=args.epochs,
        mode=args.mode,
        seed=DEFAULTS["seed"] if args.seed is None else args.seed,
        loss=args.loss or DEFAULTS["loss"],
        loss_kwargs=dict(args.loss_arg),
        model_kwargs=dict(args.model_arg),
        train_kwargs=train_kwargs,
        experiment=args.experiment,
        home=args.out,
        progress=not args.no_progress,
        **kwargs,
    )


def _resume(args: argparse.Namespace) -> TrainResult:
    from stablecore.workflows import resume_classifier

    return resume_classifier(
        args.resume, epochs=args.epochs, device=args.device, progress=not args.no_progress
    )


def _check_resume_options(args: argparse.Namespace) -> None:
    """Refuse, with ``--resume``, an option whose value differs from what the run stored."""
    from stablecore.results import open_run

    path = Path(args.resume)
    manifest = open_run(path).manifest
    if not isinstance(manifest, dict) or not isinstance(manifest.get("config"), dict):
        raise CLIError(f"--resume: {path} does not record its training settings (no config in its manifest)")
    config = manifest["config"]
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    loss = config.get("loss") if isinstance(config.get("loss"), dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    given: list[tuple[str, Any, Any]] = [
        ("--dataset", args.dataset, config.get("dataset")),
        ("--model", args.model, model.get("name")),
        ("--loss", args.loss, loss.get("name", "ce")),
        ("--seed", args.seed, manifest.get("seed")),
        ("--mode", args.mode, manifest.get("mode")),
        ("--batch-size", args.batch_size, train.get("batch_size")),
        ("--lr", args.lr, train.get("lr")),
        ("--experiment", args.experiment, path.resolve().parent.name),
    ]
    given += [(f"--model-arg {key}", value, model.get(key)) for key, value in args.model_arg]
    given += [(f"--loss-arg {key}", value, loss.get(key)) for key, value in args.loss_arg]
    if args.out is not None:
        given.append(("--out", str(Path(args.out).resolve()), str(path.resolve().parent.parent)))
    for option, value, stored in given:
        if value is not None and value != stored:
            raise CLIError(
                f"--resume: {option} {value!r} differs from the run's stored {stored!r}; drop {option} to "
                "resume the run as it was, or start a new run (without --resume) to change it"
            )
