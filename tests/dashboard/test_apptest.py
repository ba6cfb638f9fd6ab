"""Every dashboard page run headless with Streamlit's AppTest: default and changed widget values, URL
state, and the numbers in its tables checked against the library computed independently."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from stablecore.certify import certify_model
from stablecore.explore import ModelSpec, find_run
from stablecore.explore import spectral as xs
from stablecore.results import create_run
from stablecore.smoothing import Smooth
from stablecore.smoothing.dataset import example_generator
from stablecore.workflows import load_model

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TIMEOUT = 300


@pytest.fixture(scope="module", autouse=True)
def _restore_threads():
    """The app sets one torch thread (tiny models); give the rest of the session its setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("dashboard-home")


@pytest.fixture
def home(shared_home, monkeypatch):
    """One run store for the whole module, so models trained by one test are loaded by the next."""
    monkeypatch.setenv("STABLECORE_HOME", str(shared_home))
    return shared_home


def _app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _test_tensors(spec: ModelSpec):
    from stablecore.explore import spec_data

    data = spec_data(spec).test
    xs_, ys = zip(*(data[i] for i in range(len(data))))
    return torch.stack(xs_), torch.as_tensor([int(v) for v in ys])


def test_boundaries_default_radii_equal_the_library(home):
    at = _app().run()
    _ok(at)
    assert at.title[0].value == "Decision boundaries & certified radii"
    assert len(at.latex) == 1
    assert [m.label for m in at.metric] == [
        "Test accuracy",
        "Lipschitz bound L",
        "Certificate",
        "Median Lipschitz radius",
    ]
    assert len(at.get("plotly_chart")) >= 3
    assert at.query_params["dataset"] == "moons" and at.query_params["family"] == "mlp"
    table = at.dataframe[0].value
    assert {"radius_lipschitz", "radius_cohen", "radius_lvm", "margin"} <= set(table.columns)
    # independent path: the stored run, loaded from disk, certified by the library
    spec = ModelSpec()
    run = find_run(spec, home)
    assert run is not None
    model = load_model(run)
    x, y = _test_tensors(spec)
    lib = certify_model(model, (x, y), [0.1], last_layer="auto")
    np.testing.assert_array_equal(table["radius_lipschitz"].to_numpy(), lib["radius"].to_numpy())
    np.testing.assert_array_equal(table["margin"].to_numpy(), lib["margin"].to_numpy())
    smooth = Smooth(model, 2, 0.25)
    for i in range(3):
        cert = smooth.certify(x[i], 64, 500, 0.001, batch_size=500, generator=example_generator(0, i))
        assert table["radius_cohen"].iloc[i] == cert.radius
    assert at.code[0].value.startswith(f"stablecore certify --run {run}")


def test_boundaries_changed_widgets_update_table_and_url(home):
    at = _app().run()
    at.slider(key="sigma").set_value(0.5).run()
    at.checkbox(key="lvm").uncheck().run()
    at.radio(key="disks").set_value("Cohen RS").run()
    _ok(at)
    table = at.dataframe[0].value
    assert "radius_lvm" not in table.columns
    assert at.query_params["sigma"] == "0.5" and at.query_params["lvm"] == "False"
    assert at.query_params["disks"] == "Cohen RS"
    model = load_model(find_run(ModelSpec(), home))
    x, _ = _test_tensors(ModelSpec())
    cert = Smooth(model, 2, 0.5).certify(
        x[0], 64, 500, 0.001, batch_size=500, generator=example_generator(0, 0)
    )
    assert table["radius_cohen"].iloc[0] == cert.radius


def test_boundaries_view_reloads_from_the_url(home):
    at = _app()
    at.query_params.update({"dataset": "blobs", "family": "aol", "epochs": "2", "offset": "0.5", "n": "200",
                            "lvm": "false", "seed": "3"})  # fmt: skip
    at.run()
    _ok(at)
    assert at.selectbox(key="dataset").value == "blobs" and at.selectbox(key="family").value == "aol"
    assert at.slider(key="epochs").value == 2 and at.number_input(key="seed").value == 3
    spec = ModelSpec("blobs", "aol", epochs=2, offset=0.5, seed=3)
    run = find_run(spec, home)
    assert run is not None  # the URL's model was trained and stored
    x, y = _test_tensors(spec)
    lib = certify_model(load_model(run), (x, y), [0.1], last_layer="auto")
    np.testing.assert_array_equal(
        at.dataframe[0].value["radius_lipschitz"].to_numpy(), lib["radius"].to_numpy()
    )
    bad = _app()
    bad.query_params.update({"family": "bogus", "epochs": "-4", "sigma": "nan?"})
    bad.run()
    _ok(bad)
    assert bad.selectbox(key="family").value == "mlp" and bad.slider(key="epochs").value == 15


def test_landscape_page(home):
    at = _app().run()
    at.switch_page("views/2_landscape.py").run()
    _ok(at)
    assert at.title[0].value == "Loss landscape & curvature"
    assert [m.label for m in at.metric] == ["λ_max (estimate)", "λ_min (estimate)", "trace (estimate)"]
    from stablecore.explore import curvature as xc

    run = find_run(ModelSpec(), home)
    summary = xc.hessian_summary(load_model(run), xc.run_data(run), k=3, trace_samples=10, lanczos_steps=30)
    assert at.metric[0].value == f"{summary['top'].eigenvalues[0]:.4g}"
    np.testing.assert_allclose(at.dataframe[0].value["eigenvalue"], summary["top"].eigenvalues, rtol=1e-9)
    assert len(at.get("plotly_chart")) == 2
    at.radio(key="ls_dims").set_value("2-D").run()
    at.radio(key="ls_view").set_value("surface").run()
    at.checkbox(key="ls_log").check().run()
    at.checkbox(key="ls_along").check().run()
    _ok(at)
    assert at.query_params["ls_dims"] == "2-D" and "dataset" not in at.query_params
    along = at.dataframe[1].value
    assert list(along["epoch"])[-1] == 15 and len(along) >= 2
    at.selectbox(key="ls_compare").set_value("embedded:moons-noise").run()
    _ok(at)
    compare = next(d.value for d in at.dataframe if d.value.columns[0] == "run")
    assert len(compare) == 2 and compare["lambda_max"].iloc[0] == summary["top"].eigenvalues[0]
    assert "compare_chart" in [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]
    at.text_input(key="ls_path").input("../../etc").run()
    assert not at.exception and "outside the run store" in at.error[0].value
    # a completed run whose checkpoint is garbage is reported, not raised
    bad = home / "manual" / "corrupt"
    (bad / "checkpoints").mkdir(parents=True, exist_ok=True)
    (bad / "checkpoints" / "last.pt").write_bytes(b"not a checkpoint")
    (bad / "manifest.json").write_text(
        '{"status": "completed", "config": {"dataset": "moons"}}', encoding="utf-8"
    )
    at.text_input(key="ls_path").input("manual/corrupt").run()
    assert not at.exception and "Cannot load this run" in at.error[0].value


def test_spectral_page(home):
    at = _app().run()
    at.switch_page("views/3_spectral.py").run()
    _ok(at)
    assert [m.label for m in at.metric] == ["L(f) by gram", "L(f) by power", "L(f) by exact"]
    model = load_model(find_run(ModelSpec(), home))
    lib = xs.layer_norms(model, (2,)).pivot_table(index="module", columns="method", values="value")
    shown = at.dataframe[0].value.set_index("module")
    for name in ("fc0", "fc1", "head"):
        for method in ("gram", "power", "exact"):
            assert shown.loc[name, method] == lib.loc[name, method]
    at.slider(key="sp_iters").set_value(3).run()
    _ok(at)
    last = at.dataframe[1].value
    assert set(last[last["method"] == "gram"]["iteration"]) == {3}
    assert at.query_params["sp_iters"] == "3"


def test_runs_page_shows_broken_runs(home):
    broken = home / "manual" / "half-written"
    broken.mkdir(parents=True, exist_ok=True)
    (broken / "manifest.json").write_text('{"status": "run', encoding="utf-8")
    running = create_run("manual", {"dataset": "moons", "train": {"epochs": 10}}, home=home)
    running.update_manifest(epochs_done=3)
    reproduction = create_run("reproduce", {}, home=home, mode="quick")
    summary = pd.DataFrame({"chapter": [2, 3], "status": ["ok", "ok"], "matched": [5, 7]})
    reproduction.write_table("summary", summary)
    reproduction.finish()
    (home / "reproduce" / "half").mkdir()
    at = _app().run()
    at.switch_page("views/4_runs.py").run()
    _ok(at)
    shown = next(d.value for d in at.dataframe if "matched" in d.value.columns)
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), summary)
    progress = at.get("progress")
    assert len(progress) == 1 and progress[0].proto.value == 30
    table = at.dataframe[0].value
    row = table[table["run"] == "manual/half-written"].iloc[0]
    assert row["status"] == "incomplete" and "unreadable" in row["problem"]
    at.selectbox(key="runs_run").set_value("manual/half-written").run()
    assert not at.exception and any("unreadable" in w.value for w in at.warning)
    at.multiselect(key="runs_status").set_value(["completed"]).run()
    _ok(at)
    assert set(at.dataframe[0].value["status"]) == {"completed"}
    assert any(c.value.startswith("stablecore certify --run") for c in at.code)
    at.text_input(key="runs_path").input("/etc").run()
    assert not at.exception and "outside the run store" in at.error[0].value


def test_cli_results_appear_in_the_app(home):
    from stablecore.cli.main import main

    run = find_run(ModelSpec(), home)
    assert (
        main(["certify", "--run", str(run), "--sigma", "0.25", "--n", "100", "--limit", "4", "--no-progress"])
        == 0
    )
    assert main(["landscape", "--run", str(run), "--dims", "2", "--steps", "5", "--no-progress"]) == 0
    at = _app().run()
    _ok(at)
    assert "stored_curve" in [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]
    at.query_params.update({"ls_dims": "2-D"})
    at.switch_page("views/2_landscape.py").run()
    _ok(at)
    assert "stored_landscape" in [c.proto.id.rsplit("-", 1)[-1] for c in at.get("plotly_chart")]


#: Query values no widget can hold: non-finite, overflowing, huge, empty, garbage.
NON_FINITE = ("nan", "inf", "-inf", "1e999", "9" * 40, "", "0x1p3")


@pytest.mark.parametrize("bad", NON_FINITE)
def test_boundaries_non_finite_query_values_fall_back_to_the_defaults(home, bad):
    keys = ("epochs", "offset", "train_sigma", "seed", "sigma", "n", "lvm")
    at = _app()
    at.query_params.update({key: bad for key in keys})
    at.run()
    _ok(at)
    assert at.slider(key="sigma").value == 0.25 and at.slider(key="offset").value == 0.0
    assert at.slider(key="train_sigma").value == 0.25 and at.slider(key="epochs").value == 15
    assert at.number_input(key="seed").value == 0 and at.select_slider(key="n").value == 500
    assert at.checkbox(key="lvm").value is True
    expected = {
        "epochs": "15",
        "offset": "0.0",
        "train_sigma": "0.25",
        "seed": "0",
        "sigma": "0.25",
        "n": "500",
    }
    assert {key: at.query_params[key] for key in expected} == expected  # the URL holds the defaults again
    default = _app().run()
    pd.testing.assert_frame_equal(at.dataframe[0].value, default.dataframe[0].value)


@pytest.mark.parametrize("bad", ["nan", "-inf", "1e999"])
def test_landscape_and_spectral_non_finite_query_values_fall_back(home, bad):
    at = _app()
    at.switch_page("views/2_landscape.py")
    at.query_params.update(
        {"ls_steps": bad, "ls_span": bad, "ls_seed": bad, "ls_k": bad, "ls_hessian": "false"}
    )
    at.run()
    _ok(at)
    assert at.slider(key="ls_steps").value == 21 and at.slider(key="ls_span").value == 1.0
    assert at.number_input(key="ls_seed").value == 0 and at.slider(key="ls_k").value == 3
    assert at.query_params["ls_span"] == "1.0" and at.query_params["ls_steps"] == "21"
    sp = _app()
    sp.switch_page("views/3_spectral.py")
    sp.query_params.update({"sp_iters": bad, "sp_power": bad})
    sp.run()
    _ok(sp)
    assert sp.slider(key="sp_iters").value == 8 and sp.slider(key="sp_power").value == 30
    last = sp.dataframe[1].value
    assert set(last[last["method"] == "gram"]["iteration"]) == {8}


def test_a_dashboard_url_link_opens_the_view_with_its_state(home):
    """A link made by stablecore.explore.dashboard_url (as the notebooks print) sets the page's widgets."""
    from urllib.parse import parse_qsl, urlsplit

    from stablecore.explore import dashboard_url

    url = dashboard_url("spectral", sp_model="embedded:moons-mlp", sp_iters=3, sp_power=7)
    at = _app().run()  # the home page (boundaries) first; then the link's page with the link's query
    at.query_params.clear()
    at.query_params.update(dict(parse_qsl(urlsplit(url).query)))
    at.switch_page("views/3_spectral.py").run()
    _ok(at)
    assert at.selectbox(key="sp_model").value == "embedded:moons-mlp"
    assert at.slider(key="sp_iters").value == 3 and at.slider(key="sp_power").value == 7
