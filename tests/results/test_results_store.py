import json
import threading

import pandas as pd
import pytest
import torch

from stablecore.results import (
    atomic_torch_save,
    atomic_write_json,
    create_run,
    list_runs,
    load_run,
    open_run,
    parse_shard,
    read_json,
    runs_home,
)
from stablecore.results.io import atomic_open


def test_create_run_manifest_fields(tmp_path):
    run = create_run("exp", {"lr": 0.1}, seed=3, mode="quick", device="cpu", home=tmp_path)
    m = run.manifest
    assert m["status"] == "running" and m["config"] == {"lr": 0.1} and m["seed"] == 3
    assert m["mode"] == "quick" and m["device"] == "cpu"
    assert set(m["versions"]) >= {"stablecore", "torch", "python"}
    assert "git_commit" in m and m["start_time"] and m["end_time"] is None
    run.finish()
    assert run.manifest["status"] == "completed" and run.manifest["end_time"]
    assert run.path.parent.parent == tmp_path


def test_run_ids_unique_and_existing_refused(tmp_path):
    ids = {create_run("exp", home=tmp_path).run_id for _ in range(5)}
    assert len(ids) == 5
    create_run("exp", run_id="fixed", home=tmp_path)
    with pytest.raises(FileExistsError):
        create_run("exp", run_id="fixed", home=tmp_path)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "sp ace"])
def test_bad_names_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="experiment"):
        create_run(bad, home=tmp_path)


def test_tables_and_shards_concatenate(tmp_path):
    run = create_run("exp", home=tmp_path)
    run.write_table("whole", pd.DataFrame({"a": [1, 2]}))
    for i in (2, 0, 1, 10):  # written out of order; read in shard order (10 after 2)
        run.write_table("cert", pd.DataFrame({"i": [i, i]}), shard=(i, 11))
    loaded = load_run(run.path)
    assert sorted(loaded.tables) == ["cert", "whole"]
    assert loaded.tables["cert"]["i"].tolist() == [0, 0, 1, 1, 2, 2, 10, 10]
    assert run.read_table("whole")["a"].tolist() == [1, 2]
    with pytest.raises(FileNotFoundError, match="nope"):
        run.read_table("nope")


@pytest.mark.parametrize(("text", "expected"), [("0/4", (0, 4)), (" 3 / 4 ", (3, 4)), (None, None)])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("bad", ["4/4", "-1/2", "a/b", "1", (2, 1)])
def test_parse_shard_errors(bad):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(bad)


def test_listing_survives_broken_runs(tmp_path):
    good = create_run("exp", home=tmp_path, run_id="good")
    good.finish()
    (tmp_path / "exp" / "nomanifest").mkdir()
    broken = tmp_path / "exp" / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"status": "runn')  # cut short by hand
    table = list_runs(tmp_path)
    status = dict(zip(table["run_id"], table["status"]))
    assert status == {"good": "completed", "nomanifest": "incomplete", "broken": "incomplete"}
    with pytest.raises(ValueError, match="not valid JSON"):
        load_run(broken)
    with pytest.raises(FileNotFoundError):
        open_run(tmp_path / "exp" / "nomanifest")
    assert list_runs(tmp_path / "missing").empty


def test_atomic_write_failure_leaves_old_file(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(path, "wb") as fh:
        fh.write(b'{"v": 2')
        raise RuntimeError("crash mid-write")
    assert read_json(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_reader_never_sees_broken_run_during_writes(tmp_path):
    run = create_run("exp", home=tmp_path)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer():
        i = 0
        while not stop.is_set():
            i += 1
            run.update_manifest(counter=i, payload="x" * (i % 5000))
            run.write_table("metrics", pd.DataFrame({"step": range(i % 300 + 1)}))
            atomic_torch_save(run.checkpoint_path(), {"w": torch.full((i % 100 + 1,), float(i))})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(150):
            try:
                loaded = load_run(run.path)
                json.dumps(loaded.manifest)
                if "metrics" in loaded.tables:
                    steps = loaded.tables["metrics"]["step"].tolist()
                    assert steps == list(range(len(steps)))
                if run.checkpoint_path().is_file():
                    state = torch.load(run.checkpoint_path(), weights_only=True)
                    assert torch.all(state["w"] == state["w"][0])
                assert list_runs(tmp_path)["status"].tolist() == ["running"]
            except BaseException as exc:  # collected so the writer thread is always stopped
                errors.append(exc)
                break
    finally:
        stop.set()
        thread.join()
    assert not errors, errors


def test_runs_home_env(monkeypatch, tmp_path):
    monkeypatch.setenv("STABLECORE_HOME", str(tmp_path / "h"))
    assert runs_home() == tmp_path / "h"
    assert runs_home(tmp_path / "x") == tmp_path / "x"


def test_atomic_files_get_usual_permissions(tmp_path):
    import os
    import stat

    path = atomic_write_json(tmp_path / "m.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
