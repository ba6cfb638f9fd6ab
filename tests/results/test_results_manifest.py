"""Manifests read back: wrong-typed fields never break a listing (the run is ``incomplete`` with the
reason), ``open_run`` / ``load_run`` refuse them in one line, ``--experiment`` stays inside the store,
and a ``running`` run whose writer is gone shows as ``interrupted`` without rewriting its manifest."""

import datetime as dt
import json
import os
import platform
import subprocess
import sys

import pandas as pd
import pytest

from stablecore.results import (
    STALE_AFTER_ENV,
    create_run,
    list_runs,
    load_run,
    manifest_problems,
    open_run,
    run_status,
    stale_limit,
)
from stablecore.results import store as store_module

#: Manifests that are valid JSON but wrong, and a word their listed problem must contain.
BAD_MANIFESTS = {
    "list": ("[1, 2]", "array"),
    "null": ("null", "null"),
    "dict-start": ('{"status": "completed", "start_time": {"y": 2024}}', "start_time"),
    "int-status": ('{"status": 5, "start_time": "2024-01-01T00:00:00+00:00"}', "status"),
    "odd-status": ('{"status": "weird"}', "status"),
    "no-status": ('{"start_time": "2024-01-01T00:00:00+00:00"}', "status"),
    "bad-time": ('{"status": "completed", "start_time": "yesterday"}', "start_time"),
    "list-time": ('{"status": "completed", "start_time": [2024, 1, 1]}', "start_time"),
    "str-seed": ('{"status": "completed", "seed": "abc"}', "seed"),
    "bool-seed": ('{"status": "completed", "seed": true}', "seed"),
    "list-config": ('{"status": "completed", "config": [1]}', "config"),
    "dict-mode": ('{"status": "completed", "mode": {"a": 1}}', "mode"),
    "neg-pid": ('{"status": "running", "pid": -3}', "pid"),
}


def _iso(delta_s: float = 0.0) -> str:
    stamp = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delta_s)
    return stamp.isoformat(timespec="seconds")


def _write(run_dir, text: str | bytes) -> None:
    run_dir.mkdir(parents=True)
    path = run_dir / "manifest.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


def _dead_pid() -> int:
    """The pid of a process that has exited (reaped), so ``os.kill(pid, 0)`` raises ProcessLookupError."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_listing_survives_every_wrong_typed_manifest(tmp_path):
    good = create_run("exp", home=tmp_path, run_id="good")
    good.finish()
    for name, (text, _) in BAD_MANIFESTS.items():
        _write(tmp_path / "exp" / name, text)
    _write(tmp_path / "exp" / "bytes", b"\xff\xfe\x00garbage")
    _write(tmp_path / "exp" / "empty", b"")
    table = list_runs(tmp_path)  # dict start_time used to break the sort for the whole store
    rows = table.set_index("run_id")
    assert rows.loc["good", "status"] == "completed" and rows.loc["good", "problem"] == ""
    assert table["run_id"].iloc[0] == "good"  # the only valid start_time sorts first
    for name, (_, word) in BAD_MANIFESTS.items():
        assert rows.loc[name, "status"] == "incomplete", name
        assert word in rows.loc[name, "problem"], (name, rows.loc[name, "problem"])
    assert "not valid JSON" in rows.loc["bytes", "problem"] and "UTF-8" in rows.loc["bytes", "problem"]
    assert "not valid JSON" in rows.loc["empty", "problem"]
    assert pd.isna(rows.loc["dict-start", "start_time"])  # a wrong-typed value is shown empty
    assert all(len(p.splitlines()) <= 1 for p in table["problem"])


@pytest.mark.parametrize("name", [*BAD_MANIFESTS, "cut", "bytes"])
def test_open_and_load_refuse_a_bad_manifest_in_one_line(tmp_path, name):
    text = {"cut": '{"status": "runn', "bytes": b"\x80\x81 not text"}.get(name) or BAD_MANIFESTS[name][0]
    run_dir = tmp_path / "exp" / name
    _write(run_dir, text)
    for opener in (open_run, load_run):
        with pytest.raises(ValueError) as info:
            opener(run_dir)
        message = str(info.value)
        assert str(run_dir / "manifest.json") in message and len(message.splitlines()) == 1


def test_manifest_problems_accepts_what_create_run_writes(tmp_path):
    run = create_run("exp", {"a": 1}, seed=3, device="cpu", home=tmp_path)
    assert manifest_problems(run.manifest) == []
    run.update_manifest(test_accuracy=0.9, anything={"extra": [1]})  # unknown fields are fine
    assert manifest_problems(open_run(run.path).manifest) == []
    assert load_run(run.path).config == {"a": 1}


@pytest.mark.parametrize("bad", ["/tmp", "..", "../x", "a/b", ".hidden", "", "exp/.."])
def test_experiment_filter_is_a_name_inside_the_store(tmp_path, bad):
    with pytest.raises(ValueError, match="experiment"):
        list_runs(tmp_path / "store", experiment=bad)


def test_experiment_filter_refuses_an_absolute_path_and_a_link_out(tmp_path):
    home = tmp_path / "store"
    create_run("exp", home=home, run_id="inside").finish()
    outside = tmp_path / "elsewhere"
    create_run("secret", home=outside, run_id="r1").finish()
    with pytest.raises(ValueError, match="experiment"):
        list_runs(home, experiment=str(outside / "secret"))
    os.symlink(outside / "secret", home / "link")
    with pytest.raises(ValueError, match="outside"):
        list_runs(home, experiment="link")
    assert list(list_runs(home, experiment="exp")["run_id"]) == ["inside"]
    # the full listing shows the link as one incomplete row and never lists what it points at
    table = list_runs(home)
    assert "r1" not in set(table["run_id"])
    link = table[table["experiment"] == "link"].iloc[0]
    assert link["status"] == "incomplete" and "outside" in link["problem"]
    os.symlink(outside / "secret" / "r1", home / "exp" / "linked-run")
    row = list_runs(home).set_index("run_id").loc["linked-run"]
    assert row["status"] == "incomplete" and "outside" in row["problem"] and pd.isna(row["mode"])


# -- derived status of running runs (issue item 10, reading side) ---------------------------------
def _running(tmp_path, **fields):
    run = create_run("exp", home=tmp_path, run_id="r")
    if fields:
        run.update_manifest(**fields)
    return run


def test_a_run_whose_process_died_shows_interrupted_and_is_not_rewritten(tmp_path):
    run = _running(tmp_path)
    run.update_manifest(pid=_dead_pid(), host=platform.node())
    before = run.manifest_path.read_bytes()
    row = list_runs(tmp_path).iloc[0]
    assert row["status"] == "interrupted" and "no longer running" in row["problem"]
    loaded = load_run(run.path)
    assert loaded.status == "interrupted" and "no longer running" in loaded.status_reason
    assert loaded.manifest["status"] == "running"  # the stored status is kept
    assert run.manifest_path.read_bytes() == before


def test_alive_or_foreign_processes_stay_running(tmp_path, monkeypatch):
    run = _running(tmp_path)  # this process: alive
    assert list_runs(tmp_path)["status"].tolist() == ["running"]
    run.update_manifest(pid=_dead_pid(), host="another-machine")  # cannot tell: trust the heartbeat
    assert list_runs(tmp_path)["status"].tolist() == ["running"]

    def owned_by_someone_else(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    run.update_manifest(pid=12345, host=platform.node())
    monkeypatch.setattr(store_module.os, "kill", owned_by_someone_else)
    assert list_runs(tmp_path)["status"].tolist() == ["running"]


def test_a_stale_heartbeat_shows_interrupted_until_the_writer_beats(tmp_path, monkeypatch):
    monkeypatch.delenv(STALE_AFTER_ENV, raising=False)
    run = _running(tmp_path)
    run.update_manifest(host="another-machine", heartbeat=_iso(-2 * 3600))
    row = list_runs(tmp_path).iloc[0]
    assert row["status"] == "interrupted" and "no heartbeat for 2.0 h" in row["problem"]
    assert STALE_AFTER_ENV in row["problem"]
    assert list_runs(tmp_path, stale_after=3 * 3600)["status"].tolist() == ["running"]
    assert list_runs(tmp_path, stale_after=float("inf"))["status"].tolist() == ["running"]
    monkeypatch.setenv(STALE_AFTER_ENV, "10800")
    assert stale_limit() == 10800 and list_runs(tmp_path)["status"].tolist() == ["running"]
    monkeypatch.setenv(STALE_AFTER_ENV, "60")
    assert list_runs(tmp_path)["status"].tolist() == ["interrupted"]
    run.heartbeat()  # the writer is alive again (and claims the run for this host and pid)
    assert run.manifest["pid"] == os.getpid() and run.manifest["host"] == platform.node()
    assert list_runs(tmp_path)["status"].tolist() == ["running"]


def test_without_a_heartbeat_the_start_time_counts(tmp_path):
    manifest = {"status": "running", "start_time": _iso(-7200), "host": "another-machine", "pid": 1}
    now = dt.datetime.now(dt.timezone.utc)
    status, reason = run_status(manifest, stale_after=3600, now=now)
    assert status == "interrupted" and "since the start" in reason
    assert run_status({**manifest, "heartbeat": _iso(-10)}, stale_after=3600, now=now) == ("running", "")
    assert run_status({**manifest, "status": "completed"}, stale_after=1, now=now) == ("completed", "")
    assert run_status({"status": "failed", "error": "boom"}) == ("failed", "boom")


@pytest.mark.parametrize("text", ["0", "-5", "nan", "soon"])
def test_a_bad_staleness_limit_is_refused_by_name(monkeypatch, tmp_path, text):
    monkeypatch.setenv(STALE_AFTER_ENV, text)
    with pytest.raises(ValueError, match=STALE_AFTER_ENV):
        list_runs(tmp_path)
    with pytest.raises(ValueError, match="stale_after"):
        run_status({"status": "running"}, stale_after=0)


def test_marking_a_run_running_again_claims_it(tmp_path):
    run = _running(tmp_path)
    run.update_manifest(pid=_dead_pid(), host=platform.node())
    run.set_status("interrupted")
    run.update_manifest(status="running")  # a resumed run: this process is its writer now
    manifest = run.manifest
    assert manifest["pid"] == os.getpid() and json.loads(run.manifest_path.read_text())["status"] == "running"
    assert list_runs(tmp_path)["status"].tolist() == ["running"]


def test_a_live_pid_does_not_outweigh_a_stale_heartbeat(tmp_path):
    """pids are reused (after a reboot, in containers): a stale heartbeat still reads as interrupted,
    and the reason says that a process with that pid exists."""
    run = _running(tmp_path)
    run.update_manifest(heartbeat=_iso(-3 * 3600))  # this process, alive, but silent for 3 h
    row = list_runs(tmp_path, stale_after=3600).iloc[0]
    assert row["status"] == "interrupted" and f"a process {os.getpid()} exists" in row["problem"]
