"""Scaffolding shared by the chapter modules: config and seed checks, thread limits, the experiment
decorator.

Every chapter experiment has the signature ``fn(cfg=None, *, seed=0, **kwargs) -> DataFrame``:
:func:`experiment` resolves ``cfg`` (``None`` → the chapter config's ``for_mode()``, i.e.
``STABLECORE_MODE``), checks ``seed`` and runs ``fn`` under ``cfg.num_threads`` CPU threads.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pandas as pd
import torch

__all__ = ["check_seed", "experiment", "resolve_config", "threads"]

C = TypeVar("C")


def check_seed(seed: Any) -> int:
    """``seed`` itself if it is an int (not a bool), else TypeError."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed


def resolve_config(cfg: C | None, config_cls: type[C]) -> C:
    """``cfg``, or ``config_cls.for_mode()`` when None; TypeError for anything else."""
    if cfg is None:
        return config_cls.for_mode()  # type: ignore[attr-defined]
    if not isinstance(cfg, config_cls):
        raise TypeError(f"cfg must be a {config_cls.__name__} or None, got {type(cfg).__name__}")
    return cfg


@contextlib.contextmanager
def threads(n: int | None, *, blas: bool = False) -> Iterator[None]:
    """Set torch's CPU thread count (and with ``blas``, the BLAS libraries' through threadpoolctl) for the
    duration of a block; ``None`` leaves them.

    Limiting OpenBLAS matters for the Lanczos chapters: on the 2-core CPU, numpy's ``eigh`` of a small
    tridiagonal took 30 ms per call with two OpenBLAS threads competing with torch, 10× the single-thread
    time.
    """
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        if blas:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(limits=n):
                yield
        else:
            yield
    finally:
        torch.set_num_threads(old)


def experiment(
    config_cls: type, *, blas: bool = False
) -> Callable[[Callable[..., pd.DataFrame]], Callable[..., pd.DataFrame]]:
    """Decorator of a chapter experiment ``fn(cfg, *, seed, **kwargs)``: validates ``cfg`` (an instance
    of ``config_cls`` or None) and ``seed``, and runs ``fn`` under :func:`threads` ``(cfg.num_threads)``."""

    def decorate(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
        @functools.wraps(fn)
        def wrapper(cfg: Any = None, *, seed: int = 0, **kwargs: Any) -> pd.DataFrame:
            cfg = resolve_config(cfg, config_cls)
            with threads(cfg.num_threads, blas=blas):
                return fn(cfg, seed=check_seed(seed), **kwargs)

        return wrapper

    return decorate
