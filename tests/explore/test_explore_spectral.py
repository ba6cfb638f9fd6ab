"""Per-layer norms and Gram convergence against the exact SVD."""

import numpy as np
import pytest
import torch

from stablecore.explore import spectral as xs
from stablecore.models import build_model


@pytest.fixture
def mlp():
    return build_model("mlp", input_shape=(3,), num_classes=4, hidden=(16, 8), seed=0).eval()


def test_layer_norms_bracket_the_exact_norm(mlp):
    table = xs.layer_norms(mlp, (3,))
    wide = table.pivot_table(index="module", columns="method", values="value")
    for name in ("fc0", "fc1", "head"):
        exact = float(torch.linalg.matrix_norm(getattr(mlp, name).weight.detach().double(), 2))
        assert wide.loc[name, "exact"] == pytest.approx(exact, rel=1e-12)
        assert wide.loc[name, "power"] <= exact <= wide.loc[name, "gram"]
        assert wide.loc[name, "gram"] == pytest.approx(exact, rel=1e-6)
    kinds = table.set_index(["module", "method"])["kind"]
    assert kinds[("fc0", "gram")] == "upper_bound" and kinds[("fc0", "power")] == "lower_bound"


def test_network_bounds_kinds(mlp):
    table = xs.network_bounds(mlp, (3,)).set_index("method")
    assert table.loc["gram", "kind"] == "upper_bound" and table.loc["power", "kind"] == "estimate"
    assert table.loc["gram", "value"] >= table.loc["exact", "value"] * (1 - 1e-9)


def test_gram_convergence_reaches_the_exact_norm(mlp):
    conv = xs.gram_convergence(mlp, n_iter=8, power_iter=20)
    assert set(conv["shape"]) == {"fc0 (16×3)", "fc1 (8×16)", "head (4×8)"}
    for _, group in conv[conv["method"] == "gram"].groupby("shape"):
        err = group.sort_values("iteration")["rel_error"].to_numpy()
        assert np.all(np.diff(err) <= 1e-15) and err[-1] < 1e-6  # a running minimum: never increases
        assert (group["value"] >= group["exact"] * (1 - 1e-12)).all()  # every iterate is an upper bound
    with pytest.raises(ValueError, match="n_iter"):
        xs.gram_convergence(mlp, n_iter=0)


def test_lipschitz_layers_report_their_constant():
    sll = build_model("sll", input_shape=(2,), num_classes=2, width=4, depth=1, seed=0).eval()
    table = xs.layer_norms(sll, (2,))
    assert not table.empty and set(table["method"]) <= set(xs.METHODS)
