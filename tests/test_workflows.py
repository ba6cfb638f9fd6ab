import json
import shutil

import pytest
import torch

import stablecore.workflows as workflows
from stablecore.limits import MAX_MEMORY_ENV
from stablecore.results import create_run, list_runs, open_run
from stablecore.workflows import load_model, resolve_device, resume_classifier, train_classifier


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


# -- issue 22, items 8 and 10: devices, broken checkpoints, memory, no run left running, resume ---------
SMALL = {"data_kwargs": {"n_samples": 120}, "device": "cpu", "progress": False, "mode": "quick"}


@pytest.mark.parametrize("device", ["meta", "mps", "xla", "cuda:99", "tpu9"])
def test_resolve_device_refuses_what_this_machine_cannot_run(device):
    with pytest.raises(ValueError, match="device") as exc:
        resolve_device(device)
    assert repr(device) in str(exc.value)


def test_resolve_device_type_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(TypeError, match="device"):
        resolve_device(3)


@pytest.fixture
def run_copy(moons_result, tmp_path):
    """A copy of the trained run, inside a store of its own, to damage."""
    path = tmp_path / "store" / "exp" / "run"
    shutil.copytree(moons_result.run.path, path)
    return path


def test_load_model_turns_every_broken_checkpoint_into_a_value_error(run_copy, tmp_path):
    ckpt = run_copy / "checkpoints" / "last.pt"
    good = ckpt.read_bytes()
    state = torch.load(ckpt, weights_only=True)
    cases = {
        "truncated": lambda: ckpt.write_bytes(good[:400]),
        "random bytes": lambda: ckpt.write_bytes(bytes(range(256)) * 4),
        "a list": lambda: torch.save([1, 2], ckpt),
        "no model": lambda: torch.save({k: v for k, v in state.items() if k != "model"}, ckpt),
        "wrong shape": lambda: torch.save(
            {**state, "model": {**state["model"], "head.bias": torch.zeros(7)}}, ckpt
        ),
        "config not a dict": lambda: torch.save({**state, "model_config": [1]}, ckpt),
        "bad config key": lambda: torch.save({**state, "model_config": {"name": "mlp", "width": 3}}, ckpt),
    }
    for name, damage in cases.items():
        damage()
        with pytest.raises(ValueError) as exc:
            load_model(run_copy)
        assert str(ckpt) in str(exc.value), name
    outside = tmp_path / "outside.pt"
    outside.write_bytes(good)
    ckpt.unlink()
    ckpt.symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        load_model(run_copy)


def test_load_model_refuses_a_huge_model_config_before_allocating(run_copy):
    ckpt = run_copy / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    torch.save({**state, "model_config": {**state["model_config"], "hidden": [10**12]}}, ckpt)
    with pytest.raises(ValueError, match=r"model config.*TiB.*STABLECORE_MAX_MEMORY") as exc:
        load_model(run_copy)
    assert str(ckpt) in str(exc.value)


def test_huge_width_is_refused_before_allocating_and_before_the_run(tmp_path):
    with pytest.raises(ValueError, match=r"^model_kwargs: the model's parameters would need about 7\.28 TiB"):
        train_classifier(model_kwargs={"hidden": [10**12]}, home=tmp_path, **SMALL)
    assert list_runs(tmp_path).empty


def test_the_parameter_guard_counts_exactly_the_parameters(monkeypatch):
    config = {"input_shape": (2,), "num_classes": 3, "hidden": [33, 17], "seed": 0}
    model = workflows._build_checked("mlp", config, "x")
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    monkeypatch.setenv(MAX_MEMORY_ENV, str(nbytes))
    rebuilt = workflows._build_checked("mlp", config, "x")
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.parameters(), model.parameters()))
    monkeypatch.setenv(MAX_MEMORY_ENV, str(nbytes - 1))
    with pytest.raises(ValueError, match=r"^x: the model's parameters"):
        workflows._build_checked("mlp", config, "x")


def test_training_memory_of_a_batch_is_checked_before_the_run(tmp_path, monkeypatch):
    # 5e6 parameters (20 MB, 80 MB with gradients and Adam), 2e6 activations per example: a batch of
    # 512 needs about 4 GB, far above 256 MiB
    monkeypatch.setenv(MAX_MEMORY_ENV, "256M")
    with pytest.raises(ValueError, match=r"^batch_size: training .* batch of 512"):
        train_classifier(
            model_kwargs={"hidden": [10**6]},
            train_kwargs={"batch_size": 512, "eval_batch_size": 1},
            home=tmp_path,
            **SMALL,
        )
    assert list_runs(tmp_path).empty


def test_a_crash_in_trainer_init_marks_the_run_failed(tmp_path):
    with pytest.raises(TypeError, match="callbacks"):
        train_classifier(epochs=1, home=tmp_path, callbacks=[42], **SMALL)
    (path,) = list_runs(tmp_path)["path"]
    manifest = open_run(path).manifest
    assert manifest["status"] == "failed" and manifest["error"].startswith("TypeError")


def test_ctrl_c_before_training_marks_the_run_interrupted(tmp_path, monkeypatch):
    class Interrupted:
        def __init__(self, *args, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(workflows, "Trainer", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(epochs=1, home=tmp_path, **SMALL)
    (path,) = list_runs(tmp_path)["path"]
    assert open_run(path).manifest["status"] == "interrupted"


def _weights(path):
    return torch.load(open_run(path).checkpoint_path(), weights_only=True)["model"]


def test_resume_extends_a_run_bit_identically(tmp_path):
    ref = train_classifier(epochs=3, experiment="ref", home=tmp_path, **SMALL)
    part = train_classifier(epochs=1, experiment="part", home=tmp_path, **SMALL)
    resumed = resume_classifier(part.run.path, epochs=3, device="cpu", progress=False)
    assert resumed.epochs_trained == 2 and resumed.history["epoch"].tolist() == [1, 2, 3]
    reference = _weights(ref.run.path)
    for name, value in _weights(part.run.path).items():
        assert torch.equal(value, reference[name]), name
    manifest = part.run.manifest
    assert manifest["status"] == "completed" and manifest["config"]["train"]["epochs"] == 3
    assert manifest["epochs_done"] == 3

    # nothing left to do: the run is not touched
    before = (part.run.checkpoint_path().read_bytes(), part.run.manifest_path.read_text())
    again = resume_classifier(part.run.path, device="cpu", progress=False)
    assert again.epochs_trained == 0 and again.history["epoch"].tolist() == [1, 2, 3]
    assert (part.run.checkpoint_path().read_bytes(), part.run.manifest_path.read_text()) == before
    x = torch.stack([again.data.test[i][0] for i in range(8)])
    torch.testing.assert_close(again.model(x), resumed.model.eval()(x), rtol=0, atol=0)


def test_resume_refusals(tmp_path):
    part = train_classifier(epochs=2, experiment="p", home=tmp_path, **SMALL)
    with pytest.raises(ValueError, match=r"^epochs: .* planned for 2 epochs and can only be extended"):
        resume_classifier(part.run.path, epochs=1, device="cpu")
    cosine = train_classifier(
        epochs=1, experiment="c", home=tmp_path, train_kwargs={"scheduler": "cosine"}, **SMALL
    )
    with pytest.raises(ValueError, match="'cosine' learning-rate schedule planned for 1 epochs"):
        resume_classifier(cosine.run.path, epochs=2, device="cpu")
    part.run.update_manifest(status="running")  # claimed by this (live) process
    with pytest.raises(ValueError, match="is still running"):
        resume_classifier(part.run.path, device="cpu")
    part.run.set_status("interrupted")
    part.run.checkpoint_path().write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        resume_classifier(part.run.path, device="cpu")
    assert part.run.manifest["status"] == "interrupted"  # refused before touching the run
    bare = create_run("bare", {"dataset": "moons"}, seed=0, mode="quick", home=tmp_path)
    bare.set_status("interrupted")
    with pytest.raises(ValueError, match="does not record a model config"):
        resume_classifier(bare.path, device="cpu")
    manifest = json.loads(cosine.run.manifest_path.read_text())
    manifest["config"]["train"]["lr"] = "fast"
    cosine.run.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"config\.train"):
        resume_classifier(cosine.run.path, device="cpu")
