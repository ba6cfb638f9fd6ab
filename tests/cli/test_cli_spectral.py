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


def test_train_lipschitz_conv_net_with_model_args_then_spectral(tmp_path, capsys):
    home = tmp_path / "runs"
    argv = [
        "train", "--dataset", "digits", "--model", "sll", "--model-arg", "layout=conv",
        "--model-arg", "width=4", "--model-arg", "depth=1", "--model-arg", "dense_depth=1",
        "--model-arg", "pool=2", "--loss", "offset_ce", "--loss-arg", "offset=1.0",
        "--epochs", "1", "--out", str(home), "--device", "cpu", "--no-progress",
    ]  # fmt: skip
    assert main(argv) == 0
    run = list_runs(home)["path"].iloc[0]
    manifest = load_run(run).manifest
    model, loss = manifest["config"]["model"], manifest["config"]["loss"]
    assert (model["layout"], model["width"], model["pool"]) == ("conv", 4, 2)
    assert loss == {"name": "offset_ce", "offset": 1.0}
    capsys.readouterr()
    assert main(["spectral", "--run", run]) == 0
    out = capsys.readouterr().out
    for name in ("ChannelPad", "SLLConv2d", "SLLLinear", "NormalizedLinear", "AvgPool2d"):
        assert name in out, name
    assert "Parametrized" not in out and "network Lipschitz bound" in out


@pytest.mark.parametrize("arg", ["width", "=3", "1x=2"])
def test_train_rejects_malformed_model_args(arg, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--model-arg", arg, "--out", str(tmp_path)])
    assert exc.value.code == 2 and "KEY=VALUE" in capsys.readouterr().err
