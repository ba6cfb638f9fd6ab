"""Page 2: loss landscapes (1-D, 2-D contour / 3-D surface) and the Hessian spectrum of a run's model,
along training when checkpoints exist, and two runs side by side."""

from __future__ import annotations

import streamlit as st
from app_common import cached, header, load_run_model, model_choices, resolve_choice, sync, view_state

from stablecore.explore import cli_command, view_keys
from stablecore.explore import curvature as xc
from stablecore.plots import (
    hessian_spectrum_plot,
    landscape_1d_plot,
    landscape_contour_plot,
    landscape_panels_plot,
    landscape_surface_plot,
)

KEYS = view_keys("landscape")
NONE = "(none)"

header(
    "Loss landscape & curvature",
    "How does the training loss change when the *parameters* move? A slice of the landscape along "
    "filter-normalised random directions (Li et al. 2018) shows the basin; the Hessian's top eigenvalue "
    "λ_max (sharpness), its trace and its spectral density measure the curvature at the trained point.",
    r"\mathcal L(\theta+\alpha\delta+\beta\eta),\qquad "
    r"\lambda_{\max}=\max_{\lVert v\rVert=1}v^\top\nabla^2_\theta\mathcal L\,v,\qquad "
    r"\operatorname{tr}\nabla^2_\theta\mathcal L\approx\frac1m\sum_{i=1}^m z_i^\top"
    r"\nabla^2_\theta\mathcal L\,z_i",
    "ch04_curvature.ipynb",
)

choices = model_choices()
options = list(choices)
view_state("landscape", ls_model=options, ls_compare=[NONE, *options])

with st.sidebar:
    st.subheader("Model")
    st.selectbox("Run or model", options, key="ls_model", format_func=lambda o: choices.get(o, o))
    st.text_input("…or a run path inside the run store", key="ls_path", placeholder="experiment/run_id")
    st.selectbox("Compare with", [NONE, *options], key="ls_compare", format_func=lambda o: choices.get(o, o))
    st.subheader("Landscape")
    st.radio("Dimensions", ("1-D", "2-D"), key="ls_dims", horizontal=True)
    st.radio("2-D view", ("contour", "surface"), key="ls_view", horizontal=True)
    st.slider("Grid steps", 5, 61, step=2, key="ls_steps")
    st.slider("Span ±", 0.1, 5.0, step=0.1, key="ls_span")
    st.checkbox("Log scale", key="ls_log")
    st.number_input("Direction seed", 0, 9999, step=1, key="ls_seed")
    st.subheader("Hessian")
    st.checkbox("Compute the Hessian spectrum", key="ls_hessian")
    st.slider("Top-k eigenvalues", 1, 10, key="ls_k")
    st.checkbox("λ_max along training (checkpoints)", key="ls_along")
sync(KEYS)
ss = st.session_state

try:
    label, run_path = resolve_choice(ss["ls_model"], ss["ls_path"])
    model = load_run_model(run_path)
except Exception as exc:  # a broken or foreign run must never crash the page
    st.error(f"Cannot load this run: {exc}")
    st.stop()


@cached
def _landscape(run: str, dims: int, steps: int, span: float, seed: int, _model: object) -> object:
    data = xc.run_data(run)
    return xc.landscape(_model, data, dims=dims, steps=steps, span=(-span, span), seed=seed)


@cached
def _hessian(run: str, k: int, seed: int, _model: object) -> object:
    data = xc.run_data(run)
    return xc.hessian_summary(_model, data, k=k, trace_samples=10, lanczos_steps=30, seed=seed)


@cached
def _along(run: str, seed: int) -> object:
    return xc.sharpness_along_training(run, xc.run_data(run), seed=seed)


dims = 1 if ss["ls_dims"] == "1-D" else 2
steps, span, seed = int(ss["ls_steps"]), float(ss["ls_span"]), int(ss["ls_seed"])
st.markdown(f"**Model:** {label} — `{run_path}`")
stored = xc.stored_landscape(run_path, dims)
try:
    with st.spinner("Evaluating the landscape …"):
        land = _landscape(str(run_path), dims, steps, span, seed, model)
except Exception as exc:  # e.g. a run whose data set needs files this machine lacks
    st.error(f"Cannot evaluate the loss of this run: {exc}")
    st.stop()
title = f"{label}: loss along {'a random direction' if dims == 1 else 'a random plane'}"
if dims == 1:
    fig = landscape_1d_plot(land, title=title, log=bool(ss["ls_log"]))
elif ss["ls_view"] == "surface":
    fig = landscape_surface_plot(land, title=title, log=bool(ss["ls_log"]))
else:
    fig = landscape_contour_plot(land, title=title, log=bool(ss["ls_log"]))
st.plotly_chart(fig, key="landscape_chart")
st.caption(f"Loss at the model: {land.centre_loss:.4g}; {steps} steps per axis on [−{span:g}, {span:g}].")
if stored is not None:
    st.plotly_chart(
        landscape_1d_plot(stored, title="Stored by the CLI")
        if dims == 1
        else landscape_contour_plot(stored, title="Stored by the CLI", log=bool(ss["ls_log"])),
        key="stored_landscape",
    )
st.code(cli_command("landscape", str(run_path), dims=dims, steps=51, span=(-span, span)), language="bash")

compared = None
if ss["ls_compare"] != NONE:
    try:
        label_b, run_b = resolve_choice(ss["ls_compare"])
        model_b = load_run_model(run_b)
        land_b = _landscape(str(run_b), dims, steps, span, seed, model_b)
    except Exception as exc:  # shown, never raised
        st.warning(f"Cannot load the run to compare: {exc}")
    else:
        st.subheader("Side by side")
        pair = {label: land, label_b: land_b}
        compare = (
            landscape_1d_plot(pair, title="Two runs", log=bool(ss["ls_log"]))
            if dims == 1
            else landscape_panels_plot(pair, title="Two runs", log=bool(ss["ls_log"]))
        )
        st.plotly_chart(compare, key="compare_chart")
        compared = (label_b, run_b, model_b)

st.subheader("Hessian of the training loss")
if ss["ls_hessian"]:
    try:
        with st.spinner("Lanczos, Hutchinson and SLQ …"):
            summary = _hessian(str(run_path), int(ss["ls_k"]), seed, model)
            along = _along(str(run_path), seed) if ss["ls_along"] else None
    except Exception as exc:  # shown, never raised
        st.error(f"Cannot compute the Hessian of this run: {exc}")
        st.stop()
    summary_b = None
    if compared is not None:
        try:
            summary_b = _hessian(str(compared[1]), int(ss["ls_k"]), seed, compared[2])
        except Exception as exc:  # shown, never raised
            st.warning(f"Cannot compute the Hessian of the run to compare: {exc}")
    trace = summary["trace"]
    c1, c2, c3 = st.columns(3)
    c1.metric("λ_max (estimate)", f"{summary['top'].eigenvalues[0]:.4g}")
    c2.metric("λ_min (estimate)", f"{summary['bottom'].eigenvalues[0]:.4g}")
    c3.metric("trace (estimate)", f"{trace.mean:.4g} ± {trace.stderr:.2g}")
    st.plotly_chart(hessian_spectrum_plot(xc.hessian_frame(summary, along)), key="hessian_chart")
    st.dataframe(summary["top"].to_frame(), key="eigen_table", hide_index=True)
    if along is not None:
        st.dataframe(along, key="along_table", hide_index=True)
        if len(along) < 2:
            st.info("This run has no intermediate checkpoints (epoch-<e>.pt); only the final model is shown.")
    if summary_b is not None:
        st.markdown("**Side by side** (estimates)")
        table = xc.hessian_table({label: summary, compared[0]: summary_b})
        st.dataframe(table, key="compare_table", hide_index=True)
else:
    st.info("Tick *Compute the Hessian spectrum* to estimate λ_max, the trace and the density.")
stored_h = xc.stored_hessian(run_path)
for name, table in stored_h.items():
    st.markdown(f"Stored by the CLI: `{name}`")
    st.dataframe(table, hide_index=True, key=f"stored_{name}")
st.code(cli_command("hessian", str(run_path), k=5, trace=True, density=True), language="bash")
