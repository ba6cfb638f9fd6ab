"""Render a :class:`~stablecore.report.SensitivityReport` as one self-contained HTML file.

plotly.js is embedded once, inline, with the first figure (``include_plotlyjs=True``; the others use
``False``), so the file opens offline; no external script or stylesheet is referenced. Figures come from
:mod:`stablecore.plots`; the file is written atomically.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from stablecore.report.compute import SensitivityReport

__all__ = ["figures", "render_html", "write_html"]

_KIND_TEXT = {
    "exact": "equal to the true value up to floating-point rounding",
    "upper_bound": "never below the true value",
    "lower_bound": "never above the true value",
    "estimate": "no guarantee either way",
}

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .9em; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: .25em .55em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-family: monospace; }
.kind { font-weight: 600; } .exact { color: #2ca02c; } .upper_bound { color: #1f77b4; }
.lower_bound { color: #d62728; } .estimate { color: #7f7f7f; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5em .8em; }
.gap { font-size: 1.15em; }
"""


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.6g}"


def _numbers_table(frame: pd.DataFrame) -> str:
    head = "".join(
        f"<th>{html.escape(c)}</th>" for c in ("quantity", "value", "kind", "method", "description")
    )
    rows = []
    for _, r in frame.iterrows():
        kind = html.escape(str(r["kind"]))
        rows.append(
            f"<tr><td>{html.escape(str(r['quantity']))}</td><td class='num'>{_fmt(float(r['value']))}</td>"
            f"<td class='kind {kind}'>{kind}</td><td>{html.escape(str(r['method']))}</td>"
            f"<td>{html.escape(str(r['description']))}</td></tr>"
        )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _frame_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    cols = [c for c in (columns or list(frame.columns)) if c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{_fmt(float(v))}</td>"
            if isinstance(v, (int, float)) and not isinstance(v, bool)
            else f"<td>{html.escape(str(v))}</td>"
            for v in (r[c] for c in cols)
        )
        + "</tr>"
        for _, r in frame.iterrows()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def figures(report: SensitivityReport) -> dict[str, go.Figure]:
    """The report's figures by section: ``input``, ``certified``, ``spectrum``, ``landscape``."""
    from stablecore.plots import (
        bound_gap_plot,
        hessian_summary_plot,
        landscape_contour_plot,
        robustness_curves_plot,
    )

    inputs = report.numbers[
        (report.numbers["section"] == "input") & (report.numbers["quantity"] != "looseness")
    ]
    inputs = inputs[inputs["value"] > 0]
    return {
        "input": bound_gap_plot(
            inputs, title="Input sensitivity: Lipschitz upper bound vs lower bounds (ℓ2)"
        ),
        "certified": robustness_curves_plot(report.curves),
        "spectrum": hessian_summary_plot(
            report.eigenvalues, report.density, trace=(report.trace.mean, report.trace.stderr)
        ),
        "landscape": landscape_contour_plot(
            report.landscape, title="Loss on a plane of filter-normalised random directions"
        ),
    }


def _section(report: SensitivityReport, name: str) -> pd.DataFrame:
    return report.numbers[report.numbers["section"] == name]


def render_html(report: SensitivityReport) -> str:
    """The report as one HTML document (plotly.js inline once; opens offline)."""
    if not isinstance(report, SensitivityReport):
        raise TypeError(f"report must be a SensitivityReport, got {type(report).__name__}")
    figs = figures(report)
    first = [True]

    def fig_html(key: str) -> str:
        out = figs[key].to_html(
            full_html=False,
            include_plotlyjs=first[0],
            default_width="100%",
            default_height="480px",
            div_id=f"figure-{key}",  # fixed ids: the same report renders to the same bytes
        )
        first[0] = False
        return out

    m, s = report.model, report.settings
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(report.title)}</h1>",
        f"<p>Model <b>{esc(m['name'])}</b> ({m['parameters']:,} parameters) on <b>{esc(m['dataset'])}</b>, "
        f"input shape {esc(str(m['input_shape']))}, {m['num_classes']} classes"
        + (f"; {esc(m['source'])}. " if m["source"] else ". ")
        + f"{m['test_points']} sampled test points (seed {report.seed}), loss on the first "
        f"{m['train_points']} training examples.</p>",
        "<p>Every number states its kind: "
        + "; ".join(f"<span class='kind {k}'>{k}</span> = {v}" for k, v in _KIND_TEXT.items())
        + ".</p>",
        "<h2>1. Input sensitivity</h2>",
    ]
    if report.upper_bound is not None:
        lower = report.lower_bounds["value"].max()
        parts.append(
            f"<p class='gap'>{_fmt(float(lower))} ≤ L ≤ {_fmt(report.upper_bound.value)}: "
            "the certified upper bound overstates the Lipschitz constant by at most a factor "
            f"{_fmt(report.number('looseness'))}."
            "</p>"
        )
    else:
        parts.append(
            "<p class='note'>No Lipschitz upper bound: "
            f"{esc(report.refusal or '')}. Only lower bounds are shown; certificates use randomized "
            "smoothing.</p>"
        )
    parts += [_numbers_table(_section(report, "input")), fig_html("input")]
    if report.layer_bounds is not None and not report.layer_bounds.empty:
        parts.append(
            "<details><summary>Per-layer bounds</summary>"
            + _frame_table(
                report.layer_bounds,
                ["module", "type", "input_shape", "output_shape", "value", "kind", "method"],
            )
            + "</details>"
        )
    parts += [
        "<h2>2. Certified accuracy</h2>",
        f"<p>Certificate: <b>{esc(report.certificate)}</b>. The robust accuracy at radius ε lies between the "
        "certified accuracy (lower bound) and the accuracy under PGD (upper bound).</p>",
        fig_html("certified"),
        _numbers_table(_section(report, "certified")),
        "<h2>3. Parameter sensitivity</h2>",
        "<p>Hessian of the training loss with respect to the parameters (model in eval mode): top "
        f"eigenvalues by Lanczos ({s.lanczos_steps} steps), trace by Hutchinson ({s.trace_samples} probes), "
        f"density by stochastic Lanczos quadrature ({s.density_runs} × {s.density_steps} steps).</p>",
        _numbers_table(_section(report, "parameter")),
        fig_html("spectrum"),
        fig_html("landscape"),
        "<h2>Settings</h2>",
        _frame_table(pd.DataFrame([{"setting": k, "value": str(v)} for k, v in s.to_dict().items()])),
        "<p>Seconds per section: "
        + ", ".join(f"{esc(k)} {v:.2f}" for k, v in report.timings.items())
        + ".</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_html(report: SensitivityReport, path: str | os.PathLike) -> Path:
    """Render ``report`` and write it to ``path`` atomically (temporary file, then rename)."""
    from stablecore.results.io import atomic_write_text

    target = Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"path must end in .html, got {str(path)!r}")
    return atomic_write_text(target, render_html(report))
