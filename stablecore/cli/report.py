"""``stablecore report --run RUN``: one self-contained HTML sensitivity report on a classifier.

Input sensitivity (a Lipschitz upper bound when the architecture allows it, lower bounds from gradients,
PGD and pairs, the gap), certified accuracy (Lipschitz margin, or randomized smoothing without a bound)
beside the accuracy under PGD, and parameter sensitivity (Hessian top eigenvalues, trace, density, a 2-D
landscape). The model is a run's (``--run``, default output ``<run>/report.html``) or a bare checkpoint
(``--checkpoint FILE --model-config FILE [--dataset NAME]``, default output beside the checkpoint).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stablecore.cli.common import (
    CLIError,
    add_common_options,
    finite_float,
    non_negative_float,
    positive_int,
)

HELP = "self-contained HTML sensitivity report: Lipschitz bounds vs lower bounds, certificates, Hessian"


def _positive_float(text: str) -> float:
    """A finite number ``> 0``; σ = 0 would be no smoothing at all: ``--smoothing never`` says that."""
    return finite_float(
        text, "a finite number > 0 (to leave randomized smoothing out use --smoothing never)", lambda v: v > 0
    )


def add_parser(sub: argparse._SubParsersAction) -> None:
    from stablecore.report import SMOOTHING_CHOICES

    p = sub.add_parser("report", help=HELP, description=HELP)
    p.add_argument("--run", default=None, metavar="RUN", help="run directory (runs/<experiment>/<id>)")
    p.add_argument(
        "--checkpoint",
        default=None,
        metavar="FILE",
        help="with --run: the checkpoint's name in the run (default last.pt); without: a checkpoint file",
    )
    p.add_argument(
        "--model-config", default=None, metavar="FILE", help="JSON model config of --checkpoint FILE"
    )
    p.add_argument("--dataset", default=None, help="data set (default: the run's / the config's)")
    p.add_argument("--out", default=None, metavar="FILE", help="output .html (default: <run>/report.html)")
    p.add_argument("--test-points", type=positive_int, default=None, metavar="N", help="sampled test points")
    p.add_argument("--train-points", type=positive_int, default=None, metavar="N", help="loss on first N")
    p.add_argument("--radii", type=non_negative_float, nargs="+", default=None, help="ℓ2 radii of the curves")
    p.add_argument("--smoothing", choices=SMOOTHING_CHOICES, default=None, help="randomized smoothing: auto")
    p.add_argument("--sigma", type=_positive_float, default=None, help="smoothing noise σ > 0 (default 0.25)")
    p.add_argument("--no-progress", action="store_true")
    add_common_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from stablecore.report import (
        ReportSettings,
        build_report,
        inputs_from_checkpoint,
        inputs_from_run,
        write_html,
    )
    from stablecore.train import current_mode
    from stablecore.workflows import resolve_device

    device = resolve_device(args.device)
    if args.run is not None:
        if args.model_config is not None:
            raise CLIError("--model-config goes with --checkpoint FILE, not with --run")
        inputs = inputs_from_run(
            args.run, checkpoint=args.checkpoint or "last.pt", dataset=args.dataset, device=device
        )
        default_out = Path(args.run) / "report.html"
    else:
        if args.checkpoint is None or args.model_config is None:
            raise CLIError("give --run RUN, or --checkpoint FILE with --model-config FILE")
        inputs = inputs_from_checkpoint(
            args.checkpoint, args.model_config, dataset=args.dataset, device=device
        )
        default_out = Path(args.checkpoint).with_suffix(".report.html")
    out = Path(args.out) if args.out is not None else default_out
    if out.suffix.lower() not in (".html", ".htm"):
        raise CLIError(f"--out must end in .html, got {str(out)!r}")
    overrides = {
        key: value
        for key, value in (
            ("test_points", args.test_points),
            ("train_points", args.train_points),
            ("radii", tuple(args.radii) if args.radii else None),
            ("smoothing", args.smoothing),
            ("sigma", args.sigma),
        )
        if value is not None
    }
    settings = ReportSettings.preset(current_mode(args.mode), **overrides)
    report = build_report(
        inputs.model,
        inputs.data,
        loss_fn=inputs.loss_fn,
        settings=settings,
        seed=args.seed,
        source=inputs.source,
        progress=not args.no_progress,
    )
    path = write_html(report, out)
    upper = report.upper_bound
    lower = report.lower_bounds["value"].max()
    if upper is not None:
        print(f"Lipschitz constant (ℓ2): {lower:.4g} (lower_bound) ≤ L ≤ {upper.value:.4g} ({upper.kind})")
    else:
        print(f"Lipschitz constant (ℓ2): ≥ {lower:.4g} (lower_bound); no upper bound: {report.refusal}")
    print(
        f"certificate: {report.certificate}; λ_max ≈ {report.number('hessian_eigenvalue_1'):.4g} (estimate)"
    )
    print(f"report written to {path}")
    return 0
