"""Helpers shared by the dashboard pages: URL query-parameter state, cached models and runs, headers.

Thin on purpose: every computation is in :mod:`stablecore.explore`; this module only binds widgets to
``st.query_params`` (so a view reloads identically) and caches (``st.cache_resource`` for models,
``st.cache_data`` for tables, keyed on primitive ids: spec hash, run path, settings).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch
from torch import nn

from stablecore.explore import (
    EMBEDDED_MODELS,
    FAMILY_LABELS,
    VIEW_PARAMS,
    ExploreModel,
    ModelSpec,
    certified_curves,
    confine,
    decision_grid,
    lipschitz_margin_radii,
    param_value,
    relative,
    smoothing_radii,
    train_or_load,
)
from stablecore.plots import certified_accuracy_plot, radii_plot, radius_histogram_plot
from stablecore.results import runs_home

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"

# Tiny models: one thread is fastest and does not fight other processes for the cores.
torch.set_num_threads(int(os.environ.get("STABLECORE_DASHBOARD_THREADS", "1")))

#: Models the pages can train on demand (the embedded default needs no download and no stored run).
EMBEDDED: dict[str, ModelSpec] = EMBEDDED_MODELS
#: The model every page opens with (boundaries: the default widgets; landscape, spectral: the first
#: option, ``embedded:moons-mlp``), which :func:`warm_up` trains or loads before the server starts.
DEFAULT_SPEC = ModelSpec()
#: Default smoothing settings of the boundaries page (σ, noise samples n, LVM-RS on).
BOUNDARY_DEFAULTS: dict[str, Any] = {
    p.key: p.default for p in VIEW_PARAMS["boundaries"] if p.key in ("sigma", "n", "lvm")
}
#: The disk choices of the boundaries page and their radius columns.
RADIUS_LABELS = {"Lipschitz margin": "radius_lipschitz", "Cohen RS": "radius_cohen", "LVM-RS": "radius_lvm"}


def home() -> str:
    """The run store the dashboard reads and writes (``$STABLECORE_HOME`` or ``runs/``)."""
    return str(runs_home())


# ------------------------------------------------------------------------------------- query params
def state(key: str, default: Any, options: Sequence[Any] | None = None, *, lo: float | None = None,
          hi: float | None = None) -> None:  # fmt: skip
    """Initialise ``st.session_state[key]`` (a widget key) from the URL query parameter ``key`` if the
    session has no value yet; a missing or invalid parameter (non-finite or out-of-range number, garbage,
    not in ``options``) gives ``default`` (:func:`stablecore.explore.param_value`)."""
    if key in st.session_state:
        return
    value = param_value(key, st.query_params.get(key), default, options, lo=lo, hi=hi)
    st.session_state[key] = list(value) if isinstance(value, tuple) else value


def view_state(view: str, skip: Sequence[str] = (), **options: Sequence[Any]) -> None:
    """:func:`state` for every query parameter of ``view`` declared in
    :data:`stablecore.explore.VIEW_PARAMS` (the one home of defaults, choices and ranges, which
    :func:`stablecore.explore.dashboard_url` links also obey), except ``skip``; ``options`` gives the
    choices known only at run time (model pickers), by key."""
    for p in VIEW_PARAMS[view]:
        if p.key not in skip:
            state(p.key, p.default, options.get(p.key, p.options), lo=p.lo, hi=p.hi)


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
    if (key, home()) in _READY:  # in this process's cache: no status box (st.status waits 50 ms)
        em = _model(key, home(), spec.canonical())
        st.caption(f":material/check_circle: Model {_verb(em)}: {spec.label()} ({em.seconds:.1f} s)")
        return em
    with st.status(f"Model: {spec.label()}", expanded=False) as box:
        em = _model(key, home(), spec.canonical())
        box.update(label=f"Model {_verb(em)}: {spec.label()} ({em.seconds:.1f} s)", state="complete")
    _READY.add((key, home()))
    return em


#: ``(spec key, run store)`` of the models ``get_model`` has returned in this process (a cache entry
#: evicted later is simply loaded again, without the status box).
_READY: set[tuple[str, str]] = set()


def _verb(em: ExploreModel) -> str:
    return "trained and stored" if em.trained else "loaded from the run store"


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


# ------------------------------------------------------------------------------------- boundaries page
def _tensors(dataset: torch.utils.data.Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack(xs), torch.as_tensor([int(v) for v in ys])


@st.cache_data(show_spinner=False, max_entries=64)
def boundary_tables(
    key: str, run: str, sigma: float, n: int, lvm: bool, _em: ExploreModel
) -> tuple[pd.DataFrame, ...]:
    """``(grid, points, train, info)`` of the boundaries page for the model ``_em`` (spec ``key``, run
    ``run``): the decision grid, the test points' Lipschitz / Cohen / LVM-RS radii (σ, ``n``, n0 = 64,
    α = 0.001, noise seed 0), the training points, and the model's L and test accuracy."""
    x_tr, y_tr = _tensors(_em.data.train)
    x_te, y_te = _tensors(_em.data.test)
    grid = decision_grid(_em.model, torch.cat([x_tr, x_te]), size=80)
    lip = lipschitz_margin_radii(_em.model, x_te, y_te)
    rs = smoothing_radii(_em.model, x_te, y_te, sigma=sigma, n0=64, n=n, alpha=0.001, seed=0, lvm=lvm)
    points = lip.rename(columns={"radius": "radius_lipschitz"}).drop(
        columns=[c for c in lip.columns if c.startswith("certified@")]
    )
    points = points.merge(rs.drop(columns=["label"]), on="index")
    train = pd.DataFrame({"x0": x_tr[:, 0].numpy(), "x1": x_tr[:, 1].numpy(), "label": y_tr.numpy()})
    info = pd.DataFrame([{**lip.attrs, "test_accuracy": float(points["correct"].mean())}])
    return grid, points, train, info


@st.cache_resource(show_spinner=False, max_entries=32)
def boundary_figures(
    key: str, run: str, sigma: float, n: int, lvm: bool, disks: str, title: str,
    _tables: tuple[pd.DataFrame, ...],
) -> tuple[go.Figure, go.Figure, go.Figure]:  # fmt: skip
    """The boundaries page's three figures for :func:`boundary_tables` ``_tables`` (same key) and the
    disks drawn: regions with disks, radius histogram, certified accuracy vs radius. Built once per view:
    building plotly figures (validation, template copies) was most of a cached rerun. Shared read-only
    (``st.plotly_chart`` serialises a copy)."""
    grid, points, train, _ = _tables
    shown = points.copy()
    if disks != "Lipschitz margin":
        shown["prediction"] = shown["prediction_cohen" if disks == "Cohen RS" else "prediction_lvm"]
    radius_cols = {k: v for k, v in RADIUS_LABELS.items() if v in points.columns}
    boundary = radii_plot(grid, shown, radius_column=RADIUS_LABELS[disks], train=train, title=title)
    histogram = radius_histogram_plot(points, radius_cols)
    curves = certified_accuracy_plot(certified_curves(points), title="Certified accuracy vs radius")
    return boundary, histogram, curves


# ------------------------------------------------------------------------------------- warm-up
def warm_up() -> dict[str, Any]:
    """Prepare this process before the server starts (``stablecore dashboard``, which then runs Streamlit
    in the same interpreter): import what the pages import, including ``torch._dynamo`` (the first Adam
    step imports it: about 2.5 s), train or load :data:`DEFAULT_SPEC` into the run store and the model
    cache, and compute the boundaries page's default view (tables and figures) into its caches.

    Returns:
        ``imports_s``, ``model_s``, ``view_s`` (seconds), ``trained`` (False: loaded from the run
        store) and ``run`` (the model's run directory).
    """
    start = time.perf_counter()
    import torch._dynamo  # noqa: F401

    import stablecore.explore.curvature
    import stablecore.explore.spectral
    import stablecore.workflows  # noqa: F401

    imported = time.perf_counter()
    spec = DEFAULT_SPEC.canonical()
    key = spec.key()
    em = _model(key, home(), spec)
    _READY.add((key, home()))
    modelled = time.perf_counter()
    d = BOUNDARY_DEFAULTS
    tables = boundary_tables(key, str(em.run_path), float(d["sigma"]), int(d["n"]), bool(d["lvm"]), em)
    disks = "Lipschitz margin"
    title = f"{FAMILY_LABELS[spec.family]} on {spec.dataset}: {disks} disks"
    boundary_figures(
        key, str(em.run_path), float(d["sigma"]), int(d["n"]), bool(d["lvm"]), disks, title, tables
    )
    return {
        "imports_s": imported - start,
        "model_s": modelled - imported,
        "view_s": time.perf_counter() - modelled,
        "trained": em.trained,
        "run": str(em.run_path),
    }
