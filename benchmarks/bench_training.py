"""Trainer overhead: stablecore's Trainer (extension points, checkpoints) vs a bare torch loop.

Same model (digits MLP), data, batch size, optimizer and epochs in one run; reports examples/s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from torch.utils.data import DataLoader

from benchmarks.common import write_results
from stablecore.data import digits
from stablecore.models import build_model
from stablecore.results import create_run
from stablecore.train import TrainConfig, Trainer

EPOCHS, BATCH = 5, 64


def _model(data):
    return build_model(
        "mlp",
        input_shape=data.input_shape,
        num_classes=data.num_classes,
        mean=data.mean,
        std=data.std,
        hidden=[256, 256],
        seed=0,
    )


def bare_loop(data) -> float:
    model = _model(data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    loader = DataLoader(
        data.train, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    start = time.perf_counter()
    for _ in range(EPOCHS):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return time.perf_counter() - start


def trainer_loop(data, *, with_run: bool) -> float:
    model = _model(data)
    with tempfile.TemporaryDirectory() as home:
        run = create_run("bench", home=home) if with_run else None
        trainer = Trainer(
            model,
            torch.nn.CrossEntropyLoss(),
            train_data=data.train,
            run=run,
            progress=False,
            config=TrainConfig(epochs=EPOCHS, batch_size=BATCH, lr=1e-3),
        )
        start = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - start


def main() -> Path:
    data = digits()
    n = len(data.train) * EPOCHS
    bare_loop(data)  # warm-up
    rows = []
    for name, fn in [
        ("bare torch loop", lambda: bare_loop(data)),
        ("stablecore Trainer", lambda: trainer_loop(data, with_run=False)),
        ("stablecore Trainer + run store", lambda: trainer_loop(data, with_run=True)),
    ]:
        seconds = min(fn() for _ in range(3))
        rows.append({"loop": name, "seconds": seconds, "examples_per_s": n / seconds})
    frame = pd.DataFrame(rows)
    frame["relative_to_bare"] = frame["seconds"] / frame["seconds"].iloc[0]
    return write_results(
        "bench_training",
        frame,
        notes=f"digits MLP 64-256-256-10, batch {BATCH}, {EPOCHS} epochs, best of 3 runs. "
        "The run store adds one atomic checkpoint + metrics table per epoch.",
    )


if __name__ == "__main__":
    print(main().read_text())
