import subprocess
import sys
from pathlib import Path

import pytest

from stablecore.cli.main import main
from stablecore.results import list_runs
from stablecore.workflows import load_model

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "runs", "demo"):
        assert command in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["train", "--dataset", "nope"], "--dataset"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--epochs", "two"], "--epochs"),
        (["train", "--seed", "-1"], "--seed"),
        (["train", "--mode", "fast"], "--mode"),
        (["train", "--device", "tpu9"], "device"),
        (["train", "--lr", "-1", "--epochs", "1"], "--lr"),
        (["frobnicate"], "frobnicate"),
    ],
)
def test_bad_arguments_one_line_exit_2(argv, needle, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        code = main([*argv, "--out", str(tmp_path)] if argv[0] == "train" else argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err and "Traceback" not in err


def test_no_traceback_from_the_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "train", "--model", "nope"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_train_then_runs_then_rebuild(tmp_path, capsys):
    assert (
        main(
            [
                "train",
                "--dataset",
                "moons",
                "--model",
                "mlp",
                "--epochs",
                "2",
                "--out",
                str(tmp_path),
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "run stored in" in out
    table = list_runs(tmp_path)
    assert table["status"].tolist() == ["completed"]
    assert main(["runs", "--home", str(tmp_path)]) == 0
    assert table["run_id"].iloc[0] in capsys.readouterr().out
    model = load_model(table["path"].iloc[0])
    assert model[0].__class__.__name__ == "Normalize"
