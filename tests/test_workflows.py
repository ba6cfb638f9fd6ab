import pytest
import torch

from stablecore.workflows import load_model, resolve_device, train_classifier


@pytest.fixture(scope="module")
def moons_result(tmp_path_factory):
    return train_classifier(
        "moons",
        "mlp",
        mode="quick",
        seed=0,
        device="cpu",
        home=tmp_path_factory.mktemp("runs"),
        progress=False,
    )


def test_trainer_learns_two_moons_in_quick_mode(moons_result):
    assert moons_result.test["accuracy"] >= 0.95
    summary = moons_result.summary()
    assert summary["test_accuracy"].iloc[0] == moons_result.test["accuracy"]


def test_model_rebuilt_from_run_gives_same_outputs(moons_result):
    rebuilt = load_model(moons_result.run.path)
    x = torch.stack([moons_result.data.test[i][0] for i in range(20)])
    moons_result.model.eval()
    torch.testing.assert_close(rebuilt(x), moons_result.model(x), rtol=0, atol=0)
    manifest = moons_result.run.manifest
    assert manifest["status"] == "completed" and manifest["config"]["model"]["name"] == "mlp"


def test_load_model_errors(tmp_path, moons_result):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"best\.pt"):
        load_model(moons_result.run.path, checkpoint="best.pt")


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        resolve_device("gpu0")
