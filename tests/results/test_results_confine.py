"""Writes stay inside the run: a symbolic link that leads out of the run (tables/, a shard folder, a
table file, checkpoints/, the manifest) or out of the store (the run or experiment folder) is refused
before anything is written, and nothing appears outside."""

import os

import pandas as pd
import pytest
import torch

import stablecore.explore
import stablecore.results
from stablecore.results import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_parquet,
    check_inside,
    create_run,
    open_run,
    read_json,
)

FRAME = pd.DataFrame({"a": [1.0, 2.0]})


@pytest.fixture
def world(tmp_path):
    """A store with one run, and an outside folder that must stay empty."""
    home = tmp_path / "store"
    run = create_run("exp", home=home, run_id="r")
    outside = tmp_path / "outside"
    outside.mkdir()
    return home, run, outside


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_a_linked_tables_folder_is_refused(world):
    _, run, outside = world
    os.symlink(outside, run.path / "tables")
    with pytest.raises(ValueError, match="outside"):
        run.write_table("t", FRAME)
    with pytest.raises(ValueError, match="outside"):
        run.write_table("t", FRAME, shard="0/2")
    with pytest.raises(ValueError, match="table path"):
        run.table_path("t")  # callers that write the file themselves (certify_dataset) get the check
    with pytest.raises(ValueError, match="tables folder"):
        open_run(run.path)  # commands fail before any work, not at the first write
    assert _tree(outside) == []


def test_a_linked_shard_folder_or_table_file_is_refused(world):
    _, run, outside = world
    (run.path / "tables").mkdir()
    os.symlink(outside, run.path / "tables" / "cert")
    with pytest.raises(ValueError, match="outside"):
        run.write_table("cert", FRAME, shard=(1, 4))
    (outside / "victim.parquet").write_bytes(b"keep")
    os.symlink(outside / "victim.parquet", run.path / "tables" / "whole.parquet")
    with pytest.raises(ValueError, match="outside"):
        run.write_table("whole", FRAME)
    assert _tree(outside) == ["victim.parquet"] and (outside / "victim.parquet").read_bytes() == b"keep"


def test_a_dangling_link_is_refused_and_creates_nothing(world, tmp_path):
    _, run, _ = world
    target = tmp_path / "not-yet"
    os.symlink(target, run.path / "tables")
    with pytest.raises(ValueError, match="outside"):
        run.write_table("t", FRAME, shard="0/1")
    assert not target.exists()


def test_a_linked_checkpoints_folder_or_manifest_is_refused(world):
    _, run, outside = world
    os.symlink(outside, run.path / "checkpoints")
    with pytest.raises(ValueError, match="checkpoint path"):
        run.checkpoint_path()
    with pytest.raises(ValueError, match="checkpoints folder"):
        open_run(run.path)
    manifest = run.manifest_path
    (outside / "m.json").write_text(manifest.read_text())
    manifest.unlink()
    os.symlink(outside / "m.json", manifest)
    before = (outside / "m.json").read_bytes()
    with pytest.raises(ValueError, match="outside"):
        run.update_manifest(status="completed")
    with pytest.raises(ValueError, match="manifest"):
        open_run(run.path)
    assert (outside / "m.json").read_bytes() == before


def test_a_run_or_experiment_folder_linked_out_of_the_store_is_refused(world, tmp_path):
    home, _, outside = world
    elsewhere = create_run("x", home=tmp_path / "other", run_id="real")
    os.symlink(elsewhere.path, home / "exp" / "linked")
    before = _tree(elsewhere.path)
    with pytest.raises(ValueError, match="run directory"):
        open_run(home / "exp" / "linked")
    with pytest.raises(ValueError, match="run directory"):
        stablecore.results.Run(home / "exp" / "linked").write_table("t", FRAME)
    assert _tree(elsewhere.path) == before
    os.symlink(outside, home / "escape")
    with pytest.raises(ValueError, match="outside"):
        create_run("escape", home=home, run_id="r2")
    assert _tree(outside) == []


def test_links_that_stay_inside_are_followed(world):
    home, run, _ = world
    (run.path / "real-tables").mkdir()
    os.symlink(run.path / "real-tables", run.path / "tables")
    path = run.write_table("t", FRAME)
    assert (run.path / "real-tables" / "t.parquet").is_file() and run.read_table("t").equals(FRAME)
    linked_home = home.parent / "store-link"  # the store itself may be a link
    os.symlink(home, linked_home)
    again = open_run(linked_home / "exp" / "r")
    atomic_torch_save(again.checkpoint_path(), {"w": torch.ones(2)})
    assert (run.path / "checkpoints" / "last.pt").is_file() and path.is_file()


def test_atomic_writes_confined_with_within(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    for write in (
        lambda p: atomic_write_json(p, {"a": 1}, within=root),
        lambda p: atomic_write_parquet(p, FRAME, within=root),
        lambda p: atomic_torch_save(p, {"a": 1}, within=root),
    ):
        with pytest.raises(ValueError, match="outside"):
            write(root / "link" / "deeper" / "f")
    assert _tree(outside) == []
    assert read_json(atomic_write_json(root / "ok" / "f.json", {"a": 1}, within=root)) == {"a": 1}
    os.symlink(root / "loop", root / "loop")
    with pytest.raises(ValueError, match="cannot be resolved"):
        check_inside(root / "loop" / "f", root)


def test_confine_has_one_home():
    assert stablecore.explore.confine is stablecore.results.confine


def test_a_file_where_a_run_folder_belongs_is_refused_in_one_line(world):
    _, run, _ = world
    (run.path / "tables").write_bytes(b"not a folder")
    with pytest.raises(ValueError, match=r"tables folder .* is not a folder"):
        open_run(run.path)
    with pytest.raises(ValueError, match="which is a file"):
        run.write_table("t", FRAME, shard="0/2")
    (run.path / "checkpoints").write_bytes(b"")
    with pytest.raises(ValueError, match="which is a file"):
        run.checkpoint_path()
