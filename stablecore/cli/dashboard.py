"""``stablecore dashboard``: launch the Streamlit dashboard (``dashboard/app.py``) on 127.0.0.1.

The app is looked up next to the package (a source checkout: ``<repo>/dashboard/app.py``) or at
``$STABLECORE_DASHBOARD_APP``. Streamlit runs headless, without usage statistics; ``--home`` sets the
run store the app reads and writes (``$STABLECORE_HOME``).

Before serving, the command warms up (``--no-warmup`` skips it): it imports the modules the pages use
(torch, ``torch._dynamo``, :mod:`stablecore.explore`, plotly, streamlit) and trains or loads the
embedded default model into the run store, and computes the boundaries page's default view, all through
the app's own cached functions (``app_common.warm_up``); then it starts the Streamlit server *in the same
process* (``streamlit.web.bootstrap.run``, the same flags as :func:`streamlit_command`), so the first
script run finds the modules in ``sys.modules`` and the default view in the caches. The URL is printed
once ``/_stcore/health`` answers ``ok``. Ctrl+C (SIGINT) or SIGTERM stops the server.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from stablecore.cli.common import CLIError

HELP = "launch the Streamlit dashboard (decision boundaries, landscapes, spectral norms, runs)"


def _port(text: str) -> int:
    """A TCP port, 1..65535, in ASCII decimal digits (``int`` alone also takes ``8_501`` and other
    scripts' digits)."""
    if not re.fullmatch(r"[0-9]{1,5}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a port number in 1..65535, got {text!r}")
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 1..65535, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dashboard", help=HELP, description=HELP)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)"
    )
    p.add_argument("--port", type=_port, default=8501, help="port (default 8501)")
    p.add_argument(
        "--home", default=None, metavar="DIR", help="run store (default: $STABLECORE_HOME or runs/)"
    )
    p.add_argument(
        "--print-command",
        action="store_true",
        help="print the equivalent streamlit command (no warm-up) and exit",
    )
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="serve at once: imports, the default model and view are done by the first page load instead",
    )
    p.set_defaults(func=run)


def find_app() -> Path:
    """``dashboard/app.py`` of this checkout, or ``$STABLECORE_DASHBOARD_APP``."""
    env = os.environ.get("STABLECORE_DASHBOARD_APP")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
    for path in candidates:
        if path.is_file():
            return path.resolve()
    raise CLIError(
        "cannot find dashboard/app.py (looked at "
        + ", ".join(str(c) for c in candidates)
        + "); run from a source checkout or set STABLECORE_DASHBOARD_APP"
    )


def streamlit_command(app: Path, host: str, port: int) -> list[str]:
    """The ``python -m streamlit run`` command line (headless, no usage statistics)."""
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", host, "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip


def check_port(host: str, port: int) -> None:
    """``CLIError`` naming ``--port`` (or ``--host``) if ``host:port`` cannot be bound now (in use, or an
    address of another machine)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CLIError(f"--host {host!r} cannot be resolved: {exc}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server: TIME_WAIT is free
        try:
            probe.bind(address)
        except OSError as exc:
            raise CLIError(f"--port {port} on {host} cannot be used: {exc.strerror or exc}") from None


def flag_options(host: str, port: int) -> dict[str, Any]:
    """The config flags of :func:`streamlit_command` as ``streamlit.web.bootstrap`` options."""
    return {
        "server.address": host,
        "server.port": port,
        "server.headless": True,
        "browser.gatherUsageStats": False,
    }


def _load_app_common(app: Path) -> Any:
    """The app's ``app_common`` module (from the app's folder, as the pages import it)."""
    folder = str(app.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import app_common  # type: ignore[import-not-found]

    return app_common


def warm_up(app: Path) -> dict[str, Any]:
    """Run the app's ``app_common.warm_up`` in this process (see the module docstring); its timings plus
    ``seconds`` (the whole warm-up, the streamlit and app imports included)."""
    start = time.perf_counter()
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401

    quiet = logging.getLogger("streamlit.runtime.caching.cache_data_api")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "No runtime found, using MemoryCacheStorageManager": expected here
    try:
        report = dict(_load_app_common(app).warm_up())
    finally:
        quiet.setLevel(level)
    report["seconds"] = time.perf_counter() - start
    return report


def _announce_when_ready(url: str, shown: str, timeout: float = 600.0) -> threading.Thread:
    """Print ``shown`` once ``<url>/_stcore/health`` answers ``ok`` (a daemon thread)."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        print(shown, flush=True)
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=wait, name="dashboard-ready", daemon=True)
    thread.start()
    return thread


def serve(app: Path, host: str, port: int) -> None:
    """Run the Streamlit server for ``app`` in this process until it is stopped (blocks)."""
    from streamlit import config as st_config
    from streamlit.web import bootstrap

    st_config._main_script_path = str(app)  # as ``streamlit run`` does, for config and secrets files
    options = flag_options(host, port)
    bootstrap.load_config_options(flag_options=options)
    bootstrap.run(str(app), False, [], options)


def run(args: argparse.Namespace) -> int:
    if not args.host or any(c.isspace() for c in args.host):
        raise CLIError(f"--host must be an address or host name, got {args.host!r}")
    app = find_app()
    if importlib.util.find_spec("streamlit") is None:
        raise CLIError('streamlit is not installed: pip install -c constraints.txt -e ".[dashboard]"')
    home = None if args.home is None else str(Path(args.home).expanduser().resolve())
    command = streamlit_command(app, args.host, args.port)
    if args.print_command:
        print(" ".join(command))
        return 0
    if home is not None:
        os.environ["STABLECORE_HOME"] = home
    store = os.environ.get("STABLECORE_HOME") or "runs/"
    shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{shown}:{args.port}"
    check_port(args.host, args.port)  # before the warm-up: a port in use fails now, not 15 s later
    if not args.no_warmup:
        print("stablecore dashboard: warming up (imports, default model, default view) ...", flush=True)
        try:
            report = warm_up(app)
        except Exception as exc:  # the pages show their own errors: serve anyway
            first = str(exc).splitlines()[0] if str(exc) else ""
            print(
                f"stablecore dashboard: warm-up failed ({type(exc).__name__}: {first}); serving without it",
                file=sys.stderr,
                flush=True,
            )
        else:
            verb = "trained and stored" if report["trained"] else "loaded from the run store"
            print(
                f"stablecore dashboard: warm-up {report['seconds']:.1f} s (imports "
                f"{report['imports_s']:.1f} s, default model {verb} {report['model_s']:.1f} s, default view "
                f"{report['view_s']:.1f} s)",
                flush=True,
            )
    _announce_when_ready(
        url, f"stablecore dashboard: ready at {url}  (run store: {store}); press Ctrl+C to stop"
    )
    serve(app, args.host, args.port)
    return 0
