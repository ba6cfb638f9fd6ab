"""Page 1: decision boundaries of small 2-D classifiers and their certified radii (Lipschitz margin,
Cohen randomized smoothing, LVM-RS), with certified accuracy vs radius."""

from __future__ import annotations

import streamlit as st
from app_common import (
    RADIUS_LABELS,
    boundary_figures,
    boundary_tables,
    get_model,
    header,
    sync,
    view_state,
)

from stablecore.explore import (
    FAMILIES,
    FAMILY_LABELS,
    VIEW_PARAMS,
    ModelSpec,
    certified_curves,
    cli_command,
    view_keys,
)
from stablecore.plots import certified_accuracy_plot

PARAMS = {p.key: p for p in VIEW_PARAMS["boundaries"]}
DATASETS_2D, CERTIFICATES, N_CHOICES = (PARAMS[k].options for k in ("dataset", "disks", "n"))
KEYS = view_keys("boundaries")

header(
    "Decision boundaries & certified radii",
    "A classifier is certified at a point x when no perturbation of ℓ2 norm below r(x) can change its "
    "prediction. A Lipschitz bound L turns the logit margin into such a radius deterministically; "
    "randomized smoothing certifies the *smoothed* classifier instead, with probability 1 − α over the "
    "noise (Cohen et al. 2019; LVM-RS, Delattre et al. 2024).",
    r"r_{\mathrm{Lip}}(x)=\min_{j\neq y}\frac{f_y(x)-f_j(x)}{L\,\lVert w_y-w_j\rVert_2},\qquad "
    r"r_{\mathrm{Cohen}}(x)=\sigma\,\Phi^{-1}(\underline{p_A}),\qquad "
    r"r_{\mathrm{LVM}}(x)=\tfrac{\sigma}{2}\bigl(\Phi^{-1}(\underline{p_A})-\Phi^{-1}(\overline{p_B})\bigr)",
    "ch03_lipschitz_layers.ipynb",
)
st.caption(
    "Randomized smoothing in depth: `notebooks/ch05_lvm_rs.ipynb`, `notebooks/ch06_bridging_rs.ipynb`."
)

view_state("boundaries")

with st.sidebar:
    st.subheader("Model")
    st.selectbox("Dataset", DATASETS_2D, key="dataset")
    st.selectbox("Model family", FAMILIES, key="family", format_func=lambda f: FAMILY_LABELS[f])
    st.slider("Epochs", 1, 60, key="epochs")
    st.slider("Loss offset", 0.0, 3.0, step=0.25, key="offset", help="0: cross-entropy; > 0: offset CE")
    st.slider(
        "Training noise σ", 0.05, 1.0, step=0.05, key="train_sigma",
        disabled=st.session_state["family"] != "noise", help="Gaussian input noise (noise-trained MLP)",
    )  # fmt: skip
    st.number_input("Seed", 0, 9999, step=1, key="seed")
    st.subheader("Randomized smoothing")
    st.slider("Smoothing σ", 0.05, 1.0, step=0.05, key="sigma")
    st.select_slider("Noise samples n", N_CHOICES, key="n")
    st.checkbox("Also LVM-RS", key="lvm")
sync(KEYS)

spec = ModelSpec(
    dataset=st.session_state["dataset"],
    family=st.session_state["family"],
    epochs=int(st.session_state["epochs"]),
    offset=float(st.session_state["offset"]),
    sigma=float(st.session_state["train_sigma"]),
    seed=int(st.session_state["seed"]),
)
try:
    em = get_model(spec)
except Exception as exc:  # e.g. a stored checkpoint that cannot be read: shown, never raised
    st.error(f"Cannot train or load this model: {exc}")
    st.stop()


with st.spinner("Certifying the test points …"):
    sigma, n_samples = float(st.session_state["sigma"]), int(st.session_state["n"])
    grid, points, train, info = boundary_tables(
        spec.canonical().key(), str(em.run_path), sigma, n_samples, bool(st.session_state["lvm"]), em
    )

row = info.iloc[0]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Test accuracy", f"{row['test_accuracy']:.3f}")
c2.metric(
    "Lipschitz bound L", f"{row['lipschitz']:.4g}", help=f"kind: {row['kind']}, method: {row['method']}"
)
c3.metric("Certificate", str(row["certificate"]))
c4.metric("Median Lipschitz radius", f"{points['radius_lipschitz'].median():.3g}")

available = [c for c in CERTIFICATES if c != "LVM-RS" or "radius_lvm" in points.columns]
if st.session_state["disks"] not in available:
    st.session_state["disks"] = "Lipschitz margin"
st.radio("Disks drawn", available, key="disks", horizontal=True)
sync(KEYS)
radius_cols = {k: v for k, v in RADIUS_LABELS.items() if v in points.columns}
fig, histogram, curves = boundary_figures(
    spec.canonical().key(), str(em.run_path), sigma, n_samples, bool(st.session_state["lvm"]),
    st.session_state["disks"],
    f"{FAMILY_LABELS[spec.family]} on {spec.dataset}: {st.session_state['disks']} disks",
    (grid, points, train, info),
)  # fmt: skip
st.plotly_chart(fig, key="boundary_chart")
if st.session_state["disks"] != "Lipschitz margin":
    st.caption(
        "The regions are the base model's decisions; smoothing radii certify the *smoothed* classifier "
        "(the majority vote under noise), whose boundary is smoother and may lie elsewhere, so a disk can "
        "cross the boundary drawn here without contradicting its certificate."
    )

left, right = st.columns(2)
left.plotly_chart(histogram, key="radius_histogram")
right.plotly_chart(curves, key="certified_curves")

st.subheader("Radii of the test points")
cols = ["index", "x0", "x1", "label", "prediction", "margin", *radius_cols.values()]
st.dataframe(points[cols], key="radii_table", hide_index=True)
st.caption(
    f"Lipschitz radii are deterministic ({row['kind']} L). Smoothing radii (σ = {sigma:g}, "
    f"n0 = 64, n = {n_samples}, α = 0.001) hold with probability ≥ 1 − α; a radius of 0 is an "
    "abstention or a misclassified point."
)

st.subheader("Full-size certification (CLI)")
st.markdown("Certify every test point with n = 100 000 noise samples from the command line; the table "
            "`certify-cohen` appears in the run and its curve below.")  # fmt: skip
st.code(
    cli_command("certify", str(em.run_path), sigma=sigma, n=100000),
    language="bash",
)
try:
    from stablecore.results import read_table, table_names

    if "certify-cohen" in table_names(em.run_path):
        stored = read_table(em.run_path, "certify-cohen").rename(
            columns={"radius": "radius_cohen", "correct": "correct_cohen"}
        )
        st.plotly_chart(
            certified_accuracy_plot(certified_curves(stored), title="Stored CLI certification (Cohen)"),
            key="stored_curve",
        )
except (OSError, ValueError) as exc:
    st.warning(f"The stored certification table cannot be read: {exc}")
