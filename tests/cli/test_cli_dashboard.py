"""``stablecore dashboard``: the streamlit command line (headless, no usage stats, 127.0.0.1 by default),
argument errors as exit code 2, the app found in the checkout, the warm-up (the default model trained into
the run store, then loaded from it), the in-process server started after it with the same flags, and a
real server that prints its URL once healthy and stops on Ctrl+C (SIGINT)."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch

from stablecore.cli import dashboard
from stablecore.cli.main import main
from stablecore.explore import ModelSpec, find_run

ROOT = Path(__file__).resolve().parents[2]


def test_print_command_defaults_to_localhost(capsys, tmp_path):
    assert main(["dashboard", "--print-command", "--home", str(tmp_path)]) == 0
    out = capsys.readouterr().out.split()
    assert out[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert out[4] == str(dashboard.find_app()) and out[4].endswith("dashboard/app.py")
    options = dict(zip(out[5::2], out[6::2]))
    assert options == {
        "--server.address": "127.0.0.1",
        "--server.port": "8501",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }


def test_host_and_port_are_passed(capsys):
    assert main(["dashboard", "--print-command", "--host", "0.0.0.0", "--port", "9000"]) == 0
    out = capsys.readouterr().out
    assert "--server.address 0.0.0.0" in out and "--server.port 9000" in out


@pytest.mark.parametrize("port", ["0", "http", "70000", "-inf", "1e3", "9" * 30, "", " +80"])
def test_bad_port_exits_2(port, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dashboard", "--print-command", "--port", port])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["nan", "inf", "8_501", "\uff18\uff15\uff10\uff11"])
def test_non_finite_or_odd_ports_exit_2_in_one_line(port, tmp_path):
    """``int`` takes ``8_501`` and full-width digits; a port is ASCII digits in 1..65535 or refused."""
    proc = subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "dashboard", "--print-command", f"--port={port}"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert "argument --port: expected a port" in line and "1..65535" in line


def test_bad_host_is_one_line_and_code_2(capsys):
    assert main(["dashboard", "--print-command", "--host", "a b"]) == 2
    assert "--host" in capsys.readouterr().err


def test_missing_app_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("STABLECORE_DASHBOARD_APP", str(tmp_path / "nope.py"))
    monkeypatch.setattr(dashboard, "__file__", str(tmp_path / "a" / "b" / "dashboard.py"))
    assert main(["dashboard", "--print-command"]) == 2
    assert "cannot find dashboard/app.py" in capsys.readouterr().err


def test_server_flags_match_the_printed_command():
    command = dashboard.streamlit_command(Path("app.py"), "127.0.0.1", 8600)
    printed = dict(zip(command[5::2], command[6::2]))
    assert {f"--{k}": str(v).lower() for k, v in dashboard.flag_options("127.0.0.1", 8600).items()} == printed


def test_run_warms_up_then_serves_with_the_home(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("STABLECORE_HOME", raising=False)
    calls = []

    def fake_warm_up(app):
        calls.append(("warm_up", app, os.environ.get("STABLECORE_HOME")))
        return {"seconds": 1.0, "imports_s": 0.5, "model_s": 0.25, "view_s": 0.25, "trained": True}

    monkeypatch.setattr(dashboard, "warm_up", fake_warm_up)
    monkeypatch.setattr(dashboard, "serve", lambda app, host, port: calls.append(("serve", host, port)))
    monkeypatch.setattr(dashboard, "_announce_when_ready", lambda url, text: None)
    monkeypatch.setattr(dashboard, "check_port", lambda host, port: None)
    assert main(["dashboard", "--home", str(tmp_path), "--port", "8600"]) == 0
    assert calls == [
        ("warm_up", dashboard.find_app(), str(tmp_path.resolve())),
        ("serve", "127.0.0.1", 8600),
    ]
    assert "warm-up 1.0 s" in capsys.readouterr().out
    calls.clear()
    assert main(["dashboard", "--no-warmup", "--home", str(tmp_path), "--port", "8601"]) == 0
    assert calls == [("serve", "127.0.0.1", 8601)]
    assert "warm" not in capsys.readouterr().out


def test_failed_warm_up_is_reported_and_the_server_still_starts(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("STABLECORE_HOME", raising=False)
    served = []

    def broken(app):
        raise RuntimeError("cannot train\nsecond line")

    monkeypatch.setattr(dashboard, "warm_up", broken)
    monkeypatch.setattr(dashboard, "serve", lambda app, host, port: served.append(port))
    monkeypatch.setattr(dashboard, "_announce_when_ready", lambda url, text: None)
    monkeypatch.setattr(dashboard, "check_port", lambda host, port: None)
    assert main(["dashboard", "--home", str(tmp_path), "--port", "8602"]) == 0
    assert served == [8602]
    assert "warm-up failed (RuntimeError: cannot train); serving without it" in capsys.readouterr().err


def test_port_in_use_fails_before_the_warm_up(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("STABLECORE_HOME", raising=False)
    monkeypatch.setattr(dashboard, "warm_up", lambda app: pytest.fail("warmed up on a busy port"))
    monkeypatch.setattr(dashboard, "serve", lambda app, host, port: pytest.fail("served on a busy port"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["dashboard", "--home", str(tmp_path), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"--port {port}" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def restore_threads():
    """``app_common`` sets one torch thread on import (tiny models); give the session its setting back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_warm_up_trains_the_default_into_the_store_then_loads_it(monkeypatch, tmp_path, restore_threads):
    pytest.importorskip("streamlit")
    import streamlit as st

    monkeypatch.setenv("STABLECORE_HOME", str(tmp_path))
    monkeypatch.setenv("STABLECORE_MODE", "quick")
    monkeypatch.setattr(sys, "path", list(sys.path))  # warm_up puts the app's folder first
    app = dashboard.find_app()
    first = dashboard.warm_up(app)
    assert first["trained"] is True
    run = find_run(ModelSpec(), tmp_path)
    assert run is not None and Path(first["run"]) == run
    assert "torch._dynamo" in sys.modules and "app_common" in sys.modules
    assert first["seconds"] >= first["imports_s"] + first["model_s"] + first["view_s"]
    # a new process: the model is loaded from the run store, not trained again
    st.cache_resource.clear()
    st.cache_data.clear()
    sys.modules["app_common"]._READY.clear()
    second = dashboard.warm_up(app)
    assert second["trained"] is False and Path(second["run"]) == run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_server_prints_its_url_when_healthy_and_stops_on_ctrl_c(tmp_path):
    pytest.importorskip("streamlit")
    port = _free_port()
    env = {**os.environ, "STABLECORE_MODE": "quick", "PYTHONUNBUFFERED": "1"}
    env["STREAMLIT_SERVER_FILE_WATCHER_TYPE"] = "none"
    command = [sys.executable, "-m", "stablecore.cli.main", "dashboard", "--no-warmup", "--port", str(port),
               "--home", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "ready at" in line:
                break
        assert any(f"ready at http://127.0.0.1:{port}" in x for x in lines), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as r:
            assert r.read().decode().strip() == "ok"  # printed only once healthy
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
