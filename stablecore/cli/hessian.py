"""``stablecore hessian --run RUN``: top-k Hessian eigenvalues, trace and spectral density of a run's model.

The loss is the run's training loss, on the first ``--samples`` training examples (in order). With
``--shard i/n`` the trace probes ``j ≡ i (mod n)`` and the density runs ``r ≡ i (mod n)`` are computed
and stored as shard ``part-<i>`` of the tables ``hessian-trace`` and ``hessian-density``; the top-k
Lanczos is not split (only shard 0 computes it). Reading a table pools every shard present.

The eigenvalue table has a ``converged`` column: whether each value met ``--tol`` (relative) within
``--max-steps`` Lanczos steps; a value that did not is reported with a one-line warning on stderr.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

import numpy as np
import pandas as pd

from stablecore.cli.common import CLIError, add_common_options, positive_int, print_table

HELP = "Hessian of the training loss: top-k eigenvalues (Lanczos), trace (Hutchinson), density (SLQ)"


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}") from None
    if not 0 < value < 1:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {text!r}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hessian", help=HELP, description=HELP)
    p.add_argument("--run", required=True, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument("--k", type=positive_int, default=1, help="top eigenvalues (default 1)")
    p.add_argument("--which", choices=("LA", "SA", "LM"), default="LA", help="LA (sharpness), SA or LM")
    p.add_argument(
        "--tol", type=_tolerance, default=1e-4, help="relative eigenvalue tolerance (default 1e-4)"
    )
    p.add_argument(
        "--max-steps",
        type=positive_int,
        default=None,
        metavar="S",
        help="most Lanczos steps for the eigenvalues (default: until --tol is met, at most 1000)",
    )
    p.add_argument("--trace", action="store_true", help="estimate the trace (Hutchinson)")
    p.add_argument("--trace-samples", type=positive_int, default=50, metavar="M", help="probes in all")
    p.add_argument("--density", action="store_true", help="spectral density (stochastic Lanczos quadrature)")
    p.add_argument("--density-runs", type=positive_int, default=2, metavar="R")
    p.add_argument("--lanczos-steps", type=positive_int, default=60, metavar="S")
    p.add_argument("--samples", type=positive_int, default=512, help="training examples used (first N)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument(
        "--shard", default=None, metavar="i/n", help="compute shard i of n of the trace and density"
    )
    p.add_argument("--checkpoint", default="last.pt")
    p.add_argument(
        "--no-progress", action="store_true", help="no progress bar (none when stderr is not a terminal)"
    )
    add_common_options(p)
    p.set_defaults(func=run)


def _loader(run_path: str, samples: int, batch_size: int):
    from torch.utils.data import DataLoader, Subset

    from stablecore.data import load_dataset
    from stablecore.results import open_run

    config = open_run(run_path).manifest.get("config", {})
    if "dataset" not in config:
        raise CLIError(f"the manifest of {run_path} names no dataset")
    data = load_dataset(config["dataset"], **dict(config.get("data_kwargs") or {}))
    n = min(samples, len(data.train))
    subset = Subset(data.train, range(n))
    loss = config.get("loss") or {"name": "ce"}
    return DataLoader(subset, batch_size=batch_size, shuffle=False), dict(loss), n


def run(args: argparse.Namespace) -> int:
    from stablecore.curvature import ConvergenceWarning, hessian_eigenvalues, hessian_trace, smooth_density
    from stablecore.curvature.lanczos import hessian_density
    from stablecore.limits import check_work
    from stablecore.results import open_run, parse_shard
    from stablecore.train import build_loss
    from stablecore.workflows import load_model, resolve_device

    shard = parse_shard(args.shard)
    progress = not args.no_progress and sys.stderr.isatty()
    index, count = shard if shard is not None else (0, 1)
    device = resolve_device(args.device)
    model = load_model(args.run, checkpoint=args.checkpoint, device=device)
    loader, loss_config, n = _loader(args.run, args.samples, args.batch_size)
    # a Hessian-vector product evaluates every example about three times (forward, two backward passes)
    if args.trace:
        check_work(3 * n * args.trace_samples, argument="--trace-samples", what="the trace probes")
    if args.density:
        steps = args.density_runs * args.lanczos_steps
        check_work(3 * n * steps, argument="--density-runs", what="the density's Lanczos runs")
    loss_fn = build_loss(loss_config.pop("name"), **loss_config)
    store = open_run(args.run)
    print(
        f"Hessian of the training loss on {n} training examples, model in eval mode (BatchNorm running stats)"
    )
    if index == 0:
        with warnings.catch_warnings():  # reported below, in one line
            warnings.simplefilter("ignore", ConvergenceWarning)
            top = hessian_eigenvalues(
                model, loss_fn, loader, k=args.k, which=args.which, tol=args.tol, max_steps=args.max_steps,
                seed=args.seed, progress=progress,
            )  # fmt: skip
        frame = top.to_frame()
        print_table(frame)
        store.write_table("hessian-topk", frame)
        if not top.all_converged:
            bad = int((~top.converged).sum())
            print(
                f"warning: {bad} of {len(top.converged)} eigenvalues did not meet --tol {top.tol:g} within "
                f"{top.n_hvp} Hessian-vector products (column converged): they may be far from the true "
                f"ones; raise --max-steps or --tol",
                file=sys.stderr,
            )
    if args.trace:
        probes = list(range(index, args.trace_samples, count))
        if probes:
            est = hessian_trace(model, loss_fn, loader, probes=probes, seed=args.seed, progress=progress)
            part = pd.DataFrame({"probe": probes, "value": est.samples, "seed": args.seed})
            store.write_table("hessian-trace", part, shard=shard)
        pooled = store.read_table("hessian-trace")
        values = pooled["value"].to_numpy()
        stderr = values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else math.nan
        print(
            f"trace ≈ {values.mean():.6g} ± {stderr:.2g} (estimate, Hutchinson, {len(values)} probes pooled)"
        )
    if args.density:
        runs = list(range(index, args.density_runs, count))
        if runs:
            dens = hessian_density(
                model,
                loss_fn,
                loader,
                lanczos_steps=args.lanczos_steps,
                runs=runs,
                seed=args.seed,
                progress=progress,
            )
            rows = [
                {"run": r, "node": float(v), "weight": float(w)}
                for r, nodes, weights in zip(runs, dens.nodes, dens.weights)
                for v, w in zip(nodes, weights)
                if np.isfinite(v)
            ]
            store.write_table("hessian-density", pd.DataFrame(rows), shard=shard)
        table = store.read_table("hessian-density")
        groups = [g for _, g in table.groupby("run")]
        width = max(len(g) for g in groups)
        nodes = np.full((len(groups), width), np.nan)
        weights = np.zeros((len(groups), width))
        for i, g in enumerate(groups):
            nodes[i, : len(g)], weights[i, : len(g)] = g["node"], g["weight"]
        pooled = smooth_density(nodes, weights)
        peak = pooled.grid[np.argmax(pooled.density)]
        print(
            f"density: {len(groups)} SLQ runs pooled, "
            f"support [{np.nanmin(nodes):.4g}, {np.nanmax(nodes):.4g}], "
            f"peak at {peak:.4g} (estimate)"
        )
    print(f"tables stored in {store.path / 'tables'}")
    return 0
