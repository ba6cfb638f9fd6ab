"""Curvature upper bounds (reconstruction of docs/chapters/ch04.md §5 (vi)) against dense float64 values: the
input Hessian at many random points (``torch.autograd.functional.hessian``) and each layer's parameter block
(``HessianOperator(..., param_filter=layer).dense()``), on random small smooth nets (hypothesis); closed
cases where the bound is attained; activation constants against a fine grid; refusals and bad input."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from stablecore.blocks import Residual
from stablecore.curvature import HessianOperator
from stablecore.curvature.bounds import (
    activation_constants,
    input_hessian_bound,
    input_hessian_bound_tensor,
    layer_input_sources,
    loss_derivative_bounds,
    parameter_hessian_bound_tensors,
    parameter_hessian_bounds,
)

F64 = torch.float64
SMOOTH = {
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "softplus": lambda: nn.Softplus(beta=2.0),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "softsign": nn.Softsign,
}


# ----------------------------------------------------------------------------------- oracles
def input_hessian_lower(net: nn.Module, x: torch.Tensor, iters: int = 8) -> float:
    r"""A lower estimate of :math:`\max_{\|u\|=1}\|\nabla^2_x(u^\top f)(x)\|_2` at ``x``: the dense Hessians
    of every output (``torch.autograd.functional.hessian``), then alternating maximisation over ``u``
    from each basis vector (every iterate is a unit ``u``, so every value is attained)."""
    m, shape = net(x[None]).shape[1], x.shape
    hess = torch.stack(
        [
            torch.autograd.functional.hessian(lambda z, k=k: net(z.view(shape)[None])[0, k], x.reshape(-1))
            for k in range(m)
        ]
    )  # (m, n, n)
    best = 0.0
    for k in range(m):
        u = torch.zeros(m, dtype=F64)
        u[k] = 1.0
        for _ in range(iters):
            a = torch.einsum("k,kij->ij", u, hess)
            vals, vecs = torch.linalg.eigh(a)
            j = int(vals.abs().argmax())
            best = max(best, float(vals[j].abs()))
            h = vecs[:, j]
            w = torch.einsum("kij,i,j->k", hess, h, h)
            if float(w.norm()) == 0:
                break
            u = w / w.norm()
    return best


def block_norm(net: nn.Module, loss, x, y, layer: str) -> float:
    dense = HessianOperator(net, loss, (x, y), param_filter=layer).dense()
    return float(torch.linalg.eigvalsh(dense).abs().max())


def random_mlp(dims: list[int], acts: list[str], scale: float, seed: int) -> nn.Sequential:
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        lin = nn.Linear(dims[i], dims[i + 1]).double()
        with torch.no_grad():
            w = torch.randn(lin.weight.shape, generator=g, dtype=F64)
            lin.weight.copy_(scale * w / math.sqrt(dims[i]))
            lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=F64))
        layers.append(lin)
        if i < len(dims) - 2:
            layers.append(SMOOTH[acts[i % len(acts)]]())
    return nn.Sequential(*layers)


nets = st.fixed_dictionaries(
    {
        "dims": st.lists(st.integers(1, 5), min_size=2, max_size=4),
        "acts": st.lists(st.sampled_from(sorted(SMOOTH)), min_size=1, max_size=3),
        "scale": st.floats(0.3, 3.0),
        "seed": st.integers(0, 10_000),
    }
)


# ----------------------------------------------------------------------------------- activation constants
@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_activation_constants_bound_a_fine_grid_and_are_tight(name):
    module = SMOOTH[name]().double()
    const = activation_constants(module)
    xs = torch.linspace(-12, 12, 240_001, dtype=F64).requires_grad_(True)
    d1 = torch.autograd.grad(module(xs).sum(), xs, create_graph=True)[0]
    d2 = torch.autograd.grad(d1.sum(), xs)[0]
    sup1, sup2 = float(d1.detach().abs().max()), float(d2.abs().max())
    assert const.lipschitz >= sup1 and const.lipschitz <= sup1 * (1 + 1e-4)
    assert const.curvature >= sup2 and const.curvature <= sup2 * (1 + 1e-4)


def test_closed_forms_of_the_constants():
    assert activation_constants(nn.Tanh()).curvature == pytest.approx(4 / (3 * math.sqrt(3)), rel=1e-15)
    assert activation_constants(nn.Sigmoid()).curvature == pytest.approx(1 / (6 * math.sqrt(3)), rel=1e-15)
    assert activation_constants(nn.GELU()).curvature == pytest.approx(math.sqrt(2 / math.pi), rel=1e-15)
    assert activation_constants(nn.Softplus(beta=3.0)).curvature == pytest.approx(0.75, rel=1e-15)
    assert activation_constants(nn.SiLU()).curvature == 0.5
    assert 1.0998 < activation_constants(nn.SiLU()).lipschitz < 1.0999


# ----------------------------------------------------------------------------------- (a) input Hessian
def test_input_bound_attained_by_a_one_neuron_net():
    # f(x) = a·tanh(b x): sup|f''| = |a| b² · 4/(3√3), exactly the chain-rule bound
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Tanh(), nn.Linear(1, 1, bias=False)).double()
    with torch.no_grad():
        net[0].weight.fill_(1.7)
        net[2].weight.fill_(-0.6)
    truth = 0.6 * 1.7**2 * 4 / (3 * math.sqrt(3))
    bound = input_hessian_bound(net, (1,))
    assert bound.kind == "upper_bound" and bound.value >= truth
    assert bound.value == pytest.approx(truth, rel=1e-9)
    t = 1 / math.sqrt(3)  # tanh(b x*) = 1/√3 maximises |tanh''|
    x = torch.tensor([math.atanh(t) / 1.7], dtype=F64)
    assert input_hessian_lower(net, x) == pytest.approx(truth, rel=1e-9)


@settings(max_examples=25)
@given(nets)
def test_input_bound_above_dense_hessians_of_random_smooth_nets(spec):
    net = random_mlp(**spec)
    bound = input_hessian_bound(net, (spec["dims"][0],))
    assert bound.kind == "upper_bound" and math.isfinite(bound.value)
    g = torch.Generator().manual_seed(spec["seed"])
    for i in range(12):
        x = torch.randn(spec["dims"][0], generator=g, dtype=F64) * (0.2 + i / 3)
        assert input_hessian_lower(net, x) <= bound.value
    tensor = input_hessian_bound_tensor(net, (spec["dims"][0],), n_iter=12)
    assert float(tensor.detach()) == pytest.approx(bound.value, rel=1e-6, abs=1e-12)


def conv_net() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.Softplus(),
        nn.Conv2d(2, 4, 3, stride=2, padding=1, padding_mode="circular", groups=2),
        nn.GELU(),
        nn.Flatten(),
        nn.Linear(16, 3),
    ).double()


def test_conv_net_input_and_parameter_bounds_above_dense_values():
    net = conv_net()
    bound = input_hessian_bound(net, (1, 4, 4))
    g = torch.Generator().manual_seed(0)
    for _ in range(6):
        x = torch.randn(1, 4, 4, generator=g, dtype=F64)
        assert input_hessian_lower(net, x, iters=4) <= bound.value
    x, y = torch.randn(6, 1, 4, 4, generator=g, dtype=F64), torch.randint(0, 3, (6,), generator=g)
    blocks = parameter_hessian_bounds(net, x, y)
    assert sorted(blocks) == ["0", "2", "5"]
    for layer, b in blocks.items():
        assert b.kind == "upper_bound"
        assert block_norm(net, nn.CrossEntropyLoss(), x, y, layer) <= b.value


# ----------------------------------------------------------------------------------- (b) parameter blocks
@settings(max_examples=20)
@given(nets, st.booleans())
def test_parameter_blocks_above_dense_hessian_blocks(spec, local):
    spec = {**spec, "dims": [*spec["dims"][:-1], max(spec["dims"][-1], 2)]}
    net = random_mlp(**spec)
    g = torch.Generator().manual_seed(spec["seed"] + 1)
    x = 2 * torch.randn(7, spec["dims"][0], generator=g, dtype=F64)
    y = torch.randint(0, spec["dims"][-1], (7,), generator=g)
    blocks = parameter_hessian_bounds(net, x, y, local=local)
    assert len(blocks) == len(spec["dims"]) - 1
    for layer, b in blocks.items():
        assert math.isfinite(b.value)
        assert block_norm(net, nn.CrossEntropyLoss(), x, y, layer) <= b.value
    tensors = parameter_hessian_bound_tensors(net, x, y, local=local, n_iter=12)
    for layer, t in tensors.items():
        assert float(t.detach()) == pytest.approx(blocks[layer].value, rel=1e-6, abs=1e-12)


def test_weight_block_oracle_autograd_functional_hessian():
    net = random_mlp([3, 4, 3], ["tanh"], 2.0, seed=1)
    x, y = torch.randn(5, 3, dtype=F64), torch.tensor([0, 1, 2, 1, 0])
    w0 = net[0].weight.detach().clone()

    def loss_of_w(w):
        h = torch.tanh(x @ w.T + net[0].bias)
        return nn.functional.cross_entropy(net[2](h), y)

    dense = torch.autograd.functional.hessian(loss_of_w, w0).reshape(12, 12)
    assert float(torch.linalg.eigvalsh(dense).abs().max()) <= parameter_hessian_bounds(net, x, y)["0"].value


def test_last_layer_block_is_exact_for_one_example_and_two_classes():
    # H = [a;1][a;1]ᵀ ⊗ (diag p − ppᵀ): norm (‖a‖² + 1)·2p₁p₂, which the local constants reproduce
    net = nn.Sequential(nn.Linear(3, 2)).double()
    x, y = torch.tensor([[0.3, -1.2, 0.5]], dtype=F64), torch.tensor([1])
    bound = parameter_hessian_bounds(net, x, y)["0"].value
    truth = block_norm(net, nn.CrossEntropyLoss(), x, y, "0")
    assert truth <= bound and bound == pytest.approx(truth, rel=1e-9)


def test_mse_blocks_and_global_constants():
    net = random_mlp([2, 4, 3], ["sigmoid"], 2.5, seed=4)
    x, target = torch.randn(9, 2, dtype=F64), torch.randn(9, 3, dtype=F64)
    for layer, b in parameter_hessian_bounds(net, x, target, loss=nn.MSELoss()).items():
        assert block_norm(net, nn.MSELoss(), x, target, layer) <= b.value
    y = torch.randint(0, 3, (9,))
    local = parameter_hessian_bounds(net, x, y)
    glob = parameter_hessian_bounds(net, x, y, local=False)
    assert all(local[k].value <= glob[k].value for k in local)
    with pytest.raises(ValueError, match="local=False"):
        parameter_hessian_bounds(net, x, target, loss="mse", local=False)


def test_loss_derivative_bounds_against_autograd():
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(6, 4, generator=g, dtype=F64)
    logits[0] = torch.tensor([40.0, -40.0, -40.0, -40.0])  # saturated softmax
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    c, grad_norm = loss_derivative_bounds(logits, y)
    for i in range(6):

        def ell(o, i=i):
            return nn.functional.cross_entropy(o[None], y[i : i + 1])

        hess = torch.autograd.functional.hessian(ell, logits[i])
        grad = torch.autograd.functional.jacobian(ell, logits[i])
        assert float(torch.linalg.eigvalsh(hess).max()) <= float(c[i]) + 1e-15
        assert float(grad_norm[i]) == pytest.approx(float(grad.norm()), rel=1e-12, abs=1e-300)
    logits.requires_grad_(True)
    c, grad_norm = loss_derivative_bounds(logits, y)
    (c.sum() + grad_norm.sum()).backward()
    assert torch.isfinite(logits.grad).all()


# ----------------------------------------------------------------------------------- tensor versions
def test_tensor_bounds_are_differentiable_and_train_mode_dropout_counts():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Dropout(0.5), nn.Linear(4, 2))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    net.eval()
    ev = input_hessian_bound_tensor(net, (3,))
    net.train()
    tr = input_hessian_bound_tensor(net, (3,))
    # L(dropout) = 1/(1 − p) in train mode
    assert float(tr.detach()) == pytest.approx(2 * float(ev.detach()), rel=1e-5)
    total = sum(parameter_hessian_bound_tensors(net, x, y).values()) + tr
    total.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, name


def test_given_inputs_equal_own_forward():
    net = conv_net()
    x, y = torch.randn(4, 1, 4, 4, dtype=F64), torch.tensor([0, 1, 2, 0])
    own = parameter_hessian_bound_tensors(net, x, y)
    acts = {"1": net[1](net[0](x)), "4": net[4](net[3](net[2](net[1](net[0](x)))))}
    sources = layer_input_sources(net)
    assert sources == {"0": None, "2": "1", "5": "4"}
    inputs = {k: (x if s is None else acts[s]) for k, s in sources.items()}
    given_ = parameter_hessian_bound_tensors(net, x, y, inputs=inputs, outputs=net(x))
    for k in own:
        assert float(given_[k].detach()) == pytest.approx(float(own[k].detach()), rel=1e-12)


def test_model_left_untouched():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.SiLU(), nn.Dropout(0.1), nn.Linear(4, 2))
    net.train()
    net(torch.randn(8, 3))  # non-trivial running statistics
    net[3].eval()
    before = copy.deepcopy(net.state_dict())
    flags = [m.training for m in net.modules()]
    x, y = torch.randn(6, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    assert input_hessian_bound(net, (3,)).value > 0
    assert all(b.value > 0 for b in parameter_hessian_bounds(net, x, y).values())
    assert [m.training for m in net.modules()] == flags
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]) and v.dtype == before[k].dtype, k
    with pytest.raises(ValueError, match="train mode"):  # the tensor version keeps the model's mode
        input_hessian_bound_tensor(net, (3,))


# ----------------------------------------------------------------------------------- refusals, bad input
@pytest.mark.parametrize(
    ("module", "match"),
    [
        (nn.ReLU(), "ReLU is not twice differentiable"),
        (nn.LeakyReLU(0.1), "LeakyReLU is not twice differentiable"),
        (nn.ELU(alpha=2.0), "alpha=2.0"),
        (nn.GELU(approximate="tanh"), "approximate='tanh'"),
        (nn.Hardtanh(), "Hardtanh"),
        (nn.LayerNorm(4), "no curvature constant is known for LayerNorm"),
    ],
)
def test_non_smooth_or_unknown_modules_are_refused_by_name(module, match):
    net = nn.Sequential(nn.Linear(3, 4), module, nn.Linear(4, 2))
    x, y = torch.randn(2, 3), torch.tensor([0, 1])
    for call in (
        lambda: input_hessian_bound(net, (3,)),
        lambda: input_hessian_bound_tensor(net, (3,)),
        lambda: parameter_hessian_bounds(net, x, y),
        lambda: parameter_hessian_bound_tensors(net, x, y),
    ):
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert "module '1'" in str(info.value)


def test_structures_that_are_not_a_chain_of_distinct_layers_are_refused():
    lin = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="twice"):
        input_hessian_bound(nn.Sequential(lin, nn.Tanh(), lin), (3,))
    tied = nn.Sequential(nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 3))
    tied[2].weight = tied[0].weight
    with pytest.raises(ValueError, match="shared"):
        input_hessian_bound(tied, (3,))
    with pytest.raises(ValueError, match="Residual"):
        input_hessian_bound(nn.Sequential(Residual(nn.Linear(3, 3))), (3,))
    with pytest.raises(ValueError, match="MaxPool2d is not twice"):
        input_hessian_bound(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2)), (1, 6, 6))


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x, y = torch.randn(2, 3), torch.tensor([0, 1])
    with pytest.raises(TypeError, match="model"):
        input_hessian_bound("net", (3,))
    with pytest.raises(TypeError, match="input_shape"):
        input_hessian_bound(net, "3")
    with pytest.raises(ValueError, match="input_shape"):
        input_hessian_bound(net, (0,))
    with pytest.raises(ValueError, match="n_iter"):
        input_hessian_bound(net, (3,), n_iter=0)
    with pytest.raises(ValueError, match="fails on input shape"):
        input_hessian_bound(net, (5,))
    with pytest.raises(ValueError, match="loss"):
        parameter_hessian_bounds(net, x, y, loss="hinge")
    with pytest.raises(ValueError, match="label smoothing"):
        parameter_hessian_bounds(net, x, y, loss=nn.CrossEntropyLoss(label_smoothing=0.1))
    with pytest.raises(TypeError, match="x and y"):
        parameter_hessian_bounds(net, x.numpy(), y)
    with pytest.raises(ValueError, match="B > 0"):
        parameter_hessian_bounds(net, x[:0], y[:0])
    with pytest.raises(ValueError, match="no Linear or Conv2d"):
        parameter_hessian_bounds(nn.Sequential(nn.Tanh()), x, y)
    with pytest.raises(ValueError, match="together"):
        parameter_hessian_bound_tensors(net, x, y, outputs=net(x))
    with pytest.raises(ValueError, match="lacks"):
        parameter_hessian_bound_tensors(net, x, y, inputs={"0": x}, outputs=net(x))
