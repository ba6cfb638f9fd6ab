"""The sensitivity report (``stablecore report``): one self-contained HTML page on any classifier.

* :mod:`~stablecore.report.compute` -- :func:`build_report` measures a model on a data set and returns a
  frozen :class:`SensitivityReport` (every number with its kind);
* :mod:`~stablecore.report.sources` -- the model, data set and loss of a run or of a bare checkpoint;
* :mod:`~stablecore.report.html` -- :func:`render_html` / :func:`write_html` (plotly.js inline once).
"""

from stablecore.report.compute import (
    NUMBER_COLUMNS,
    SMOOTHING_CHOICES,
    ReportSettings,
    SensitivityReport,
    build_report,
    sample_indices,
)
from stablecore.report.html import figures, render_html, write_html
from stablecore.report.sources import ReportInputs, inputs_from_checkpoint, inputs_from_run

__all__ = [
    "NUMBER_COLUMNS",
    "SMOOTHING_CHOICES",
    "ReportInputs",
    "ReportSettings",
    "SensitivityReport",
    "build_report",
    "figures",
    "inputs_from_checkpoint",
    "inputs_from_run",
    "render_html",
    "sample_indices",
    "write_html",
]
