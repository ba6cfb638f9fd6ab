"""A Lipschitz network trained on digits: certified radii are never broken by a strong PGD attack.

The SLL network (LLN head) is trained for a few epochs with the offset cross-entropy; every correctly
classified test point with a positive pairwise certified radius ``r`` is attacked by L2 PGD (50 steps,
5 restarts, margin loss) inside ``0.999·r``: no attack may change the prediction. The attack has teeth:
it does break a sizeable share of points at a few times the radius. The exported network (parametrizations
folded) gives the same predictions and radii at least as large (its bound is recomputed a posteriori).
"""

import pytest
import torch

from stablecore.certify import certify_model, pgd
from stablecore.layers import export
from stablecore.workflows import train_classifier


@pytest.fixture(scope="module")
def trained_sll(tmp_path_factory):
    torch.manual_seed(0)
    result = train_classifier(
        "digits", "sll", epochs=12, seed=0, loss="offset_ce",
        loss_kwargs={"offset": 1.0, "temperature": 0.25},
        model_kwargs={"width": 64, "depth": 2, "head": "lln"},
        train_kwargs={"lr": 5e-3, "batch_size": 64},
        home=tmp_path_factory.mktemp("runs"), progress=False,
    )  # fmt: skip
    x, y = result.data.test.tensors if hasattr(result.data.test, "tensors") else result.data.test
    return result.model.eval(), x.float(), y


def test_pgd_never_breaks_a_certified_radius(trained_sll):
    model, x, y = trained_sll
    df = certify_model(model, (x, y), [0.1, 0.3], last_layer="auto")
    assert df.attrs["certificate"] == "pairwise" and df.attrs["kind"] == "upper_bound"
    assert df["correct"].mean() > 0.7
    cert = df[df["correct"] & (df["radius"] > 0)]
    assert len(cert) >= 100
    idx = torch.as_tensor(cert["index"].to_numpy().copy())
    xs, ys = x[idx], y[idx]
    r = torch.tensor(cert["radius"].to_numpy(), dtype=torch.float32)
    adv = pgd(model, xs, ys, 0.999 * r, norm="l2", steps=50, restarts=5, loss="margin", clip=None)
    assert ((adv - xs).flatten(1).norm(dim=1) <= 0.999 * r * (1 + 1e-5)).all()
    with torch.no_grad():
        assert (model(adv).argmax(1) == ys).all()
        strong = pgd(model, xs, ys, 8 * r, norm="l2", steps=50, restarts=2, loss="margin", clip=None)
        assert (model(strong).argmax(1) != ys).float().mean() > 0.2  # the attack can break points


def test_exported_model_certifies_the_same_points(trained_sll):
    model, x, y = trained_sll
    folded = export(model)
    df = certify_model(model, (x, y), 0.1, last_layer="auto")
    df_folded = certify_model(folded, (x, y), 0.1, last_layer="auto")
    assert (df["prediction"] == df_folded["prediction"]).all()
    assert (df_folded["radius"] >= df["radius"] * (1 - 1e-4) - 1e-6).all()
