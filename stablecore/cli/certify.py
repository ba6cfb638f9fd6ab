"""``stablecore certify --run RUN``: randomized-smoothing certification of a run's model on its test set.

Rows go to the run's table ``certify-<method>`` (or ``--table NAME``; a shard ``part-<i>.parquet`` with
``--shard i/n``), flushed as they are computed; rerunning the same command resumes where it stopped.
The settings (σ, n0, n, α, method and its options, seed, --every, shard count, a SHA-256 of the model's
weights) are stored with the table (``tables/<table>.settings.json``): a rerun with other settings is
refused, since its rows would be printed under settings they were not computed with; give the new
settings their own table with ``--table NAME`` (e.g. ``--table certify-cohen-sigma1``). ``--batch-size``
is not a setting (it may change which noise an example gets, not the guarantee).

Before the model runs, the work ((n0 + n) model evaluations per example) is checked against
``$STABLECORE_MAX_WORK`` and one noisy batch's memory against ``$STABLECORE_MAX_MEMORY``
(:mod:`stablecore.limits`); a model that returns a NaN or infinite logit stops the command with the
example and the noise draw (a non-finite output is never a vote).
"""

from __future__ import annotations

import argparse
import sys

from stablecore.cli.common import (
    CLIError,
    add_common_options,
    non_negative_float,
    positive_float,
    positive_int,
    print_table,
)

HELP = "randomized-smoothing certificates (Cohen, LVM-RS, Lipschitz-aware) of a run's model, resumable"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certify", help=HELP, description=HELP)
    p.add_argument("--run", required=True, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument("--sigma", type=positive_float, required=True, help="noise level σ (pixel space)")
    p.add_argument("--n0", type=positive_int, default=100, help="selection samples (default 100)")
    p.add_argument("--n", type=positive_int, default=100_000, help="estimation samples (default 100000)")
    p.add_argument("--alpha", type=positive_float, default=0.001, help="failure probability (default 0.001)")
    p.add_argument("--batch-size", type=positive_int, default=1000)
    p.add_argument("--every", type=positive_int, default=1, help="certify every k-th test example")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N test examples")
    p.add_argument(
        "--method",
        default="cohen",
        choices=("cohen", "lvm", "lipschitz"),
        help="cohen: votes + Clopper-Pearson; lvm: sound LVM-RS (simplex maps x temperatures chosen on the "
        "n0 selection samples); lipschitz: R_ode of a softmax score with the model's Lipschitz bound "
        "(default cohen)",
    )
    p.add_argument(
        "--temperature",
        type=positive_float,
        default=1.0,
        help="softmax temperature of the score for --method lipschitz (default 1)",
    )
    p.add_argument(
        "--table",
        default=None,
        metavar="NAME",
        help="the run's table to write (default certify-<method>); the settings are stored with it and a "
        "rerun must repeat them to resume: other settings need another NAME",
    )
    p.add_argument("--shard", default=None, metavar="i/n", help="certify shard i of n")
    p.add_argument(
        "--radii",
        type=non_negative_float,
        nargs="+",
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="radii of the printed certified accuracy (correct, not abstained, radius >= r)",
    )
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none when stderr is not a terminal)"
    )
    p.add_argument("--checkpoint", default="last.pt")
    add_common_options(p)
    p.set_defaults(func=run)


def _check_work(args: argparse.Namespace, examples: int) -> None:
    """Refuse more model evaluations than ``$STABLECORE_MAX_WORK``, naming the larger of --n0 / --n."""
    from stablecore.limits import check_work

    check_work(
        (args.n0 + args.n) * examples,
        argument="--n" if args.n >= args.n0 else "--n0",
        what=f"n0 + n noise draws for each of {examples} examples",
    )


def _check_memory(args: argparse.Namespace, input_numel: int, itemsize: int, num_classes: int) -> None:
    """Refuse a noisy batch (or LVM-RS's selection logits) above ``$STABLECORE_MAX_MEMORY``, naming the
    option."""
    from stablecore.limits import check_memory
    from stablecore.smoothing.core import noise_batch_bytes

    batch = min(args.batch_size, max(args.n0, args.n))
    check_memory(
        noise_batch_bytes(input_numel, batch, itemsize, num_classes),
        argument="--batch-size",
        what=f"a batch of {batch} noisy copies",
    )
    if args.method == "lvm":  # LVM-RS keeps the n0 selection logits (float64) to choose its map
        check_memory(
            2 * args.n0 * num_classes * 8, argument="--n0", what=f"the logits of {args.n0} selection draws"
        )


def run(args: argparse.Namespace) -> int:
    import torch
    from torch.utils.data import Subset

    from stablecore.data import load_dataset
    from stablecore.results import open_run, parse_shard
    from stablecore.smoothing import Smooth, certified_accuracy_curve, certify_dataset
    from stablecore.workflows import load_model, resolve_device

    if not 0 < args.alpha < 1:
        raise CLIError(f"--alpha must be in (0, 1), got {args.alpha}")
    store = open_run(args.run)
    table_name = args.table if args.table is not None else f"certify-{args.method}"
    try:
        store.table_path(table_name)  # a bad --table is refused before any work
    except ValueError as exc:
        raise CLIError(f"--table: {exc}") from None
    config = store.manifest.get("config", {})
    if not isinstance(config, dict) or "dataset" not in config:
        raise CLIError(f"the manifest of {args.run} names no dataset")
    data = load_dataset(config["dataset"], **dict(config.get("data_kwargs") or {}))
    test = data.test if args.limit is None else Subset(data.test, range(min(args.limit, len(data.test))))
    if len(test) == 0:
        raise CLIError(f"the test set of {args.run} is empty")
    selected = len(range(0, len(test), args.every))
    if args.shard is not None:
        i, n = parse_shard(args.shard)
        selected = len(range(i, selected, n))
    _check_work(args, selected)
    model = load_model(args.run, checkpoint=args.checkpoint, device=resolve_device(args.device))
    x0 = torch.as_tensor(test[0][0])
    itemsize = next((p.element_size() for p in model.parameters()), x0.element_size())
    _check_memory(args, x0.numel(), itemsize, data.num_classes)
    smooth = Smooth(model, data.num_classes, args.sigma)
    options = {}
    if args.method == "lipschitz":
        from stablecore.spectral import lipschitz_bound

        input_shape = tuple(x0.shape)
        try:
            bound = lipschitz_bound(model, input_shape)
        except (TypeError, ValueError) as exc:
            raise CLIError(f"--method lipschitz needs a Lipschitz bound of the model: {exc}") from exc
        print(f"logits Lipschitz bound: {bound.value:.6g} ({bound.kind}, {bound.method})")
        options = {"logits_bound": bound, "temperature": args.temperature}
    table = certify_dataset(
        smooth, test, out=store, method=args.method, n0=args.n0, n=args.n, alpha=args.alpha,
        batch_size=args.batch_size, every=args.every, shard=args.shard, seed=args.seed,
        progress=not args.no_progress and sys.stderr.isatty(), table=table_name, **options,
    )  # fmt: skip
    curve = certified_accuracy_curve(table, args.radii)
    print(
        f"{len(table)} examples certified (σ = {args.sigma}, n0 = {args.n0}, n = {args.n}, α = {args.alpha})"
    )
    print_table(curve.rename(columns={"eps": "radius"}))
    print(f"table {table_name} stored in {store.path / 'tables'}")
    return 0
