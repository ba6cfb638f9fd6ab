import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from stablecore.results import create_run, load_run
from stablecore.train import (
    GaussianNoise,
    NonFiniteLossError,
    OffsetCrossEntropy,
    StepOutput,
    TrainConfig,
    Trainer,
    evaluate,
)

REPO = Path(__file__).resolve().parents[2]

SETUP = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from stablecore.train import GaussianNoise, TrainConfig, Trainer

def make():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 2))
    return model, TensorDataset(x, y)

def trainer(model, data, run, callbacks=()):
    return Trainer(model, nn.CrossEntropyLoss(), train_data=data, run=run, seed=5, progress=False,
                   config=TrainConfig(epochs=4, batch_size=16, lr=0.05, scheduler="cosine"),
                   transform=GaussianNoise(0.1), callbacks=callbacks)
"""


def _setup():
    namespace: dict = {}
    exec(SETUP, namespace)
    return namespace


def test_kill_and_resume_gives_identical_weights(tmp_path):
    ns = _setup()
    # uninterrupted reference
    model, data = ns["make"]()
    ref_run = create_run("ref", home=tmp_path)
    ns["trainer"](model, data, ref_run).fit()
    reference = {k: v.clone() for k, v in model.state_dict().items()}

    # a process killed (SIGKILL, no cleanup) late in epoch 2 (callbacks run before the checkpoint)
    run = create_run("killed", home=tmp_path)
    script = SETUP + textwrap.dedent(f"""
        import os, signal
        from stablecore.results import open_run
        def kill(trainer, epoch, metrics):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGKILL)
        model, data = make()
        trainer(model, data, open_run({str(run.path)!r}), callbacks=[kill]).fit()
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert run.manifest["status"] == "running"
    assert torch.load(run.checkpoint_path(), weights_only=True)["epoch"] == 1

    model2, data2 = ns["make"]()
    with torch.no_grad():  # resumed weights must come from the checkpoint, not from the init
        for p in model2.parameters():
            p.add_(1.0)
    history = ns["trainer"](model2, data2, run).fit(resume=True)
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    for name, value in model2.state_dict().items():
        assert torch.equal(value, reference[name]), name
    assert load_run(run.path).tables["metrics"].shape[0] == 4
    assert run.manifest["status"] == "completed"


def test_same_seed_same_weights_other_seed_differs():
    ns = _setup()
    weights = []
    for seed in (5, 5, 6):
        model, data = ns["make"]()
        Trainer(
            model,
            nn.CrossEntropyLoss(),
            train_data=data,
            seed=seed,
            progress=False,
            config=TrainConfig(epochs=2, batch_size=16),
        ).fit()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


class _ExplodingLoss(nn.Module):
    def __init__(self, at_call):
        super().__init__()
        self.calls, self.at_call = 0, at_call

    def forward(self, out, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float("nan") if self.calls >= self.at_call else loss


def test_nan_guard_keeps_last_good_checkpoint(tmp_path):
    ns = _setup()
    model, data = ns["make"]()
    run = create_run("nan", home=tmp_path)
    trainer = Trainer(
        model,
        _ExplodingLoss(at_call=8),
        train_data=data,
        run=run,
        progress=False,
        config=TrainConfig(epochs=3, batch_size=16),
    )  # 6 batches per epoch
    with pytest.raises(NonFiniteLossError, match="epoch 2"):
        trainer.fit()
    state = torch.load(run.checkpoint_path(), weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())
    assert run.manifest["status"] == "failed" and "NonFiniteLossError" in run.manifest["error"]


class _L2Penalty:
    name = "l2_first"
    modules = ("1",)  # the Tanh's output

    def __init__(self):
        self.seen = []

    def __call__(self, model, batch, outputs, activations):
        self.seen.append(activations["1"].shape)
        return 0.5 * model[0].weight.pow(2).sum() + 0.0 * activations["1"].sum()


def test_penalty_gradient_reaches_parameters_and_activations_are_given():
    ns = _setup()
    model, data = ns["make"]()
    penalty = _L2Penalty()
    trainer = Trainer(
        model,
        nn.CrossEntropyLoss(),
        train_data=data,
        penalties=[penalty],
        progress=False,
        config=TrainConfig(epochs=1, batch_size=96, optimizer="sgd", lr=0.1, momentum=0.0),
    )
    x, y = data.tensors
    out = trainer.compute_loss((x, y))
    out.loss.backward(retain_graph=True)
    with_penalty = model[0].weight.grad.clone()
    model.zero_grad()
    out.task_loss.backward()
    without = model[0].weight.grad.clone()
    # the penalty 0.5·‖W‖² adds exactly W to the gradient
    torch.testing.assert_close(with_penalty - without, model[0].weight.detach())
    assert penalty.seen == [(96, 16)]
    history = trainer.fit()
    assert "penalty/l2_first" in history and history["penalty/l2_first"].iloc[0] > 0


def test_unknown_penalty_module_refused():
    ns = _setup()
    model, data = ns["make"]()
    penalty = _L2Penalty()
    penalty.modules = ("nope",)
    with pytest.raises(ValueError, match="nope"):
        Trainer(model, nn.CrossEntropyLoss(), train_data=data, penalties=[penalty], progress=False)


class _TwoPassStep:
    """A SAM-like step: gradient at w, ascend to w + ρ g/‖g‖, gradient there, step from w."""

    def __init__(self, rho=0.05):
        self.rho, self.passes = rho, 0

    def __call__(self, trainer, batch) -> StepOutput:
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        trainer.optimizer.zero_grad()
        first = trainer.compute_loss(batch)
        trainer.backward(first.loss)
        grads = [p.grad.clone() for p in params]
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        with torch.no_grad():
            eps = [self.rho * g / (norm + 1e-12) for g in grads]
            for p, e in zip(params, eps):
                p.add_(e)
        trainer.optimizer.zero_grad()
        second = trainer.compute_loss(batch)
        trainer.backward(second.loss)
        with torch.no_grad():
            for p, e in zip(params, eps):
                p.sub_(e)
        trainer.optimizer_step()
        self.passes += 2
        return first


def test_two_pass_step_strategy_runs():
    ns = _setup()
    model, data = ns["make"]()
    before = [p.detach().clone() for p in model.parameters()]
    step = _TwoPassStep()
    Trainer(
        model,
        nn.CrossEntropyLoss(),
        train_data=data,
        step=step,
        progress=False,
        config=TrainConfig(epochs=2, batch_size=32),
    ).fit()
    assert step.passes == 2 * 2 * 3
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_callback_sees_metrics_and_adds_its_own():
    ns = _setup()
    model, data = ns["make"]()
    seen = []

    def callback(trainer, epoch, metrics):
        seen.append((epoch, dict(metrics)))
        return {"double_acc": 2 * metrics["train_accuracy"]}

    history = Trainer(
        model,
        nn.CrossEntropyLoss(),
        train_data=data,
        test_data=data,
        callbacks=[callback],
        progress=False,
        config=TrainConfig(epochs=2, batch_size=32),
    ).fit()
    assert [e for e, _ in seen] == [1, 2]
    assert {"train_loss", "train_accuracy", "test_accuracy", "lr"} <= set(seen[0][1])
    assert history["double_acc"].tolist() == [2 * m["train_accuracy"] for _, m in seen]


def test_transform_changes_the_batch():
    ns = _setup()
    model, data = ns["make"]()
    received = []

    def record(x, y, generator):
        x2, y2 = GaussianNoise(0.5)(x, y, generator)
        received.append((x.clone(), x2.clone()))
        return x2, y2

    Trainer(
        model,
        nn.CrossEntropyLoss(),
        train_data=data,
        transform=record,
        progress=False,
        config=TrainConfig(epochs=1, batch_size=96),
    ).fit()
    ((x, x2),) = received
    assert not torch.equal(x, x2)
    assert abs(float((x2 - x).std()) - 0.5) < 0.1


def test_evaluate_restores_module_modes():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 2))
    model.train()
    model[1].eval()
    data = TensorDataset(torch.randn(10, 2), torch.zeros(10, dtype=torch.long))
    result = evaluate(model, data, nn.CrossEntropyLoss())
    assert 0 <= result["accuracy"] <= 1 and result["n"] == 10
    assert model.training and not model[1].training and model[2].training


def test_offset_cross_entropy():
    z = torch.tensor([[2.0, 1.0, 0.0]])
    y = torch.tensor([0])
    plain = nn.functional.cross_entropy(z, y)
    torch.testing.assert_close(OffsetCrossEntropy(0.0, 1.0)(z, y), plain)
    shifted = torch.tensor([[2.0 - 1.5, 1.0, 0.0]]) / 0.5
    torch.testing.assert_close(
        OffsetCrossEntropy(1.5, 0.5)(z, y), nn.functional.cross_entropy(shifted, y) * 0.5
    )
    with pytest.raises(ValueError, match="temperature"):
        OffsetCrossEntropy(1.0, 0.0)


def test_bad_arguments():
    data = TensorDataset(torch.randn(4, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(TypeError, match="model"):
        Trainer("m", nn.CrossEntropyLoss(), train_data=data)
    with pytest.raises(TypeError, match="train_data"):
        Trainer(nn.Linear(2, 2), nn.CrossEntropyLoss(), train_data=[1, 2])
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    assert TrainConfig.quick().epochs < TrainConfig.full().epochs


def test_gaussian_noise_is_seeded_and_validated():
    x, y = torch.zeros(64, 3, dtype=torch.float64), torch.zeros(64, dtype=torch.long)
    a = GaussianNoise(0.5)(x, y, torch.Generator().manual_seed(1))[0]
    b = GaussianNoise(0.5)(x, y, torch.Generator().manual_seed(1))[0]
    assert a.dtype == torch.float64 and torch.equal(a, b)
    assert abs(float(a.std()) - 0.5) < 0.1  # σ·N(0, I): 192 draws
    assert GaussianNoise(0.0)(x, y, torch.Generator())[0] is x
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma"):
            GaussianNoise(bad)
    with pytest.raises(TypeError, match="sigma"):
        GaussianNoise("0.5")
