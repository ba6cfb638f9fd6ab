"""``stablecore hessian``: tables in the run; sharded trace probes and density runs pool to the unsharded
result (each probe is the same vector whichever shard draws it)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stablecore.cli.main import main
from stablecore.results import list_runs, load_run


@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("runs")
    argv = [
        "train",
        "--dataset",
        "moons",
        "--epochs",
        "1",
        "--out",
        str(home),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(argv) == 0
    return list_runs(home)["path"].iloc[0]


def test_hessian_topk_trace_density_and_shards(moons_run, capsys, tmp_path):
    common = ["--samples", "64", "--device", "cpu", "--trace", "--trace-samples", "6", "--density"]
    common += ["--density-runs", "2", "--lanczos-steps", "8"]
    assert main(["hessian", "--run", moons_run, "--k", "2", *common]) == 0
    out = capsys.readouterr().out
    assert "eigenvalue" in out and "trace ≈" in out and "density: 2 SLQ runs pooled" in out
    tables = load_run(moons_run).tables
    whole_trace = tables["hessian-trace"].sort_values("probe")["value"].to_numpy()
    topk = tables["hessian-topk"]
    assert list(topk["rank"]) == [1, 2] and (topk["kind"] == "estimate").all()
    assert topk["eigenvalue"].iloc[0] >= topk["eigenvalue"].iloc[1]
    # the same computation split in two shards, into a copy of the run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(moons_run, copy)
    shutil.rmtree(copy / "tables")
    for shard in ("0/2", "1/2"):
        assert main(["hessian", "--run", str(copy), "--shard", shard, *common]) == 0
    pooled = load_run(copy).tables
    sharded_trace = pooled["hessian-trace"].sort_values("probe")["value"].to_numpy()
    np.testing.assert_allclose(sharded_trace, whole_trace, rtol=1e-6)
    assert sorted(pooled["hessian-density"]["run"].unique()) == [0, 1]
    assert "hessian-topk" in pooled


def test_hessian_bad_shard(moons_run, capsys):
    assert main(["hessian", "--run", moons_run, "--shard", "3/2"]) == 2
    assert "shard" in capsys.readouterr().err


# ---- issue 22 item 3: convergence is reported; the real entry point in a subprocess
def _hessian(run: str, *argv: str) -> subprocess.CompletedProcess:
    home = str(Path(run).parents[1])  # the store the run lives in
    return subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "hessian", "--run", run, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "STABLECORE_HOME": home},
        timeout=300,
    )


def test_hessian_reports_convergence_per_value(moons_run, tmp_path):
    run = shutil.copytree(moons_run, tmp_path / "run")
    shutil.rmtree(run / "tables", ignore_errors=True)
    common = ("--k", "2", "--which", "SA", "--samples", "64", "--device", "cpu", "--no-progress")
    done = _hessian(str(run), *common)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "converged" in done.stdout.splitlines()[1]  # the table's header
    assert load_run(run).tables["hessian-topk"]["converged"].tolist() == [True, True]
    short = _hessian(str(run), *common, "--max-steps", "2")  # too few steps to meet --tol
    err = short.stderr.strip()
    assert short.returncode == 0 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("warning: ") and "did not meet --tol 0.0001" in err and "--max-steps" in err
    assert not load_run(run).tables["hessian-topk"]["converged"].all()


@pytest.mark.parametrize("bad", [("--tol", "nan"), ("--tol", "1"), ("--max-steps", "0")])
def test_hessian_bad_budget_is_one_line(moons_run, bad):
    proc = _hessian(moons_run, *bad, "--device", "cpu")
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert bad[0] in err


@pytest.mark.parametrize(
    ("option", "needle"), [("--trace-samples", "--trace-samples"), ("--density-runs", "--density-runs")]
)
def test_hessian_huge_counts_are_refused_in_one_line(moons_run, option, needle):
    flag = "--trace" if option == "--trace-samples" else "--density"
    proc = _hessian(moons_run, flag, option, "1" + "0" * 30, "--device", "cpu", "--no-progress")
    err = proc.stderr.strip()
    assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err and "STABLECORE_MAX_WORK" in err
