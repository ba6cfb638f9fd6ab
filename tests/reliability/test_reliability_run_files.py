"""Malformed run directories: a run's files are user input. Checkpoints (random bytes, truncated, empty,
list-valued, wrong shapes, unsafe pickles, a folder, symlink loops, symlinks out of the store), manifests
(a JSON list, truncated or random bytes, wrong field types, unknown data sets and losses), tables (no
index column, random bytes, a file where the folder belongs) and a ``tables/`` folder that is a symlink
out of the store: every command refuses with exit code 2 and one line, no traceback, nothing written
outside the store. Also the run-level soundness refusals of issue 22: a NaN model is never certified,
a certify table made with other settings is not resumed, one broken manifest does not break ``runs``.
"""

from __future__ import annotations

import pandas as pd
import pytest
from reliability_commands import CERTIFY, HESSIAN, LANDSCAPE, REPORT, SPECTRAL

SPECTRAL = [*SPECTRAL, "--save"]
COMMANDS = {"spectral": SPECTRAL, "hessian": HESSIAN, "landscape": LANDSCAPE, "certify": CERTIFY}
COMMANDS["report"] = REPORT
WRITERS = ("spectral", "hessian", "landscape", "certify")  # commands that write tables into the run

CHECKPOINT_KINDS = [
    "random_bytes",
    "truncated",
    "empty",
    "list_valued",
    "no_model_key",
    "model_is_list",
    "wrong_shape",
    "unknown_model",
    "config_is_list",
    "unsafe_pickle",
    "directory",
    "symlink_loop",
    "symlink_outside",
]
MANIFEST_KINDS = [
    "json_list",
    "json_null",
    "truncated",
    "empty",
    "random_bytes",
    "directory",
    "symlink_loop",
    "config_list",
    "no_dataset",
    "unknown_dataset",
    "dataset_dict",
    "data_kwargs_list",
    "loss_string",
    "unknown_loss",
]
# which manifest fields each command reads (spectral needs only the manifest file; certify no loss)
MANIFEST_CASES = [
    pytest.param(command, kind, id=f"{command}-{kind}")
    for command in COMMANDS
    for kind in MANIFEST_KINDS
    if command != "spectral" or kind in ("directory", "symlink_loop")
    if command != "certify" or kind not in ("loss_string", "unknown_loss")
]


@pytest.mark.parametrize("kind", CHECKPOINT_KINDS)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_malformed_checkpoint(sandbox, run_dir, command, kind):
    sandbox.break_checkpoint(run_dir, kind)
    sandbox.refused(COMMANDS[command], run=run_dir)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_missing_manifest(sandbox, run_dir, command):
    (run_dir / "manifest.json").unlink()
    sandbox.refused(COMMANDS[command], run=run_dir)


@pytest.mark.parametrize(("command", "kind"), MANIFEST_CASES)
def test_malformed_manifest(sandbox, run_dir, command, kind):
    sandbox.break_manifest(run_dir, kind)
    sandbox.refused(COMMANDS[command], run=run_dir)


@pytest.mark.parametrize("command", WRITERS)
def test_tables_symlinked_out_of_the_store(sandbox, run_dir, command):
    """A ``tables/`` folder that is a symlink to a folder outside the store: no write follows it."""
    (run_dir / "tables").rename(run_dir / "tables-moved")
    (run_dir / "tables").symlink_to(sandbox.outside / "target", target_is_directory=True)
    sandbox.refused(COMMANDS[command], run=run_dir)
    assert sorted(p.name for p in (sandbox.outside / "target").iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("form", ["file", "symlink_loop"])
def test_tables_folder_not_a_folder(sandbox, run_dir, command, form):
    (run_dir / "tables").rename(run_dir / "tables-moved")
    if form == "file":
        (run_dir / "tables").write_bytes(b"not a folder")
    else:
        (run_dir / "tables").symlink_to("tables")
    sandbox.refused(COMMANDS[command], run=run_dir)


@pytest.mark.parametrize(
    "table",
    [
        pytest.param("no_index", id="no-index-column"),
        pytest.param("random_bytes", id="random-bytes"),
        pytest.param("bad_part", id="random-bytes-shard"),
        pytest.param("index_strings", id="index-of-strings"),
    ],
)
def test_certify_malformed_table(sandbox, run_dir, table):
    """The certify table is resumed (read back) before new rows are added: a broken one is refused."""
    tables = run_dir / "tables"
    if table == "no_index":
        pd.DataFrame({"label": [0, 1], "prediction": [0, 1], "radius": [0.1, 0.2]}).to_parquet(
            tables / "certify-cohen.parquet"
        )
    elif table == "random_bytes":
        (tables / "certify-cohen.parquet").write_bytes(sandbox.random.read_bytes())
    elif table == "bad_part":
        (tables / "certify-cohen").mkdir()
        (tables / "certify-cohen" / "part-1.parquet").write_bytes(sandbox.random.read_bytes())
        sandbox.refused([*CERTIFY, "--shard", "0/2"], run=run_dir)
        return
    else:
        pd.DataFrame({"index": ["a", "b"], "prediction": [0, 1], "radius": [0.1, 0.2]}).to_parquet(
            tables / "certify-cohen.parquet"
        )
    sandbox.refused(CERTIFY, run=run_dir)


def test_landscape_malformed_shard(sandbox, run_dir):
    folder = run_dir / "tables" / "landscape-1d"
    folder.mkdir()
    (folder / "part-1.parquet").write_bytes(sandbox.random.read_bytes())
    sandbox.refused([*LANDSCAPE, "--shard", "0/2"], run=run_dir)


def test_hessian_malformed_trace_shard(sandbox, run_dir):
    folder = run_dir / "tables" / "hessian-trace"
    folder.mkdir()
    (folder / "part-1.parquet").write_bytes(sandbox.random.read_bytes())
    sandbox.refused([*HESSIAN, "--trace", "--trace-samples", "2", "--shard", "0/2"], run=run_dir)


@pytest.mark.parametrize("method", ["cohen", "lvm", "lipschitz"])
def test_nan_model_is_never_certified(sandbox, run_dir, method):
    """Issue 22 item 1: NaN logits are no votes; the CLI refuses (one line) and stores no certificate."""
    sandbox.break_checkpoint(run_dir, "nan_weights")
    sandbox.refused([*CERTIFY, "--method", method], run=run_dir)
    stored = run_dir / "tables" / f"certify-{method}.parquet"
    if stored.exists():
        assert pd.read_parquet(stored).empty


def test_certify_resume_with_other_settings_is_refused(sandbox, run_dir):
    """Issue 22 item 5: rows made with σ = 0.25, n = 20 are not reported under σ = 1.0, n = 40."""
    first = sandbox.run(CERTIFY, run=run_dir)
    assert first.code == 0, first.describe()
    table = pd.read_parquet(run_dir / "tables" / "certify-cohen.parquet")
    argv = [*CERTIFY, "--sigma", "1.0", "--n", "40"]
    outcome = sandbox.refused(argv, run=run_dir)
    assert "1.0" not in outcome.stdout  # no summary printed over the old rows
    again = pd.read_parquet(run_dir / "tables" / "certify-cohen.parquet")
    pd.testing.assert_frame_equal(again, table)  # the stored rows are untouched


BROKEN_LISTINGS = [
    "json_list",
    "json_null",
    "truncated",
    "empty",
    "random_bytes",
    "directory",
    "symlink_loop",
    "start_time_dict",
    "status_list",
    "config_list",
]


@pytest.mark.parametrize("how", ["in-process", "subprocess"])
def test_runs_lists_a_store_with_broken_manifests(sandbox, trained_run, how):
    """Issue 22 item 11: each broken run is listed as ``incomplete``; the good run is listed as it is."""
    good = sandbox.add_run(trained_run, name="good-run")
    for kind in BROKEN_LISTINGS:
        sandbox.break_manifest(sandbox.add_run(trained_run, name=f"broken-{kind}"), kind)
    before = sandbox.snapshot()
    outcome = sandbox.run(["runs"], subprocess=how == "subprocess")
    assert sandbox.snapshot() == before
    assert outcome.code == 0, outcome.describe()
    assert outcome.stderr.strip() == "", outcome.describe()
    rows = {line.split()[1]: line for line in outcome.stdout.splitlines() if len(line.split()) > 2}
    assert "completed" in rows.get(good.name, ""), outcome.stdout
    for kind in BROKEN_LISTINGS:
        line = rows.get(f"broken-{kind}", "")
        assert "incomplete" in line, f"broken-{kind} not listed as incomplete:\n{outcome.stdout}"


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("missing", id="missing"),
        pytest.param("outside", id="folder-outside-store"),
        pytest.param("parent", id="dot-dot"),
        pytest.param("json_list", id="manifest-json-list"),
        pytest.param("random_bytes", id="checkpoint-random-bytes"),
    ],
)
def test_train_resume_malformed(sandbox, run_dir, case):
    """Issue 22 item 10: ``stablecore train --resume RUN`` refuses a run it cannot resume, in one line."""
    target = {"missing": "{missing}", "outside": "{outside}", "parent": "../.."}.get(case, "{run}")
    if case == "json_list":
        sandbox.break_manifest(run_dir, "json_list")
    elif case == "random_bytes":
        sandbox.break_checkpoint(run_dir, "random_bytes")
    sandbox.refused(["train", "--resume", target, "--no-progress"], run=run_dir)
