"""``stablecore hessian``: tables in the run; sharded trace probes and density runs pool to the unsharded
result (each probe is the same vector whichever shard draws it)."""

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
