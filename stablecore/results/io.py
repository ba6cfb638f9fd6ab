"""Atomic file writes: write to a temporary file in the target directory, fsync, then rename.

A reader therefore sees either the old file or the new one, never a half-written file, and an
interrupted write leaves at most a ``.tmp-*`` file that listings ignore.

``within=ROOT`` confines a write to the folder ``ROOT``: the target, with every symbolic link on its way
followed (dangling ones and the target itself included), must lie inside ``ROOT`` (also resolved), so a
linked folder such as ``tables -> /elsewhere`` cannot carry a write out of a run (:func:`check_inside`).
(Without ``within``, a link *as the target* is still never written through: the rename replaces the
link, not the file it points at.)
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pandas as pd
import torch

__all__ = [
    "TMP_PREFIX",
    "atomic_open",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "atomic_write_text",
    "check_inside",
    "read_json",
]

TMP_PREFIX = ".tmp-"
_Within = str | os.PathLike | None


def _resolve(path: Path) -> Path:
    try:
        return path.resolve()  # non-strict: follows every link that exists, dangling ones included
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ValueError(f"path {str(path)!r} cannot be resolved: {exc}") from None


def check_inside(path: str | os.PathLike, root: str | os.PathLike, *, what: str = "path") -> Path:
    """``path`` with its symbolic links followed, if that lies inside ``root`` (resolved too).

    Raises:
        ValueError: the resolved path is outside ``root`` (both are named), or cannot be resolved
            (a symlink loop).
    """
    real_root = _resolve(Path(root))
    real = _resolve(Path(path))
    if real != real_root and not real.is_relative_to(real_root):
        raise ValueError(
            f"{what} {str(path)!r} leads to {str(real)!r}, outside {str(real_root)!r} "
            "(a symbolic link points out of it)"
        )
    return real


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, within: _Within = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it is fsynced and renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched. With ``within``, a
    ``path`` whose folders lead outside ``within`` through a symbolic link is refused (``ValueError``)
    before any folder or file is created.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if within is not None:
        check_inside(path, within)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
    try:
        if within is not None:  # a link swapped in between the check and the creation
            check_inside(tmp, within)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual permissions
        with os.fdopen(fd, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# read once at import: os.umask is process-wide, reading it at each write would race with other threads
_UMASK = _read_umask()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, within: _Within = None) -> Path:
    """Write ``data`` to ``path`` atomically (confined to ``within`` when given)."""
    with atomic_open(path, "wb", within=within) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, within: _Within = None) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), within=within)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike, obj: Any, *, within: _Within = None) -> Path:
    """Write ``obj`` as indented JSON atomically (numpy/torch scalars become numbers)."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    return atomic_write_text(path, text, within=within)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; ``ValueError`` naming the file when it is not valid UTF-8 JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc


def atomic_write_parquet(path: str | os.PathLike, frame: pd.DataFrame, *, within: _Within = None) -> Path:
    """Write a DataFrame as Parquet atomically."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return atomic_write_bytes(path, buffer.getvalue(), within=within)


def atomic_torch_save(
    path: str | os.PathLike, obj: Any, save: Callable[..., None] = torch.save, *, within: _Within = None
) -> Path:
    """``torch.save`` to ``path`` atomically (the previous checkpoint survives a crash mid-write)."""
    with atomic_open(path, "wb", within=within) as fh:
        save(obj, fh)
    return Path(path)
