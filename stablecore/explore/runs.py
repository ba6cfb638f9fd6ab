"""The run store as the dashboard shows it: a table that never fails, run details that say what is
wrong with a broken run, and paths confined to the store.

:func:`confine` (from :mod:`stablecore.results`, its one home) resolves a user-typed path (relative to
the store, or absolute) and refuses anything that does not lie inside
:func:`stablecore.results.runs_home` (``..``, symlinks out of it, other folders). Statuses are the ones
a reader shows (:func:`stablecore.results.run_status`): a ``running`` run whose process died or whose
heartbeat is stale is ``interrupted``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stablecore.results import (
    check_inside,
    confine,
    list_runs,
    manifest_problems,
    read_json,
    read_table,
    run_status,
    runs_home,
    table_names,
)

__all__ = ["RunDetails", "confine", "model_runs", "relative", "run_details", "runs_table"]


def relative(path: str | os.PathLike, home: str | os.PathLike | None = None) -> str:
    """``path`` relative to the run store (``experiment/run_id``), or as given when outside it."""
    try:
        return str(Path(path).resolve().relative_to(runs_home(home).resolve()))
    except ValueError:
        return str(path)


def _progress(manifest: dict[str, Any], path: Path) -> tuple[float | None, float | None]:
    """(epochs done, epochs planned) from the manifest or the metrics table."""
    config = manifest.get("config") if isinstance(manifest, dict) else None
    train = config.get("train") if isinstance(config, dict) else None
    planned = train.get("epochs") if isinstance(train, dict) else None
    done = manifest.get("epochs_done") if isinstance(manifest, dict) else None
    if done is None and "metrics" in table_names(path):
        try:
            done = len(read_table(path, "metrics"))
        except (OSError, ValueError):
            done = None
    return done, planned


def runs_table(home: str | os.PathLike | None = None) -> pd.DataFrame:
    """:func:`stablecore.results.list_runs` plus ``dataset, model, test_accuracy, epochs_done,
    epochs_planned, checkpoint, tables``; ``problem`` says why a run is ``incomplete`` (manifest missing,
    unreadable or with a wrong-typed field), ``failed`` or ``interrupted``. Never raises on a broken
    run, and never reads a folder that is a link out of the store."""
    frame = list_runs(home)
    root = runs_home(home)
    extra = []
    for path, problem in zip(frame["path"], frame["problem"]):
        p = Path(path)
        row: dict[str, Any] = dict.fromkeys(("dataset", "model", "test_accuracy", "epochs_done"))
        row.update(epochs_planned=None, tables="", checkpoint=False, problem=problem)
        try:
            check_inside(p, root)
        except ValueError:
            extra.append(row)  # list_runs already says why
            continue
        row["checkpoint"] = (p / "checkpoints" / "last.pt").is_file()
        try:
            row["tables"] = ", ".join(table_names(p))
        except OSError as exc:
            row["problem"] = "; ".join(filter(None, (problem, f"tables unreadable: {exc}")))
        try:
            manifest = read_json(p / "manifest.json")
        except (OSError, ValueError):
            manifest = None  # list_runs already says why
        if isinstance(manifest, dict):
            config = manifest.get("config")
            config = config if isinstance(config, dict) else {}
            row["dataset"] = config.get("dataset")
            model = config.get("model")
            row["model"] = model.get("name") if isinstance(model, dict) else model
            row["test_accuracy"] = manifest.get("test_accuracy")
            row["epochs_done"], row["epochs_planned"] = _progress(manifest, p)
        extra.append(row)
    cols = [
        "dataset",
        "model",
        "test_accuracy",
        "epochs_done",
        "epochs_planned",
        "checkpoint",
        "tables",
        "problem",
    ]
    out = pd.concat(
        [frame.drop(columns="problem").reset_index(drop=True), pd.DataFrame(extra, columns=cols)], axis=1
    )
    for column in ("test_accuracy", "epochs_done", "epochs_planned"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    out["run"] = [relative(p, home) for p in out["path"]]
    return out


def model_runs(home: str | os.PathLike | None = None) -> pd.DataFrame:
    """Runs a model can be loaded from: status ``completed`` with ``checkpoints/last.pt`` and a data set."""
    table = runs_table(home)
    ok = (table["status"] == "completed") & table["checkpoint"].astype(bool) & table["dataset"].notna()
    return table[ok].reset_index(drop=True)


@dataclass(frozen=True)
class RunDetails:
    """What can be read of one run: ``status`` (``incomplete`` without a readable manifest), the
    manifest (or None), ``problems`` (messages), table names and the ``metrics`` table (or None)."""

    path: Path
    status: str
    manifest: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    metrics: pd.DataFrame | None = None
    checkpoints: list[str] = field(default_factory=list)


def run_details(path: str | os.PathLike, home: str | os.PathLike | None = None) -> RunDetails:
    """Read what can be read of the run at ``path`` (confined to the store: :func:`confine`); every
    failure becomes a message in ``problems``, never an exception (except a path outside the store)."""
    p = confine(path, home)
    problems: list[str] = []
    manifest: dict[str, Any] | None = None
    if not p.is_dir():
        return RunDetails(p, "missing", None, [f"{relative(p, home)} is not a directory"])
    try:
        loaded = read_json(p / "manifest.json")
        if not isinstance(loaded, dict):
            raise ValueError(manifest_problems(loaded)[0])
        manifest = loaded
    except FileNotFoundError:
        problems.append("no manifest.json: the run is half-written or this is not a run directory")
    except (OSError, ValueError) as exc:
        problems.append(f"manifest.json is unreadable: {exc}")
    status = "incomplete"
    if manifest is not None:
        status, reason = run_status(manifest)
        if status == "failed":
            problems.append(f"the run failed: {reason}")
        elif status == "incomplete":
            problems.append(f"manifest.json is invalid: {reason}")
        elif reason:
            problems.append(reason)
    try:
        tables = table_names(p)
    except OSError as exc:
        tables = []
        problems.append(f"tables unreadable: {exc}")
    metrics = None
    if "metrics" in tables:
        try:
            metrics = read_table(p, "metrics")
        except (OSError, ValueError) as exc:
            problems.append(f"metrics table unreadable: {exc}")
    folder = p / "checkpoints"
    checkpoints = sorted(c.name for c in folder.iterdir() if c.suffix == ".pt") if folder.is_dir() else []
    return RunDetails(p, status, manifest, problems, tables, metrics, checkpoints)
