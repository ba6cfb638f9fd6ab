"""``stablecore train`` and the command boundary (issue 22, items 8-10): bad input is one line on stderr
and exit code 2, never a traceback and never a run left ``running``; ``--resume RUN`` continues a killed
run bit-identically. CLI cases run the real entry point in a subprocess."""

import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import stablecore.workflows
from stablecore.cli.main import main

REPO = Path(__file__).resolve().parents[2]
TRAIN = ["train", "--no-progress", "--device", "cpu"]


def _cli(*args, home, script=None):
    env = {**os.environ, "STABLECORE_HOME": str(home), "STABLECORE_MODE": "quick"}
    command = [sys.executable, "-c", script] if script else [sys.executable, "-m", "stablecore.cli.main"]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, cwd=REPO, env=env)


def _one_line_error(proc, needle=""):
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert needle in lines[0], lines[0]
    return lines[0]


def _runs(home):
    return sorted(p.parent for p in Path(home).glob("*/*/manifest.json"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 1-epoch moons run, made in-process (the cases copy it before damaging it)."""
    home = tmp_path_factory.mktemp("trained")
    assert main([*TRAIN, "--epochs", "1", "--out", str(home), "--experiment", "t"]) == 0
    (path,) = _runs(home)
    return path


@pytest.fixture
def copy(trained, tmp_path):
    home = tmp_path / "store"
    path = home / "exp" / "run"
    shutil.copytree(trained, path)
    return home, path


def _truncate(run, tmp_path):
    ckpt = run / "checkpoints" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:500])


def _random_bytes(run, tmp_path):
    (run / "checkpoints" / "last.pt").write_bytes(bytes(range(256)) * 8)


def _list_valued(run, tmp_path):
    torch.save([1, 2, 3], run / "checkpoints" / "last.pt")


def _wrong_shape(run, tmp_path):
    ckpt = run / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    state["model"]["head.bias"] = torch.zeros(7)
    torch.save(state, ckpt)


def _symlink_out(run, tmp_path):
    ckpt = run / "checkpoints" / "last.pt"
    outside = tmp_path / "outside.pt"
    outside.write_bytes(ckpt.read_bytes())
    ckpt.unlink()
    ckpt.symlink_to(outside)


def _manifest_list(run, tmp_path):
    (run / "manifest.json").write_text("[1, 2]\n")


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (_truncate, "not a torch checkpoint"),  # zip RuntimeError traceback before
        (_random_bytes, "not a torch checkpoint"),  # UnpicklingError traceback before
        (_list_valued, "holds a list"),  # AttributeError traceback before
        (_wrong_shape, "size mismatch for head.bias"),  # RuntimeError traceback before
        (_symlink_out, "outside"),  # loaded a file outside the run before (exit 0)
        (_manifest_list, "manifest"),
    ],
)
def test_broken_run_files_are_one_line_errors(copy, tmp_path, damage, needle):
    home, run = copy
    damage(run, tmp_path)
    line = _one_line_error(_cli("spectral", "--run", run, home=home), needle)
    if damage is not _manifest_list:
        assert str(run / "checkpoints" / "last.pt") in line


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--out", "{file}"], "--out"),  # NotADirectoryError traceback before
        (["--out", "{file}/sub"], "--out"),
        (["--lr", "inf"], "--lr"),  # trained into NaN and printed a traceback before
        (["--device", "meta"], "--device"),  # crashed in Trainer.__init__, run left running
        (["--device", "mps"], "--device"),
        (["--model-arg", "hidden=[1000000000000]"], "--model-arg"),  # allocator RuntimeError before
    ],
)
def test_bad_train_options_are_one_line_and_leave_no_run(tmp_path, args, needle):
    (tmp_path / "file").write_text("not a folder\n")
    home = tmp_path / "store"
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    _one_line_error(_cli(*TRAIN, "--epochs", "1", *args, home=home), needle)
    assert _runs(home) == [] and (tmp_path / "file").read_text() == "not a folder\n"


def test_a_bad_device_is_refused_by_every_command(trained, tmp_path):
    _one_line_error(_cli("certify", "--run", trained, "--device", "meta", home=tmp_path), "--device")


def test_divergence_is_one_line_and_claims_no_checkpoint(tmp_path):
    line = _one_line_error(_cli(*TRAIN, "--epochs", "1", "--lr", "1e30", home=tmp_path), "training diverged")
    assert "no checkpoint was written" in line and "kept" not in line
    (run,) = _runs(tmp_path)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "NonFiniteLossError" in manifest["error"]
    assert not (run / "checkpoints" / "last.pt").exists()


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (MemoryError(), "out of memory"),
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 7 TiB"), "out of memory"),
        (
            RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried"),
            "out of memory",
        ),
        (PermissionError(13, "Permission denied", "/x/last.pt"), "Permission denied"),
        (IsADirectoryError(21, "Is a directory", "/x/out"), "Is a directory"),
        (pickle.UnpicklingError("invalid load key"), "invalid load key"),
    ],
)
def test_environment_errors_are_caught_at_the_command_boundary(monkeypatch, capsys, tmp_path, error, needle):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(stablecore.workflows, "train_classifier", fail)
    assert main([*TRAIN, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("stablecore train: error: ") and needle in err[0]


def test_a_genuine_bug_keeps_its_traceback(monkeypatch, tmp_path):
    def bug(*args, **kwargs):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr(stablecore.workflows, "train_classifier", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main([*TRAIN, "--out", str(tmp_path)])


KILL_AFTER_EPOCH_2 = textwrap.dedent("""
    import os, signal, sys
    from stablecore.train import Trainer
    save = Trainer.save_checkpoint
    def save_then_die(self):
        save(self)
        if self.epoch == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup: the manifest stays 'running'
    Trainer.save_checkpoint = save_then_die
    from stablecore.cli.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _main_error(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    return err[0]


def test_kill_then_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    home = tmp_path / "store"
    args = [*TRAIN, "--epochs", "3", "--out", str(home)]
    assert main([*args, "--experiment", "ref"]) == 0
    (reference,) = _runs(home)
    killed = _cli(*args, "--experiment", "killed", home=home, script=KILL_AFTER_EPOCH_2)
    assert killed.returncode == -9, killed.stderr[-2000:]
    (run,) = [path for path in _runs(home) if path.parent.name == "killed"]
    assert json.loads((run / "manifest.json").read_text())["status"] == "running"
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2

    capsys.readouterr()
    _main_error(capsys, [*TRAIN, "--resume", str(run), "--seed", "1"], "--seed 1 differs")
    _main_error(capsys, [*TRAIN, "--resume", str(run), "--model-arg", "hidden=[8]"], "--model-arg hidden")
    _main_error(capsys, [*TRAIN, "--resume", str(run), "--epochs", "2"], "--epochs: run")
    _main_error(capsys, [*TRAIN, "--resume", str(tmp_path)], "not a run directory")
    assert json.loads((run / "manifest.json").read_text())["status"] == "running"  # refusals touch nothing

    # the real entry point; the stored values may be repeated
    done = _cli(*TRAIN, "--resume", run, "--dataset", "moons", "--seed", "0", home=home)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"run stored in {run}" in done.stdout

    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ref = torch.load(reference / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and [row["epoch"] for row in ckpt["history"]] == [1.0, 2.0, 3.0]
    for name, value in ref["model"].items():
        assert torch.equal(ckpt["model"][name], value), name
    for key in ("train_loss", "train_accuracy", "test_accuracy"):
        assert [row[key] for row in ckpt["history"]] == [row[key] for row in ref["history"]], key
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["epochs_done"] == 3

    assert main([*TRAIN, "--resume", str(run)]) == 0
    assert "already complete (3 epochs): nothing to do" in capsys.readouterr().out
    assert json.loads((run / "manifest.json").read_text()) == manifest


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seed", str(2**63)], "--seed"),  # torch's seed overflow before
        (["--experiment", ""], "experiment"),  # silently the default name before
        (["--epochs", str(10**30)], "--epochs: 1e+30 epochs"),  # ran for ever before
        (  # a RuntimeError (shape mismatch) traceback from the first batch before
            ["--model-arg", "input_shape=[3]", "--model-arg", "mean=[0]", "--model-arg", "std=[1]"],
            "--model-arg: the model does not run on the data's inputs of shape (2,)",
        ),
    ],
)
def test_out_of_range_train_options_are_refused_before_the_run(tmp_path, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:  # argparse errors exit, the others return
        raise SystemExit(main([*TRAIN, "--out", str(tmp_path), *args]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert _runs(tmp_path) == []


def test_a_bad_mode_in_the_environment_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STABLECORE_MODE", "fast")
    assert main([*TRAIN, "--out", str(tmp_path)]) == 2
    assert "$STABLECORE_MODE must be one of" in capsys.readouterr().err
