"""Drive the Streamlit dashboard (``dashboard/app.py``) in headless Debian Chromium with Playwright.

Shared by the browser test (``tests/dashboard/test_browser.py``) and the benchmark
(``benchmarks/bench_dashboard.py``): start the app on a free port of 127.0.0.1 in a subprocess with the
command users run, ``stablecore dashboard`` (``python -m stablecore.cli.main dashboard --home <store>
--port <port>``: warm-up, then the Streamlit server in the same process; headless, no usage statistics;
its own run store, ``STABLECORE_MODE=quick``), wait for ``/_stcore/health`` to answer ``ok`` (the time
from the start to then is :attr:`Server.ready_s`, the warm-up included), open Chromium with a fresh user
data directory (never a downloaded browser: the Debian binary ``/usr/bin/chromium``), and wait for a
script run to finish and for the plotly charts to be drawn.

"Script finished" is read from the attribute ``data-test-script-state`` of ``[data-testid="stApp"]``
(``running`` / ``notRunning``), which Streamlit sets for its own end-to-end tests; a ``MutationObserver``
installed before any page script counts the runs that *finished*, so a fast rerun that starts and ends
between two polls is not missed. "Charts drawn" means every ``[data-testid="stPlotlyChart"]`` holds a
``.js-plotly-plot`` whose ``data`` (plotly's graph div) has at least one trace.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Flags of the issue (``--user-data-dir`` is given through ``launch_persistent_context``: Playwright
#: refuses it in ``args``).
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
PAGES = ("boundaries", "landscape", "spectral", "runs")

# Installed before any page script: counts finished script runs (running -> notRunning transitions) and
# keeps the page-clock times (performance.now(), ms since navigation) of the last run's start and end.
_OBSERVER = """
(() => {
  window.__scRuns = 0;
  let last = null;
  const check = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    const s = app ? app.getAttribute('data-test-script-state') : null;
    if (last !== 'running' && s === 'running') window.__scStart = performance.now();
    if (last === 'running' && s === 'notRunning') {
      window.__scRuns += 1;
      window.__scEnd = performance.now();
    }
    if (s !== null) last = s;
  };
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-test-script-state'],
  });
})();
"""

_STATE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return {
    state: app ? app.getAttribute('data-test-script-state') : null,
    runs: window.__scRuns || 0,
    status: document.querySelector('[data-testid="stStatusWidget"]') !== null,
    statusText: (document.querySelector('[data-testid="stStatusWidget"]') || {}).innerText || '',
  };
}"""

_CHARTS = """() => {
const signature = (text) => {  // 32-bit FNV-1a of the traces' JSON: changes when the figure's data change
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) { h ^= text.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return text.length + ':' + h.toString(16);
};
return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].map(el => {
  const gd = el.querySelector('.js-plotly-plot');
  if (!gd || !gd.data || !gd._fullLayout) return null;
  const title = gd.layout && gd.layout.title;
  return {
    traces: gd.data.map(t => ({
      type: t.type || 'scatter', name: t.name === undefined ? null : String(t.name),
    })),
    title: typeof title === 'string' ? title : (title && title.text) || '',
    svg_traces: gd.querySelectorAll('.trace').length,
    signature: signature(JSON.stringify(gd.data)),
  };
});
}"""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running ``stablecore dashboard``: its URL, process, log file, run store, and the seconds from
    starting the command to the health check answering ``ok`` (``ready_s``)."""

    url: str
    process: subprocess.Popen
    log: Path
    home: Path
    ready_s: float = float("nan")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def wait_healthy(
    url: str, timeout: float, process: subprocess.Popen | None = None, poll: float = 0.2
) -> float:
    """Poll ``<url>/_stcore/health`` until it answers ``ok``; seconds waited. ``RuntimeError`` if the
    server exits or ``timeout`` passes."""
    start = time.perf_counter()
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the streamlit server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return time.perf_counter() - start
        except (urllib.error.URLError, OSError):
            pass
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{url}/_stcore/health did not answer ok within {timeout:g} s")
        time.sleep(poll)


def dashboard_command(home: str | Path, port: int, *, warmup: bool = True) -> list[str]:
    """``stablecore dashboard`` (as ``make run`` runs it) on 127.0.0.1:``port`` with the run store
    ``home``."""
    command = [
        sys.executable, "-m", "stablecore.cli.main", "dashboard", "--host", "127.0.0.1",
        "--port", str(port), "--home", str(home),
    ]  # fmt: skip
    return command if warmup else [*command, "--no-warmup"]


@contextmanager
def serve(home: str | Path, *, log_dir: str | Path, timeout: float = 300.0, warmup: bool = True,
          env: dict[str, str] | None = None) -> Iterator[Server]:  # fmt: skip
    """Start ``stablecore dashboard`` on a free port of 127.0.0.1 (run store ``home``, quick mode; without
    the file watcher: ``STREAMLIT_SERVER_FILE_WATCHER_TYPE=none``, ``STREAMLIT_SERVER_RUN_ON_SAVE=false``),
    wait for its health check (``timeout`` covers the warm-up), yield the :class:`Server`, and always stop
    it (SIGTERM to its process group, then SIGKILL after 10 s)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(log_dir) / f"streamlit-{port}.log"
    full_env = {
        **os.environ,
        "STABLECORE_MODE": "quick",
        "PYTHONUNBUFFERED": "1",
        "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
        "STREAMLIT_SERVER_RUN_ON_SAVE": "false",
        **(env or {}),
    }
    full_env.pop("STABLECORE_HOME", None)  # --home sets it
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            dashboard_command(home, port, warmup=warmup),
            cwd=ROOT,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = Server(url=url, process=process, log=log, home=Path(home))
    try:
        try:
            wait_healthy(url, timeout, process, poll=0.05)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server log:\n{server.log_tail()}") from None
        server.ready_s = time.perf_counter() - start
        yield server
    finally:
        stop(process)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that started it dies (even when killed), so a
    test or benchmark interrupted without cleanup leaves no server behind."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def stop(process: subprocess.Popen, grace: float = 10.0) -> None:
    """Terminate ``process`` and its process group (it was started in a new session)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait(grace)


@contextmanager
def browser(*, width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A Playwright ``BrowserContext`` of headless ``/usr/bin/chromium`` with a fresh user data directory
    (removed afterwards), with the script-run observer installed in every page."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    user_data = tempfile.mkdtemp(prefix="stablecore-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                user_data,
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": width, "height": height},
            )
            try:
                context.add_init_script(_OBSERVER)
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(user_data, ignore_errors=True)


def script_state(page: Any) -> dict[str, Any]:
    """``{"state": "running"|"notRunning"|..., "runs": finished runs, "status": running widget shown}``."""
    return page.evaluate(_STATE)


def timeline(page: Any) -> dict[str, float | None]:
    """Page-clock times in seconds since the page's navigation: ``start`` and ``end`` of the last script
    run seen by the browser, and ``now``."""
    t = page.evaluate("() => [window.__scStart, window.__scEnd, performance.now()]")
    start, end, now = (None if v is None else float(v) / 1000.0 for v in t)
    return {"start": start, "end": end, "now": now}


def finished_runs(page: Any) -> int:
    """Script runs finished since the page was loaded."""
    return int(script_state(page)["runs"])


def charts(page: Any) -> list[dict[str, Any] | None]:
    """One entry per ``st.plotly_chart`` on the page: ``{"traces": [{"type", "name"}], "title",
    "svg_traces"}``, or ``None`` while the chart is not drawn yet."""
    return page.evaluate(_CHARTS)


def signatures(found: list[dict[str, Any] | None]) -> list[str | None]:
    """The data signature of each chart of :func:`charts` (``None`` for a chart not drawn)."""
    return [c["signature"] if c else None for c in found]


def wait_rendered(
    page: Any,
    *,
    after_runs: int = 0,
    min_charts: int = 1,
    timeout: float = 60.0,
    changed_from: list[str | None] | None = None,
    poll: float = 0.1,
) -> list[dict[str, Any]]:
    """Wait until more than ``after_runs`` script runs have finished, the script is idle (no running
    indicator) and at least ``min_charts`` plotly charts are on the page, every one of them drawn (and,
    with ``changed_from``, their :func:`signatures` differ from it: the figures were redrawn with new
    data). Returns :func:`charts`. ``TimeoutError`` (with the last state) after ``timeout`` seconds."""
    deadline = time.perf_counter() + timeout
    last: Any = None
    while True:
        s = script_state(page)
        if s["runs"] > after_runs and s["state"] == "notRunning" and not s["status"]:
            got = charts(page)
            last = {**s, "charts": got}
            drawn = len(got) >= min_charts and all(c is not None and c["traces"] for c in got)
            if drawn and (changed_from is None or signatures(got) != list(changed_from)):
                return got
        else:
            last = s
        if time.perf_counter() > deadline:
            raise TimeoutError(f"page {page.url} not rendered within {timeout:g} s; last state {last}")
        time.sleep(poll)


def exceptions(page: Any) -> list[str]:
    """Texts of ``st.exception`` / uncaught-error boxes on the page."""
    return page.eval_on_selector_all('[data-testid="stException"]', "els => els.map(e => e.innerText)")


# ------------------------------------------------------------------------------------- widgets
def click_radio(page: Any, label: str, option: str) -> None:
    """Choose ``option`` of the ``st.radio`` whose label is ``label``."""
    widget = page.locator('[data-testid="stRadio"]').filter(has_text=label)
    widget.locator("label").filter(has_text=option).first.click()


def toggle_checkbox(page: Any, label: str) -> None:
    """Toggle the ``st.checkbox`` labelled ``label`` from the keyboard (focus its input, press Space): no
    pointer actionability checks, which a busy page can fail (elements moving while a rerun lands)."""
    box = page.locator('[data-testid="stCheckbox"]').filter(has_text=label).locator('input[type="checkbox"]')
    box.first.focus()
    box.first.press("Space")


def nudge_slider(page: Any, label: str, key: str = "ArrowRight", times: int = 1) -> None:
    """Move the ``st.slider`` labelled ``label`` by ``times`` steps with the keyboard (its thumb is a
    visually hidden ``input[type=range]``)."""
    slider = page.locator('[data-testid="stSlider"]').filter(has_text=label)
    thumb = slider.locator('input[type="range"]').first
    thumb.focus()
    for _ in range(times):
        thumb.press(key)
