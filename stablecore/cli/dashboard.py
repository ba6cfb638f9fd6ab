"""``stablecore dashboard``: launch the Streamlit dashboard (``dashboard/app.py``) on 127.0.0.1.

The app is looked up next to the package (a source checkout: ``<repo>/dashboard/app.py``) or at
``$STABLECORE_DASHBOARD_APP``. Streamlit runs headless, without usage statistics; ``--home`` sets the
run store the app reads and writes (``$STABLECORE_HOME``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from stablecore.cli.common import CLIError

HELP = "launch the Streamlit dashboard (decision boundaries, landscapes, spectral norms, runs)"


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
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
    p.add_argument("--print-command", action="store_true", help="print the streamlit command and exit")
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


def run(args: argparse.Namespace) -> int:
    import subprocess

    if not args.host or any(c.isspace() for c in args.host):
        raise CLIError(f"--host must be an address or host name, got {args.host!r}")
    app = find_app()
    if importlib.util.find_spec("streamlit") is None:
        raise CLIError('streamlit is not installed: pip install -c constraints.txt -e ".[dashboard]"')
    env = dict(os.environ)
    if args.home is not None:
        env["STABLECORE_HOME"] = str(Path(args.home).expanduser().resolve())
    command = streamlit_command(app, args.host, args.port)
    if args.print_command:
        print(" ".join(command))
        return 0
    shown = "127.0.0.1" if args.host == "0.0.0.0" else args.host
    store = env.get("STABLECORE_HOME") or "runs/"
    print(f"stablecore dashboard: http://{shown}:{args.port}  (run store: {store})")
    print("press Ctrl+C to stop", flush=True)
    if os.name == "posix":  # become the server: signals (Ctrl+C, kill) reach streamlit directly
        os.execve(command[0], command, env)
    try:  # pragma: no cover - Windows
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:  # pragma: no cover
        return 0
