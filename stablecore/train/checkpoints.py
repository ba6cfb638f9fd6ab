"""Reading checkpoints back safely: a checkpoint file is user input.

A run's files may be truncated (a copy cut short), replaced by other bytes, hand-edited, or a symbolic
link to a file elsewhere. :func:`read_checkpoint` loads with ``weights_only=True`` (no code runs while
unpickling) and turns every way a file can be wrong into a ``ValueError`` that names the file and says
what is wrong; :func:`load_weights` does the same for a state dict that does not fit its model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stablecore.results import check_inside

__all__ = ["TRAINING_KEYS", "load_weights", "read_checkpoint"]

#: Keys of a checkpoint that :meth:`stablecore.train.Trainer.resume` continues from.
TRAINING_KEYS: tuple[str, ...] = ("model", "optimizer", "epoch", "history")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _check_state_dict(state: Any, path: Path) -> None:
    if not isinstance(state, Mapping):
        raise ValueError(
            f"checkpoint {str(path)!r}: 'model' must be a state dict (name -> tensor), got "
            f"{type(state).__name__}"
        )
    for key, value in state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(
                f"checkpoint {str(path)!r}: 'model' must map names to tensors, got {key!r} -> "
                f"{type(value).__name__}"
            )


def _check_training_state(state: Mapping[str, Any], path: Path) -> None:
    epoch, history = state["epoch"], state["history"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"checkpoint {str(path)!r}: 'epoch' must be an int >= 0, got {epoch!r}")
    if not isinstance(history, Sequence) or not all(isinstance(row, Mapping) for row in history):
        raise ValueError(f"checkpoint {str(path)!r}: 'history' must be a list of dicts")
    if len(history) != epoch:
        raise ValueError(
            f"checkpoint {str(path)!r}: 'history' has {len(history)} rows for {epoch} completed epochs"
        )
    if not isinstance(state["optimizer"], Mapping):
        raise ValueError(f"checkpoint {str(path)!r}: 'optimizer' must be a state dict")


def read_checkpoint(
    path: str | os.PathLike,
    *,
    within: str | os.PathLike | None = None,
    required: Sequence[str] = ("model",),
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` and check what it holds.

    Args:
        path: the checkpoint file.
        within: a directory (a run) the file must lie in once symbolic links are resolved; a link that
            leads out of it is refused, as the run store confines every path to itself.
        required: keys the checkpoint must have; ``"model"`` must be a state dict of tensors, and with
            :data:`TRAINING_KEYS` the epoch counter, the history and the optimizer state are checked too.
        map_location: where tensors are loaded.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file lies outside ``within``, cannot be read, is not a torch checkpoint
            (truncated, random bytes, a pickle that ``weights_only`` refuses), is not a dict, or a
            required entry is missing or malformed. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist or is not a file")
    if within is not None:
        check_inside(path, within, what="checkpoint")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except OSError as exc:
        raise ValueError(f"checkpoint {str(path)!r} cannot be read: {exc.strerror or exc}") from exc
    except Exception as exc:  # torch.load raises many types for a broken file (pickle, zip, EOF errors)
        sentence = _first_line(exc).split(". ")[0].rstrip(".")  # torch's advice that follows is not ours
        raise ValueError(
            f"checkpoint {str(path)!r} is not a torch checkpoint that loads with weights_only=True "
            f"(truncated, corrupted, or not written by torch.save): {type(exc).__name__}: {sentence}"
        ) from exc
    if not isinstance(state, Mapping):
        raise ValueError(
            f"checkpoint {str(path)!r} holds a {type(state).__name__}, expected a dict with the keys "
            f"{list(required)}"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise ValueError(f"checkpoint {str(path)!r} has no {missing} (keys: {sorted(map(str, state))})")
    if "model" in required:
        _check_state_dict(state["model"], path)
    if all(key in required for key in TRAINING_KEYS):
        _check_training_state(state, path)
    return dict(state)


def load_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str | os.PathLike) -> None:
    """``model.load_state_dict(state_dict)`` (strict), a mismatch reported as ``ValueError`` naming
    ``source`` and the first differences (missing or unexpected keys, size mismatches)."""
    try:
        model.load_state_dict(state_dict)
    except (RuntimeError, TypeError, KeyError, IndexError) as exc:
        details = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()] or [_first_line(exc)]
        text = "; ".join(details[:3]) + (f"; and {len(details) - 3} more" if len(details) > 3 else "")
        raise ValueError(f"checkpoint {str(source)!r} does not fit the model: {text}") from exc
