"""LipschitzPenalty: differentiable Gram bounds, sound per layer, gradients reach every weight."""

import pytest
import torch
from torch import nn

from stablecore.spectral import LipschitzPenalty, conv_operator_matrix, dense_spectral_norm, layer_gram_bound
from stablecore.train import TrainConfig, Trainer


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular", stride=1),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3, padding="same", groups=2),
        nn.Flatten(),
        nn.Linear(6 * 6 * 6, 3),
    )


@pytest.mark.parametrize("index", [0, 2, 4])
def test_layer_bounds_above_oracle(index):
    net = _net().double()
    conv = net[index]
    with torch.no_grad():
        conv.weight.mul_(3.0)
    bound = float(layer_gram_bound(conv, (6, 6), n_iter=6).detach())
    pad = conv.padding if conv.padding != "same" else (1, 1)
    matrix = conv_operator_matrix(
        conv.weight.detach(),
        (6, 6),
        padding=conv.padding_mode,
        pad=pad,
        stride=conv.stride,
        groups=conv.groups,
    )
    assert bound >= dense_spectral_norm(matrix)


def test_penalty_value_and_gradient_reach_every_weight():
    net = _net()
    with torch.no_grad():
        for m in net:
            if hasattr(m, "weight"):
                m.weight.mul_(4.0)  # every layer above 1
    net.train()
    net[1].eval()
    penalty = LipschitzPenalty(net, (1, 6, 6), r=0.5)
    assert net.training and not net[1].training and net[0].training  # dry run restored each mode
    assert penalty.input_hw == {"0": (6, 6), "2": (6, 6), "4": (6, 6)}
    bounds = penalty.layer_bounds(net)
    assert all(float(b) > 1 for b in bounds.values())
    value = penalty(net)
    expected = 0.5 * sum(float(b) - 1 for b in bounds.values())
    assert float(value) == pytest.approx(expected, rel=1e-6)
    value.backward()
    for name, param in net.named_parameters():
        if name.endswith("weight"):
            assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_penalty_zero_for_contractive_layers_and_runs_in_trainer():
    net = _net()
    with torch.no_grad():
        for m in net:
            if hasattr(m, "weight"):
                m.weight.mul_(1e-3)
    penalty = LipschitzPenalty(net, (1, 6, 6), r=1.0)
    assert float(penalty(net)) == 0.0
    data = torch.utils.data.TensorDataset(torch.rand(16, 1, 6, 6), torch.randint(0, 3, (16,)))
    history = Trainer(
        net,
        nn.CrossEntropyLoss(),
        train_data=data,
        penalties=[penalty],
        progress=False,
        config=TrainConfig(epochs=1, batch_size=8),
    ).fit()
    assert "penalty/lipschitz" in history


def test_penalty_errors():
    with pytest.raises(ValueError, match="r must"):
        LipschitzPenalty(_net(), (1, 6, 6), r=-1.0)
    with pytest.raises(ValueError, match="no Linear or Conv2d"):
        LipschitzPenalty(nn.Sequential(nn.ReLU()), (3,))
    with pytest.raises(TypeError, match="module"):
        layer_gram_bound(nn.ReLU())
