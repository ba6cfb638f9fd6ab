"""Curvature regularizers (reconstructions of docs/chapters/ch04.md §5): each penalty equals a direct
computation and its gradient matches central finite differences on a tiny float64 model; SAM and noise
injection equal hand-computed steps and never leave the weights perturbed; every regularizer trains through
the Trainer."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.utils.data import TensorDataset

from stablecore.curvature import HessianOperator
from stablecore.curvature.bounds import input_hessian_bound_tensor, parameter_hessian_bound_tensors
from stablecore.curvature.regularizers import (
    REGULARIZERS,
    SAM,
    ActivationDecay,
    GradientNormPenalty,
    HessianBoundPenalty,
    HutchinsonTracePenalty,
    NoiseInjection,
    WeightDecay,
    build_regularizer,
    hidden_activation_modules,
)
from stablecore.train import NonFiniteLossError, TrainConfig, Trainer

F64 = torch.float64
CE = nn.CrossEntropyLoss()


def tiny(dtype=F64, seed=0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3)).to(dtype)


def batch(n=6, dtype=F64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g, dtype=F64).to(dtype), torch.randint(0, 3, (n,), generator=g)


def assert_fd_gradient(model: nn.Module, fn, h: float = 1e-6, rtol: float = 1e-5, atol: float = 1e-9):
    """Autograd gradient of ``fn()`` (a scalar of the model's parameters) vs central differences, for
    every parameter entry."""
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(fn(), params, allow_unused=True)
    for p, g in zip(params, grads):
        g = torch.zeros_like(p) if g is None else g
        flat, gflat = p.data.view(-1), g.reshape(-1)
        for j in range(flat.numel()):
            old = float(flat[j])
            values = []
            for shift in (h, -h):
                with torch.no_grad():
                    flat[j] = old + shift
                values.append(float(fn().detach()))  # grad mode on: penalties may differentiate inside
            with torch.no_grad():
                flat[j] = old
            up, down = values
            fd = (up - down) / (2 * h)
            assert abs(fd - float(gflat[j])) <= atol + rtol * abs(fd), (fd, float(gflat[j]))


def params_of(model):
    return [p.detach().clone() for p in model.parameters()]


# ----------------------------------------------------------------------------------- penalties
def test_weight_decay_value_and_gradient():
    net, (x, y) = tiny(), batch()
    pen = WeightDecay(0.3)
    hand = 0.3 * (net[0].weight.pow(2).sum() + net[2].weight.pow(2).sum())
    assert float(pen(net, (x, y), net(x), {}).detach()) == pytest.approx(float(hand.detach()), rel=1e-14)
    with_bias = WeightDecay(0.3, include_bias=True)(net, (x, y), None, {})
    assert float(with_bias.detach()) == pytest.approx(
        0.3 * sum(float(p.detach().pow(2).sum()) for p in net.parameters())
    )
    assert_fd_gradient(net, lambda: pen(net, (x, y), None, {}))


def test_activation_decay_equals_the_hand_sum_through_the_trainer_hooks():
    net, (x, y) = tiny(), batch()
    pen = ActivationDecay(0.2, modules=[*hidden_activation_modules(net), "2"])
    assert pen.modules == ["1", "2"]
    trainer = Trainer(net, CE, train_data=TensorDataset(x, y), penalties=[pen], progress=False)
    out = trainer.compute_loss((x, y))
    h = torch.tanh(net[0](x))
    hand = 0.2 * (h.pow(2).sum(1).mean() + net[2](h).pow(2).sum(1).mean())
    assert float(out.penalties["activation_decay"].detach()) == pytest.approx(float(hand.detach()), rel=1e-13)

    def value():
        a = torch.tanh(net[0](x))
        return pen(net, (x, y), None, {"1": a, "2": net[2](a)})

    assert_fd_gradient(net, value)


def test_trace_penalty_equals_quadratic_forms_of_the_dense_hessian():
    net, (x, y) = tiny(), batch()
    pen = HutchinsonTracePenalty(0.7, num_samples=3, seed=11)
    params = list(net.parameters())
    probes = HutchinsonTracePenalty(1.0, num_samples=3, seed=11).probes(params)  # the same stream
    dense = HessianOperator(net, CE, (x, y)).dense()
    flat = [torch.cat([v.reshape(-1) for v in probe]) for probe in probes]
    hand = 0.7 * sum(float(v @ dense @ v) for v in flat) / 3
    assert all(set(torch.unique(v).tolist()) <= {-1.0, 1.0} for v in flat)
    assert float(pen(net, (x, y), net(x), {}).detach()) == pytest.approx(hand, rel=1e-10)
    assert_fd_gradient(net, lambda: 0.7 * pen.quadratic_forms(net, (x, y), net(x), probes).mean())


def test_trace_penalty_is_unbiased_within_three_standard_errors():
    net, (x, y) = tiny(), batch()
    trace = float(torch.trace(HessianOperator(net, CE, (x, y)).dense()))
    pen = HutchinsonTracePenalty(1.0, num_samples=400, seed=0)
    samples = pen.quadratic_forms(net, (x, y), net(x), pen.probes(list(net.parameters()))).detach()
    stderr = float(samples.std()) / math.sqrt(len(samples))
    assert abs(float(samples.mean()) - trace) <= 3 * stderr


def test_gradient_norm_penalty_value_and_gradient():
    net, (x, y) = tiny(), batch()
    pen = GradientNormPenalty(0.4)
    grads = torch.autograd.grad(CE(net(x), y), list(net.parameters()))
    hand = 0.4 * sum(float(g.pow(2).sum()) for g in grads)
    assert float(pen(net, (x, y), net(x), {}).detach()) == pytest.approx(hand, rel=1e-12)
    assert_fd_gradient(net, lambda: pen(net, (x, y), net(x), {}))
    only_last = GradientNormPenalty(1.0, param_filter="2")(net, (x, y), net(x), {})
    assert float(only_last.detach()) == pytest.approx(
        sum(float(g.pow(2).sum()) for g in grads[2:]), rel=1e-12
    )


@pytest.mark.parametrize("target", ["parameter", "input"])
def test_hessian_bound_penalty_equals_the_bound_and_its_gradient(target):
    net, (x, y) = tiny(), batch()
    pen = HessianBoundPenalty(0.5, net, target=target)
    if target == "parameter":
        direct = 0.5 * sum(parameter_hessian_bound_tensors(net, x, y).values())
        assert pen.modules == ["1"]
        trainer = Trainer(net, CE, train_data=TensorDataset(x, y), penalties=[pen], progress=False)
        hooked = trainer.compute_loss((x, y)).penalties["hessian_bound"]
        assert float(hooked.detach()) == pytest.approx(float(direct.detach()), rel=1e-12)
        unhooked = HessianBoundPenalty(0.5)(net, (x, y), net(x), {})  # runs its own forward pass
        assert float(unhooked.detach()) == pytest.approx(float(direct.detach()), rel=1e-12)
    else:
        direct = 0.5 * input_hessian_bound_tensor(net, (3,))
        assert pen.modules == []
    value = pen(net, (x, y), net(x), {"1": torch.tanh(net[0](x))})
    assert float(value.detach()) == pytest.approx(float(direct.detach()), rel=1e-12)
    assert_fd_gradient(net, lambda: pen(net, (x, y), net(x), {"1": torch.tanh(net[0](x))}), rtol=1e-4)


# ----------------------------------------------------------------------------------- step strategies
def sgd_trainer(net, x, y, lr=0.1, penalties=()):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    return Trainer(net, CE, opt, train_data=TensorDataset(x, y), penalties=penalties, progress=False)


def loss_at(net, flat_params, x, y):
    """The Trainer's task loss at other parameters (float32/float64 outputs as they are, lower precision
    upcast to float32)."""
    names = [n for n, _ in net.named_parameters()]
    out = functional_call(net, dict(zip(names, flat_params)), (x,))
    return CE(out if out.dtype in (torch.float32, torch.float64) else out.float(), y)


@pytest.mark.parametrize("adaptive", [False, True])
def test_sam_step_equals_the_hand_computed_step(adaptive):
    net, (x, y) = tiny(), batch()
    theta = [p.detach().clone().requires_grad_(True) for p in net.parameters()]
    g1 = torch.autograd.grad(loss_at(net, theta, x, y), theta)
    rho = 0.05
    if adaptive:
        norm = math.sqrt(sum(float((t.detach().abs() * g).pow(2).sum()) for t, g in zip(theta, g1)))
        eps = [rho * t.detach() ** 2 * g / norm for t, g in zip(theta, g1)]
    else:
        norm = math.sqrt(sum(float(g.pow(2).sum()) for g in g1))
        eps = [rho * g / norm for g in g1]
    shifted = [(t.detach() + e).requires_grad_(True) for t, e in zip(theta, eps)]
    g2 = torch.autograd.grad(loss_at(net, shifted, x, y), shifted)
    expected = [t.detach() - 0.1 * g for t, g in zip(theta, g2)]
    out = SAM(rho, adaptive=adaptive)(sgd_trainer(net, x, y), (x, y))
    assert float(out.task_loss.detach()) == pytest.approx(
        float(loss_at(net, theta, x, y).detach()), rel=1e-12
    )
    for p, e in zip(net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-14)


def test_noise_injection_equals_the_hand_average_and_restores_the_weights():
    net, (x, y) = tiny(), batch()
    theta = params_of(net)
    sigma, s = 0.05, 3
    gen = torch.Generator().manual_seed(7)
    grads = [torch.zeros_like(t) for t in theta]
    losses = []
    for _ in range(s):
        pert = [
            (t + sigma * torch.randn(t.shape, generator=gen, dtype=t.dtype)).requires_grad_(True)
            for t in theta
        ]
        loss = loss_at(net, pert, x, y)
        losses.append(float(loss.detach()))
        for acc, g in zip(grads, torch.autograd.grad(loss, pert)):
            acc += g / s
    expected = [t - 0.1 * g for t, g in zip(theta, grads)]
    out = NoiseInjection(sigma, num_samples=s, seed=7)(sgd_trainer(net, x, y), (x, y))
    assert float(out.task_loss) == pytest.approx(sum(losses) / s, rel=1e-10)
    for p, e in zip(net.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-10, atol=1e-12)
    # lr = 0: the step changes nothing, so the weights after it are exactly the unperturbed ones
    before = params_of(net)
    NoiseInjection(0.5, num_samples=2, seed=1)(sgd_trainer(net, x, y, lr=0.0), (x, y))
    assert all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before))


@pytest.mark.parametrize("step", [SAM(0.1), NoiseInjection(0.1, num_samples=2, seed=0)])
def test_steps_restore_the_weights_when_a_pass_fails(step):
    net, (x, y) = tiny(), batch()
    calls = {"n": 0}

    def second_call_nan(model, batch_, outputs, activations):
        calls["n"] += 1
        return outputs.sum() * (math.nan if calls["n"] == 2 else 0.0)

    trainer = sgd_trainer(net, x, y, penalties=[second_call_nan])
    before = params_of(net)
    with pytest.raises(NonFiniteLossError):
        step(trainer, (x, y))
    assert all(torch.equal(p.detach(), b) for p, b in zip(net.parameters(), before))


# ----------------------------------------------------------------------------------- the real Trainer
@pytest.mark.parametrize("name", REGULARIZERS)
def test_each_regularizer_trains_two_epochs_without_nan(name):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long() + (x[:, 0] > 1).long()
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.SiLU(), nn.Linear(8, 3))
    kwargs = {"sam": {"rho": 0.05}, "noise": {"sigma": 0.01, "num_samples": 2}}.get(name, {})
    reg = build_regularizer(name, model=net, **kwargs)
    trainer = Trainer(
        net,
        CE,
        train_data=TensorDataset(x, y),
        config=TrainConfig(epochs=2, batch_size=16, lr=1e-2),
        seed=3,
        progress=False,
        **reg.trainer_kwargs(),
    )
    history = trainer.fit()
    assert len(history) == 2
    assert history.drop(columns=["epoch"]).notna().all().all()
    assert all(math.isfinite(v) for v in history["train_loss"])
    assert all(torch.isfinite(p).all() for p in net.parameters())
    if reg.penalties:
        assert f"penalty/{reg.penalties[0].name}" in history


# ----------------------------------------------------------------------------------- bad arguments
def test_bad_arguments():
    with pytest.raises(ValueError, match="weight"):
        HutchinsonTracePenalty(-1.0)
    with pytest.raises(ValueError, match="num_samples"):
        HutchinsonTracePenalty(1.0, num_samples=0)
    with pytest.raises(TypeError, match="seed"):
        NoiseInjection(0.1, seed=1.5)
    with pytest.raises(ValueError, match="sigma"):
        NoiseInjection(math.inf)
    with pytest.raises(ValueError, match="rho"):
        SAM(-0.1)
    with pytest.raises(TypeError, match="adaptive"):
        SAM(0.1, adaptive="yes")
    with pytest.raises(TypeError, match="loss_fn"):
        GradientNormPenalty(1.0, loss_fn="ce")
    with pytest.raises(ValueError, match="modules"):
        ActivationDecay(1.0, modules=[])
    with pytest.raises(TypeError, match="modules"):
        ActivationDecay(1.0, modules="1")
    with pytest.raises(ValueError, match="no activation recorded"):
        ActivationDecay(1.0, modules=["1"])(None, None, None, {})
    with pytest.raises(ValueError, match="target"):
        HessianBoundPenalty(1.0, target="output")
    with pytest.raises(ValueError, match="ReLU"):
        HessianBoundPenalty(1.0, nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    with pytest.raises(ValueError, match="name"):
        build_regularizer("dropout")
    with pytest.raises(ValueError, match="modules"):
        build_regularizer("activation_decay")
    with pytest.raises(TypeError):
        build_regularizer("sam", sigma=0.1)
    with pytest.raises(TypeError, match="none"):
        build_regularizer("none", weight=1.0)
