"""The run store: ``<home>/<experiment>/<run_id>/`` with a manifest, Parquet tables and checkpoints.

Layout of one run::

    manifest.json             config, seed, versions, git commit, mode, device, times, status
    tables/<name>.parquet     a whole table
    tables/<name>/part-<i>.parquet   shards of one table (``--shard i/n``), concatenated on read
    checkpoints/last.pt       the latest checkpoint (and any others the writer names)

Every file is written atomically (:mod:`stablecore.results.io`), so a reader never sees a broken
file. A run whose manifest is missing, unreadable or has a field of the wrong type is *incomplete*,
listed as such with the reason, never an error.

**Confinement.** Writes stay inside the run directory: a table, part or checkpoint whose folders (or
itself) lead out of the run through a symbolic link is refused with ``ValueError``, and so is a run
directory (or its experiment folder) that is a link leading out of its run store. :func:`confine`
resolves a user-typed path and refuses one outside the store (the dashboard's and the CLI's check).

**Derived status.** The stored ``status`` is never rewritten by a reader. A ``running`` run is *shown*
as ``interrupted`` (:func:`run_status`) when its process is known dead (same ``host``, ``pid`` not
alive) or when its ``heartbeat`` (else ``start_time``) is older than ``$STABLECORE_STALE_AFTER``
seconds (default 3600; ``inf`` turns the age check off). Long writers call :meth:`Run.heartbeat`.
"""

from __future__ import annotations

import datetime as _dt
import io
import math
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

from stablecore.results.io import (
    TMP_PREFIX,
    atomic_write_json,
    atomic_write_parquet,
    check_inside,
    read_json,
)

__all__ = [
    "DEFAULT_STALE_AFTER",
    "STALE_AFTER_ENV",
    "LoadedRun",
    "Run",
    "confine",
    "create_run",
    "list_runs",
    "load_run",
    "manifest_problems",
    "open_run",
    "parse_shard",
    "read_table",
    "run_status",
    "runs_home",
    "stale_limit",
    "table_names",
]

MANIFEST = "manifest.json"
STATUSES = ("running", "completed", "failed", "interrupted")
#: Environment variable: seconds without a heartbeat after which a ``running`` run shows as interrupted.
STALE_AFTER_ENV = "STABLECORE_STALE_AFTER"
DEFAULT_STALE_AFTER = 3600.0
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


def confine(path: str | os.PathLike, home: str | os.PathLike | None = None) -> Path:
    """``path`` resolved (relative paths are taken from the run store) if it lies inside the run store.

    The one check of user-typed run paths (dashboard, CLI): ``..``, absolute paths elsewhere and
    symbolic links out of :func:`runs_home` are refused.

    Raises:
        TypeError: ``path`` is not a string or path.
        ValueError: ``path`` is empty, or resolves outside ``runs_home(home)`` (the path is named).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a string or path, got {type(path).__name__}")
    root = runs_home(home).resolve()
    text = str(path).strip()
    if not text:
        raise ValueError("path must not be empty")
    candidate = Path(text).expanduser()
    try:
        resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ValueError(f"path {text!r} cannot be resolved: {exc}") from None
    if resolved != root and not resolved.is_relative_to(root):
        raise ValueError(f"path {text!r} is outside the run store {root}")
    return resolved


# -- manifests: field checks and the status a reader shows ----------------------------------------
_JSON_KIND = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


def _kind(value: Any) -> str:
    """The JSON name of a value's type, for messages (``'an object'``, ``'a number'`` ...)."""
    return _JSON_KIND.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _parse_time(value: str) -> _dt.datetime:
    """An ISO 8601 time as an aware UTC datetime (a time without offset is taken as UTC)."""
    stamp = _dt.datetime.fromisoformat(value)
    return stamp.replace(tzinfo=_dt.timezone.utc) if stamp.tzinfo is None else stamp


def _check_time(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return f"must be an ISO time string or null, got {_kind(value)}"
    try:
        _parse_time(value)
    except ValueError:
        return f"must be an ISO time such as 2024-01-31T12:00:00+00:00, got {_short(value)}"
    return None


def _check_optional(kind: type | tuple[type, ...], expected: str) -> Any:
    def check(value: Any) -> str | None:
        if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
            return None
        return f"must be {expected} or null, got {_kind(value)}"

    return check


def _check_pid(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        return f"must be a positive process id or null, got {_short(value)}"
    return None


#: Known manifest fields and their checks (``None`` when the value is fine, else what is wrong).
_FIELDS: dict[str, Any] = {
    "start_time": _check_time,
    "end_time": _check_time,
    "heartbeat": _check_time,
    "run_id": _check_optional(str, "a string"),
    "experiment": _check_optional(str, "a string"),
    "mode": _check_optional(str, "a string"),
    "device": _check_optional(str, "a string"),
    "host": _check_optional(str, "a string"),
    "git_commit": _check_optional(str, "a string"),
    "seed": _check_optional(int, "an integer"),
    "pid": _check_pid,
    "config": _check_optional(dict, "an object"),
    "versions": _check_optional(dict, "an object"),
}


def manifest_problems(manifest: Any) -> list[str]:
    """What is wrong with a manifest read back (``[]`` when nothing is): not a JSON object, a missing
    or unknown ``status``, or a known field of the wrong type (times must be ISO strings, ``seed`` an
    integer, ``config`` an object ...). Unknown extra fields are allowed."""
    if not isinstance(manifest, dict):
        return [f"the manifest is {_kind(manifest)}, not a JSON object"]
    problems = []
    status = manifest.get("status")
    if status is None:
        problems.append("the manifest has no status")
    elif not isinstance(status, str) or status not in STATUSES:
        shown = _short(status) if isinstance(status, str) else _kind(status)
        problems.append(f"status must be one of {', '.join(STATUSES)}, got {shown}")
    for key, check in _FIELDS.items():
        message = check(manifest.get(key))
        if message:
            problems.append(f"{key} {message}")
    return problems


def stale_limit() -> float:
    """Seconds without a heartbeat after which a ``running`` run shows as ``interrupted``:
    ``$STABLECORE_STALE_AFTER`` (a number > 0; ``inf`` never) or :data:`DEFAULT_STALE_AFTER` (1 hour)."""
    text = os.environ.get(STALE_AFTER_ENV)
    if not text:
        return DEFAULT_STALE_AFTER
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also refuses NaN
        raise ValueError(f"${STALE_AFTER_ENV} must be a number of seconds > 0 (or inf), got {text!r}")
    return value


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _process_state(manifest: Mapping[str, Any]) -> bool | None:
    """Whether the writer of a run is alive: ``False`` when known dead (same host, ``pid`` gone),
    ``True`` when a process with that ``pid`` exists on this host, ``None`` when it cannot be told."""
    pid, host = manifest.get("pid"), manifest.get("host")
    if os.name != "posix" or host != platform.node() or pid is None or _check_pid(pid):
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return None
    return True


def run_status(
    manifest: Any, *, stale_after: float | None = None, now: _dt.datetime | None = None
) -> tuple[str, str]:
    """The status a reader shows and why: ``(status, reason)``; the manifest is not changed.

    * ``incomplete`` with the field problems when :func:`manifest_problems` finds any;
    * ``failed`` with the recorded error;
    * ``interrupted`` for a stored ``running`` whose process is known dead (``host`` is this machine
      and ``pid`` does not exist) or whose ``heartbeat`` (else ``start_time``) is older than
      ``stale_after`` seconds (``None``: :func:`stale_limit`, i.e. ``$STABLECORE_STALE_AFTER``);
    * otherwise the stored status and ``''``.
    """
    problems = manifest_problems(manifest)
    if problems:
        return "incomplete", "; ".join(problems)
    status = manifest["status"]
    if status == "failed":
        return status, str(manifest.get("error") or "failed (no error recorded)")
    if status != "running":
        return status, ""
    alive = _process_state(manifest)
    if alive is False:
        pid, host = manifest["pid"], manifest["host"]
        return "interrupted", f"stored as running, but its process {pid} on {host} is no longer running"
    if stale_after is None:
        limit = stale_limit()
    elif isinstance(stale_after, bool) or not isinstance(stale_after, (int, float)) or not stale_after > 0:
        raise ValueError(f"stale_after must be a number of seconds > 0, got {stale_after!r}")
    else:
        limit = float(stale_after)
    last_key = "heartbeat" if manifest.get("heartbeat") else "start_time"
    if manifest.get(last_key) and math.isfinite(limit):
        now = now if now is not None else _dt.datetime.now(_dt.timezone.utc)
        age = (now - _parse_time(manifest[last_key])).total_seconds()
        if age > limit:
            what = "no heartbeat" if last_key == "heartbeat" else "no heartbeat since the start"
            reason = f"stored as running, but {what} for {_age(age)} (limit {limit:g} s, ${STALE_AFTER_ENV})"
            if alive:  # a pid may be reused, so a live pid does not outweigh a stale heartbeat
                reason += f"; a process {manifest['pid']} exists on this host (a writer without heartbeats?)"
            return "interrupted", reason
    return status, ""


def _read_manifest(run_dir: Path) -> dict[str, Any]:
    """The manifest of ``run_dir`` as a dict.

    Raises:
        FileNotFoundError: no ``manifest.json`` file.
        ValueError: unreadable, not JSON, or not a JSON object (one line naming the file).
    """
    path = Path(run_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {MANIFEST})")
    try:
        manifest = read_json(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{run_dir} is not a run directory (no {MANIFEST})") from None
    except OSError as exc:
        raise ValueError(f"{path} is unreadable: {exc.strerror or exc}") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path} is not a run manifest: it holds {_kind(manifest)}, not a JSON object")
    return manifest


def _valid_manifest(run_dir: Path) -> dict[str, Any]:
    """:func:`_read_manifest`, refusing a manifest with wrong-typed fields (``ValueError``, one line)."""
    manifest = _read_manifest(run_dir)
    problems = manifest_problems(manifest)
    if problems:
        raise ValueError(f"{Path(run_dir) / MANIFEST} is not a valid run manifest: {'; '.join(problems)}")
    return manifest


class Run:
    """A run directory being written (or read back for more writing).

    Use :func:`create_run` for a new run and :func:`open_run` to append to an existing one. Every
    write stays inside the run directory, and the run directory inside its store (``home``; by default
    the folder two levels up, ``<home>/<experiment>/<run_id>``): a symbolic link that leads out of
    either is refused with ``ValueError`` before anything is written.
    """

    def __init__(self, path: str | os.PathLike, *, home: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self._home = Path(home) if home is not None else Path(os.path.abspath(self.path)).parent.parent

    def _real_root(self) -> Path:
        """The run directory with its links followed, checked to lie inside its run store."""
        return check_inside(self.path, self._home, what="run directory")

    def _confined(self, target: Path, what: str) -> Path:
        """``target`` if it lies inside the run and its folders inside the run are folders (or absent)."""
        check_inside(target, self._real_root(), what=what)
        folder = target.parent
        while folder != self.path and self.path in folder.parents:
            if folder.exists() and not folder.is_dir():
                raise ValueError(f"{what} {str(target)!r} needs the folder {str(folder)!r}, which is a file")
            folder = folder.parent
        return target

    # -- manifest -------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def manifest(self) -> dict[str, Any]:
        """The manifest (``ValueError`` naming the file when it is unreadable or not a JSON object)."""
        return _read_manifest(self.path)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def experiment(self) -> str:
        return self.path.parent.name

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge ``fields`` into the manifest and rewrite it atomically.

        Setting ``status="running"`` also claims the run for this process (``host``, ``pid``,
        ``heartbeat``), so a resumed run is not shown as interrupted because its first writer died.
        """
        manifest = self.manifest
        if fields.get("status") == "running":
            manifest.update(_writer())
        manifest.update(fields)
        atomic_write_json(self.manifest_path, manifest, within=self._real_root())
        return manifest

    def heartbeat(self) -> dict[str, Any]:
        """Record that the writer of a ``running`` run is alive (``heartbeat``: UTC ISO time, with this
        process's ``host`` and ``pid``).

        Long writers (the Trainer, once per epoch) call it so that a reader can tell a run that is
        still being written from one whose process died (see :func:`run_status`).
        """
        return self.update_manifest(**_writer())

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
        """``tables/<name>.parquet`` (or ``tables/<name>/part-<i>.parquet``), refused (``ValueError``)
        when a symbolic link carries it out of the run."""
        _check_name(name, "table name")
        parsed = parse_shard(shard)
        if parsed is None:
            path = self.path / "tables" / f"{name}.parquet"
        else:
            path = self.path / "tables" / name / f"part-{parsed[0]}.parquet"
        return self._confined(path, "table path")

    def write_table(
        self, name: str, frame: pd.DataFrame, *, shard: tuple[int, int] | str | None = None
    ) -> Path:
        """Write a table (or one shard of it) atomically, inside the run; returns its path."""
        return atomic_write_parquet(self.table_path(name, shard), frame, within=self._real_root())

    def read_table(self, name: str) -> pd.DataFrame:
        return read_table(self.path, name)

    def table_names(self) -> list[str]:
        return table_names(self.path)

    # -- checkpoints ----------------------------------------------------------------------
    def checkpoint_path(self, name: str = "last.pt") -> Path:
        """``checkpoints/<name>``, refused (``ValueError``) when a symbolic link carries it out of the run."""
        _check_name(name, "checkpoint name")
        return self._confined(self.path / "checkpoints" / name, "checkpoint path")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def _writer() -> dict[str, Any]:
    """This process as the writer of a run: ``host``, ``pid`` and a fresh ``heartbeat``."""
    return {"host": platform.node(), "pid": os.getpid(), "heartbeat": _now()}


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
    An existing ``run_id`` is refused (``FileExistsError``); use :func:`open_run` to continue it. An
    experiment folder that is a symbolic link out of the store is refused (``ValueError``).
    """
    _check_name(experiment, "experiment")
    if run_id is None:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        run_id = f"{stamp}-{secrets.token_hex(3)}"
    _check_name(run_id, "run_id")
    root = runs_home(home)
    path = root / experiment / run_id
    check_inside(path, root, what="run directory")  # before any folder is made
    path.parent.mkdir(parents=True, exist_ok=True)
    path.mkdir(exist_ok=False)
    start = _now()
    manifest = {
        "run_id": run_id,
        "experiment": experiment,
        "status": "running",
        "start_time": start,
        "end_time": None,
        **_writer(),
        "config": dict(config or {}),
        "seed": seed,
        "mode": mode if mode is not None else os.environ.get("STABLECORE_MODE", "quick"),
        "device": device,
        "versions": _versions(),
        "git_commit": _git_commit(),
        **extra,
    }
    run = Run(path, home=root)
    atomic_write_json(path / MANIFEST, manifest, within=run._real_root())
    return run


def open_run(path: str | os.PathLike) -> Run:
    """Open an existing run directory for further writes.

    Fails fast, before any work is done: the run directory, its manifest and its ``tables/`` and
    ``checkpoints/`` folders must not be links leading out of the run (or of its store).

    Raises:
        FileNotFoundError: ``path`` has no manifest.
        ValueError: the manifest is unreadable, not a JSON object, or has wrong-typed fields; a link
            leads out of the run or its store (one line naming the path).
    """
    run = Run(path)
    root = run._real_root()
    run._confined(run.manifest_path, "manifest")
    _valid_manifest(run.path)
    for folder in ("tables", "checkpoints"):
        entry = run.path / folder
        if entry.is_symlink() or entry.exists():
            check_inside(entry, root, what=f"{folder} folder")
            if not entry.is_dir():
                raise ValueError(f"{folder} folder {str(entry)!r} of the run is not a folder")
    return run


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
        """The status a reader shows (:func:`run_status`): a dead or stale ``running`` run is
        ``interrupted``; the stored value is ``manifest["status"]``."""
        return run_status(self.manifest)[0]

    @property
    def status_reason(self) -> str:
        """Why :attr:`status` is what it is (``''`` for a plain running or completed run)."""
        return run_status(self.manifest)[1]

    @property
    def config(self) -> dict[str, Any]:
        config = self.manifest.get("config")
        return dict(config) if isinstance(config, dict) else {}


def load_run(path: str | os.PathLike, *, tables: bool = True) -> LoadedRun:
    """Read a run's manifest and (optionally) all its tables.

    Raises:
        FileNotFoundError: ``path`` has no manifest.
        ValueError: the manifest is unreadable, not valid JSON (e.g. cut short), not a JSON object, or
            has wrong-typed fields (one line naming the file).
    """
    path = Path(path)
    manifest = _valid_manifest(path)
    loaded = {name: read_table(path, name) for name in table_names(path)} if tables else {}
    return LoadedRun(path=path, manifest=manifest, tables=loaded)


_COLUMNS = [
    "experiment",
    "run_id",
    "status",
    "mode",
    "device",
    "seed",
    "start_time",
    "end_time",
    "path",
    "problem",
]
_SHOWN = ("mode", "device", "seed", "start_time", "end_time")


def _run_row(
    experiment: str, run_dir: Path, root: Path, stale_after: float, now: _dt.datetime
) -> dict[str, Any]:
    """One row of :func:`list_runs`; every failure becomes ``status='incomplete'`` with a ``problem``."""
    row: dict[str, Any] = {"experiment": experiment, "run_id": run_dir.name, "path": str(run_dir)}
    try:
        check_inside(run_dir, root, what="run folder")
    except ValueError as exc:  # a link out of the store: listed, never read
        return {**row, "status": "incomplete", "problem": str(exc).splitlines()[0]}
    try:
        manifest = _read_manifest(run_dir)
    except FileNotFoundError:
        return {**row, "status": "incomplete", "problem": f"no {MANIFEST} (half-written or not a run)"}
    except (OSError, ValueError) as exc:
        return {**row, "status": "incomplete", "problem": f"manifest unreadable: {str(exc).splitlines()[0]}"}
    row["status"], row["problem"] = run_status(manifest, stale_after=stale_after, now=now)
    for key in _SHOWN:  # a wrong-typed field is shown empty (its problem is in the row)
        row[key] = manifest.get(key) if not _FIELDS[key](manifest.get(key)) else None
    return row


def list_runs(
    home: str | os.PathLike | None = None,
    experiment: str | None = None,
    *,
    stale_after: float | None = None,
) -> pd.DataFrame:
    """All runs as a DataFrame (one row each, newest ``start_time`` first).

    Never fails on a broken run: a run whose manifest is missing, unreadable, not a JSON object or has
    a wrong-typed field has status ``incomplete`` and says why in ``problem``; a stored ``running``
    run whose writer is gone shows as ``interrupted`` (:func:`run_status`, ``stale_after`` seconds,
    default ``$STABLECORE_STALE_AFTER``); folders that are links out of the store are listed as
    ``incomplete``, never read. Nothing is written.

    Raises:
        ValueError: ``experiment`` is not a plain name (``..``, ``/tmp``, ``a/b``) or its folder is a
            link out of the store.
    """
    root = runs_home(home)
    if stale_after is None:
        stale_after = stale_limit()
    now = _dt.datetime.now(_dt.timezone.utc)
    rows = []
    if experiment is not None:
        _check_name(experiment, "experiment")
        check_inside(root / experiment, root, what="experiment")
    if root.is_dir():
        if experiment is not None:
            experiments = [root / experiment]
        else:
            try:
                entries = list(root.iterdir())
            except OSError as exc:
                raise ValueError(f"the run store {root} is unreadable: {exc.strerror or exc}") from None
            experiments = sorted(p for p in entries if p.is_dir() and not p.name.startswith("."))
        for exp_dir in experiments:
            if not exp_dir.is_dir():
                continue
            try:
                check_inside(exp_dir, root, what="experiment folder")
                run_dirs = sorted(p for p in exp_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
            except (OSError, ValueError) as exc:
                rows.append(
                    {"experiment": exp_dir.name, "run_id": "", "path": str(exp_dir), "status": "incomplete",
                     "problem": str(exc).splitlines()[0]}
                )  # fmt: skip
                continue
            rows.extend(_run_row(exp_dir.name, run_dir, root, stale_after, now) for run_dir in run_dirs)
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame["problem"] = frame["problem"].fillna("")
    if not frame.empty:
        # sort on parsed times (mixed offsets, wrong types already blanked), not on raw values
        times = pd.to_datetime(
            [_parse_time(t) if isinstance(t, str) else None for t in frame["start_time"]], utc=True
        )
        frame = frame.assign(_start=times).sort_values(
            ["_start", "run_id"], ascending=False, na_position="last"
        )
        frame = frame.drop(columns="_start").reset_index(drop=True)
    return frame
