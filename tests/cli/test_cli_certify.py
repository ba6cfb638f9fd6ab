"""``stablecore certify``: a digits run certified with randomized smoothing, table in the run, resumable."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from stablecore.cli.main import main
from stablecore.results import list_runs, load_run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("runs")
    argv = [
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "2",
        "--out",
        str(home),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(argv) == 0
    return list_runs(home)["path"].iloc[0]


def test_certify_writes_a_table_and_resumes(digits_run, capsys):
    argv = ["certify", "--run", digits_run, "--sigma", "0.25", "--n0", "10", "--n", "100", "--limit", "6"]
    argv += ["--batch-size", "50", "--device", "cpu", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "6 examples certified" in out and "certified_accuracy" in out
    table = load_run(digits_run).tables["certify-cohen"]
    assert sorted(table["index"]) == list(range(6))
    assert main([*argv[:-1], "--no-progress"]) == 0  # rerun: nothing left to do, same rows
    again = load_run(digits_run).tables["certify-cohen"]
    assert again.drop(columns="seconds").equals(table.drop(columns="seconds"))


def test_certify_bad_arguments(digits_run, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["certify", "--run", digits_run, "--sigma", "-1"])
    assert exc.value.code == 2 and "sigma" in capsys.readouterr().err
    assert main(["certify", "--run", digits_run, "--sigma", "0.5", "--alpha", "2"]) == 2
    assert "alpha" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["lvm", "lipschitz"])
def test_certify_other_methods(digits_run, method, capsys):
    argv = ["certify", "--run", digits_run, "--sigma", "0.25", "--n0", "10", "--n", "100", "--limit", "3"]
    argv += ["--batch-size", "50", "--device", "cpu", "--no-progress", "--method", method]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 examples certified" in out
    table = load_run(digits_run).tables[f"certify-{method}"]
    assert sorted(table["index"]) == [0, 1, 2]
    if method == "lipschitz":
        assert "logits Lipschitz bound" in out and (table["score_lipschitz"] > 0).all()
        assert (table["radius"] >= 0).all() and (table["radius_votes"] >= 0).all()
    else:
        assert set(table["map"]) <= {"sparsemax", "softmax", "hardmax"}


# ---- issue 22: the real entry point in a subprocess; bad input is one line on stderr and exit code 2
def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "certify", *argv],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(needle in err for needle in needles), err
    return err


@pytest.fixture
def run_copy(digits_run, tmp_path):
    """A private copy of the trained run without its tables (tests below damage it)."""
    copy = shutil.copytree(digits_run, tmp_path / "run")
    shutil.rmtree(copy / "tables", ignore_errors=True)
    return str(copy)


QUICK = ("--n0", "10", "--n", "50", "--limit", "3", "--batch-size", "64", "--device", "cpu", "--no-progress")


def test_rerun_with_other_settings_is_refused_and_a_new_table_is_not(run_copy):
    first = _cli("--run", run_copy, "--sigma", "0.25", *QUICK)
    assert first.returncode == 0, first.stderr
    stored = load_run(run_copy).tables["certify-cohen"]
    other = ["--sigma", "1.0", "--n0", "10", "--n", "60", "--limit", "3", "--device", "cpu", "--no-progress"]
    _refused(
        _cli("--run", run_copy, *other), "sigma: stored 0.25, now 1.0", "n: stored 50, now 60", "--table"
    )
    assert load_run(run_copy).tables["certify-cohen"].equals(stored)  # untouched
    new = _cli("--run", run_copy, *other, "--table", "certify-cohen-sigma1")
    assert new.returncode == 0, new.stderr
    assert "σ = 1.0, n0 = 10, n = 60" in new.stdout and "table certify-cohen-sigma1" in new.stdout
    tables = load_run(run_copy).tables
    assert sorted(tables["certify-cohen-sigma1"]["index"]) == [0, 1, 2]
    assert all(sum(c) == 60 for c in tables["certify-cohen-sigma1"]["counts_estimation"])
    assert tables["certify-cohen"].equals(stored)


def test_non_finite_logits_are_refused_not_certified(run_copy):
    ckpt = Path(run_copy) / "checkpoints" / "last.pt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    last_bias = [k for k in state["model"] if k.endswith("bias")][-1]
    state["model"][last_bias][0] = float("nan")
    torch.save(state, ckpt)
    for method in ("cohen", "lvm"):
        proc = _cli("--run", run_copy, "--sigma", "0.25", *QUICK, "--method", method)
        _refused(proc, "non-finite logits", "selection noise draw 0 of example 0")
    assert "certify-cohen" not in load_run(run_copy).tables


def test_table_without_its_index_column_or_with_bad_rows(run_copy):
    assert _cli("--run", run_copy, "--sigma", "0.25", *QUICK).returncode == 0
    path = Path(run_copy) / "tables" / "certify-cohen.parquet"
    table = pd.read_parquet(path)
    table.drop(columns="index").to_parquet(path, index=False)
    _refused(_cli("--run", run_copy, "--sigma", "0.25", *QUICK), "lacks the column(s) ['index']")
    path.write_bytes(b"\x00garbage\xff" * 10)
    _refused(_cli("--run", run_copy, "--sigma", "0.25", *QUICK), "not a readable certify table")


def test_work_and_memory_limits_name_the_option(run_copy):
    base = ["--run", run_copy, "--sigma", "0.25", "--limit", "3", "--device", "cpu", "--no-progress"]
    _refused(_cli(*base, "--n", str(10**23)), "--n: ", "STABLECORE_MAX_WORK")
    _refused(_cli(*base, "--n0", str(10**23), "--n", "10"), "--n0: ")
    huge = ["--n", str(10**9), "--batch-size", str(10**12)]
    limits = {"STABLECORE_MAX_MEMORY": "1G", "STABLECORE_MAX_WORK": str(10**12)}  # work allowed
    _refused(_cli(*base, *huge, env=limits), "--batch-size: ", "a batch of 1000000000 noisy copies")
    lvm = ["--method", "lvm", "--n0", str(10**8), "--n", "10"]  # LVM-RS holds the n0 selection logits
    _refused(_cli(*base, *lvm, env=limits), "--n0: the logits of 100000000 selection draws")
    assert not (Path(run_copy) / "tables").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--sigma", "inf"], "--sigma"),
        (["--sigma", "0.25", "--method", "lipschitz", "--temperature", "inf"], "--temperature"),
        (["--sigma", "0.25", "--radii", "nan"], "--radii"),
        (["--sigma", "0.25", "--table", "../outside"], "--table"),
    ],
)
def test_malformed_values_are_one_line(digits_run, extra, needle):
    _refused(_cli("--run", digits_run, *extra, "--limit", "1", "--device", "cpu"), needle)
