"""Tiny digits runs (one epoch, seconds) for the report tests: a standard MLP, an SLL network, a ConvNet."""

import pytest

from stablecore.report import ReportSettings
from stablecore.workflows import train_classifier

#: small but complete settings: every section runs, in about a second per model
SMALL = ReportSettings(
    test_points=40,
    train_points=96,
    radii=(0.0, 0.25, 0.5),
    pgd_steps=8,
    pair_steps=10,
    hessian_k=2,
    lanczos_steps=10,
    trace_samples=6,
    density_steps=8,
    landscape_steps=5,
    n0=16,
    n=64,
    smoothing_points=6,
)

MODELS = {
    "mlp": {"model_kwargs": {"hidden": [32]}},
    "sll": {"model_kwargs": {"width": 24, "depth": 2}},
    "convnet": {"model_kwargs": {"channels": [4, 8], "hidden": [16]}},
}


class _LazyRuns(dict):
    """Trains a model the first time its name is looked up (a worker trains only what its tests use)."""

    def __init__(self, home):
        super().__init__()
        self.home = home

    def __missing__(self, name):
        result = train_classifier(
            "digits", name, epochs=1, seed=0, device="cpu", home=self.home, progress=False, **MODELS[name]
        )
        self[name] = result
        return result


@pytest.fixture(scope="session")
def digits_runs(tmp_path_factory):
    """``{name: TrainResult}`` of one-epoch digits runs in a temporary run store, trained on first use."""
    return _LazyRuns(tmp_path_factory.mktemp("report-runs"))


@pytest.fixture(scope="session")
def small():
    """:data:`SMALL`, the report settings of the tests."""
    return SMALL
