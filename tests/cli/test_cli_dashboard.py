"""``stablecore dashboard``: the streamlit command line (headless, no usage stats, 127.0.0.1 by default),
argument errors as exit code 2, and the app found in the checkout."""

import sys

import pytest

from stablecore.cli import dashboard
from stablecore.cli.main import main


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


@pytest.mark.parametrize("port", ["0", "http", "70000"])
def test_bad_port_exits_2(port, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dashboard", "--print-command", "--port", port])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_bad_host_is_one_line_and_code_2(capsys):
    assert main(["dashboard", "--print-command", "--host", "a b"]) == 2
    assert "--host" in capsys.readouterr().err


def test_missing_app_is_a_clear_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("STABLECORE_DASHBOARD_APP", str(tmp_path / "nope.py"))
    monkeypatch.setattr(dashboard, "__file__", str(tmp_path / "a" / "b" / "dashboard.py"))
    assert main(["dashboard", "--print-command"]) == 2
    assert "cannot find dashboard/app.py" in capsys.readouterr().err


def test_run_execs_streamlit_with_the_home(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_execve(path, argv, env):
        seen.update(path=path, argv=argv, env=env)
        raise SystemExit(0)

    monkeypatch.setattr(dashboard.os, "execve", fake_execve)
    with pytest.raises(SystemExit):
        main(["dashboard", "--home", str(tmp_path), "--port", "8600"])
    assert seen["env"]["STABLECORE_HOME"] == str(tmp_path.resolve())
    assert seen["argv"][seen["argv"].index("--server.port") + 1] == "8600"
    assert "http://127.0.0.1:8600" in capsys.readouterr().out
