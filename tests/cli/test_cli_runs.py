"""``stablecore runs`` through the real entry point: one bad manifest never breaks the listing,
``--experiment`` stays inside the store, a dead run shows as interrupted, and writes never follow a
link out of a run (exit code 2, one line on stderr, no traceback, nothing written outside)."""

import os
import platform
import subprocess
import sys

import pytest

from stablecore.results import create_run


def _cli(*argv: str, home=None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if home is not None:
        env["STABLECORE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _refused(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr


def test_runs_lists_a_store_with_broken_manifests(tmp_path):
    home = tmp_path / "store"
    create_run("exp", home=home, run_id="good").finish()
    for name, text in {
        "dict-start": '{"status": "completed", "start_time": {"y": 2024}}',
        "list": "[1, 2, 3]",
        "int-status": '{"status": 7, "start_time": "2024-01-01T00:00:00+00:00"}',
    }.items():
        (home / "exp" / name).mkdir()
        (home / "exp" / name / "manifest.json").write_text(text, encoding="utf-8")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = create_run("exp", home=home, run_id="orphan")
    orphan.update_manifest(pid=dead.pid, host=platform.node())
    before = orphan.manifest_path.read_bytes()
    proc = _cli("runs", "--home", str(home))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    lines = {line.split()[1]: line for line in proc.stdout.splitlines()[2:]}
    assert "(5 runs)" in proc.stdout and "problem" in proc.stdout.splitlines()[1]
    assert " completed " in lines["good"]
    assert " incomplete " in lines["dict-start"] and "start_time" in lines["dict-start"]
    assert " incomplete " in lines["list"] and "array" in lines["list"]
    assert " incomplete " in lines["int-status"] and "status" in lines["int-status"]
    assert " interrupted " in lines["orphan"] and "no longer running" in lines["orphan"]
    assert orphan.manifest_path.read_bytes() == before  # listing never rewrites a manifest


@pytest.mark.parametrize("bad", ["/tmp", "../x", "OUTSIDE", "LINK"])
def test_runs_experiment_confined_to_the_store(tmp_path, bad):
    home = tmp_path / "store"
    create_run("exp", home=home, run_id="inside").finish()
    outside = tmp_path / "outside"
    create_run("secret", home=outside, run_id="r1").finish()
    os.symlink(outside / "secret", home / "LINK")
    value = str(outside / "secret") if bad == "OUTSIDE" else bad
    proc = _cli("runs", "--experiment", value, home=home)
    _refused(proc, "--experiment")
    assert "r1" not in proc.stdout


def test_runs_home_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    _refused(_cli("runs", "--home", str(tmp_path / "file")), "--home")


def test_a_table_write_through_a_linked_tables_folder_is_refused(tmp_path):
    from stablecore.workflows import train_classifier

    home, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    result = train_classifier(
        "moons", "mlp", epochs=1, data_kwargs={"n_samples": 64}, model_kwargs={"hidden": [4]},
        home=home, progress=False, device="cpu",
    )  # fmt: skip
    tables = result.run.path / "tables"
    for entry in tables.iterdir():
        entry.unlink()
    tables.rmdir()
    os.symlink(outside, tables)
    _refused(_cli("spectral", "--run", str(result.run.path), "--save", home=home), "outside")
    assert list(outside.iterdir()) == []
