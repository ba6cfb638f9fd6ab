"""DDP under torchrun: 2 CPU replicas (gloo) give the single-process weights for the same global batch.

One torchrun launch (module fixture) trains every case and the ``stablecore train --ddp`` command;
the single-process references run in this process from the same case definitions (``CASES``).
"""

import os
import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.distributed as dist
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stablecore.cli.main import main
from stablecore.results import list_runs, load_run
from stablecore.train import TrainConfig, Trainer
from stablecore.train.distributed import (
    TORCHRUN_ENV,
    DistributedContext,
    distributed_loader,
    init_distributed,
    per_replica_batch_size,
    replica_seed,
    shuffled_loader,
)
from stablecore.workflows import load_model

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo needed"
)

CASES = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from stablecore.curvature.regularizers import (
    SAM, ActivationDecay, GradientNormPenalty, NoiseInjection, WeightDecay,
)
from stablecore.models import build_model
from stablecore.train import TrainConfig, Trainer

N, BATCH, EPOCHS = 96, 16, 3  # 2 replicas x 8 examples per step; 2 divides N (nothing dropped)

def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 2, generator=g, dtype=torch.float64)
    return TensorDataset(x, (x[:, 0] * x[:, 1] > 0).long())

def case(name):
    if name == "sll":  # parametrized Lipschitz layers (AOL lift, SLL blocks, normalised head)
        model = build_model("sll", input_shape=(2,), num_classes=2, depth=2, width=16, seed=1)
        # a data-independent penalty and a batch-mean penalty on hooked activations
        extra = {"penalties": [WeightDecay(1e-3), ActivationDecay(1e-2, modules=["block0", "block1"])]}
    elif name == "sam":
        model = build_model("mlp", input_shape=(2,), num_classes=2, hidden=[16], seed=1)
        extra = {"step": SAM(0.05)}
    elif name == "grad_norm":  # double backprop through the DDP forward (not batch-linear: not exact)
        model = build_model("mlp", input_shape=(2,), num_classes=2, hidden=[16], seed=1)
        extra = {"penalties": [GradientNormPenalty(0.1)]}
    elif name == "noise":  # two forward/backward passes per step, per-replica parameter noise
        model = build_model("mlp", input_shape=(2,), num_classes=2, hidden=[16], seed=1)
        extra = {"step": NoiseInjection(0.01, num_samples=2)}
    else:  # plain MLP, Adam with gradient clipping (after the all-reduce)
        model = build_model("mlp", input_shape=(2,), num_classes=2, hidden=[16, 16], seed=1)
        extra = {}
    return model.double(), extra

def trainer(name, epochs=EPOCHS, run=None, distributed=None):
    model, extra = case(name)
    config = TrainConfig(epochs=epochs, batch_size=BATCH, lr=0.02, grad_clip=1.0)
    return Trainer(model, nn.CrossEntropyLoss(), train_data=data(), config=config, seed=3,
                   progress=False, run=run, distributed=distributed, **extra)

def outcome(t, history):
    return {"state": {k: v.detach().clone() for k, v in t.model.state_dict().items()},
            "history": history.drop(columns=["epoch_time"]).to_dict("list")}
"""

WORKER = """
import sys
from pathlib import Path
from stablecore.cli.main import main
from stablecore.results import create_run
from stablecore.train.distributed import distributed_session

out = Path(sys.argv[1])
cli_args = sys.argv[2:]
with distributed_session("cpu") as ctx:
    results = {}
    for name in ("mlp", "sll", "sam", "grad_norm", "noise"):
        t = trainer(name, distributed=ctx)
        results[name] = outcome(t, t.fit())
    # stopped after 2 epochs, then a fresh Trainer resumes (rank 0 reads, broadcasts) to 3
    run = create_run("ddp-resume", home=out / "runs") if ctx.is_main else None
    trainer("mlp", epochs=2, run=run, distributed=ctx).fit()
    t = trainer("mlp", run=run, distributed=ctx)
    results["resume"] = outcome(t, t.fit(resume=True))
    # the command line in the same process group (as `torchrun -m stablecore.cli.main train --ddp`)
    results["cli_code"] = main(["train", "--ddp", *cli_args])
    torch.save(results, out / f"rank{ctx.rank}.pt")
"""

CLI_ARGS = ["--dataset", "moons", "--model", "mlp", "--epochs", "2", "--batch-size", "50", "--lr", "0.01"]
CLI_ARGS += ["--device", "cpu", "--no-progress", "--seed", "4", "--experiment", "cli"]


def _cases() -> dict:
    namespace: dict = {}
    exec(CASES, namespace)
    return namespace


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    script = out / "worker.py"
    script.write_text(CASES + WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STABLECORE_MODE": "quick", "STABLECORE_HOME": str(out)}
    for name in TORCHRUN_ENV:
        env.pop(name, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]
    cmd += [str(script), str(out), *CLI_ARGS, "--out", str(out / "cli")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    return {"out": out, "ranks": ranks, "stdout": proc.stdout}


def _assert_same_state(a: dict, b: dict, **tol) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], **tol, msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize("name", ["mlp", "sll", "sam"])
def test_two_replicas_equal_one_process_with_the_same_global_batch(ddp, name):
    ns = _cases()
    t = ns["trainer"](name)
    ref = ns["outcome"](t, t.fit())
    got = ddp["ranks"][0][name]
    # the training moved the weights well beyond the tolerance, the replicas agree with it
    start = ns["case"](name)[0].state_dict()
    assert max(float((ref["state"][k] - start[k]).abs().max()) for k in start) > 1e-2
    _assert_same_state(got["state"], ref["state"], rtol=1e-9, atol=1e-11)
    # epoch metrics are summed over the replicas: the single process's (loss, accuracy, penalties)
    for key, values in ref["history"].items():
        assert got["history"][key] == pytest.approx(values, rel=1e-9, abs=1e-12), key
    # DDP keeps the replicas identical
    _assert_same_state(ddp["ranks"][1][name]["state"], got["state"], rtol=0, atol=0)


@pytest.mark.parametrize("name", ["grad_norm", "noise"])
def test_double_backprop_and_multi_pass_steps_keep_the_replicas_in_sync(ddp, name):
    # a gradient-norm penalty (autograd.grad with create_graph inside the DDP forward) and noise
    # injection (several backward passes per step) train, and every replica holds the same weights
    ns = _cases()
    start = ns["case"](name)[0].state_dict()
    got = ddp["ranks"][0][name]
    assert max(float((got["state"][k] - start[k]).abs().max()) for k in start) > 1e-2
    assert all(torch.isfinite(v).all() for v in got["state"].values())
    _assert_same_state(ddp["ranks"][1][name]["state"], got["state"], rtol=0, atol=0)


def test_resume_under_ddp_continues_the_run(ddp):
    ns = _cases()
    t = ns["trainer"]("mlp")
    ref = ns["outcome"](t, t.fit())
    got = ddp["ranks"][0]["resume"]
    _assert_same_state(got["state"], ref["state"], rtol=1e-9, atol=1e-11)
    _assert_same_state(ddp["ranks"][1]["resume"]["state"], got["state"], rtol=0, atol=0)
    assert got["history"]["epoch"] == [1, 2, 3]
    runs = list_runs(ddp["out"] / "runs")
    assert list(runs["experiment"]) == ["ddp-resume"]  # rank 1 created nothing


def test_cli_train_ddp_writes_one_run_equal_to_the_single_process_run(ddp, tmp_path):
    assert [r["cli_code"] for r in ddp["ranks"]] == [0, 0]
    runs = list_runs(ddp["out"] / "cli")
    assert len(runs) == 1  # only rank 0 wrote
    loaded = load_run(runs["path"].iloc[0])
    assert loaded.status == "completed"
    assert loaded.manifest["distributed"]["world_size"] == 2
    assert loaded.manifest["distributed"]["backend"] == "gloo"
    assert len(loaded.tables["metrics"]) == 2
    assert ddp["stdout"].count("run stored in") == 1

    assert main(["train", *CLI_ARGS, "--out", str(tmp_path)]) == 0
    single = list_runs(tmp_path)
    ref = load_run(single["path"].iloc[0])
    # float32 on 750 examples: the sums run in another order, so compare at float32 tolerance
    _assert_same_state(
        load_model(runs["path"].iloc[0]).state_dict(),
        load_model(single["path"].iloc[0]).state_dict(),
        rtol=1e-4,
        atol=1e-5,
    )
    pd.testing.assert_series_equal(
        loaded.tables["metrics"]["train_accuracy"], ref.tables["metrics"]["train_accuracy"]
    )


# ------------------------------------------------------------------------ in-process checks (no torchrun)
@settings(max_examples=40)
@given(
    n=st.integers(1, 40),
    world=st.integers(1, 4),
    local=st.integers(1, 5),
    seed=st.integers(0, 2**40),
)
def test_distributed_loader_deals_out_the_single_process_batches(n, world, local, seed):
    data = TensorDataset(torch.arange(n))
    batch = world * local
    single = [b[0].tolist() for b in shuffled_loader(data, batch_size=batch, seed=seed)]
    order = [i for b in single for i in b]
    dropped = set(order[n - n % world :])
    per_rank = [
        [
            b[0].tolist()
            for b in distributed_loader(data, global_batch_size=batch, seed=seed, rank=r, world_size=world)
        ]
        for r in range(world)
    ]
    counts = {len(batches) for batches in per_rank}
    assert len(counts) == 1  # every replica takes the same number of steps
    steps = counts.pop()
    expected = [[i for i in b if i not in dropped] for b in single]
    expected = [b for b in expected if b]
    assert steps == len(expected)
    for k in range(steps):
        sizes = {len(per_rank[r][k]) for r in range(world)}
        assert len(sizes) == 1  # equal shares, so the mean of the replicas' means is the global mean
        assert sorted(i for r in range(world) for i in per_rank[r][k]) == sorted(expected[k])
    assert len(dropped) < world


def test_per_replica_batch_size_refuses_an_uneven_split():
    assert per_replica_batch_size(64, 4) == 16
    with pytest.raises(ValueError, match=r"global batch size \(10\).*replicas \(4\)"):
        per_replica_batch_size(10, 4)
    with pytest.raises(ValueError, match="world_size"):
        per_replica_batch_size(8, 0)
    with pytest.raises(ValueError, match="global_batch_size"):
        per_replica_batch_size(True, 1)


def test_replica_seed_keeps_rank_zero_and_separates_the_others():
    seeds = [replica_seed(12345, r) for r in range(8)]
    assert seeds[0] == 12345
    assert len(set(seeds)) == 8
    assert all(0 <= s < 2**63 - 1 for s in seeds)
    with pytest.raises(ValueError, match="rank"):
        replica_seed(0, -1)


def test_init_distributed_outside_torchrun_says_how_to_launch(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun"):
        init_distributed("cpu")


def test_cli_ddp_outside_torchrun_is_one_line_and_exit_code_2(monkeypatch, capsys):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    assert main(["train", "--ddp", "--epochs", "1", "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "torchrun" in err and len(err.strip().splitlines()) == 1


def test_trainer_validates_its_distributed_arguments():
    ctx = DistributedContext(rank=0, world_size=3, local_rank=0, backend="gloo", device=torch.device("cpu"))
    data = TensorDataset(torch.randn(12, 2), torch.zeros(12, dtype=torch.long))
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="divisible"):
        Trainer(
            model, nn.CrossEntropyLoss(), train_data=data, config=TrainConfig(batch_size=8), distributed=ctx
        )
    with pytest.raises(ValueError, match="DistributedSampler"):
        Trainer(
            model,
            nn.CrossEntropyLoss(),
            train_data=DataLoader(data, batch_size=3),
            config=TrainConfig(batch_size=6),
            distributed=ctx,
        )
    with pytest.raises(TypeError, match="DistributedContext"):
        Trainer(model, nn.CrossEntropyLoss(), train_data=data, distributed="gloo")
    with pytest.raises(ValueError, match="init_distributed"):
        ctx.wrap(model)  # no process group in this process
