"""Test-session settings: seeded hypothesis, an isolated run store, one torch thread per xdist worker; the
headless-Chromium driver of the browser tests."""

import importlib
import os
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "stablecore", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("stablecore")

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # the workers already use the cores


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module of tiny tensors (OpenMP threads only add synchronisation and
    oversubscribe a shared CPU); the previous count is restored afterwards. Use it with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_run_store(tmp_path_factory, monkeypatch):
    """Never write into the repository's runs/ from a test; each test gets a fresh default home."""
    monkeypatch.setenv("STABLECORE_HOME", str(tmp_path_factory.mktemp("runs-home")))
    monkeypatch.setenv("STABLECORE_MODE", "quick")
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def dashboard_driver():
    """``benchmarks.dashboard_driver`` of this repository (headless ``/usr/bin/chromium``, the dashboard
    server); imported with the repository root first on the path, since ``tests/benchmarks`` would shadow
    the ``benchmarks`` package."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(Path(__file__).resolve().parents[1]))
        for name in [m for m in sys.modules if m == "benchmarks" or m.startswith("benchmarks.")]:
            mp.delitem(sys.modules, name)
        return importlib.import_module("benchmarks.dashboard_driver")
