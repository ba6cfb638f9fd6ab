import pytest
import torch

from stablecore.certify import CertifiedAccuracyCallback, certify_model
from stablecore.data import moons
from stablecore.models import build_model
from stablecore.train import MultiMarginHinge, TrainConfig, Trainer


def test_callback_logs_certified_accuracy_equal_to_certify_model():
    data = moons(200, seed=0)
    model = build_model(
        "sll", input_shape=(2,), num_classes=2, mean=data.mean, std=data.std, width=8, depth=2, seed=0
    )
    callback = CertifiedAccuracyCallback(data.test, eps=(0.05, 0.2))
    history = Trainer(
        model,
        MultiMarginHinge(0.7),
        train_data=data.train,
        callbacks=[callback],
        progress=False,
        config=TrainConfig(epochs=2, batch_size=32),
    ).fit()
    assert {"certified_accuracy@0.05", "certified_accuracy@0.2", "lipschitz_bound"} <= set(history)
    table = certify_model(model, data.test, [0.05, 0.2], last_layer="auto")
    assert history["certified_accuracy@0.05"].iloc[-1] == pytest.approx(table["certified@0.05"].mean())
    assert history["certified_accuracy@0.2"].iloc[-1] <= history["certified_accuracy@0.05"].iloc[-1]
    assert model.training  # the callback restored the training mode


def test_callback_and_hinge_validation():
    with pytest.raises(ValueError, match="eps"):
        CertifiedAccuracyCallback((torch.zeros(1, 2), torch.zeros(1, dtype=torch.long)), eps=[])
    with pytest.raises(ValueError, match="margin"):
        MultiMarginHinge(0.0)
    z = torch.tensor([[2.0, 0.0, 1.5]])
    # hinge: (max(0, 0.7 - 2) + max(0, 0.7 - 0.5)) / 3
    assert float(MultiMarginHinge(0.7)(z, torch.tensor([0]))) == pytest.approx(0.2 / 3)
