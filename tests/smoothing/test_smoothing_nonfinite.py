"""Non-finite logits are never votes (issue 22, item 1): PREDICT, CERTIFY, the sampling engine, every
certify_dataset method and the dashboard's per-point radii refuse them, naming the first bad noise draw
(and the example where it is known)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.explore.radii import smoothing_radii
from stablecore.results import create_run
from stablecore.smoothing import Smooth
from stablecore.smoothing.core import NonFiniteLogitsError, check_finite_logits
from stablecore.smoothing.dataset import certify_dataset
from stablecore.spectral import lipschitz_bound


class BadRow(nn.Module):
    """Logits ``[0, 0, 1]`` (class 2) for every row, except the ``bad``-th row it ever sees: ``value``
    (default ``[0, NaN, 1]``, which ``argmax`` counts for class 1)."""

    def __init__(self, bad: int, value: tuple[float, ...] = (0.0, float("nan"), 1.0)) -> None:
        super().__init__()
        self.bad, self.value, self.seen = bad, torch.tensor(value), 0
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        out = torch.tensor([0.0, 0.0, 1.0]).repeat(x.shape[0], 1) + 0 * self.dummy
        j = self.bad - self.seen
        if 0 <= j < x.shape[0]:
            out[j] = self.value
        self.seen += x.shape[0]
        return out


def nan_bias_model() -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        model[2].bias[0] = float("nan")  # every logit row is [nan, ., .]: argmax says class 0
    return model


def test_nan_bias_model_is_refused_not_certified_as_class_0():
    smooth = Smooth(nan_bias_model(), 3, 0.25)
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(NonFiniteLogitsError, match=r"selection noise draw 0\b") as info:
        smooth.certify(torch.zeros(2), 20, 200, 0.001, 64, generator=gen)
    assert isinstance(info.value, ValueError) and np.isnan(info.value.logits[0])
    with pytest.raises(NonFiniteLogitsError, match="prediction noise draw 0"):
        smooth.predict(torch.zeros(2), 200, 0.001, 64, generator=gen)


@pytest.mark.parametrize("value", [(0.0, float("nan"), 1.0), (0.0, float("inf"), 1.0), (-float("inf"),) * 3])
@pytest.mark.parametrize("batch_size", [1, 16, 1000])
def test_the_first_non_finite_draw_is_named_with_its_stage(value, batch_size):
    # draws 0..9 are the selection, 10..109 the estimation: row 37 is estimation draw 27
    smooth = Smooth(BadRow(37, value), 3, 0.5)
    with pytest.raises(NonFiniteLogitsError) as info:
        smooth.certify(torch.zeros(2), 10, 100, 0.01, batch_size)
    err = info.value
    assert (err.stage, err.draw, err.example) == ("estimation", 27, None)
    assert "estimation noise draw 27 (0-based)" in str(err) and "\n" not in str(err)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)
    # PREDICT and the raw engine: the draw within the call
    for call, stage in (
        (lambda s: s.predict(torch.zeros(2), 100, 0.01, batch_size), "prediction"),
        (lambda s: s.sample(torch.zeros(2), 100, batch_size), None),
        (lambda s: s.sample(torch.zeros(2), 100, batch_size, score_map="hardmax"), None),
        (lambda s: s.sample_logits(torch.zeros(2), 100, batch_size), None),
    ):
        with pytest.raises(NonFiniteLogitsError) as info:
            call(Smooth(BadRow(37, value), 3, 0.5))
        assert (info.value.stage, info.value.draw) == (stage, 37)


def test_finite_logits_pass_and_the_check_picks_the_first_bad_row():
    logits = torch.tensor([[0.0, 1.0], [1e38, -1e38], [float("nan"), 0.0], [float("inf"), 0.0]])
    check_finite_logits(logits[:2])
    with pytest.raises(NonFiniteLogitsError) as info:
        check_finite_logits(logits, first_draw=100)
    assert info.value.draw == 102
    counts = Smooth(BadRow(10**9), 3, 0.5).sample(torch.zeros(2), 50, 7).counts
    assert counts.tolist() == [0, 0, 50]  # the same model, all rows finite: all votes for class 2


class NanAbove(nn.Module):
    """A linear classifier whose logits are NaN when ``x_0 > 50`` (only the 4th example below)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(2, 3)

    def forward(self, x):
        out = self.linear(x)
        return torch.where(x[:, :1] > 50, torch.full_like(out, float("nan")), out)


@pytest.mark.parametrize("method", ["cohen", "lvm", "lipschitz"])
def test_certify_dataset_names_the_example_and_keeps_the_rows_before_it(tmp_path, method):
    x = torch.zeros(6, 2)
    x[3, 0] = 100.0
    data = TensorDataset(x, torch.zeros(6, dtype=torch.int64))
    model = NanAbove()
    smooth = Smooth(model, 3, 0.25)
    options = {}
    if method == "lipschitz":
        options = {"logits_bound": lipschitz_bound(model.linear, (2,))}
    if method == "lvm":
        options = {"temperatures": (0.5, 1.0)}
    run = create_run("nan", home=tmp_path)
    with pytest.raises(NonFiniteLogitsError, match="selection noise draw 0 of example 3") as info:
        certify_dataset(
            smooth, data, out=run, method=method, n0=10, n=50, alpha=0.01, batch_size=16, progress=False,
            flush_every=1, **options,
        )  # fmt: skip
    assert info.value.example == 3
    from stablecore.results import read_table

    assert read_table(run.path, f"certify-{method}")["index"].tolist() == [0, 1, 2]


def test_dashboard_radii_refuse_non_finite_logits():
    x = torch.tensor([[0.0, 0.0], [100.0, 0.0]])
    with pytest.raises(NonFiniteLogitsError, match="selection noise draw 0 of example 1"):
        smoothing_radii(NanAbove(), x, torch.zeros(2, dtype=torch.int64), sigma=0.25, n0=8, n=32)
    with pytest.raises(NonFiniteLogitsError, match="of example 0"):
        smoothing_radii(nan_bias_model(), x, torch.zeros(2, dtype=torch.int64), sigma=0.25, n0=8, n=32)
