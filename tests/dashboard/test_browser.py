"""The real dashboard in headless Debian Chromium (Playwright): every page loads, its plotly charts are
drawn with the expected traces, a widget change reruns the script, updates the URL query parameters and
redraws the chart; screenshots go to ``test-artifacts/dashboard/`` (git-ignored).

The app is started by the fixture with the command users run (``stablecore dashboard`` on a free port of
127.0.0.1, its own run store, quick mode: it warms up, training the default model, then serves) and always
stopped, even when a test fails. Chromium is ``/usr/bin/chromium`` with a fresh user data directory (never
a downloaded browser); the module is skipped only when that binary is missing. The other pages train
their quick models on first use (cached in the run store), so the waits are generous. On the shared 2-core
machine the module took 56 s at a load average of about 4 (with the benchmark's smoke test beside it under
``-n 2``) and 142 s at about 8 with ``streamlit run``; with ``stablecore dashboard`` (warm-up included)
176 s for this module and the benchmark's smoke test run one after the other at a load of 5-8. The first page
dominates (the browser loads and compiles plotly.js).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
PAGE_TIMEOUT = 120.0  # first load: server-side training + the browser compiling plotly.js (4.7 MB)
RERUN_TIMEOUT = 60.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def driver(dashboard_driver):
    return dashboard_driver


@pytest.fixture(scope="module")
def app(driver, tmp_path_factory):
    """``(server, page)``: the dashboard on a free port and one Chromium tab; both closed at the end."""
    home = tmp_path_factory.mktemp("dashboard-home")
    logs = tmp_path_factory.mktemp("dashboard-logs")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with driver.serve(home, log_dir=logs) as server, driver.browser() as context:
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield server, page
        if server.process.poll() is not None:
            pytest.fail(f"the server died during the tests; log:\n{server.log_tail()}")


def _shots(page, name: str) -> None:
    """The viewport (Streamlit scrolls inside its main block, so a full-page shot is the viewport) and
    each plotly chart on its own (scrolled into view)."""
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for i in range(charts.count()):
        charts.nth(i).screenshot(path=str(ARTIFACTS / f"{name}-chart{i}.png"))


def _open(driver, app, path: str, min_charts: int) -> list[dict]:
    server, page = app
    page.goto(f"{server.url}/{path}")
    try:
        found = driver.wait_rendered(page, min_charts=min_charts, timeout=PAGE_TIMEOUT)
    except TimeoutError as exc:
        page.screenshot(path=str(ARTIFACTS / f"{path}-timeout.png"), full_page=True)
        raise AssertionError(f"{exc}\nserver log:\n{server.log_tail()}") from None
    assert driver.exceptions(page) == []
    assert urlparse(page.url).path == f"/{path}"
    _shots(page, path)
    return found


def _change(driver, app, path: str, action, min_charts: int, *, redraw: bool = True) -> list[dict]:
    """Run ``action(page)``, wait for the rerun to finish (and, with ``redraw``, for new chart data)."""
    server, page = app
    runs = driver.finished_runs(page)
    before = driver.signatures(driver.charts(page))
    action(page)
    try:
        found = driver.wait_rendered(
            page,
            after_runs=runs,
            min_charts=min_charts,
            timeout=RERUN_TIMEOUT,
            changed_from=before if redraw else None,
        )
    except TimeoutError as exc:
        page.screenshot(path=str(ARTIFACTS / f"{path}-changed-timeout.png"), full_page=True)
        raise AssertionError(f"{exc}\nserver log:\n{server.log_tail()}") from None
    assert driver.exceptions(page) == []
    _shots(page, f"{path}-changed")
    return found


def _params(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(page.url).query, keep_blank_values=True).items()}


def _types(chart: dict) -> list[str]:
    return [t["type"] for t in chart["traces"]]


def _names(chart: dict) -> set[str | None]:
    return {t["name"] for t in chart["traces"]}


def test_health_and_root(driver, app):
    server, _ = app
    assert driver.wait_healthy(server.url, 5) >= 0
    assert server.url.startswith("http://127.0.0.1:")


def test_boundaries_page(driver, app):
    _, page = app
    boundary, histogram, curves = _open(driver, app, "boundaries", 3)[:3]
    assert _types(boundary)[0] == "heatmap"
    assert {"training points", "certified disks", "test points"} <= _names(boundary)
    assert "Lipschitz margin disks" in boundary["title"]
    assert set(_types(histogram)) == {"histogram"}
    assert {"Lipschitz margin", "Cohen RS", "LVM-RS"} <= _names(histogram)
    assert set(_types(curves)) == {"scatter"} and {"Lipschitz margin", "Cohen RS"} <= _names(curves)
    assert all(c["svg_traces"] > 0 for c in (boundary, histogram, curves))  # drawn, not only data
    params = _params(page)
    assert params["dataset"] == "moons" and params["disks"] == "Lipschitz margin"
    # the served page got the model object the command's warm-up trained (the same process and caches):
    # a server that had to load it again would say "loaded from the run store"
    captions = page.locator('[data-testid="stCaptionContainer"]')
    model_line = captions.filter(has_text="Model trained and stored")
    assert model_line.count() == 1

    changed = _change(
        driver, app, "boundaries", lambda p: driver.click_radio(p, "Disks drawn", "Cohen RS"), 3
    )
    assert _params(page)["disks"] == "Cohen RS"
    assert "Cohen RS disks" in changed[0]["title"]
    assert _types(changed[0])[0] == "heatmap"


def test_landscape_page(driver, app):
    _, page = app
    landscape, hessian = _open(driver, app, "landscape", 2)[:2]
    assert set(_types(landscape)) == {"scatter"}  # 1-D by default
    assert "random direction" in landscape["title"]
    assert "Hessian spectrum" in hessian["title"]
    assert _params(page)["ls_dims"] == "1-D"

    changed = _change(driver, app, "landscape", lambda p: driver.click_radio(p, "Dimensions", "2-D"), 2)
    assert _params(page)["ls_dims"] == "2-D"
    assert "contour" in _types(changed[0]) and "random plane" in changed[0]["title"]


def test_spectral_page(driver, app):
    _, page = app
    norms, convergence = _open(driver, app, "spectral", 2)[:2]
    assert set(_types(norms)) == {"bar"} and len(norms["traces"]) >= 2  # one bar group per method
    assert set(_types(convergence)) == {"scatter"}
    assert _params(page)["sp_iters"] == "8"

    changed = _change(
        driver, app, "spectral", lambda p: driver.nudge_slider(p, "Gram iterations", "ArrowLeft"), 2
    )
    assert _params(page)["sp_iters"] == "7"
    assert changed[1]["signature"] != convergence["signature"]
    assert changed[0]["signature"] == norms["signature"]  # the layer norms do not depend on the iterations


def test_runs_page(driver, app):
    server, page = app
    from stablecore.explore import ModelSpec, train_or_load

    train_or_load(ModelSpec("moons", "mlp"), home=server.home)  # the pages' default; loaded if stored
    (metrics,) = _open(driver, app, "runs", 1)[:1]
    assert set(_types(metrics)) == {"scatter"} and "Metrics" in metrics["title"]
    assert _params(page)["runs_desc"] == "True"

    _change(driver, app, "runs", lambda p: driver.toggle_checkbox(p, "Descending"), 1, redraw=False)
    assert _params(page)["runs_desc"] == "False"
