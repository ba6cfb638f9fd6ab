"""ModelSpec validation and cache keys; train_or_load trains once, then loads the same weights."""

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from stablecore.explore import FAMILIES, ModelSpec, find_run, snapshot_epochs, train_or_load
from stablecore.results import read_json

TINY = ModelSpec("moons", "mlp", epochs=3, n_samples=80, width=8, depth=1)  # as in conftest.py


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"dataset": "mnist"}, "dataset"),
        ({"family": "resnet"}, "family"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"offset": -1.0}, "offset"),
        ({"sigma": 0.0}, "sigma"),
        ({"width": 7}, "width"),
        ({"lr": 0.0}, "lr"),
        ({"n_samples": 10}, "n_samples"),
    ],
)
def test_spec_rejects_bad_knobs_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ModelSpec(**kwargs)


def test_canonical_drops_unused_knobs():
    assert ModelSpec(family="mlp", sigma=0.5).key() == ModelSpec(family="mlp", sigma=0.25).key()
    assert ModelSpec(family="noise", sigma=0.5).key() != ModelSpec(family="noise", sigma=0.25).key()
    assert ModelSpec("digits", n_samples=100).key() == ModelSpec("digits", n_samples=999).key()
    assert ModelSpec(seed=1).key() != ModelSpec(seed=0).key()


@given(st.integers(1, 400), st.integers(2, 6))
def test_snapshot_epochs_cover_first_and_last(epochs, count):
    points = snapshot_epochs(epochs, count)
    assert points[0] == 1 and points[-1] == epochs
    assert points == sorted(set(points)) and len(points) <= count


def test_train_then_load_same_weights(tiny, tiny_home):
    assert tiny.trained and tiny.run_path.parent.name == "explore"
    manifest = read_json(tiny.run_path / "manifest.json")
    assert manifest["status"] == "completed"
    assert manifest["explore_spec"] == TINY.to_dict() and manifest["explore_key"] == TINY.key()
    snapshots = sorted(p.name for p in (tiny.run_path / "checkpoints").glob("epoch-*.pt"))
    assert snapshots == [f"epoch-{e:04d}.pt" for e in snapshot_epochs(TINY.epochs)]
    again = train_or_load(TINY, home=tiny_home)
    assert not again.trained and again.run_path == tiny.run_path
    for a, b in zip(tiny.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.randn(16, 2)
    assert torch.equal(tiny.model(x), again.model(x))


def test_broken_or_unfinished_runs_are_not_loaded(tiny, tiny_home):
    # a copy of the run with a cut-short manifest and one still running: neither is picked
    broken = tiny.run_path.parent / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"explore_key": "', encoding="utf-8")
    running = tiny.run_path.parent / "running"
    (running / "checkpoints").mkdir(parents=True)
    manifest = read_json(tiny.run_path / "manifest.json")
    manifest.update(status="running", end_time="9999")
    (running / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (running / "checkpoints" / "last.pt").write_bytes(b"")
    assert find_run(TINY, tiny_home) == tiny.run_path


def test_noise_family_records_its_training_noise(tmp_path):
    spec = ModelSpec("blobs", "noise", epochs=1, n_samples=60, width=4, depth=1, sigma=0.5)
    em = train_or_load(spec, home=tmp_path)
    manifest = read_json(em.run_path / "manifest.json")
    assert manifest["transform"] == {"name": "gaussian_noise", "sigma": 0.5}
    assert manifest["config"]["model"]["name"] == "mlp"


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("mlp", "noise")])
def test_lipschitz_families_build_and_train(tmp_path, family):
    em = train_or_load(ModelSpec("moons", family, epochs=1, n_samples=40, width=4, depth=1), home=tmp_path)
    assert em.model(torch.zeros(3, 2)).shape == (3, 2)


def test_train_or_load_rejects_a_non_spec(tmp_path):
    with pytest.raises(TypeError, match="spec"):
        train_or_load({"dataset": "moons"}, home=tmp_path)


def test_an_unreadable_checkpoint_is_trained_again(tmp_path):
    spec = ModelSpec("moons", "mlp", epochs=1, n_samples=40, width=4, depth=1, seed=5)
    first = train_or_load(spec, home=tmp_path)
    (first.run_path / "checkpoints" / "last.pt").write_bytes(b"garbage")
    second = train_or_load(spec, home=tmp_path)
    assert second.trained and second.run_path != first.run_path
    assert find_run(spec, tmp_path) == second.run_path
    assert not train_or_load(spec, home=tmp_path).trained
