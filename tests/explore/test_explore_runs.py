"""The run-store view never fails on broken runs and confines user paths to the store."""

import json
import os

import pandas as pd
import pytest

from stablecore.explore import cli_command, confine, model_runs, run_details, runs_table
from stablecore.results import create_run


@pytest.fixture
def store(tmp_path):
    home = tmp_path / "runs"
    good = create_run(
        "exp", {"dataset": "moons", "model": {"name": "mlp"}, "train": {"epochs": 4}}, home=home
    )
    good.write_table("metrics", __import__("pandas").DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5]}))
    good.update_manifest(epochs_done=2)
    done = create_run("exp", {"dataset": "digits", "model": {"name": "mlp"}}, home=home)
    (done.path / "checkpoints").mkdir()
    (done.path / "checkpoints" / "last.pt").write_bytes(b"")
    done.finish()
    cut = home / "exp" / "cut-short"
    cut.mkdir()
    (cut / "manifest.json").write_text('{"status": "runn', encoding="utf-8")
    (home / "exp" / "empty").mkdir()
    failed = create_run("other", {}, home=home)
    failed.fail(RuntimeError("boom"))
    return home, good, done


def test_runs_table_lists_broken_runs_with_their_problem(store):
    home, good, done = store
    table = runs_table(home).set_index("run")
    assert table.loc["exp/cut-short", "status"] == "incomplete"
    assert "unreadable" in table.loc["exp/cut-short", "problem"]
    assert "no manifest" in table.loc["exp/empty", "problem"]
    assert table.loc[f"exp/{good.run_id}", "status"] == "running"
    assert table.loc[f"exp/{good.run_id}", "epochs_done"] == 2
    assert table.loc[f"exp/{good.run_id}", "epochs_planned"] == 4
    failed = table[table["experiment"] == "other"].iloc[0]
    assert failed["status"] == "failed" and "boom" in failed["problem"]
    assert list(model_runs(home)["run"]) == [f"exp/{done.run_id}"]


def test_run_details_never_raise_on_a_broken_run(store):
    home, good, _ = store
    broken = run_details("exp/cut-short", home)
    assert broken.status == "incomplete" and broken.manifest is None
    assert any("unreadable" in p for p in broken.problems)
    details = run_details(good.path, home)
    assert details.status == "running" and details.tables == ["metrics"] and len(details.metrics) == 2
    assert run_details("exp/nowhere", home).status == "missing"


def test_confine_refuses_paths_outside_the_store(store, tmp_path):
    home, good, _ = store
    assert confine(f"exp/{good.run_id}", home) == good.path.resolve()
    assert confine(str(good.path), home) == good.path.resolve()
    for bad in ("../outside", "/etc", str(tmp_path), "exp/../../x"):
        with pytest.raises(ValueError, match="outside the run store"):
            confine(bad, home)
    os.symlink(tmp_path, home / "exp" / "escape")
    with pytest.raises(ValueError, match="outside the run store"):
        confine("exp/escape", home)
    with pytest.raises(ValueError, match="outside the run store"):
        run_details("../..", home)
    with pytest.raises(ValueError, match="empty"):
        confine("  ", home)


def test_cli_command_parses_with_the_real_cli(tmp_path):
    from stablecore.cli.main import build_parser

    line = cli_command(
        "landscape", "runs/a b/c", dims=2, steps=51, span=(-1.0, 1.0), no_progress=True, x=None
    )
    assert line == "stablecore landscape --run 'runs/a b/c' --dims 2 --steps 51 --span -1 1 --no-progress"
    import shlex

    args = build_parser().parse_args(shlex.split(line)[1:])
    assert args.run == "runs/a b/c" and tuple(args.span) == (-1.0, 1.0) and args.no_progress
    args = build_parser().parse_args(
        shlex.split(cli_command("hessian", "r", k=5, trace=True, density=False))[1:]
    )
    assert args.k == 5 and args.trace and not args.density
    with pytest.raises(ValueError, match="command"):
        cli_command("rm", "r")
    assert json.dumps(cli_command("certify", "r", sigma=0.25)) == '"stablecore certify --run r --sigma 0.25"'


def test_runs_table_survives_wrong_typed_manifests_and_shows_derived_status(store, tmp_path):
    import platform
    import subprocess
    import sys

    home, good, _ = store
    for name, text in {
        "dict-start": '{"status": "completed", "start_time": {"y": 1}, "config": {"dataset": "moons"}}',
        "list-config": '{"status": "completed", "config": [1, 2], "start_time": "2024-01-01T00:00:00"}',
        "list": "[1, 2]",
    }.items():
        (home / "exp" / name).mkdir()
        (home / "exp" / name / "manifest.json").write_text(text, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    good.update_manifest(pid=proc.pid, host=platform.node())  # its writer died
    before = good.manifest_path.read_bytes()
    outside = create_run("secret", {"dataset": "moons"}, home=tmp_path / "elsewhere")
    (outside.path / "checkpoints").mkdir()
    (outside.path / "checkpoints" / "last.pt").write_bytes(b"")
    os.symlink(outside.path, home / "exp" / "linked")

    table = runs_table(home).set_index("run")
    for name, word in (("dict-start", "start_time"), ("list-config", "config"), ("list", "array")):
        assert (
            table.loc[f"exp/{name}", "status"] == "incomplete" and word in table.loc[f"exp/{name}", "problem"]
        )
    linked = table[table["run_id"] == "linked"].iloc[0]
    assert linked["status"] == "incomplete" and "outside" in linked["problem"]
    assert not linked["checkpoint"] and pd.isna(linked["dataset"])  # nothing read through the link
    row = table.loc[f"exp/{good.run_id}"]
    assert row["status"] == "interrupted" and "no longer running" in row["problem"]
    assert row["epochs_done"] == 2
    details = run_details(good.path, home)
    assert details.status == "interrupted" and any("no longer running" in p for p in details.problems)
    assert details.manifest["status"] == "running" and good.manifest_path.read_bytes() == before
    odd = run_details("exp/dict-start", home)
    assert odd.status == "incomplete" and any("start_time" in p for p in odd.problems)
    assert list(model_runs(home)["dataset"]) == ["digits"]
