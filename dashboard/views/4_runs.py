"""Page 4: the run store as a table (filter, sort), one run's manifest, metrics and tables, and the
status of runs in progress. Broken or half-written runs are shown as such."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from app_common import header, home, state, sync, view_state

from stablecore.explore import VIEW_PARAMS, cli_command, confine, run_details, runs_table, view_keys
from stablecore.plots import training_curves

KEYS = view_keys("runs")
PARAMS = {p.key: p for p in VIEW_PARAMS["runs"]}
STATUSES, SORTS = PARAMS["runs_status"].options, PARAMS["runs_sort"].options

header(
    "Runs",
    f"Every training, certification, Hessian or landscape result is a run in the store `{home()}`: a "
    "manifest (config, seed, versions, status) and Parquet tables. Runs in progress show their epochs; "
    "runs whose manifest is missing or unreadable are listed as *incomplete*.",
    r"\texttt{runs}/\langle\text{experiment}\rangle/\langle\text{run\_id}\rangle/"
    r"\{\texttt{manifest.json},\ \texttt{tables/*.parquet},\ \texttt{checkpoints/*.pt}\}",
    None,
)


def _latest_reproduction() -> None:
    """The summary of the newest completed ``stablecore reproduce`` run, if the store has one."""
    st.subheader("Latest reproduction")
    if not (Path(home()) / "reproduce").is_dir():
        st.caption("No reproduction in this run store yet: " + cli_command("reproduce", mode="quick"))
        return
    try:
        from stablecore.reproduce import latest_reproduction

        loaded = latest_reproduction(home())
    except Exception as exc:  # a half-written reproduction is shown as such, never raised
        st.warning(f"The latest reproduction cannot be read: {exc}")
        return
    if loaded is None:
        st.caption("No completed reproduction yet: " + cli_command("reproduce", mode="quick"))
        return
    st.markdown(
        f"`{loaded.path}` — mode {loaded.manifest.get('mode')}, finished {loaded.manifest.get('end_time')}"
    )
    st.dataframe(loaded.tables["summary"], key="reproduction_table", hide_index=True)


view_state("runs", skip=("runs_run",))  # the run picker is initialised once runs are listed

table = runs_table(home())
with st.sidebar:
    st.subheader("Filter")
    st.text_input("Search (experiment, run, dataset, model)", key="runs_filter")
    st.multiselect("Status", STATUSES, key="runs_status")
    st.selectbox("Sort by", SORTS, key="runs_sort")
    st.checkbox("Descending", key="runs_desc")

view = table[table["status"].isin(st.session_state["runs_status"])]
text = st.session_state["runs_filter"].strip().lower()
if text:
    hay = view[["experiment", "run_id", "dataset", "model"]].astype(str).agg(" ".join, axis=1).str.lower()
    view = view[hay.str.contains(text, regex=False)]
view = view.sort_values(
    st.session_state["runs_sort"], ascending=not st.session_state["runs_desc"], na_position="last",
    key=lambda c: c.astype(str) if c.dtype == object else c,
)  # fmt: skip
c1, c2, c3 = st.columns(3)
c1.metric("Runs", len(table))
c2.metric("Running", int((table["status"] == "running").sum()))
c3.metric("Incomplete or failed", int(table["status"].isin(["incomplete", "failed"]).sum()))
columns = ["run", "status", "dataset", "model", "test_accuracy", "epochs_done", "epochs_planned",
           "start_time", "tables", "problem"]  # fmt: skip
st.dataframe(view[columns], key="runs_table", hide_index=True)

running = table[table["status"] == "running"]
if not running.empty:
    st.subheader("In progress")
    for _, r in running.iterrows():
        done, planned = r["epochs_done"], r["epochs_planned"]
        if pd.notna(done) and pd.notna(planned) and planned > 0:
            st.progress(
                min(float(done) / float(planned), 1.0), text=f"{r['run']}: epoch {int(done)}/{int(planned)}"
            )
        else:
            st.progress(0.0, text=f"{r['run']}: started {r['start_time']}")

_latest_reproduction()
st.subheader("One run")
runs = view["run"].tolist()
if runs:
    state("runs_run", runs[0], runs)
    if st.session_state["runs_run"] not in runs:
        st.session_state["runs_run"] = runs[0]
    st.selectbox("Run", runs, key="runs_run")
st.text_input("…or a run path inside the run store", key="runs_path", placeholder="experiment/run_id")
sync(KEYS)
chosen = st.session_state["runs_path"].strip() or st.session_state.get("runs_run")
if not chosen:
    st.info("No run matches; train one with `stablecore train` or on the first page.")
    st.stop()
try:
    details = run_details(confine(chosen, home()), home())
except ValueError as exc:
    st.error(str(exc))
    st.stop()

badge = {"completed": "✅", "running": "⏳", "failed": "❌", "interrupted": "⏸️"}.get(details.status, "⚠️")
st.markdown(f"**{badge} {details.status}** — `{details.path}`")
for problem in details.problems:
    st.warning(problem)
if details.metrics is not None and "epoch" in details.metrics.columns and not details.metrics.empty:
    try:
        st.plotly_chart(training_curves(details.metrics, title="Metrics"), key="metrics_chart")
    except ValueError as exc:
        st.warning(f"metrics cannot be drawn: {exc}")
if details.tables:
    st.markdown("Tables: " + ", ".join(f"`{t}`" for t in details.tables))
if details.checkpoints:
    st.markdown("Checkpoints: " + ", ".join(f"`{c}`" for c in details.checkpoints))
if details.manifest is not None:
    with st.expander("Manifest", expanded=False):
        st.json(details.manifest)
st.markdown("Heavier analyses of this run, from the command line:")
run_arg = str(details.path)
st.code(
    "\n".join(
        [
            cli_command("certify", run_arg, sigma=0.25),
            cli_command("hessian", run_arg, k=5, trace=True, density=True),
            cli_command("landscape", run_arg, dims=2, steps=51),
        ]
    ),
    language="bash",
)
