import pytest

from stablecore.cli.main import main
from stablecore.results import list_runs, load_run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("runs")
    assert (
        main(
            [
                "train",
                "--dataset",
                "digits",
                "--model",
                "convnet",
                "--epochs",
                "1",
                "--out",
                str(home),
                "--device",
                "cpu",
                "--no-progress",
            ]
        )
        == 0
    )
    return list_runs(home)["path"].iloc[0]


def test_spectral_prints_layers_bound_and_convergence(digits_run, capsys):
    capsys.readouterr()
    assert main(["spectral", "--run", digits_run, "--save"]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "Linear" in out and "Normalize" in out
    assert "network Lipschitz bound" in out and "upper_bound" in out
    assert "convergence" in out and "it1" in out
    table = load_run(digits_run).tables["spectral-gram"]
    assert (table["kind"].isin(["exact", "upper_bound"])).all()


def test_spectral_power_is_an_estimate(digits_run, capsys):
    assert main(["spectral", "--run", digits_run, "--method", "power"]) == 0
    assert "estimate" in capsys.readouterr().out


def test_spectral_bad_run(tmp_path, capsys):
    assert main(["spectral", "--run", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "nope" in err
