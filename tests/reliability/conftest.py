"""The reliability sweep's sandbox: every CLI command fed malformed input must answer with exit code 2,
exactly one line on stderr, no traceback, and no file written outside the run store.

Each test gets a :class:`Sandbox` under its ``tmp_path``::

    home/      the run store ($STABLECORE_HOME): the only place a command may write
    outside/   a sentinel folder outside the store (files, a random-bytes file, a symlink loop); its
               snapshot before and after every call must be equal
    cwd/       the working directory of the command (must stay empty)

Commands run in-process (``stablecore.cli.main.main(argv)``, stdout/stderr captured, an exception that
escapes counts as the traceback the console script would print) for the bulk of the cases, and as the
real entry point in a subprocess (``python -m stablecore.cli.main``, with a timeout and an 8 GiB
address-space cap so that an unrefused huge request fails fast instead of hanging or eating the
machine) where the process boundary matters or a bug could hang or allocate without bound.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

ENTRY = "stablecore.cli.main"
TIMEOUT_S = 120
MEMORY_CAP = 8 * 2**30  # bytes of address space for a subprocess (torch imports in well under 2 GiB)
ENV_LIMITS = ("STABLECORE_MAX_MEMORY", "STABLECORE_MAX_WORK")


@dataclass
class Outcome:
    """What one CLI call did."""

    argv: list[str]
    how: str  # "in-process" or "subprocess"
    code: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    uncaught: str | None = None  # in-process: the exception that escaped main()
    problems: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.stderr.strip().splitlines()

    def describe(self) -> str:
        last = self.lines[-1] if self.lines else "(stderr empty)"
        return (
            f"[{self.how}] stablecore {' '.join(self.argv)}\n  problems: {'; '.join(self.problems)}\n"
            f"  exit code: {self.code}; stderr lines: {len(self.lines)}; last stderr line: {last[:300]}"
            + (f"\n  uncaught: {self.uncaught}" if self.uncaught else "")
        )


def _snapshot(root: Path, skip: Path) -> dict[str, tuple]:
    """Every entry under ``root`` except ``skip``'s subtree: (kind, size, mtime_ns, link target)."""
    seen: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        if here == skip:
            dirs[:] = []
            continue
        for name in [*dirs, *files]:
            path = here / name
            if path == skip:
                continue
            st = path.lstat()
            if path.is_symlink():
                seen[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[str(path)] = ("dir",)
            else:
                seen[str(path)] = ("file", st.st_size, st.st_mtime_ns)
    return seen


class Sandbox:
    """A run store, a sentinel folder outside it and a working directory (module docstring)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.home = root / "home"
        self.outside = root / "outside"
        self.cwd = root / "cwd"
        for folder in (self.home, self.outside, self.cwd):
            folder.mkdir()
        rng = np.random.default_rng(0)
        (self.outside / "sentinel.txt").write_text("outside the store\n")
        self.file = self.outside / "sentinel.txt"  # a regular file where a folder is expected
        self.random = self.outside / "random.bin"  # random bytes where a checkpoint / table is expected
        self.random.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        (self.outside / "target").mkdir()  # where hostile symlinks point
        (self.outside / "target" / "keep.txt").write_text("keep\n")
        self.loop = self.outside / "loop"  # a symlink loop
        self.loop.symlink_to(self.loop.name)
        self.missing = self.outside / "no-such-run"
        monkeypatch.setenv("STABLECORE_HOME", str(self.home))
        monkeypatch.setenv("STABLECORE_MODE", "quick")
        for name in ENV_LIMITS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.chdir(self.cwd)

    # -- placeholders -----------------------------------------------------------------------------
    def expand(self, argv: list[str], run: Path | None = None) -> list[str]:
        """Replace the placeholders ``{run}``, ``{outside}``, ``{file}``, ``{random}``, ``{loop}``,
        ``{missing}`` and ``{home}`` by this sandbox's paths."""
        names = {
            "{run}": str(run) if run is not None else "{run}",
            "{outside}": str(self.outside),
            "{file}": str(self.file),
            "{random}": str(self.random),
            "{loop}": str(self.loop),
            "{missing}": str(self.missing),
            "{home}": str(self.home),
        }
        out = []
        for arg in argv:
            for key, value in names.items():
                arg = arg.replace(key, value)
            if "{run}" in arg:
                raise AssertionError(f"{argv}: the case needs a run")
            out.append(arg)
        return out

    def add_run(self, source: Path, name: str = "run-1", experiment: str = "exp") -> Path:
        """A copy of the run ``source`` inside the store, as ``<home>/<experiment>/<name>``."""
        target = self.home / experiment / name
        shutil.copytree(source, target, symlinks=True)
        return target

    def snapshot(self) -> dict[str, tuple]:
        return _snapshot(self.root, self.home)

    def stuck_runs(self) -> list[str]:
        """Runs of the store whose manifest still says ``running`` (no command here runs in the
        background, so after it returns such a run is stuck)."""
        import json

        stuck = []
        for path in self.home.glob("*/*/manifest.json"):
            try:
                manifest = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("status") == "running":
                stuck.append(str(path.parent.relative_to(self.home)))
        return stuck

    # -- malformed run files ----------------------------------------------------------------------
    def break_checkpoint(self, run: Path, kind: str) -> None:
        """Replace ``checkpoints/last.pt`` of ``run`` by the malformed form ``kind`` (CHECKPOINT_KINDS)."""
        path = run / "checkpoints" / "last.pt"
        good = path.read_bytes()
        state = torch.load(path, map_location="cpu", weights_only=True)
        path.unlink()
        if kind == "random_bytes":
            shutil.copyfile(self.random, path)
        elif kind == "truncated":
            path.write_bytes(good[: len(good) // 2])
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "list_valued":
            torch.save([1, 2, 3], path)
        elif kind == "no_model_key":
            torch.save({"epoch": 1, "model_config": state["model_config"]}, path)
        elif kind == "model_is_list":
            torch.save({"model": [1, 2, 3], "model_config": state["model_config"]}, path)
        elif kind == "wrong_shape":
            state["model"]["head.weight"] = torch.zeros(3, 64)
            state["model"]["head.bias"] = torch.zeros(3)
            torch.save(state, path)
        elif kind == "unknown_model":
            state["model_config"] = {**state["model_config"], "name": "no-such-model"}
            torch.save(state, path)
        elif kind == "config_is_list":
            state["model_config"] = [1, 2, 3]
            torch.save(state, path)
        elif kind == "unsafe_pickle":  # a class weights_only=True must refuse to rebuild
            torch.save({"model": Path("x"), "model_config": state["model_config"]}, path)
        elif kind == "huge_width":  # rebuilding would allocate 4e16 bytes
            state["model_config"] = {**state["model_config"], "hidden": [10**8, 10**8]}
            torch.save(state, path)
        elif kind == "nan_weights":  # a model whose logits are NaN
            state["model"]["head.bias"] = torch.full_like(state["model"]["head.bias"], float("nan"))
            torch.save(state, path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "symlink_loop":
            path.symlink_to(path.name)
        elif kind == "symlink_outside":  # to random bytes outside the store
            path.symlink_to(self.random)
        else:
            raise AssertionError(f"unknown checkpoint kind {kind!r}")

    def break_manifest(self, run: Path, kind: str) -> None:
        """Replace ``manifest.json`` of ``run`` by the malformed form ``kind`` (MANIFEST_KINDS)."""
        import json

        path = run / "manifest.json"
        text = path.read_text()
        manifest = json.loads(text)
        path.unlink()
        config = manifest["config"]
        if kind == "json_list":
            path.write_text("[1, 2, 3]")
        elif kind == "json_null":
            path.write_text("null")
        elif kind == "truncated":
            path.write_text(text[: len(text) // 2])
        elif kind == "empty":
            path.write_text("")
        elif kind == "random_bytes":
            shutil.copyfile(self.random, path)
        elif kind == "directory":
            path.mkdir()
        elif kind == "symlink_loop":
            path.symlink_to(path.name)
        elif kind == "start_time_dict":
            path.write_text(json.dumps({**manifest, "start_time": {"a": 1}}))
        elif kind == "status_list":
            path.write_text(json.dumps({**manifest, "status": ["running"]}))
        elif kind == "config_list":
            path.write_text(json.dumps({**manifest, "config": [1, 2, 3]}))
        elif kind == "no_dataset":
            rest = {k: v for k, v in config.items() if k != "dataset"}
            path.write_text(json.dumps({**manifest, "config": rest}))
        elif kind == "unknown_dataset":
            path.write_text(json.dumps({**manifest, "config": {**config, "dataset": "no-such-data"}}))
        elif kind == "dataset_dict":
            path.write_text(json.dumps({**manifest, "config": {**config, "dataset": {"name": "moons"}}}))
        elif kind == "data_kwargs_list":
            path.write_text(json.dumps({**manifest, "config": {**config, "data_kwargs": [1, 2]}}))
        elif kind == "loss_string":
            path.write_text(json.dumps({**manifest, "config": {**config, "loss": "ce"}}))
        elif kind == "unknown_loss":
            path.write_text(json.dumps({**manifest, "config": {**config, "loss": {"name": "no-such-loss"}}}))
        else:
            raise AssertionError(f"unknown manifest kind {kind!r}")

    # -- running the CLI --------------------------------------------------------------------------
    def run_inprocess(self, argv: list[str]) -> Outcome:
        from stablecore.cli.main import main

        out, err = io.StringIO(), io.StringIO()
        uncaught = None
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception as exc:  # what the console script would print as a traceback
                code = 1
                first = str(exc).splitlines()[0] if str(exc) else ""
                uncaught = f"{type(exc).__name__}: {first}"
                err.write(traceback.format_exc())
        return Outcome(list(argv), "in-process", code, out.getvalue(), err.getvalue(), uncaught)

    def run_subprocess(
        self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = TIMEOUT_S
    ) -> Outcome:
        environ = {k: v for k, v in os.environ.items() if k not in ENV_LIMITS}
        environ.update(STABLECORE_HOME=str(self.home), STABLECORE_MODE="quick", OMP_NUM_THREADS="1")
        environ.update(env or {})
        proc = subprocess.Popen(
            [sys.executable, "-m", ENTRY, *argv],
            cwd=self.cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends it and its children
        )
        try:
            import resource

            resource.prlimit(proc.pid, resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        except (ImportError, AttributeError, OSError, ValueError):
            pass  # no cap where prlimit is unavailable (or the process already ended)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            code = None
        return Outcome(list(argv), "subprocess", code, stdout, stderr)

    def run(
        self,
        argv: list[str],
        *,
        run: Path | None = None,
        subprocess: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
    ) -> Outcome:
        argv = self.expand(argv, run)
        if subprocess:
            return self.run_subprocess(argv, env=env, timeout=timeout)
        assert env is None, "environment cases run as a subprocess"
        return self.run_inprocess(argv)

    def refused(
        self,
        argv: list[str],
        *,
        run: Path | None = None,
        needle: str | None = None,
        forbid: tuple[str, ...] = (),
        subprocess: bool = False,
        env: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
    ) -> Outcome:
        """Run ``argv`` and assert the refusal contract: exit code 2, one line on stderr, no traceback,
        nothing written outside the store (and ``needle`` in the line, no ``forbid`` text, no argparse
        'unrecognized arguments': the option under test must exist)."""
        before = self.snapshot()
        outcome = self.run(argv, run=run, subprocess=subprocess, env=env, timeout=timeout)
        after = self.snapshot()
        problems = outcome.problems
        if outcome.code is None:
            problems.append(f"no answer within {timeout:.0f} s (killed)")
        elif outcome.code != 2:
            problems.append(f"exit code {outcome.code}, expected 2")
        if "Traceback" in outcome.stderr or outcome.uncaught:
            problems.append(f"traceback ({outcome.uncaught or _last_exception(outcome.stderr)})")
        if len(outcome.lines) != 1:
            problems.append(f"{len(outcome.lines)} lines on stderr, expected 1")
        if "unrecognized arguments" in outcome.stderr:
            problems.append("an option of the case does not exist (argparse: unrecognized arguments)")
        if needle is not None and not _names(outcome.stderr, needle):
            problems.append(f"the error does not name {needle!r}")
        for text in forbid:
            if text in outcome.stderr:
                problems.append(f"the error says {text!r}")
        stuck = self.stuck_runs() if outcome.code is not None else []  # a killed writer may stay so
        if stuck:
            problems.append(f"left run(s) at status 'running': {stuck}")
        if before != after:
            changed = set(before) ^ set(after) | {k for k in before if after.get(k) != before[k]}
            changed = sorted(changed)
            problems.append(f"wrote outside the store: {changed[:5]}")
        assert not problems, outcome.describe()
        return outcome


def _names(text: str, needle: str) -> bool:
    """``needle`` is in ``text``; an option ``--batch-size`` may also be named as the keyword ``batch_size``
    of the function it feeds (a word of its own)."""
    if needle in text:
        return True
    if not needle.startswith("--"):
        return False
    keyword = needle[2:].replace("-", "_")
    return re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", text) is not None


def _last_exception(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line and not line.startswith(" ")]
    return lines[-1][:200] if lines else "?"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    return Sandbox(tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny trained run (two-moons MLP, one epoch, CPU), made once per test process; tests copy it."""
    from stablecore.cli.main import main

    home = tmp_path_factory.mktemp("reliability-source")
    argv = ["train", "--dataset", "moons", "--model", "mlp", "--epochs", "1", "--out", str(home)]
    argv += ["--device", "cpu", "--mode", "quick", "--seed", "0", "--no-progress"]
    with redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    (run,) = (home / "train-moons-mlp").iterdir()
    assert (run / "checkpoints" / "last.pt").is_file()
    return run


@pytest.fixture
def run_dir(sandbox: Sandbox, trained_run: Path) -> Path:
    """A fresh copy of the trained run inside this test's store."""
    return sandbox.add_run(trained_run)


@pytest.fixture(autouse=True)
def _torch_state():
    """Keep in-process calls from leaking torch state into the next test."""
    threads = torch.get_num_threads()
    dtype = torch.get_default_dtype()
    yield
    torch.set_num_threads(threads)
    torch.set_default_dtype(dtype)
