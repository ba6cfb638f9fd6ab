"""CurvatureTracker against a dense float64 Hessian: λ_max (Lanczos) and the Hutchinson trace of the
cross-entropy on a fixed batch; its epoch schedule, the metrics it adds, the model left untouched."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call

from stablecore.curvature.callbacks import CurvatureTracker


def _dense_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def loss(theta: torch.Tensor) -> torch.Tensor:
        parts, start = {}, 0
        for name, shape in zip(names, shapes):
            parts[name] = theta[start : start + shape.numel()].reshape(shape)
            start += shape.numel()
        return nn.functional.cross_entropy(functional_call(model, parts, (x,)), y)

    return torch.autograd.functional.hessian(loss, flat)


def _setup(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).double()
    x = torch.randn(16, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=gen)
    return model, (x, y)


def test_tracker_matches_dense_hessian() -> None:
    model, batch = _setup()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    H = _dense_hessian(model, *batch)
    exact_max, exact_trace = float(torch.linalg.eigvalsh(H)[-1]), float(torch.trace(H))
    tracker = CurvatureTracker(batch, trace_samples=400, seed=3)
    record = tracker.measure(model, 0)
    assert record["lambda_max"] == pytest.approx(exact_max, rel=1e-6)
    assert abs(record["hessian_trace"] - exact_trace) <= 5 * record["hessian_trace_stderr"] + 1e-9
    assert tracker.records == [record] and model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    again = CurvatureTracker(batch, trace_samples=400, seed=3).measure(model, 0)
    assert again == record  # seeded


def test_tracker_schedule_and_metrics() -> None:
    model, batch = _setup(1)
    trainer = type("T", (), {"model": model})()
    tracker = CurvatureTracker(batch, every=3, trace_samples=2, last=4)
    tracked = {e: tracker(trainer, e, {"train_loss": 0.5}) for e in range(1, 6)}
    assert [e for e, m in tracked.items() if m is not None] == [3, 4]
    assert set(tracked[3]) == {"lambda_max", "hessian_trace", "hessian_trace_stderr", "train_loss_tracked"}
    assert tracked[3]["train_loss_tracked"] == 0.5 and [r["epoch"] for r in tracker.records] == [3.0, 4.0]
    assert math.isnan(CurvatureTracker(batch, trace_samples=2)(trainer, 1, {})["train_loss_tracked"])
    for kwargs in ({"every": 0}, {"trace_samples": 0}, {"every": True}):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            CurvatureTracker(batch, **kwargs)
