"""Page 3: per-layer spectral norms (Gram vs power vs exact), Gram-iteration convergence, and the
network's Lipschitz bound."""

from __future__ import annotations

import streamlit as st
from app_common import cached, header, load_run_model, model_choices, resolve_choice, sync, view_state

from stablecore.explore import cli_command, view_keys
from stablecore.explore import spectral as xs
from stablecore.plots import convergence_plot, layer_norms_plot
from stablecore.results import load_run

KEYS = view_keys("spectral")

header(
    "Spectral norms",
    "The Lipschitz constant of a network is at most the product of its layers' spectral norms. Gram "
    "iteration squares the matrix at each step and gives a certified *upper bound* that converges "
    "super-linearly (Delattre et al. 2023); power iteration only gives a *lower bound*.",
    r"\sigma_1(W)\le\lVert G_t\rVert_F^{\,2^{-t}},\quad G_0=W,\ G_{t+1}=G_t^\top G_t,\qquad "
    r"L(f)\le\prod_{l}\sigma_1(W_l)",
    "ch02_gram_iteration.ipynb",
)

choices = model_choices()
options = list(choices)
view_state("spectral", sp_model=options)
with st.sidebar:
    st.subheader("Model")
    st.selectbox("Run or model", options, key="sp_model", format_func=lambda o: choices.get(o, o))
    st.text_input("…or a run path inside the run store", key="sp_path", placeholder="experiment/run_id")
    st.subheader("Iterations")
    st.slider("Gram iterations", 1, 15, key="sp_iters")
    st.slider("Power iterations", 1, 200, key="sp_power")
sync(KEYS)
ss = st.session_state

try:
    label, run_path = resolve_choice(ss["sp_model"], ss["sp_path"])
    model = load_run_model(run_path)
    config = load_run(run_path, tables=False).config.get("model", {})
    shape = tuple(config.get("input_shape") or ())
    if not shape:
        raise ValueError("the run's model config records no input_shape")
except Exception as exc:  # a broken or foreign run must never crash the page
    st.error(f"Cannot load this run: {exc}")
    st.stop()


@cached
def _norms(run: str, shape: tuple, _model: object) -> object:
    return xs.layer_norms(_model, shape), xs.network_bounds(_model, shape)


@cached
def _convergence(run: str, n_iter: int, power: int, _model: object) -> object:
    return xs.gram_convergence(_model, n_iter=n_iter, power_iter=power)


st.markdown(f"**Model:** {label} — `{run_path}` — input shape {shape}")
try:
    norms, network = _norms(str(run_path), shape, model)
except Exception as exc:  # shown, never raised
    st.error(f"Cannot compute the norms of this model: {exc}")
    st.stop()
for method, error in norms.attrs.get("errors", {}).items():
    st.warning(f"{method}: {error}")
c = st.columns(len(network))
for col, (_, r) in zip(c, network.iterrows()):
    col.metric(f"L(f) by {r['method']}", f"{r['value']:.5g}", help=f"kind: {r['kind']}")
st.caption(
    "Only `gram` and `exact` layer norms give an upper bound of L(f); "
    "power iteration's product is an estimate."
)
st.plotly_chart(layer_norms_plot(norms), key="layer_norms_chart")
wide = norms.pivot_table(index=["module", "type"], columns="method", values="value", sort=False).reset_index()
st.dataframe(wide, key="norms_table", hide_index=True)

conv = _convergence(str(run_path), int(ss["sp_iters"]), int(ss["sp_power"]), model)
if conv.empty:
    st.info("This model has no plain linear layer to iterate on.")
else:
    st.plotly_chart(
        convergence_plot(conv, title="Gram vs power iteration, per layer"), key="convergence_chart"
    )
    last = conv.sort_values("iteration").groupby(["shape", "method"], sort=False).tail(1)
    cols = ["shape", "method", "iteration", "value", "exact", "rel_error"]
    st.dataframe(last[cols], key="convergence_table", hide_index=True)
st.code(cli_command("spectral", str(run_path)), language="bash")
