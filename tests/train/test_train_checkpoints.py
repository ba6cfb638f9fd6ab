"""A checkpoint file is user input: every way it can be broken is a ValueError naming it (issue 22, item 8),
and the Trainer's resume, heartbeat and divergence message say only what is true (items 9 and 10)."""

import pickle

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import stablecore.train.trainer as trainer_module
from stablecore.results import create_run
from stablecore.train import NonFiniteLossError, TrainConfig, Trainer
from stablecore.train.checkpoints import TRAINING_KEYS, load_weights, read_checkpoint


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(48, 2, generator=g)
    return TensorDataset(x, (x[:, 0] > 0).long())


@pytest.fixture
def good(tmp_path):
    """A real training checkpoint (1 epoch) in a run, and its bytes."""
    run = create_run("ckpt", home=tmp_path)
    Trainer(
        _model(), nn.CrossEntropyLoss(), train_data=_data(), run=run, progress=False,
        config=TrainConfig(epochs=1, batch_size=16),
    ).fit()  # fmt: skip
    return run, run.checkpoint_path().read_bytes()


def _write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def test_a_good_checkpoint_reads_back(good):
    run, _ = good
    state = read_checkpoint(run.checkpoint_path(), within=run.path, required=TRAINING_KEYS)
    assert state["epoch"] == 1 and len(state["history"]) == 1
    model = _model()
    load_weights(model, state["model"], run.checkpoint_path())
    for name, value in model.state_dict().items():
        assert torch.equal(value, state["model"][name])


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda b: b[: len(b) // 3], "truncated"),  # zip RuntimeError before
        (lambda b: bytes(range(256)) * 8, "weights_only"),  # UnpicklingError before
        (lambda b: b"", "not a torch checkpoint"),  # EOFError before
    ],
)
def test_broken_bytes_are_a_value_error_naming_the_file(good, damage, needle):
    run, data = good
    path = run.checkpoint_path()
    path.write_bytes(damage(data))
    with pytest.raises(ValueError, match=needle) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value) and "\n" not in str(exc.value)
    assert "Re-running" not in str(exc.value)  # torch's advice to load unsafely is not repeated


@pytest.mark.parametrize(
    ("obj", "needle"),
    [
        ([1, 2, 3], "holds a list, expected a dict"),  # AttributeError ('list'.get) before
        ({"epoch": 1}, r"has no \['model'\]"),  # KeyError before
        ({"model": [torch.zeros(2)]}, "must be a state dict"),
        ({"model": {"0.weight": 3.0}}, "must map names to tensors"),
    ],
)
def test_wrong_contents_are_a_value_error(tmp_path, obj, needle):
    path = _write(tmp_path / "last.pt", obj)
    with pytest.raises(ValueError, match=needle) as exc:
        read_checkpoint(path)
    assert str(path) in str(exc.value)


def test_training_state_must_be_consistent(good):
    run, _ = good
    state = torch.load(run.checkpoint_path(), weights_only=True)
    _write(run.checkpoint_path(), {**state, "epoch": 3})
    with pytest.raises(ValueError, match="'history' has 1 rows for 3 completed epochs"):
        read_checkpoint(run.checkpoint_path(), required=TRAINING_KEYS)
    _write(run.checkpoint_path(), {**state, "epoch": True})
    with pytest.raises(ValueError, match="'epoch' must be an int"):
        read_checkpoint(run.checkpoint_path(), required=TRAINING_KEYS)


def test_a_link_out_of_the_run_is_refused(good, tmp_path):
    run, data = good
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(data)
    run.checkpoint_path().unlink()
    (run.path / "checkpoints" / "last.pt").symlink_to(outside)
    with pytest.raises(ValueError, match="outside"):
        read_checkpoint(run.path / "checkpoints" / "last.pt", within=run.path)
    # a link that stays inside the run is fine
    inside = run.path / "checkpoints" / "real.pt"
    inside.write_bytes(data)
    (run.path / "checkpoints" / "last.pt").unlink()
    (run.path / "checkpoints" / "last.pt").symlink_to(inside)
    assert read_checkpoint(run.path / "checkpoints" / "last.pt", within=run.path)["epoch"] == 1


@pytest.mark.parametrize("error", [PermissionError(13, "Permission denied"), pickle.UnpicklingError("bad")])
def test_unreadable_file_is_a_value_error(good, monkeypatch, error):
    run, _ = good  # (chmod 000 does not stop root, so torch.load is made to fail as it would)

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(ValueError, match="checkpoint") as exc:
        read_checkpoint(run.checkpoint_path())
    assert str(run.checkpoint_path()) in str(exc.value)


def test_missing_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "dir.pt").mkdir()
    with pytest.raises(FileNotFoundError):
        read_checkpoint(tmp_path / "dir.pt")


def test_load_weights_names_the_mismatch(tmp_path):
    state = _model().state_dict()
    state["2.bias"] = torch.zeros(7)
    with pytest.raises(ValueError, match=r"size mismatch for 2\.bias") as exc:
        load_weights(_model(), state, tmp_path / "x.pt")
    assert "x.pt" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="Missing key"):
        load_weights(_model(), {}, "x.pt")


# -- the Trainer ---------------------------------------------------------------------------------------
def test_resume_from_a_broken_checkpoint_is_a_value_error_and_marks_the_run_failed(good):
    run, data = good
    run.checkpoint_path().write_bytes(data[:100])
    trainer = Trainer(
        _model(), nn.CrossEntropyLoss(), train_data=_data(), run=run, progress=False,
        config=TrainConfig(epochs=2, batch_size=16),
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"last\.pt"):
        trainer.fit(resume=True)
    assert run.manifest["status"] == "failed" and "last.pt" in run.manifest["error"]


class _NaNFrom:
    def __init__(self, call):
        self.calls, self.call = 0, call

    def __call__(self, out, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if self.calls >= self.call else loss


def _nan_trainer(run, call):
    return Trainer(
        _model(), _NaNFrom(call), train_data=_data(), run=run, progress=False,
        config=TrainConfig(epochs=3, batch_size=16),
    )  # fmt: skip


def test_divergence_before_any_checkpoint_does_not_claim_one(tmp_path):
    run = create_run("nan", home=tmp_path)
    with pytest.raises(NonFiniteLossError) as exc:
        _nan_trainer(run, call=1).fit()
    message = str(exc.value)
    assert "no checkpoint was written" in message and "kept" not in message
    assert not run.checkpoint_path().exists()


def test_divergence_ignores_a_checkpoint_this_trainer_did_not_write(good):
    run, _ = good  # last.pt from an earlier Trainer; this one starts afresh (no resume)
    with pytest.raises(NonFiniteLossError) as exc:
        _nan_trainer(run, call=1).fit()
    assert "no checkpoint was written" in str(exc.value)


def test_divergence_after_an_epoch_names_the_checkpoint_and_its_epoch(tmp_path):
    run = create_run("nan", home=tmp_path)
    with pytest.raises(NonFiniteLossError) as exc:
        _nan_trainer(run, call=4).fit()  # 3 batches per epoch: epoch 2
    assert f"the last good checkpoint (epoch 1) is kept in {run.checkpoint_path()}" in str(exc.value)


def test_heartbeat_every_epoch_and_within_long_epochs(tmp_path, monkeypatch):
    run = create_run("beat", home=tmp_path)
    beats = []
    original = run.heartbeat
    monkeypatch.setattr(run, "heartbeat", lambda: beats.append(1) or original())
    trainer = Trainer(
        _model(), nn.CrossEntropyLoss(), train_data=_data(), run=run, progress=False,
        config=TrainConfig(epochs=2, batch_size=16),
    )  # fmt: skip
    trainer.fit()
    assert len(beats) == 2  # one per epoch (epochs are shorter than 60 s; "running" beat at the start)
    beats.clear()
    monkeypatch.setattr(trainer_module, "HEARTBEAT_SECONDS", 0.0)
    trainer.fit(epochs=3)
    assert len(beats) == 3 + 1  # after each of the 3 batches of the third epoch, and at its end
    assert run.manifest["heartbeat"] and run.manifest["status"] == "completed"


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), -1.0, 0.0, True])
def test_train_config_refuses_non_finite_learning_rates(lr):
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        TrainConfig(lr=lr)


@pytest.mark.parametrize(
    ("field", "value"),
    [("weight_decay", float("nan")), ("weight_decay", float("inf")), ("grad_clip", float("inf"))],
)
def test_train_config_refuses_non_finite_settings(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})
