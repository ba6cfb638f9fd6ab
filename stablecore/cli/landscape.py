"""``stablecore landscape --run RUN``: a 1-D or 2-D slice of a run's training loss, stored in the run.

The loss is the run's training loss on the first ``--samples`` examples of the run's data set (training
split by default, in order), the model in eval mode (BatchNorm running statistics), along filter-normalised
random directions (Li et al. 2018) drawn from ``--seed``. The table ``landscape-1d`` or ``landscape-2d``
has one row per grid point (``alpha, beta, loss, accuracy`` and the settings). With ``--shard i/n`` only the
rows ``alphas[i], alphas[i+n], ...`` are evaluated and stored as ``part-<i>``; ``n`` processes with the
same settings (same seed: same directions) fill the grid, and reading the table pools the shards.

The summary counts the grid points whose loss is NaN or inf (e.g. a span reaching 1e308 overflows the
weights); they stay in the table and are gaps in the charts. A grid whose arrays or evaluations exceed
the limits of :mod:`stablecore.limits` is refused before anything is allocated (naming ``--steps``).
A span with a negative exponent is typed ``--span=-1e-3,1e-3`` (or ``--span -1e-3 1e-3``).
"""

from __future__ import annotations

import argparse
import math
import re
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from stablecore.cli.common import CLIError, add_common_options, positive_int

HELP = "1-D / 2-D loss landscape of a run's model along filter-normalised random directions"
SETTINGS = ("seed", "normalization", "steps", "span_start", "span_stop", "split", "samples")
SPAN_HELP = (
    "range of the coordinates, as two numbers A B or one pair A,B (default -1 1); write a negative "
    "exponent as --span=-1e-3,1e-3 (or --span -1e-3 1e-3)"
)


class _SpanAction(argparse.Action):
    """``--span A B``, ``--span A,B`` or ``--span=A,B`` -> ``(A, B)`` as floats."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        given = [values] if isinstance(values, str) else list(values or [])
        pieces = [piece.strip() for value in given for piece in str(value).split(",")]
        expected = "two numbers A B or A,B (e.g. --span=-1e-3,1e-3)"
        if len(pieces) != 2:
            raise argparse.ArgumentError(self, f"expected {expected}, got {' '.join(map(str, given))!r}")
        try:
            setattr(namespace, self.dest, (float(pieces[0]), float(pieces[1])))
        except ValueError:
            raise argparse.ArgumentError(
                self, f"expected {expected}, got {' '.join(map(str, given))!r}"
            ) from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("landscape", help=HELP, description=HELP)
    # argparse's own pattern of a negative number (before Python 3.13) has no exponent: "-1e-3" would be
    # read as an option; "-<digit>", "-.<digit>", "-inf" and "-nan" are values here (no option is one)
    p._negative_number_matcher = re.compile(r"^-(?:\.?\d|inf|nan)", re.IGNORECASE)
    p.add_argument("--run", required=True, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument("--dims", type=int, choices=(1, 2), default=2, help="1-D line or 2-D plane (default 2)")
    p.add_argument("--steps", type=positive_int, default=51, help="grid values per axis (default 51)")
    p.add_argument(
        "--span", action=_SpanAction, nargs="+", default=(-1.0, 1.0), metavar=("A", "B"), help=SPAN_HELP
    )
    p.add_argument(
        "--normalization",
        choices=("filter", "layer", "model", "none"),
        default="filter",
        help="scaling of the random directions (default: filter, Li et al. 2018)",
    )
    p.add_argument("--samples", type=positive_int, default=512, help="examples used (first N, default 512)")
    p.add_argument("--split", choices=("train", "test"), default="train", help="data split (default train)")
    p.add_argument("--batch-size", type=positive_int, default=512, help="examples per batch (default 512)")
    p.add_argument("--chunk-size", type=positive_int, default=None, help="grid points per vmap call")
    p.add_argument("--shard", default=None, metavar="i/n", help="evaluate rows i, i+n, ... of the grid")
    p.add_argument("--checkpoint", default="last.pt")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_common_options(p)
    p.set_defaults(func=run)


def _loader(run_path: str, split: str, samples: int, batch_size: int):
    from torch.utils.data import DataLoader, Subset

    from stablecore.data import load_dataset
    from stablecore.results import open_run

    config = open_run(run_path).manifest.get("config", {})
    if "dataset" not in config:
        raise CLIError(f"the manifest of {run_path} names no dataset")
    bundle = load_dataset(config["dataset"], **dict(config.get("data_kwargs") or {}))
    data = bundle.train if split == "train" else bundle.test
    n = min(samples, len(data))
    loader = DataLoader(Subset(data, range(n)), batch_size=batch_size, shuffle=False)
    return loader, dict(config.get("loss") or {"name": "ce"}), n, config["dataset"]


def _check_pooled(table: pd.DataFrame, name: str) -> None:
    """Warn when the shards of ``name`` were made with different settings (they would not form a grid)."""
    mixed = [c for c in SETTINGS if c in table.columns and table[c].nunique(dropna=False) > 1]
    if mixed:
        print(f"warning: the shards of {name} differ in {mixed}; rerun every shard with the same settings")


def _check_span(span: Sequence[float], steps: int) -> None:
    """``--span A B``: finite, ``A < B``, a finite width and room for ``steps`` distinct values."""
    from stablecore.landscape import landscape_grid

    a, b = span
    if not (math.isfinite(a) and math.isfinite(b) and a < b and math.isfinite(b - a)):
        raise CLIError(
            f"--span A B needs finite numbers with A < B and a finite width B - A, got {a:g} {b:g}"
        )
    try:
        landscape_grid((a, b), steps, anchors=())
    except ValueError as exc:
        raise CLIError(f"--span: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from stablecore.landscape import LandscapeSummary, check_grid_size, slice_1d, slice_2d
    from stablecore.results import open_run, parse_shard
    from stablecore.train import build_loss
    from stablecore.workflows import load_model, resolve_device

    shard = parse_shard(args.shard)
    if args.steps < 2:
        raise CLIError(f"--steps must be >= 2, got {args.steps}")
    fraction = 1.0 if shard is None else 1.0 / shard[1]
    check_grid_size(args.steps, args.dims, argument="--steps")  # memory, before any allocation
    _check_span(args.span, args.steps)
    device = resolve_device(args.device)
    model = load_model(args.run, checkpoint=args.checkpoint, device=device)
    loader, loss_config, n, dataset = _loader(args.run, args.split, args.samples, args.batch_size)
    check_grid_size(args.steps, args.dims, n, fraction=fraction, argument="--steps")  # and the work
    loss_fn = build_loss(loss_config.pop("name"), **loss_config)
    normalization = None if args.normalization == "none" else args.normalization
    fn = slice_1d if args.dims == 1 else slice_2d
    with warnings.catch_warnings():  # non-finite losses are reported in the summary below
        warnings.filterwarnings("ignore", message=".*non-finite loss", category=RuntimeWarning)
        land = fn(
            model, loss_fn, loader, span=tuple(args.span), steps=args.steps, normalization=normalization,
            seed=args.seed, chunk_size=args.chunk_size, shard=shard, progress=not args.no_progress,
        )  # fmt: skip
    frame = land.to_frame()  # the evaluated points only (this shard's rows)
    frame = frame.assign(
        seed=args.seed, normalization=args.normalization, steps=args.steps, span_start=args.span[0],
        span_stop=args.span[1], split=args.split, samples=n,
    )  # fmt: skip
    name = f"landscape-{args.dims}d"
    store = open_run(args.run)
    path = store.write_table(name, frame, shard=shard)
    where = f"shard {shard[0]}/{shard[1]}, " if shard is not None else ""
    print(
        f"{args.dims}-D landscape of the {args.split} loss on {n} {dataset} examples, model in eval mode, "
        f"{args.normalization}-normalised random directions (seed {args.seed}): {where}{len(frame)} points"
    )
    if shard is not None and store.table_path(name).is_file():
        whole = store.table_path(name)
        print(f"warning: {whole} (an unsharded table) hides the shards; remove it to pool them")
    pooled = store.read_table(name)
    _check_pooled(pooled, name)
    total = len(land.alphas) ** args.dims
    centre = pooled[(pooled["alpha"] == 0.0) & (pooled["beta"] == 0.0)]["loss"]
    summary = LandscapeSummary.of(
        pooled["loss"].to_numpy(float), total, float(centre.iloc[0]) if len(centre) else None
    )
    print(summary.describe("in the table"))
    if summary.nonfinite:
        print(
            f"warning: {summary.nonfinite} of {summary.evaluated} grid points have a non-finite loss "
            "(NaN/inf), kept in the table and drawn as gaps; a narrower --span may avoid them"
        )
    print(f"table stored in {path}")
    return 0
