"""Certify a data set with randomized smoothing, one row per example, resumable and sharded.

:func:`certify_dataset` certifies every ``every``-th example (Cohen et al.'s ``--skip``), or the examples
``i ≡ shard (mod n)`` among those with ``shard="i/n"``, and writes the rows to the table
``certify-<method>`` of a run (``tables/certify-<method>.parquet``, or ``.../part-<i>.parquet`` for a
shard), rewritten atomically every ``flush_every`` rows. A rerun reads the rows already there and
continues after them. Each row comes from the one per-point engine,
:func:`stablecore.smoothing.engine.certify_point`, with its seeding rule (the example's own generator
:func:`~stablecore.smoothing.engine.example_generator` ``(seed, index)``), so an interrupted and resumed
run gives the same table as an uninterrupted one, and the shards concatenate to the unsharded table (in
example order once sorted by ``index``). :func:`certified_accuracy_curve` (re-exported from
:mod:`stablecore.certify.accuracy`) reads the table: correct, not abstained, radius ≥ r.

Columns: ``index, label, prediction, correct, radius, p_lower, counts_selection, counts_estimation,
seconds`` plus the method's own columns (``lvm``: ``p_upper, map, temperature``; ``lipschitz``:
``radius_monolip, radius_cohen_score, prediction_votes, radius_votes, p_lower_votes, score_lipschitz,
temperature``). ``prediction = -1`` is an abstention (``radius = 0``). Every method draws the same noise
for an example (selection then estimation draws from the example's generator), so their vote counts agree.

Settings are part of a table. Before the first row, the settings that decide what a row is — ``method``,
``sigma``, ``n0``, ``n``, ``alpha``, ``seed``, ``every``, the number of shards, the method's options
(``lvm``: ``maps, temperatures, mode, soft_bound`` with their defaults filled in; ``lipschitz``:
``temperature``, the score's Lipschitz constant and the bound's method) and ``model_sha256`` (SHA-256 of
the model's ``state_dict``: names, dtypes, shapes, values) — are written atomically to
``tables/<table>.settings.json``, shared by the whole table and all its shards. A rerun whose settings
differ from the stored ones, or a table with rows but no stored settings, is refused (``ValueError``
listing the differences): resume with the stored settings, or start a new table with ``table="NAME"``
(``stablecore certify --table NAME``). ``batch_size`` is not a setting: it may change which draws an
example gets, not the guarantee. Stored settings with no row yet (a start that failed) are replaced; each
writer checks the stored settings again before each write, so shards started with different settings
cannot mix their rows. Stored rows are checked when read (readable Parquet, the method's columns,
unique integer indices ≥ 0, count vectors of ``n0`` and ``n`` votes); anything else is a ``ValueError``.

A non-finite logit stops the run with :class:`~stablecore.smoothing.core.NonFiniteLogitsError` naming
the example, the stage and the draw (it is never counted as a vote), and the work (``(n0 + n)`` draws per
example still to certify) is checked against :func:`stablecore.limits.max_work` first.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from stablecore.certify.accuracy import certified_accuracy_curve
from stablecore.limits import check_work
from stablecore.results import open_run, parse_shard
from stablecore.results.io import atomic_write_json
from stablecore.smoothing.bounds import check_alpha
from stablecore.smoothing.core import Smooth, logits_context
from stablecore.smoothing.engine import METHODS, certify_point, example_generator
from stablecore.smoothing.lipschitz import score_lipschitz
from stablecore.smoothing.lvm import _candidates, _check_options, select_lvm_candidate
from stablecore.train.evaluate import model_device

__all__ = [
    "METHODS",
    "METHOD_OPTIONS",
    "certified_accuracy_curve",
    "certify_dataset",
    "example_generator",
    "model_sha256",
    "settings_path",
]


def _lipschitz_settings(settings: dict[str, Any], smooth: Smooth) -> dict[str, Any]:
    logits_bound = settings.pop("logits_bound", None)
    if logits_bound is None:
        raise ValueError(
            "method='lipschitz' needs logits_bound= (a Bound of the logits, e.g. "
            "stablecore.spectral.lipschitz_bound(model, input_shape))"
        )
    temperature = settings.setdefault("temperature", 1.0)
    settings["score_lipschitz"] = score_lipschitz(logits_bound, temperature).value
    settings["logits_bound_method"] = logits_bound.method
    return settings


#: Keyword options each method accepts (``certify_dataset(..., **options)``).
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "cohen": (),
    "lvm": ("maps", "temperatures", "mode", "soft_bound"),
    "lipschitz": ("logits_bound", "temperature"),
}


#: Columns every stored row has, and each method's own (checked when a table is read back for a resume).
BASE_COLUMNS: tuple[str, ...] = (
    "index",
    "label",
    "prediction",
    "correct",
    "radius",
    "p_lower",
    "counts_selection",
    "counts_estimation",
)
METHOD_COLUMNS: dict[str, tuple[str, ...]] = {
    "cohen": (),
    "lvm": ("p_upper", "map", "temperature"),
    "lipschitz": (
        "radius_monolip",
        "radius_cohen_score",
        "prediction_votes",
        "radius_votes",
        "p_lower_votes",
        "score_lipschitz",
        "temperature",
    ),
}


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _run(out: Any) -> Any:
    """``out`` as a run (an object with ``table_path`` / ``write_table``, e.g. ``Run``) or opened."""
    return out if hasattr(out, "table_path") and hasattr(out, "write_table") else open_run(out)


def settings_path(out: Any, name: str) -> Path:
    """Where the settings of table ``name`` of the run ``out`` (a ``Run`` or a run directory) live:
    ``tables/<name>.settings.json``, beside the whole table's file and shared by its shards."""
    whole = _run(out).table_path(name)
    return whole.with_name(f"{name}.settings.json")


def model_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of ``model.state_dict()`` (each entry's name, dtype, shape and bytes, in order): the same
    weights give the same digest on any device."""
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}|".encode())
        if isinstance(value, torch.Tensor):
            flat = value.detach().to("cpu").contiguous().reshape(-1)
            digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
        else:  # extra state
            digest.update(repr(value).encode())
    return digest.hexdigest()


def _lvm_defaults() -> dict[str, Any]:
    params = inspect.signature(select_lvm_candidate).parameters
    return {k: params[k].default for k in METHOD_OPTIONS["lvm"]}


def _record(
    method: str, smooth: Smooth, settings: dict[str, Any], seed: int, every: int, shards: int
) -> dict[str, Any]:
    """The settings stored with a table (module docstring), JSON-ready."""
    record: dict[str, Any] = {
        "method": method,
        "sigma": float(smooth.sigma),
        "n0": settings["n0"],
        "n": settings["n"],
        "alpha": float(settings["alpha"]),
        "seed": int(seed),
        "every": every,
        "shards": shards,
        "num_classes": smooth.num_classes,
        "model_sha256": model_sha256(smooth.base_classifier),
    }
    if method == "lvm":
        options = {**_lvm_defaults(), **{k: settings[k] for k in METHOD_OPTIONS["lvm"] if k in settings}}
        _check_options(options["mode"], options["soft_bound"])
        _candidates(options["maps"], options["temperatures"])  # validates maps and temperatures
        record.update(
            maps=[str(m) for m in options["maps"]],
            temperatures=[float(t) for t in np.atleast_1d(options["temperatures"])],
            mode=options["mode"],
            soft_bound=options["soft_bound"],
        )
    elif method == "lipschitz":
        record.update(
            temperature=float(settings["temperature"]),
            score_lipschitz=float(settings["score_lipschitz"]),
            logits_bound_method=str(settings["logits_bound_method"]),
        )
    return json.loads(json.dumps(record))  # what reading the file back gives (lists, floats)


def _has_rows(settings_file: Path, name: str) -> bool:
    """Whether table ``name`` (whose settings file is ``settings_file``) has rows: its whole file or any
    shard."""
    tables = settings_file.parent
    folder = tables / name
    return (tables / f"{name}.parquet").exists() or (folder.is_dir() and any(folder.glob("part-*.parquet")))


def _read_settings(path: Path, name: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"the settings of table {name!r} ({path}) cannot be read ({type(exc).__name__}): start a new "
            f"table with table='NAME' (stablecore certify: --table NAME)"
        ) from None
    if not isinstance(stored, dict):
        raise ValueError(
            f"the settings of table {name!r} ({path}) are not a JSON object: start a new table with "
            "table='NAME' (stablecore certify: --table NAME)"
        )
    return stored


def _short(value: Any) -> str:
    """``value`` on one short line (arrays as lists, long texts cut in the middle)."""
    text = " ".join(repr(np.asarray(value).tolist() if isinstance(value, np.ndarray) else value).split())
    return text if len(text) <= 40 else text[:18] + "..." + text[-18:]


def _differences(stored: dict[str, Any], record: dict[str, Any]) -> str:
    keys = [k for k in record if stored.get(k) != record[k]] + [k for k in stored if k not in record]
    return ", ".join(f"{k}: stored {_short(stored.get(k))}, now {_short(record.get(k))}" for k in keys)


def _bind_settings(path: Path, name: str, record: dict[str, Any], has_rows: bool) -> None:
    """Store ``record`` for a table with no rows; refuse a table whose rows were made otherwise."""
    stored = _read_settings(path, name)
    hint = (
        "resume with the stored settings, or start a new table with table='NAME' "
        "(stablecore certify: --table NAME)"
    )
    if has_rows and stored is None:
        raise ValueError(
            f"table {name!r} has rows but no stored settings ({path.name}), so a resume cannot be "
            f"checked: start a new table with table='NAME' (stablecore certify: --table NAME)"
        )
    if stored is not None and stored != record:
        if has_rows:
            raise ValueError(
                f"table {name!r} holds rows computed with other settings ({_differences(stored, record)}): "
                + hint
            )
        stored = None  # settings of a start that wrote no row: replaced
    if stored is None:
        atomic_write_json(path, record)


def _check_unchanged(path: Path, name: str, record: dict[str, Any]) -> None:
    stored = _read_settings(path, name)
    if stored != record:
        changes = _differences(stored or {}, record) if stored is not None else "settings file removed"
        raise ValueError(
            f"the settings of table {name!r} were changed by another writer while this one ran ({changes}): "
            "shards of one table must share settings; start a new table with table='NAME' "
            "(stablecore certify: --table NAME)"
        )


def _read_rows(path: Path, name: str, method: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows stored at ``path``, checked (module docstring); ``ValueError`` naming the file if not."""
    try:
        frame = pd.read_parquet(io.BytesIO(path.read_bytes()))
    except Exception as exc:  # a stored file is user input: any failure to read it is a bad file
        reason = str(exc).splitlines()[0][:120] if str(exc) else ""
        raise ValueError(
            f"{path} is not a readable certify table ({type(exc).__name__}: {reason}); remove it or start a "
            "new table with table='NAME' (stablecore certify: --table NAME)"
        ) from None
    bad = f"{path} is not a certify table of method {method!r}"
    missing = [c for c in (*BASE_COLUMNS, *METHOD_COLUMNS[method]) if c not in frame.columns]
    if missing:
        raise ValueError(f"{bad}: it lacks the column(s) {missing}")
    index = frame["index"]
    if frame.empty:
        return []
    if not pd.api.types.is_integer_dtype(index) or index.isna().any() or (index < 0).any():
        raise ValueError(f"{bad}: its 'index' column must hold integers >= 0, got dtype {index.dtype}")
    if index.duplicated().any():
        raise ValueError(f"{bad}: index {int(index[index.duplicated()].iloc[0])} appears more than once")
    for column, expected in (("counts_selection", record["n0"]), ("counts_estimation", record["n"])):
        for i, counts in zip(index, frame[column], strict=True):
            ok = isinstance(counts, (list, tuple, np.ndarray)) and len(counts) == record["num_classes"]
            if not ok or int(np.sum(counts)) != expected:
                k = record["num_classes"]
                raise ValueError(
                    f"{bad}: row of example {int(i)} has {column} {_short(counts)}, not {k} counts "
                    f"summing to {expected}"
                )
    return frame.to_dict("records")


def certify_dataset(
    smooth: Smooth,
    dataset: Any,
    *,
    out: Any,
    method: str = "cohen",
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    batch_size: int = 1000,
    every: int = 1,
    shard: str | tuple[int, int] | None = None,
    seed: int = 0,
    flush_every: int = 10,
    progress: bool = True,
    table: str | None = None,
    **method_kwargs: Any,
) -> pd.DataFrame:
    """Certify ``dataset`` (items ``(x, label)``) with ``smooth``; returns the shard's full table.

    Args:
        smooth: the smoothed classifier.
        dataset: a map-style dataset of ``(x, label)`` pairs.
        out: a run (``stablecore.results.Run``) or a run directory; the table is written there.
        method: a key of :data:`METHODS`: ``"cohen"`` (votes, Clopper–Pearson), ``"lvm"`` (sound LVM-RS;
            options ``maps``, ``temperatures``, ``mode``, ``soft_bound`` as in
            :func:`~stablecore.smoothing.lvm.certify_lvm`) or ``"lipschitz"`` (R_ode of a softmax score;
            needs ``logits_bound=`` an ``exact``/``upper_bound`` :class:`~stablecore.types.Bound` of the
            logits, and takes ``temperature=`` (default 1)).
        n0, n, alpha, batch_size: Cohen et al.'s CERTIFY settings.
        every: certify every ``every``-th example.
        shard: ``"i/n"``: only examples ``i, i + n, ...`` of the selected ones.
        seed: noise seed (per example, see :func:`example_generator`).
        flush_every: rows between atomic rewrites of the table.
        table: the table's name (default ``certify-<method>``); a new name starts a new table, e.g. to
            keep tables of several σ in one run.
        method_kwargs: extra settings of the method.

    Raises:
        ValueError: bad arguments; stored settings that differ from these, or stored rows that are not a
            table of this method (module docstring); more work than :func:`stablecore.limits.max_work`;
            a non-finite logit (:class:`~stablecore.smoothing.core.NonFiniteLogitsError`).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    unknown = sorted(set(method_kwargs) - set(METHOD_OPTIONS[method]))
    if unknown:
        raise ValueError(
            f"method {method!r} takes no option(s) {unknown}; its options are {list(METHOD_OPTIONS[method])}"
        )
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if table is not None and not isinstance(table, str):
        raise TypeError(f"table must be a table name (str) or None, got {type(table).__name__}")
    name = f"certify-{method}" if table is None else table
    settings = {
        "n0": _check_int(n0, "n0"),
        "n": _check_int(n, "n"),
        "alpha": check_alpha(alpha),
        "batch_size": _check_int(batch_size, "batch_size"),
        **method_kwargs,
    }
    if method == "lipschitz":
        settings = _lipschitz_settings(settings, smooth)
    every, flush_every = _check_int(every, "every"), _check_int(flush_every, "flush_every")
    parsed = parse_shard(shard)
    try:
        size = len(dataset)
    except TypeError as exc:
        raise TypeError(
            f"dataset must be a map-style dataset with len(), got {type(dataset).__name__}"
        ) from exc
    if size == 0:
        raise ValueError("dataset is empty")
    indices = list(range(0, size, every))
    if parsed is not None:
        indices = indices[parsed[0] :: parsed[1]]
    run = _run(out)
    path = run.table_path(name, parsed)
    record = _record(method, smooth, settings, seed, every, 1 if parsed is None else parsed[1])
    settings_file = settings_path(run, name)
    _bind_settings(settings_file, name, record, _has_rows(settings_file, name))
    rows = _read_rows(path, name, method, record) if path.exists() else []
    done = {int(r["index"]) for r in rows}
    todo = [i for i in indices if i not in done]
    draws = settings["n0"] + settings["n"]
    check_work(
        draws * len(todo),
        argument="n" if settings["n"] >= settings["n0"] else "n0",
        what=f"n0 + n noise draws for each of {len(todo)} examples",
    )
    device = model_device(smooth.base_classifier)
    options = {k: v for k, v in settings.items() if k not in ("logits_bound_method",)}
    pending = 0
    for i in tqdm(todo, desc=f"certify ({method})", disable=not progress):
        x, label = dataset[i]
        x = torch.as_tensor(x)
        start = time.perf_counter()
        with logits_context(example=i):
            row = certify_point(
                smooth, x, method=method, generator=example_generator(seed, i, device), **options
            )
        label = int(label)
        rows.append(
            {
                "index": i,
                "label": label,
                **row,
                "correct": bool(row["prediction"] == label),
                "seconds": time.perf_counter() - start,
            }
        )
        pending += 1
        if pending >= flush_every:
            _check_unchanged(settings_file, name, record)
            run.write_table(name, pd.DataFrame(rows), shard=parsed)
            pending = 0
    frame = pd.DataFrame(rows, columns=None if rows else [*BASE_COLUMNS, *METHOD_COLUMNS[method], "seconds"])
    if pending or not path.exists():
        _check_unchanged(settings_file, name, record)
        run.write_table(name, frame, shard=parsed)
    frame.attrs.update(
        table=name, **record, **{k: v for k, v in settings.items() if np.isscalar(v) and k not in record}
    )
    return frame.sort_values("index", kind="stable").reset_index(drop=True)
