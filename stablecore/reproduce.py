"""One-command reproduction: execute the chapter notebooks and set our numbers beside the thesis's.

:func:`reproduce` runs each chapter notebook (``CHAPTERS[n].NOTEBOOK``) in a fresh Jupyter kernel with
``STABLECORE_MODE`` set, and writes, under the run store (:func:`stablecore.results.runs_home`)::

    reproduce/<run_id>/                      run_id = UTC timestamp + random suffix
      manifest.json                          mode, device, per chapter: status, wall / CPU time, error
      chNN_<topic>.ipynb, chNN_<topic>.html  the executed notebook (outputs kept) and its offline HTML
      tables/chNN.<experiment>.parquet       every DataFrame a chapter experiment returned in the notebook
      objects/chNN.<experiment>.pkl          (only for a DataFrame that Parquet refuses)
      kernels/chNN.json                      the kernel's CPU time and experiment call counts
      tables/summary.parquet, summary.md     the summary table (:func:`summary_table`)

**Where "ours" comes from.** The kernel runs with ``STABLECORE_RECORD=<run dir>:<chapter>``
(:mod:`stablecore.chapters.recording`): the chapters' ``experiment`` decorator then stores the DataFrame
of the first *top-level* call of each of the chapter's experiments (``module.EXPERIMENTS``) as soon as it
returns; nothing is injected into the kernel and the notebook itself is not changed. The chapter's own
``reported_comparison(results)`` then maps them to its reported-number ids, so no number is computed
twice and none is invented. A chapter module without ``reported_comparison`` yields rows marked as not
computed.

**Summary table.** One row per reported number (:func:`stablecore.chapters.reported_numbers`) of the
chapters asked for: the thesis's value, its source and status (``transcribed | recalled | not
transcribed``), ours, which experiment computed it, and the relative difference

.. math:: \\Delta_\\text{rel} = \\frac{x_\\text{ours} - x_\\text{thesis}}{|x_\\text{thesis}|}

where both exist (undefined, NaN, for a thesis value of 0). A failed notebook is reported (status,
error, the experiments it finished still count), never fatal to the other chapters.

**Full mode** (``mode="full"``): the thesis's settings on a GPU; per chapter, :data:`FULL_MODE` (also
``docs/reproduce.md``) lists the settings, an *estimate* of the GPU hours (not measured) and the data
expected under ``$STABLECORE_DATA``. Quick mode needs no download and no GPU.

Example:
    >>> from stablecore.reproduce import relative_difference
    >>> relative_difference(105.0, 100.0)
    0.05
"""

from __future__ import annotations

import math
import numbers
import os
import pickle
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from stablecore.chapters import CHAPTERS, reported_numbers
from stablecore.chapters.recording import record_env
from stablecore.results import (
    LoadedRun,
    Run,
    atomic_write_json,
    atomic_write_text,
    create_run,
    list_runs,
    load_run,
    read_json,
    read_table,
    runs_home,
)
from stablecore.train import current_mode

__all__ = [
    "FULL_MODE",
    "SUMMARY_COLUMNS",
    "ChapterOutcome",
    "FullModeNeeds",
    "Reproduction",
    "execute_chapter",
    "full_mode_table",
    "latest_reproduction",
    "load_results",
    "relative_difference",
    "reproduce",
    "summary_markdown",
    "summary_table",
]

ChapterStatus = Literal["ok", "failed", "missing"]

SUMMARY_COLUMNS: tuple[str, ...] = (
    "chapter", "id", "quantity", "unit", "thesis", "source", "status", "ours", "computed_by", "rel_diff",
    "comparison", "note",
)  # fmt: skip
"""Columns of :func:`summary_table`. ``comparison``: ``"compared"`` (both values), ``"ours only"``
(thesis value not transcribed), ``"thesis only"`` (not computed in this run: ``note`` says why) or
``"neither"``."""

_REPO_ROOT = Path(__file__).resolve().parents[1]
_TABLE = re.compile(r"^ch(\d{2})\.([A-Za-z0-9_][A-Za-z0-9_.\-]*)$")
#: Seconds between two heartbeats of a reproduction (one per executed cell at most this often), so
#: that `stablecore runs` tells a live reproduction from one whose process died.
_HEARTBEAT_EVERY = 30.0


# ----------------------------------------------------------------------------------- full mode
@dataclass(frozen=True)
class FullModeNeeds:
    """What a chapter's full mode runs and needs.

    Args:
        chapter: chapter number.
        settings: the thesis-scale settings of ``ChNNConfig.full()`` in words.
        gpu_hours: an *estimate* (FLOP count and typical utilisation on one recent data-centre GPU, not a
            measurement) of the GPU hours, as text (a range).
        data: what is read from ``$STABLECORE_DATA`` (never downloaded by the notebooks).
    """

    chapter: int
    settings: str
    gpu_hours: str
    data: str


FULL_MODE: tuple[FullModeNeeds, ...] = (
    FullModeNeeds(
        1,
        "Ch01Config.full(): two-moons with 2000 points and 60 epochs (PGD 100 steps, 32 parameter draws, "
        "500 lower-bound steps); deep linear nets; Cohen randomized smoothing on digits with an MLP 256-256 "
        "trained 40 epochs per σ ∈ {0.12, 0.25, 0.5, 1.0}, all 450 test points, n = 100,000; top-5 Hessian "
        "eigenvalues and 101-step 1-D landscapes",
        "≈ 0.5 (estimate: 4 σ × 450 points × 10⁵ draws of a small MLP)",
        "none (two-moons; scikit-learn digits)",
    ),
    FullModeNeeds(
        2,
        "Ch02Config.full(): dense 500×400, 2000×2000, 4000×3000 (Gram 15 it., power 1000 it., 5 timed "
        "repeats); circular kernels up to c = 512 at n = 56, 100 power iterations; zero padding with 5 "
        "kernel-space iterations; digits ConvNet 16-32 for 30 epochs × 4 penalty strengths; linear net of "
        "dimension 100 up to depth 110; ResNet-18 (ImageNet) shapes at 224×224",
        "≈ 0.5 (estimate)",
        "none (random matrices and kernels; scikit-learn digits ship with scikit-learn)",
    ),
    FullModeNeeds(
        3,
        "Ch03Config.full(): moons and digits for 100 epochs with wider/deeper dense Lipschitz nets; "
        "3,000 Jacobian draws; power-iteration gap on 1024×1024 layers, 1000 steps; CIFAR-10 certified "
        "accuracy of the SLL code's 'small' conv nets (CPL, SLL, AOL, SR) for 30 epochs of Adam (a reduced "
        "budget: the papers train 200 to 1000 epochs)",
        "≈ 1–3 (estimate; the papers' budgets would need ≈ 30–100)",
        "CIFAR-10 python batches: $STABLECORE_DATA/cifar-10-batches-py/",
    ),
    FullModeNeeds(
        4,
        "Ch04Config.full(): digits MLP 128-128, Hessian on 2048 examples (top-10 Lanczos, 100 Hutchinson "
        "probes, 5 SLQ runs of 90 steps), 50 epochs for spectrum and landscapes (51×51 planes); "
        "regulariser comparison on CIFAR-10 with ResNet-20, SGD 0.1 + cosine for 30 epochs, 7 regularisers "
        "× 3 seeds (Hessian-bound penalty left out on ResNet)",
        "≈ 4–8 (estimate: 21 ResNet-20 trainings, SAM / trace / gradient-norm steps cost 2–4×)",
        "CIFAR-10 python batches: $STABLECORE_DATA/cifar-10-batches-py/",
    ),
    FullModeNeeds(
        5,
        "Ch05Config.full(): moons boundaries on an 81×81 grid × 1000 draws; 200 points × 10,000 draws for "
        "maps × temperatures; ResNet-110 trained with Gaussian noise at σ (Cohen et al.'s recipe: 90 epochs, "
        "SGD 0.1, step 30), certified on every 20th CIFAR-10 test image (500) with n₀ = 100, n = 100,000, "
        "α = 0.001 (Cohen and LVM-RS)",
        "≈ 2–4 (estimate: training ≈ 1, 5·10⁷ ResNet-110 forwards per certification method)",
        "CIFAR-10 python batches: $STABLECORE_DATA/cifar-10-batches-py/",
    ),
    FullModeNeeds(
        6,
        "Ch06Config.full(): 2000 synthetic count vectors and 450 digits points with n = 100,000 (CPM vs "
        "Bonferroni); SLL base on digits, 450 points with n = 100,000 and PGD 100 steps × 5 restarts",
        "≈ 0.5 (estimate)",
        "none (scikit-learn digits)",
    ),
)
"""Per chapter: full-mode settings, estimated GPU hours, expected data (``docs/reproduce.md``)."""


def full_mode_table() -> pd.DataFrame:
    """:data:`FULL_MODE` as a DataFrame (``chapter, notebook, settings, gpu_hours, data``)."""
    rows = [
        {
            "chapter": need.chapter,
            "notebook": CHAPTERS[need.chapter].NOTEBOOK,
            "settings": need.settings,
            "gpu_hours": need.gpu_hours,
            "data": need.data,
        }
        for need in FULL_MODE
    ]
    return pd.DataFrame(rows, columns=["chapter", "notebook", "settings", "gpu_hours", "data"])


# ----------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class ChapterOutcome:
    """One chapter of a reproduction.

    Args:
        chapter: chapter number.
        notebook: the notebook's path (as given by the chapter module, relative to the repository).
        status: ``"ok"``, ``"failed"`` (``error`` says where and why) or ``"missing"`` (no notebook file).
        seconds: wall time of the notebook (kernel start to shutdown), 0 when missing.
        error: one line, empty when ``status == "ok"``.
        executed: the executed ``.ipynb`` (``None`` when missing).
        html: its HTML rendering (``None`` when missing or when the rendering failed: see ``error``).
        results: experiment name -> the DataFrame the notebook's top-level call returned.
        cpu_seconds: CPU time (user + system) of the notebook's kernel; on a shared machine, wall time
            over CPU time shows how much the load stretched the run. NaN when unknown.
    """

    chapter: int
    notebook: str
    status: ChapterStatus
    seconds: float
    error: str = ""
    executed: Path | None = None
    html: Path | None = None
    results: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    cpu_seconds: float = math.nan


@dataclass(frozen=True)
class Reproduction:
    """A finished :func:`reproduce`: its directory, mode, chapter outcomes and summary table."""

    path: Path
    mode: str
    chapters: tuple[ChapterOutcome, ...]
    summary: pd.DataFrame = field(repr=False)

    @property
    def timings(self) -> pd.DataFrame:
        """``chapter, notebook, status, seconds, cpu_seconds, error``, one row per chapter."""
        return pd.DataFrame(
            [(c.chapter, c.notebook, c.status, c.seconds, c.cpu_seconds, c.error) for c in self.chapters],
            columns=["chapter", "notebook", "status", "seconds", "cpu_seconds", "error"],
        )


def relative_difference(ours: float | None, thesis: float | None) -> float:
    """:math:`(x_\\text{ours} - x_\\text{thesis}) / |x_\\text{thesis}|`; NaN when either is missing
    (``None`` or NaN) or the thesis value is 0."""
    if ours is None or thesis is None:
        return math.nan
    ours, thesis = float(ours), float(thesis)
    if math.isnan(ours) or math.isnan(thesis) or thesis == 0.0:
        return math.nan
    return (ours - thesis) / abs(thesis)


# ----------------------------------------------------------------------------------- recording
def _children_cpu_seconds() -> float:
    """User + system CPU time of this process's finished (waited-for) children; NaN where unknown."""
    try:
        import resource
    except ImportError:  # not on Windows
        return math.nan
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _write_kernel_record(run_path: Path, chapter: int, cpu_seconds: float) -> None:
    """``kernels/chNN.json``: the kernel's CPU time beside the call counts its recorder wrote there."""
    file = run_path / "kernels" / f"ch{chapter:02d}.json"
    calls = read_json(file).get("calls", {}) if file.is_file() else {}
    cpu = None if math.isnan(cpu_seconds) else cpu_seconds
    atomic_write_json(file, {"cpu_seconds": cpu, "calls": calls})


def load_results(path: str | os.PathLike, chapter: int) -> dict[str, pd.DataFrame]:
    """The experiment DataFrames of ``chapter`` stored in the reproduction directory ``path``
    (``tables/chNN.<experiment>.parquet``, and ``objects/chNN.<experiment>.pkl`` for frames Parquet
    refused: pickles, so read only reproductions you made).

    Raises:
        ValueError: ``chapter`` is not a chapter number.
    """
    _check_chapter(chapter)
    path = Path(path)
    out: dict[str, pd.DataFrame] = {}
    prefix = f"ch{chapter:02d}."
    for folder, suffix in ((path / "objects", ".pkl"), (path / "tables", ".parquet")):
        if not folder.is_dir():
            continue
        for file in sorted(folder.iterdir()):
            if not (file.name.startswith(prefix) and file.name.endswith(suffix)):
                continue  # other chapters, the summary, temporary files (".tmp-" prefix)
            name = file.name[len(prefix) : -len(suffix)]
            if suffix == ".pkl":
                with file.open("rb") as fh:
                    out[name] = pickle.load(fh)  # written by this run's recorder
            else:
                out[name] = pd.read_parquet(file)
    return out


# ----------------------------------------------------------------------------------- execution
def _check_chapter(chapter: Any) -> int:
    if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or int(chapter) not in CHAPTERS:
        raise ValueError(f"chapter must be one of {sorted(CHAPTERS)}, got {chapter!r}")
    return int(chapter)


def _chapters(chapters: int | str | Iterable[int] | None) -> list[int]:
    if chapters is None or chapters == "all":
        return sorted(CHAPTERS)
    if isinstance(chapters, str):
        raise ValueError(f"chapters must be 'all', a chapter number or a list of them, got {chapters!r}")
    if isinstance(chapters, numbers.Integral) and not isinstance(chapters, bool):
        return [_check_chapter(chapters)]
    try:
        picked = [_check_chapter(c) for c in chapters]  # type: ignore[union-attr]
    except TypeError:
        raise ValueError(
            f"chapters must be 'all', a chapter number or a list of them, got {chapters!r}"
        ) from None
    if not picked:
        raise ValueError("chapters must not be empty")
    return sorted(set(picked))


def _one_line(exc: BaseException) -> str:
    """``Name: message`` on one line; for a cell error, the kernel's exception name and value."""
    ename, evalue = getattr(exc, "ename", None), getattr(exc, "evalue", None)
    if ename:
        return f"{ename}: {evalue}".splitlines()[0]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}".strip()


def _render_html(nb: Any) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def execute_chapter(
    chapter: int,
    run_path: str | os.PathLike,
    *,
    mode: str | None = None,
    notebook: str | os.PathLike | None = None,
    cell_timeout: int | None = None,
    kernel_name: str = "python3",
    env: Mapping[str, str] | None = None,
    on_cell: Callable[[int, int], None] | None = None,
) -> ChapterOutcome:
    """Execute one chapter notebook into ``run_path``; never raises for a failing notebook.

    Args:
        chapter: chapter number (a key of :data:`stablecore.chapters.CHAPTERS`).
        run_path: output directory (the notebook, its HTML and the recorded tables go there).
        mode: ``"quick"`` or ``"full"`` (default ``$STABLECORE_MODE``, else quick), set as the kernel's
            ``STABLECORE_MODE``.
        notebook: the notebook to run (default: the chapter module's ``NOTEBOOK`` in this repository).
        cell_timeout: seconds allowed per cell (``None``: no limit).
        kernel_name: Jupyter kernel.
        env: extra environment variables of the kernel.
        on_cell: called with ``(cell_index, n_cells)`` before each code cell (progress).

    Returns:
        A :class:`ChapterOutcome` (``"ok"``, ``"failed"`` with a one-line error, or ``"missing"``).
    """
    import nbformat
    from nbclient import NotebookClient

    chapter = _check_chapter(chapter)
    mode = current_mode(mode)
    run_path = Path(run_path)
    module = CHAPTERS[chapter]
    source = Path(notebook) if notebook is not None else _REPO_ROOT / module.NOTEBOOK
    label = module.NOTEBOOK if notebook is None else str(notebook)
    if not source.is_file():
        return ChapterOutcome(chapter, label, "missing", 0.0, f"notebook {source} does not exist")
    if cell_timeout is not None and (isinstance(cell_timeout, bool) or not cell_timeout > 0):
        raise ValueError(f"cell_timeout must be None or a number > 0, got {cell_timeout!r}")
    nb = nbformat.read(source, as_version=4)
    kernel_env = {
        **os.environ,
        **(env or {}),
        "STABLECORE_MODE": mode,
        **record_env(run_path.resolve(), chapter),
    }
    kernel_env.setdefault("PYTHONPATH", str(_REPO_ROOT))
    # plotly figures as their JSON (Jupyter) and as HTML with plotly.js inlined once (offline HTML page)
    kernel_env.setdefault("PLOTLY_RENDERER", "plotly_mimetype+notebook")
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(source.parent)}},
    )
    error = ""
    start = time.perf_counter()
    cpu_before = _children_cpu_seconds()  # the kernel is a child: its CPU time counts once it is reaped
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    try:
        with client.setup_kernel(env=kernel_env):
            info = client.wait_for_reply(client.kc.kernel_info())
            if info is not None:
                nb.metadata["language_info"] = info["content"]["language_info"]
            try:
                for k, index in enumerate(code_cells):
                    if on_cell is not None:
                        on_cell(k, len(code_cells))
                    client.execute_cell(nb.cells[index], index)
            except Exception as exc:  # a failing notebook is reported, not raised
                cell = next((k for k, i in enumerate(code_cells) if nb.cells[i].get("outputs") and any(
                    o.get("output_type") == "error" for o in nb.cells[i].outputs)), None)  # fmt: skip
                error = (f"code cell {cell + 1}: " if cell is not None else "") + _one_line(exc)
    except Exception as exc:  # kernel start / shutdown failures
        error = error or f"kernel: {_one_line(exc)}"
    seconds = time.perf_counter() - start
    _write_kernel_record(run_path, chapter, _children_cpu_seconds() - cpu_before)
    executed = run_path / source.name
    atomic_write_text(executed, nbformat.writes(nb))
    html: Path | None = run_path / (source.stem + ".html")
    try:
        atomic_write_text(html, _render_html(nb))
    except Exception as exc:  # the notebook itself is kept
        html = None
        error = error or f"HTML rendering: {_one_line(exc)}"
    results = load_results(run_path, chapter)
    cpu = read_json(run_path / "kernels" / f"ch{chapter:02d}.json")["cpu_seconds"]
    cpu = math.nan if cpu is None else float(cpu)
    status: ChapterStatus = "failed" if error else "ok"
    return ChapterOutcome(chapter, label, status, seconds, error, executed, html, results, cpu)


# ----------------------------------------------------------------------------------- summary
def _computed(chapter: int, results: Mapping[str, pd.DataFrame]) -> tuple[pd.DataFrame | None, str]:
    """The chapter's ``reported_comparison`` on ``results`` (or None and why not)."""
    module = CHAPTERS[chapter]
    hook = getattr(module, "reported_comparison", None)
    if hook is None:
        return None, f"the chapter {chapter} module has no reported_comparison: no computed counterpart"
    known = set(getattr(module, "EXPERIMENTS", {}))
    try:
        frame = hook({k: v for k, v in results.items() if k in known})
    except Exception as exc:  # reported in the table's notes
        return None, f"reported_comparison failed: {_one_line(exc)}"
    return frame, ""


def summary_table(
    results: Mapping[int, Mapping[str, pd.DataFrame]],
    *,
    mode: str | None = None,
    chapters: Iterable[int] | None = None,
    errors: Mapping[int, str] | None = None,
) -> pd.DataFrame:
    """One row per reported number of ``chapters``: thesis value, source, status, ours, relative difference.

    Args:
        results: chapter -> experiment name -> the DataFrame the chapter's experiment returned (what a
            notebook computed; see :func:`load_results`). A chapter absent here computed nothing.
        mode: the mode the results were computed in (for the notes; default ``$STABLECORE_MODE``).
        chapters: chapters to tabulate (default: those of ``results`` and ``errors``, else all).
        errors: chapter -> why its notebook failed or did not run (added to every row's note; the
            experiments it finished still count).

    Returns:
        Columns :data:`SUMMARY_COLUMNS`. ``ours`` comes only from the chapter's ``reported_comparison``
        on ``results`` (in the reported unit), NaN where nothing computed it; ``rel_diff`` is
        :func:`relative_difference`.

    Raises:
        ValueError: an unknown chapter number.
        TypeError: ``results`` is not a mapping of mappings of DataFrames.
    """
    mode = current_mode(mode)
    errors = dict(errors or {})
    if not isinstance(results, Mapping):
        raise TypeError(
            f"results must be a mapping chapter -> {{experiment: DataFrame}}, got {type(results).__name__}"
        )
    for n, part in results.items():
        _check_chapter(n)
        if not isinstance(part, Mapping) or not all(isinstance(v, pd.DataFrame) for v in part.values()):
            raise TypeError(f"results[{n!r}] must be a mapping experiment name -> DataFrame")
    for n in errors:
        _check_chapter(n)
    if chapters is None:
        wanted = sorted(set(results) | set(errors)) or sorted(CHAPTERS)
    else:
        wanted = _chapters(list(chapters))
    rows = []
    for n in wanted:
        reported = reported_numbers(n)
        computed, why = (None, "the notebook did not run") if n not in results else _computed(n, results[n])
        by_id = {} if computed is None else {r["id"]: r for r in computed.to_dict("records")}
        failed = errors.get(n, "")
        for rep in reported.itertuples(index=False):
            got = by_id.get(rep.id)
            ours = math.nan
            computed_by, note = "", why
            if got is not None:
                value = got.get("measured")
                if value is not None and not pd.isna(value):
                    ours = float(value)
                    computed_by = str(got.get("measured_by") or "")
                note = str(got.get("note") or "")
            elif computed is not None:
                note = "reported_comparison has no row for this id"
            thesis = None if pd.isna(rep.value) else float(rep.value)
            has_ours = not math.isnan(ours)
            if not has_ours:
                note = f"not computed in {mode} mode" + (f": {note}" if note else "")
            if has_ours and thesis == 0.0:
                note = "relative difference undefined (thesis value 0)" + (f"; {note}" if note else "")
            if failed:
                note = f"notebook failed ({failed})" + (f"; {note}" if note else "")
            comparison = {
                (True, True): "compared",
                (False, True): "ours only",
                (True, False): "thesis only",
                (False, False): "neither",
            }[(thesis is not None, has_ours)]
            rows.append(
                {
                    "chapter": n,
                    "id": rep.id,
                    "quantity": rep.quantity,
                    "unit": rep.unit,
                    "thesis": math.nan if thesis is None else thesis,
                    "source": rep.source,
                    "status": rep.status,
                    "ours": ours,
                    "computed_by": computed_by,
                    "rel_diff": relative_difference(ours, thesis),
                    "comparison": comparison,
                    "note": note,
                }
            )
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame.astype({"chapter": "int64", "thesis": "float64", "ours": "float64", "rel_diff": "float64"})


def _fmt(value: float) -> str:
    return "—" if pd.isna(value) else f"{value:.6g}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(table: pd.DataFrame, timings: pd.DataFrame | None = None, *, mode: str = "") -> str:
    """The summary table (and the chapters' status and wall times) as Markdown."""
    missing = set(SUMMARY_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"table must have the columns of summary_table(), missing {sorted(missing)}")
    lines = [f"# Reproduction summary{f' ({mode} mode)' if mode else ''}", ""]
    if timings is not None:
        lines += [
            "| chapter | notebook | status | wall time (s) | kernel CPU time (s) | error |",
            "|---|---|---|---|---|---|",
        ]
        for r in timings.itertuples(index=False):
            cpu = getattr(r, "cpu_seconds", math.nan)
            cpu_text = "—" if pd.isna(cpu) else f"{cpu:.1f}"
            wall = f"{r.seconds:.1f}"
            lines.append(
                f"| {r.chapter} | {r.notebook} | {r.status} | {wall} | {cpu_text} | {_cell(r.error)} |"
            )
        lines.append("")
    counts = table.groupby(["status", "comparison"]).size()
    lines += ["| status | comparison | numbers |", "|---|---|---|"]
    lines += [f"| {s} | {c} | {k} |" for (s, c), k in counts.items()]
    lines += [
        "",
        "Relative difference = (ours − thesis) / |thesis|. Values in the thesis's unit.",
        "",
        "| id | quantity | unit | thesis | source | status | ours | computed by | rel. diff | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples(index=False):
        rel = "—" if pd.isna(r.rel_diff) else f"{r.rel_diff:+.3g}"
        lines.append(
            f"| {r.id} | {_cell(r.quantity)} | {_cell(r.unit)} | {_fmt(r.thesis)} | {_cell(r.source)} | "
            f"{r.status} | {_fmt(r.ours)} | {_cell(r.computed_by)} | {rel} | {_cell(r.note)} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- driver
def reproduce(
    chapters: int | str | Iterable[int] | None = "all",
    *,
    mode: str | None = None,
    home: str | os.PathLike | None = None,
    cell_timeout: int | None = None,
    progress: bool = True,
    notebooks: Mapping[int, str | os.PathLike] | None = None,
    kernel_name: str = "python3",
) -> Reproduction:
    """Execute the chapter notebooks and write the summary table (see the module docstring for the layout).

    Args:
        chapters: ``"all"`` (or ``None``), a chapter number or several.
        mode: ``"quick"`` (CPU, no download) or ``"full"`` (thesis settings, GPU, data under
            ``$STABLECORE_DATA``); default ``$STABLECORE_MODE``, else quick.
        home: run store root (default :func:`stablecore.results.runs_home`); when given, it is also the
            kernels' ``STABLECORE_HOME``, so the runs the notebooks create land in the same store.
        cell_timeout: seconds allowed per notebook cell (``None``: no limit).
        progress: show a tqdm bar (chapters, with the current cell).
        notebooks: chapter -> notebook file, replacing the chapter module's ``NOTEBOOK`` (tests, drafts).
        kernel_name: Jupyter kernel.

    Returns:
        A :class:`Reproduction`; a failing notebook is recorded as ``"failed"`` and the others still run.

    Raises:
        ValueError: an unknown chapter or mode.
    """
    from tqdm.auto import tqdm

    picked = _chapters(chapters)
    mode = current_mode(mode)
    notebooks = dict(notebooks or {})
    for n in notebooks:
        _check_chapter(n)
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"  # what the chapters' full configs pick
    run = create_run(
        "reproduce", {"chapters": picked, "cell_timeout": cell_timeout}, mode=mode, device=device, home=home
    )
    kernel_env = {} if home is None else {"STABLECORE_HOME": str(runs_home(home).resolve())}
    outcomes: list[ChapterOutcome] = []
    last_beat = [time.monotonic()]
    bar = tqdm(picked, desc="reproduce", unit="chapter", disable=not progress, file=sys.stderr)
    try:
        for n in bar:
            bar.set_postfix_str(f"ch{n:02d}")

            def on_cell(k: int, total: int, n: int = n) -> None:
                bar.set_postfix_str(f"ch{n:02d} cell {k + 1}/{total}")
                if time.monotonic() - last_beat[0] > _HEARTBEAT_EVERY:  # alive: not a stale `running`
                    run.heartbeat()
                    last_beat[0] = time.monotonic()

            outcome = execute_chapter(
                n, run.path, mode=mode, notebook=notebooks.get(n), cell_timeout=cell_timeout,
                kernel_name=kernel_name, on_cell=on_cell, env=kernel_env,
            )  # fmt: skip
            outcomes.append(outcome)
            _record(run, outcomes)
    except Exception as exc:
        run.fail(exc)
        raise
    except BaseException as exc:  # KeyboardInterrupt, SystemExit: the kernel was shut down on the way out
        run.set_status("interrupted", error=type(exc).__name__)
        raise
    finally:
        bar.close()
    summary = summary_table(
        {o.chapter: dict(o.results) for o in outcomes if o.status != "missing"},
        mode=mode,
        chapters=picked,
        errors={o.chapter: o.error for o in outcomes if o.status == "failed"},
    )
    result = Reproduction(run.path, mode, tuple(outcomes), summary)
    run.write_table("summary", summary)
    atomic_write_text(run.path / "summary.md", summary_markdown(summary, result.timings, mode=mode))
    failed = [o.chapter for o in outcomes if o.status != "ok"]
    run.finish(chapters_failed=failed, summary="tables/summary.parquet")
    return result


def latest_reproduction(
    home: str | os.PathLike | None = None, *, mode: str | None = None
) -> LoadedRun | None:
    """The newest completed reproduction in the run store (of ``mode``, if given): its manifest and
    ``tables["summary"]``, the summary table; ``None`` when there is none (for the dashboard)."""
    if mode is not None:
        mode = current_mode(mode)
    runs = list_runs(home, experiment="reproduce")
    for row in runs.itertuples(index=False):  # newest first
        if row.status == "completed" and mode in (None, row.mode):
            loaded = load_run(row.path, tables=False)
            return LoadedRun(loaded.path, loaded.manifest, {"summary": read_table(row.path, "summary")})
    return None


def _record(run: Run, outcomes: list[ChapterOutcome]) -> None:
    run.update_manifest(
        outcomes=[
            {
                "chapter": o.chapter,
                "notebook": o.notebook,
                "status": o.status,
                "seconds": round(o.seconds, 2),
                "cpu_seconds": None if math.isnan(o.cpu_seconds) else round(o.cpu_seconds, 2),
                "error": o.error,
                "experiments": sorted(o.results),
            }
            for o in outcomes
        ]
    )
