"""The run store: ``<home>/<experiment>/<run_id>/`` with a manifest, Parquet tables and checkpoints.

Layout of one run::

    manifest.json             config, seed, versions, git commit, mode, device, times, status
    tables/<name>.parquet     a whole table
    tables/<name>/part-<i>.parquet   shards of one table (``--shard i/n``), concatenated on read
    checkpoints/last.pt       the latest checkpoint (and any others the writer names)

Every file is written atomically (:mod:`stablecore.results.io`), so a reader never sees a broken
file. A run whose manifest is missing or unreadable is *incomplete*, listed as such, never an error.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import platform
import re
import secrets
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from stablecore.results.io import TMP_PREFIX, atomic_write_json, atomic_write_parquet, read_json

__all__ = [
    "LoadedRun",
    "Run",
    "create_run",
    "list_runs",
    "load_run",
    "open_run",
    "parse_shard",
    "runs_home",
]

MANIFEST = "manifest.json"
STATUSES = ("running", "completed", "failed", "interrupted")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_PART = re.compile(r"^part-(\d+)\.parquet$")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _checkout_root() -> Path | None:
    """The repository root when stablecore is imported from a source checkout, else None."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "stablecore").is_dir() and (root / ".git").exists():
        return root
    return None


def runs_home(home: str | os.PathLike | None = None) -> Path:
    """Where runs live: ``home`` if given, else ``$STABLECORE_HOME``, else ``runs/`` at the
    repository root when run from a checkout, else ``./runs``."""
    if home is not None:
        return Path(home)
    env = os.environ.get("STABLECORE_HOME")
    if env:
        return Path(env)
    root = _checkout_root()
    return (root / "runs") if root is not None else Path.cwd() / "runs"


def _check_name(value: str, what: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"{what} must be a non-empty name of letters, digits, '_', '-', '.', got {value!r}")
    return value


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Parse ``"i/n"`` (or ``(i, n)``) with ``0 <= i < n``; None stays None."""
    if shard is None:
        return None
    if isinstance(shard, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
        if not match:
            raise ValueError(f"shard must look like 'i/n' (e.g. '0/4'), got {shard!r}")
        i, n = int(match.group(1)), int(match.group(2))
    else:
        try:
            i, n = (int(v) for v in shard)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"shard must be 'i/n' or a pair (i, n), got {shard!r}") from exc
    if not 0 <= i < n:
        raise ValueError(f"shard i/n needs 0 <= i < n, got {i}/{n}")
    return i, n


def _git_commit() -> str | None:
    root = _checkout_root()
    if root is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import numpy
    import torch

    import stablecore

    return {
        "stablecore": stablecore.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
    }


class Run:
    """A run directory being written (or read back for more writing).

    Use :func:`create_run` for a new run and :func:`open_run` to append to an existing one.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    # -- manifest -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def manifest(self) -> dict[str, Any]:
        return read_json(self.manifest_path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.path.parent.name

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the manifest and rewrite it atomically."""
        manifest = self.manifest
        manifest.update(fields)
        atomic_write_json(self.manifest_path, manifest)
        return manifest

    def heartbeat(self) -> dict[str, Any]:
        """Record that the writer of a ``running`` run is alive (``heartbeat``: UTC ISO time).

        Long writers (the Trainer, once per epoch) call it so that a reader can tell a run that is
        still being written from one whose process died (see :func:`list_runs`).
        """
        return self.update_manifest(heartbeat=_now())

    def set_status(self, status: str, **fields: Any) -> dict[str, Any]:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        extra = {"end_time": _now()} if status != "running" else {}
        return self.update_manifest(status=status, **extra, **fields)

    def finish(self, **fields: Any) -> dict[str, Any]:
        """Mark the run completed (with ``end_time``)."""
        return self.set_status("completed", **fields)

    def fail(self, error: str | BaseException, **fields: Any) -> dict[str, Any]:
        """Mark the run failed, recording the error message."""
        return self.set_status(
            "failed",
            error=f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error),
            **fields,
        )

    # -- tables ---------------------------------------------------------------------------
    def table_path(self, name: str, shard: tuple[int, int] | str | None = None) -> Path:
        _check_name(name, "table name")
        parsed = parse_shard(shard)
        if parsed is None:
            return self.path / "tables" / f"{name}.parquet"
        return self.path / "tables" / name / f"part-{parsed[0]}.parquet"

    def write_table(
        self, name: str, frame: pd.DataFrame, *, shard: tuple[int, int] | str | None = None
    ) -> Path:
        """Write a table (or one shard of it) atomically; returns its path."""
        return atomic_write_parquet(self.table_path(name, shard), frame)

    def read_table(self, name: str) -> pd.DataFrame:
        return read_table(self.path, name)

    def table_names(self) -> list[str]:
        return table_names(self.path)

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint_path(self, name: str = "last.pt") -> Path:
        _check_name(name, "checkpoint name")
        return self.path / "checkpoints" / name

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def create_run(
    experiment: str,
    config: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    mode: str | None = None,
    device: str | None = None,
    run_id: str | None = None,
    home: str | os.PathLike | None = None,
    **extra: Any,
) -> Run:
    """Create ``<home>/<experiment>/<run_id>/`` and write its manifest (status ``running``).

    ``run_id`` defaults to a UTC timestamp plus a random suffix, so concurrent runs never collide.
    An existing ``run_id`` is refused (``FileExistsError``); use :func:`open_run` to continue it.
    """
    _check_name(experiment, "experiment")
    if run_id is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{secrets.token_hex(3)}"
    _check_name(run_id, "run_id")
    path = runs_home(home) / experiment / run_id
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(exist_ok=False)
    manifest = {
        "run_id": run_id,
        "experiment": experiment,
        "status": "running",
        "start_time": _now(),
        "heartbeat": _now(),
        "end_time": None,
        "host": platform.node(),
        "pid": os.getpid(),
        "config": dict(config or {}),
        "seed": seed,
        "mode": mode if mode is not None else os.environ.get("STABLECORE_MODE", "quick"),
        "device": device,
        "versions": _versions(),
        "git_commit": _git_commit(),
        **extra,
    }
    atomic_write_json(path / MANIFEST, manifest)
    return Run(path)


def open_run(path: str | os.PathLike) -> Run:
    """Open an existing run directory for further writes (``FileNotFoundError`` if absent)."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no {MANIFEST})")
    return Run(path)


def table_names(path: str | os.PathLike) -> list[str]:
    """Names of the tables of a run (whole files and sharded folders), sorted."""
    tables = Path(path) / "tables"
    if not tables.is_dir():
        return []
    names = set()
    for entry in tables.iterdir():
        if entry.name.startswith(TMP_PREFIX):
            continue
        if entry.is_file() and entry.suffix == ".parquet":
            names.add(entry.stem)
        elif entry.is_dir() and any(_PART.match(p.name) for p in entry.iterdir()):
            names.add(entry.name)
    return sorted(names)


def _read_parquet(path: Path) -> pd.DataFrame:
    # One read of the whole file: pyarrow may open a path twice (footer, then row groups), and a
    # writer's atomic rename between the two opens would mix two versions of the file.
    return pd.read_parquet(io.BytesIO(path.read_bytes()))


def read_table(path: str | os.PathLike, name: str) -> pd.DataFrame:
    """Read a table; shards ``part-<i>.parquet`` are concatenated in the order of ``i``."""
    _check_name(name, "table name")
    tables = Path(path) / "tables"
    whole = tables / f"{name}.parquet"
    if whole.is_file():
        return _read_parquet(whole)
    folder = tables / name
    parts = []
    if folder.is_dir():
        parts = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _PART.match(p.name)))
    if not parts:
        raise FileNotFoundError(f"run {path} has no table {name!r} (tables: {table_names(path)})")
    return pd.concat([_read_parquet(p) for _, p in parts], ignore_index=True)


@dataclass(frozen=True)
class LoadedRun:
    """A run read back: its manifest and its tables as pandas objects."""

    path: Path
    manifest: dict[str, Any]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.manifest.get("status", "incomplete"))

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.manifest.get("config", {}))


def load_run(path: str | os.PathLike, *, tables: bool = True) -> LoadedRun:
    """Read a run's manifest and (optionally) all its tables.

    Raises:
        FileNotFoundError: ``path`` has no manifest.
        ValueError: the manifest is not valid JSON (e.g. written by hand and cut short).
    """
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise FileNotFoundError(f"{path} is not a run directory (no {MANIFEST})")
    manifest = read_json(path / MANIFEST)
    loaded = {name: read_table(path, name) for name in table_names(path)} if tables else {}
    return LoadedRun(path=path, manifest=manifest, tables=loaded)


_COLUMNS = ["experiment", "run_id", "status", "mode", "device", "seed", "start_time", "end_time", "path"]


def list_runs(home: str | os.PathLike | None = None, experiment: str | None = None) -> pd.DataFrame:
    """All runs as a DataFrame (one row each, newest first). Never fails on a broken run: a run
    whose manifest is missing or unreadable has status ``incomplete``."""
    root = runs_home(home)
    rows = []
    if root.is_dir():
        experiments = [root / experiment] if experiment else sorted(p for p in root.iterdir() if p.is_dir())
        for exp_dir in experiments:
            if not exp_dir.is_dir() or exp_dir.name.startswith("."):
                continue
            for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir()):
                if run_dir.name.startswith("."):
                    continue
                row: dict[str, Any] = {
                    "experiment": exp_dir.name,
                    "run_id": run_dir.name,
                    "path": str(run_dir),
                }
                try:
                    manifest = read_json(run_dir / MANIFEST)
                    if not isinstance(manifest, dict):
                        raise ValueError("manifest is not a JSON object")
                except (OSError, ValueError):
                    row["status"] = "incomplete"
                else:
                    for key in ("status", "mode", "device", "seed", "start_time", "end_time"):
                        row[key] = manifest.get(key)
                rows.append(row)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    if not frame.empty:
        frame = frame.sort_values(["start_time", "run_id"], ascending=False, na_position="last")
        frame = frame.reset_index(drop=True)
    return frame
