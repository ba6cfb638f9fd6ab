"""``stablecore landscape``: the grid stored in the run, its centre equal to the model's loss, shards that
pool to the unsharded table, 1-D slices, non-finite points counted, negative spans, and one-line errors
(limits, bad spans) from the real entry point."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stablecore import plots
from stablecore.cli.main import main
from stablecore.results import list_runs, load_run

COMMON = ["--samples", "64", "--batch-size", "32", "--device", "cpu", "--no-progress"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("runs")
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--out", str(home)]
    assert main([*argv, "--device", "cpu", "--no-progress"]) == 0
    return list_runs(home)["path"].iloc[0]


def model_loss(run: str) -> float:
    from stablecore.data import load_dataset
    from stablecore.train import build_loss
    from stablecore.workflows import load_model

    model = load_model(run)
    train = load_dataset("digits").train
    x = torch.stack([train[i][0] for i in range(64)])
    y = torch.stack([torch.as_tensor(train[i][1]) for i in range(64)])
    with torch.no_grad():
        return float(build_loss("ce")(model(x), y))


def test_landscape_2d_table_centre_and_shards(digits_run, capsys, tmp_path):
    assert main(["landscape", "--run", digits_run, "--steps", "5", *COMMON]) == 0
    out = capsys.readouterr().out
    assert "25 of 25 grid points in the table (complete)" in out and "loss at the model" in out
    table = load_run(digits_run).tables["landscape-2d"]
    assert len(table) == 25 and {"alpha", "beta", "loss", "accuracy", "seed"} <= set(table.columns)
    centre = table[(table["alpha"] == 0.0) & (table["beta"] == 0.0)]
    assert len(centre) == 1 and float(centre["loss"].iloc[0]) == pytest.approx(
        model_loss(digits_run), abs=1e-5
    )
    assert table["accuracy"].between(0, 1).all()
    # the same grid from three shards, in a copy of the run
    copy = tmp_path / "copy"
    shutil.copytree(digits_run, copy)
    shutil.rmtree(copy / "tables")
    for i in range(3):
        assert main(["landscape", "--run", str(copy), "--steps", "5", "--shard", f"{i}/3", *COMMON]) == 0
    assert "(complete)" in capsys.readouterr().out.splitlines()[-2]
    assert sorted(p.name for p in (copy / "tables" / "landscape-2d").iterdir()) == [
        "part-0.parquet",
        "part-1.parquet",
        "part-2.parquet",
    ]
    pooled = load_run(copy).tables["landscape-2d"].sort_values(["alpha", "beta"]).reset_index(drop=True)
    whole = table.sort_values(["alpha", "beta"]).reset_index(drop=True)
    np.testing.assert_allclose(pooled["loss"], whole["loss"], rtol=1e-6)
    np.testing.assert_array_equal(pooled[["alpha", "beta"]], whole[["alpha", "beta"]])
    assert np.asarray(plots.landscape_contour_plot(pooled).data[0].z).shape == (5, 5)


def test_landscape_1d_and_other_seed(digits_run, capsys):
    argv = ["landscape", "--run", digits_run, "--dims", "1", "--steps", "7", "--span", "-0.5", "0.5"]
    assert main([*argv, "--seed", "3", "--normalization", "layer", *COMMON]) == 0
    table = load_run(digits_run).tables["landscape-1d"]
    assert len(table) == 7 and (table["beta"] == 0.0).all()
    assert table["alpha"].min() == -0.5 and (table["alpha"] == 0.0).sum() == 1
    assert (table["seed"] == 3).all() and (table["normalization"] == "layer").all()
    assert "7 of 7 grid points" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "word"),
    [(["--span", "1", "-1"], "span"), (["--shard", "2/2"], "shard"), (["--steps", "1"], "steps")],
)
def test_landscape_bad_arguments(digits_run, capsys, extra, word):
    assert main(["landscape", "--run", digits_run, *extra, *COMMON]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and word in err


def test_landscape_bad_run(tmp_path, capsys):
    assert main(["landscape", "--run", str(tmp_path / "nope")]) == 2
    assert "nope" in capsys.readouterr().err


# ------------------------------------------------------------ the real entry point, in a subprocess
def store_copy(run: str, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of ``run`` in a fresh store ``tmp_path/runs`` without tables: ``(home, run)``."""
    home = tmp_path / "runs"
    copy = home / "landscape" / Path(run).name
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("tables"))
    return home, copy


def cli(home: Path, *argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "STABLECORE_HOME": str(home), "STABLECORE_MODE": "quick", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "landscape", *argv, *COMMON],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip


def files(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_landscape_counts_nonfinite_points(digits_run, tmp_path):
    home, run = store_copy(digits_run, tmp_path)
    # α = 5e307 and 1e308 overflow the weights: the loss is NaN there
    proc = cli(home, "--run", str(run), "--dims", "1", "--steps", "3", "--span", "0", "1e308")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    table = load_run(run).tables["landscape-1d"].sort_values("alpha")
    assert table["alpha"].tolist() == [0.0, 5e307, 1e308]
    loss = table["loss"].to_numpy(float)
    assert np.isfinite(loss[0]) and not np.isfinite(loss[1:]).any()
    nan, inf = int(np.isnan(loss).sum()), int(np.isinf(loss).sum())
    assert lines[1].startswith(f"3 of 3 grid points in the table, 2 non-finite ({nan} NaN, {inf} inf loss")
    assert "(complete)" not in proc.stdout
    assert lines[2].startswith("warning: 2 of 3 grid points have a non-finite loss")
    assert "RuntimeWarning" not in proc.stderr


@pytest.mark.parametrize("span", [["--span=-1e-3,1e-3"], ["--span", "-1e-3", "1e-3"]])
def test_landscape_negative_exponent_spans(digits_run, tmp_path, span):
    home, run = store_copy(digits_run, tmp_path)
    proc = cli(home, "--run", str(run), "--dims", "1", "--steps", "5", *span)
    assert proc.returncode == 0, proc.stderr
    table = load_run(run).tables["landscape-1d"]
    assert sorted(table["alpha"]) == [-1e-3, -5e-4, 0.0, 5e-4, 1e-3]
    assert (
        table["span_start"] == -1e-3
    ).all() and "5 of 5 grid points in the table (complete)" in proc.stdout


@pytest.mark.parametrize(
    ("extra", "env", "words"),
    [
        (["--steps", "1000000"], None, ["--steps", "STABLECORE_MAX_MEMORY"]),  # was a MemoryError traceback
        (["--steps", "60"], {"STABLECORE_MAX_WORK": "1000"}, ["--steps", "STABLECORE_MAX_WORK"]),
        (["--span", "nan", "1"], None, ["--span", "finite"]),
        (["--span", "-inf", "1"], None, ["--span", "finite"]),
        (["--span=-1e308,1e308"], None, ["--span", "width"]),
        (["--span", "1"], None, ["--span", "two numbers"]),
        (["--span", "1", "1.0000000000000002", "--steps", "9"], None, ["--span", "too narrow"]),
    ],
)
def test_landscape_bad_values_one_line_nothing_written(digits_run, tmp_path, extra, env, words):
    home, run = store_copy(digits_run, tmp_path)
    before = files(tmp_path)
    proc = cli(home, "--run", str(run), *extra, env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(word in err for word in words), err
    assert files(tmp_path) == before
