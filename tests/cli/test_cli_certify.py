"""``stablecore certify``: a digits run certified with randomized smoothing, table in the run, resumable."""

import pytest

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
