"""``stablecore certify --run RUN``: randomized-smoothing certification of a run's model on its test set.

Rows go to the run's table ``certify-<method>`` (a shard ``part-<i>.parquet`` with ``--shard i/n``),
flushed as they are computed; rerunning the same command resumes where it stopped.
"""

from __future__ import annotations

import argparse

from stablecore.cli.common import CLIError, add_common_options, positive_int, print_table

HELP = "randomized-smoothing certificates (Cohen, LVM-RS, Lipschitz-aware) of a run's model, resumable"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certify", help=HELP, description=HELP)
    p.add_argument("--run", required=True, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument("--sigma", type=_positive_float, required=True, help="noise level σ (pixel space)")
    p.add_argument("--n0", type=positive_int, default=100, help="selection samples (default 100)")
    p.add_argument("--n", type=positive_int, default=100_000, help="estimation samples (default 100000)")
    p.add_argument("--alpha", type=_positive_float, default=0.001, help="failure probability (default 0.001)")
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
        type=_positive_float,
        default=1.0,
        help="softmax temperature of the score for --method lipschitz (default 1)",
    )
    p.add_argument("--shard", default=None, metavar="i/n", help="certify shard i of n")
    p.add_argument("--radii", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--checkpoint", default="last.pt")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from torch.utils.data import Subset

    from stablecore.data import load_dataset
    from stablecore.results import open_run
    from stablecore.smoothing import Smooth, certified_accuracy_curve, certify_dataset
    from stablecore.workflows import load_model, resolve_device

    if not 0 < args.alpha < 1:
        raise CLIError(f"--alpha must be in (0, 1), got {args.alpha}")
    store = open_run(args.run)
    config = store.manifest.get("config", {})
    if "dataset" not in config:
        raise CLIError(f"the manifest of {args.run} names no dataset")
    data = load_dataset(config["dataset"], **dict(config.get("data_kwargs") or {}))
    test = data.test if args.limit is None else Subset(data.test, range(min(args.limit, len(data.test))))
    model = load_model(args.run, checkpoint=args.checkpoint, device=resolve_device(args.device))
    smooth = Smooth(model, data.num_classes, args.sigma)
    options = {}
    if args.method == "lipschitz":
        from stablecore.spectral import lipschitz_bound

        input_shape = tuple(test[0][0].shape)
        try:
            bound = lipschitz_bound(model, input_shape)
        except (TypeError, ValueError) as exc:
            raise CLIError(f"--method lipschitz needs a Lipschitz bound of the model: {exc}") from exc
        print(f"logits Lipschitz bound: {bound.value:.6g} ({bound.kind}, {bound.method})")
        options = {"logits_bound": bound, "temperature": args.temperature}
    table = certify_dataset(
        smooth, test, out=store, method=args.method, n0=args.n0, n=args.n, alpha=args.alpha,
        batch_size=args.batch_size, every=args.every, shard=args.shard, seed=args.seed,
        progress=not args.no_progress, **options,
    )  # fmt: skip
    curve = certified_accuracy_curve(table, args.radii)
    print(
        f"{len(table)} examples certified (σ = {args.sigma}, n0 = {args.n0}, n = {args.n}, α = {args.alpha})"
    )
    print_table(curve.rename(columns={"eps": "radius"}))
    print(f"table certify-{args.method} stored in {store.path / 'tables'}")
    return 0
