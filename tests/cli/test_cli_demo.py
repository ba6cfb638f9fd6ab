"""``stablecore demo``: the first line states the mode and the training schedule that actually run (full
mode used to announce "quick mode"), and the stored run agrees with it."""

import json
import os
import subprocess
import sys

import pytest

from stablecore.cli import demo
from stablecore.cli.main import main
from stablecore.train import TrainConfig


def test_quick_demo_prints_and_stores_what_it_ran(tmp_path):
    env = {**os.environ, "STABLECORE_MODE": "quick", "STABLECORE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "demo", "--device", "cpu", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert (
        first == "stablecore demo: training an MLP on two-moons, quick mode (30 epochs of adam, lr 0.01) ..."
    )
    (manifest,) = tmp_path.glob("demo/*/manifest.json")
    stored = json.loads(manifest.read_text(encoding="utf-8"))
    assert stored["mode"] == "quick"
    assert stored["config"]["train"] == TrainConfig.preset("quick").to_dict()


@pytest.mark.parametrize(("argv", "env"), [(["--mode", "full"], "quick"), ([], "full")])
def test_full_mode_is_announced_and_run(monkeypatch, capsys, tmp_path, argv, env):
    """``--mode full`` (or ``$STABLECORE_MODE=full``) trains the full schedule and says so."""
    monkeypatch.setenv("STABLECORE_MODE", env)
    calls = []

    def fake_train(dataset, model, **kwargs):
        calls.append((dataset, model, kwargs))
        raise SystemExit(0)  # stop before the (200-epoch) training: the announcement and the call are checked

    monkeypatch.setattr("stablecore.workflows.train_classifier", fake_train)
    with pytest.raises(SystemExit):
        main(["demo", "--out", str(tmp_path), *argv])
    out = capsys.readouterr().out
    full = TrainConfig.preset("full")
    assert out.splitlines()[0] == (
        "stablecore demo: training an MLP on two-moons, full mode "
        "(200 epochs of sgd, lr 0.1, cosine schedule) ..."
    )
    assert "quick" not in out
    ((dataset, model, kwargs),) = calls
    assert (dataset, model, kwargs["mode"]) == ("moons", "mlp", "full")
    assert TrainConfig.preset("quick", **kwargs["train_kwargs"]) == full  # the schedule announced is run
    assert demo.schedule(full) == "200 epochs of sgd, lr 0.1, cosine schedule"
