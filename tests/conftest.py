"""Test-session settings: seeded hypothesis, an isolated run store, one torch thread per xdist worker."""

import os

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
