"""Helpers shared by the dashboard pages: URL query-parameter state, cached models and runs, headers.

Thin on purpose: every computation is in :mod:`stablecore.explore`; this module only binds widgets to
``st.query_params`` (so a view reloads identically) and caches (``st.cache_resource`` for models,
``st.cache_data`` for tables, keyed on primitive ids: spec hash, run path, settings).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import streamlit as st
import torch
from torch import nn

from stablecore.explore import ExploreModel, ModelSpec, confine, relative, train_or_load
from stablecore.results import runs_home

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# Tiny models: one thread is fastest and does not fight other processes for the cores.
torch.set_num_threads(int(os.environ.get("STABLECORE_DASHBOARD_THREADS", "1")))

#: Models the pages can train on demand (the embedded default needs no download and no stored run).
EMBEDDED: dict[str, ModelSpec] = {
    "moons-mlp": ModelSpec("moons", "mlp"),
    "moons-sll": ModelSpec("moons", "sll", offset=1.0),
    "moons-noise": ModelSpec("moons", "noise", sigma=0.25),
    "digits-mlp": ModelSpec("digits", "mlp", epochs=8, width=32, depth=1),
}


def home() -> str:
    """The run store the dashboard reads and writes (``$STABLECORE_HOME`` or ``runs/``)."""
    return str(runs_home())


# ------------------------------------------------------------------------------------- query params
def _parse(raw: Any, default: Any, options: Sequence[Any] | None) -> Any:
    if isinstance(default, bool):
        value: Any = str(raw).lower() in ("1", "true", "yes", "on")
    elif isinstance(default, int):
        value = int(raw)
    elif isinstance(default, float):
        value = float(raw)
    elif isinstance(default, (list, tuple)):
        value = [v for v in str(raw).split(",") if v] if raw else []
    else:
        value = str(raw)
    if options is not None:
        if isinstance(value, list):
            value = [v for v in value if v in options]
        elif value not in options:
            raise ValueError(f"{value!r} not in {list(options)}")
    return value


def state(key: str, default: Any, options: Sequence[Any] | None = None, *, lo: float | None = None,
          hi: float | None = None) -> None:  # fmt: skip
    """Initialise ``st.session_state[key]`` (a widget key) from the URL query parameter ``key`` if the
    session has no value yet; a missing or invalid parameter gives ``default``."""
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    value = default
    if raw is not None:
        try:
            value = _parse(raw, default, options)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                value = default
        except (TypeError, ValueError):
            value = default
    st.session_state[key] = list(value) if isinstance(value, tuple) else value


def sync(keys: Sequence[str]) -> None:
    """Write the current values of ``keys`` to the URL query parameters."""
    params = {}
    for key in keys:
        if key not in st.session_state:
            continue
        value = st.session_state[key]
        params[key] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    if st.query_params.to_dict() != params:  # only this page's state: other pages' keys are dropped
        st.query_params.from_dict(params)


# ------------------------------------------------------------------------------------- page header
def header(title: str, text: str, formula: str, notebook: str | None) -> None:
    """Title, two or three sentences, the formula (LaTeX) and the chapter notebook."""
    st.title(title)
    st.markdown(text)
    st.latex(formula)
    if notebook is None:
        st.markdown(
            "Notebooks: one per thesis chapter, `notebooks/chNN_*.ipynb`, all reading this run store."
        )
        return
    path = NOTEBOOKS / notebook
    where = f"`notebooks/{notebook}`" + ("" if path.is_file() else " (not in this checkout)")
    st.markdown(
        f"Chapter notebook: [{notebook}]({path.as_uri() if path.is_file() else notebook}) — {where}; "
        f"open it with `jupyter lab notebooks/{notebook}`."
    )


# ------------------------------------------------------------------------------------- models
@st.cache_resource(show_spinner=False, max_entries=32)
def _model(key: str, home_dir: str, _spec: ModelSpec) -> ExploreModel:
    return train_or_load(_spec, home=home_dir)


def get_model(spec: ModelSpec) -> ExploreModel:
    """The :class:`~stablecore.explore.ExploreModel` of ``spec`` (cached; trained on first use, with a
    status box)."""
    key = spec.canonical().key()
    with st.status(f"Model: {spec.label()}", expanded=False) as box:
        em = _model(key, home(), spec.canonical())
        verb = "trained and stored" if em.trained else "loaded from the run store"
        box.update(label=f"Model {verb}: {spec.label()} ({em.seconds:.1f} s)", state="complete")
    return em


@st.cache_resource(show_spinner=False, max_entries=32)
def _run_model(path: str, mtime: float) -> nn.Module:
    from stablecore.workflows import load_model

    return load_model(path, device="cpu")


def load_run_model(path: str | Path) -> nn.Module:
    """The model of a stored run (cached on the path and the checkpoint's modification time)."""
    p = Path(path)
    ckpt = p / "checkpoints" / "last.pt"
    return _run_model(str(p), ckpt.stat().st_mtime if ckpt.is_file() else 0.0)


def model_choices() -> dict[str, str]:
    """Options of a model picker: embedded specs, then the stored runs with a model (``run:<rel>``)."""
    from stablecore.explore import model_runs

    options = {f"embedded:{k}": f"embedded · {s.label()}" for k, s in EMBEDDED.items()}
    try:
        table = model_runs(home())
    except OSError:
        table = None
    if table is not None:
        for _, row in table.iterrows():
            acc = row.get("test_accuracy")
            acc_text = f", acc {acc:.2f}" if isinstance(acc, (int, float)) and acc == acc else ""
            options[f"run:{row['run']}"] = f"run · {row['run']} ({row['dataset']} · {row['model']}{acc_text})"
    return options


def resolve_choice(choice: str, typed: str = "") -> tuple[str, Path]:
    """The run directory of a picker choice (training an embedded model if needed), or of a typed path
    confined to the run store. Returns ``(label, run path)``; ``ValueError`` for a path outside the store."""
    if typed.strip():
        path = confine(typed, home())
        return relative(path, home()), path
    if choice.startswith("embedded:"):
        spec = EMBEDDED[choice.split(":", 1)[1]]
        em = get_model(spec)
        return f"embedded · {spec.label()}", em.run_path
    rel = choice.split(":", 1)[1]
    return rel, confine(rel, home())


def cached(fn: Callable) -> Callable:
    """``st.cache_data`` without the spinner (inputs are primitives; underscore arguments unhashed)."""
    return st.cache_data(show_spinner=False, max_entries=64)(fn)
