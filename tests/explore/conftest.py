"""Shared tiny models for the stablecore.explore tests (trained once per module, in a tmp run store)."""

import pytest

from stablecore.explore import ModelSpec, train_or_load

TINY = ModelSpec("moons", "mlp", epochs=3, n_samples=80, width=8, depth=1)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Every explore test: one torch thread (tiny models)."""


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    return tmp_path_factory.mktemp("explore-home")


@pytest.fixture(scope="module")
def tiny(tiny_home):
    """A 2-D MLP trained for 3 epochs on 80 moons points, stored under ``tiny_home``."""
    return train_or_load(TINY, home=tiny_home)
