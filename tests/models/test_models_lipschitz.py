"""Lipschitz networks by name: body bound ≈ 1/min(std), sound against Jacobians, trainable, rebuildable."""

import pytest
import torch

from stablecore.models import build_model, model_config, rebuild_model
from stablecore.spectral import lipschitz_bound

FAMILIES = ["aol", "sll", "cpl", "sr"]


@pytest.mark.parametrize("family", FAMILIES)
def test_body_is_one_lipschitz_up_to_normalize_and_rounding(family):
    model = build_model(family, input_shape=(2,), num_classes=3, std=[0.5, 0.8], width=16, depth=2, seed=0)
    body = lipschitz_bound(model[:-1], (2,))
    assert body.kind == "upper_bound"
    assert body.value <= 2.0 * (1 + 1e-5)  # 1/min(std) = 2, every layer is 1-Lipschitz
    x = torch.randn(8, 2, dtype=torch.float64)
    net = model.double()
    worst = max(
        float(torch.linalg.matrix_norm(torch.autograd.functional.jacobian(lambda t: net(t[None])[0], xi), 2))
        for xi in x
    )
    assert lipschitz_bound(net, (2,)).value >= worst


@pytest.mark.parametrize("family", FAMILIES)
def test_images_rebuild_and_train_step(family):
    model = build_model(family, input_shape=(1, 8, 8), num_classes=10, width=8, depth=1, head="aol", seed=1)
    rebuilt = rebuild_model(model_config(model))
    rebuilt.load_state_dict(model.state_dict())
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), torch.arange(4))
        loss.backward()
        opt.step()
    assert torch.isfinite(model(x)).all()


@pytest.mark.parametrize(("key", "value"), [("width", 7), ("depth", 0), ("head", "softmax")])
def test_bad_config(key, value):
    with pytest.raises(ValueError, match=key):
        build_model("sll", **{key: value})
