"""The CLI command that does, at full size, what a dashboard page shows in small (to copy and run)."""

from __future__ import annotations

import os
import shlex
from typing import Any

__all__ = ["COMMANDS", "cli_command"]

COMMANDS: tuple[str, ...] = (
    "certify",
    "hessian",
    "landscape",
    "spectral",
    "train",
    "runs",
    "report",
    "reproduce",
)


def cli_command(command: str, run: str | os.PathLike | None = None, **options: Any) -> str:
    """``stablecore <command> --run RUN --opt value ...`` as one shell-quoted line.

    Options: ``snake_case`` names become ``--kebab-case``; ``True`` is a bare flag; ``False`` and ``None``
    are left out; a list or tuple gives several values (``--span -1 1``).

    Example:
        >>> cli_command("certify", "runs/explore/x", sigma=0.25, n=100000)
        'stablecore certify --run runs/explore/x --sigma 0.25 --n 100000'
    """
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}, got {command!r}")
    parts = ["stablecore", command]
    if run is not None:
        parts += ["--run", str(run)]
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *(f"{v:g}" if isinstance(v, float) else str(v) for v in value)]
        else:
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(shlex.quote(p) for p in parts)
