"""``stablecore spectral --run RUN``: per-layer spectral norms and the network's Lipschitz bound."""

from __future__ import annotations

import argparse

import pandas as pd

from stablecore.cli.common import CLIError, positive_int, print_table

HELP = "per-layer spectral norms, the network's Lipschitz bound and each layer's convergence"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spectral", help=HELP, description=HELP)
    p.add_argument("--run", required=True, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument(
        "--method",
        default="gram",
        choices=("gram", "exact", "power"),
        help="layer norms: gram (upper bounds), exact, power (lower bounds: the product is an estimate)",
    )
    p.add_argument(
        "--n-iter", type=positive_int, default=None, help="iterations per layer (default: method's)"
    )
    p.add_argument("--checkpoint", default="last.pt")
    p.add_argument("--save", action="store_true", help="store the table in the run (tables/spectral.parquet)")
    p.set_defaults(func=run)


def convergence_table(details: pd.DataFrame) -> pd.DataFrame:
    """One row per layer with an iterative bound: its value after each iteration (columns it1, it2, ...)."""
    rows = []
    for _, row in details.iterrows():
        history = list(row["history"])
        if len(history) > 1:
            rows.append({"module": row["module"], **{f"it{i + 1}": v for i, v in enumerate(history)}})
    return pd.DataFrame(rows)


def run(args: argparse.Namespace) -> int:
    from stablecore.models import model_config
    from stablecore.results import open_run
    from stablecore.spectral import lipschitz_bound
    from stablecore.workflows import load_model

    model = load_model(args.run, checkpoint=args.checkpoint, device="cpu")
    config = model_config(model)
    if "input_shape" not in config:
        raise CLIError(f"the model config of {args.run} has no input_shape")
    bound = lipschitz_bound(model, tuple(config["input_shape"]), method=args.method, n_iter=args.n_iter)
    table = bound.details
    print_table(table.drop(columns=["history"]))
    conv = convergence_table(table)
    if not conv.empty:
        print("\nconvergence (bound after each iteration):")
        print_table(conv)
    print(
        f"\nnetwork Lipschitz bound: {bound.value:.6g} ({bound.kind}, {bound.method}, "
        f"input shape {tuple(config['input_shape'])}, pixels as fed to the model)"
    )
    if args.save:
        path = open_run(args.run).write_table(
            f"spectral-{args.method}",
            table.assign(history=table["history"].map(lambda h: [float(v) for v in h])),
        )
        print(f"table stored in {path}")
    return 0
