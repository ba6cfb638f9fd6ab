"""The Trainer: seeded, resumable training loop with extension points.

Reproducibility: every epoch ``e`` re-seeds torch's global RNG, the shuffling generator and the
batch-transform generator from ``(seed, e)``. Together with the checkpoint written atomically at
the end of every epoch (model, optimizer, scheduler, history), a run interrupted at any point and
resumed from its last checkpoint gives bit-identical weights on CPU.

Data parallelism: ``Trainer(..., distributed=ctx)`` (a
:class:`~stablecore.train.distributed.DistributedContext` from ``init_distributed`` under torchrun)
wraps the model in DDP for the forward pass, splits every global batch (``config.batch_size``) over
the replicas, sums the epoch metrics over them and writes the run only on rank 0; see
:mod:`stablecore.train.distributed` for what is exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from stablecore.results import Run, atomic_torch_save
from stablecore.train.checkpoints import TRAINING_KEYS, read_checkpoint
from stablecore.train.config import TrainConfig, build_optimizer, build_scheduler
from stablecore.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    broadcast_object,
    distributed_loader,
    per_replica_batch_size,
    replica_seed,
    shuffled_loader,
)
from stablecore.train.evaluate import evaluate, model_device
from stablecore.train.extensions import StandardStep, StepOutput, check_penalties, penalty_name

__all__ = ["NonFiniteLossError", "Trainer", "epoch_seed"]

Batch = tuple[torch.Tensor, torch.Tensor]


#: Seconds between two heartbeats of a run within an epoch (one is always written after each epoch).
HEARTBEAT_SECONDS = 60.0


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or ±Inf; training stops and the run's checkpoint (if any) is left as it was."""


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` (distinct per epoch and per run seed, < 2**63)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 17) % (2**63 - 1)


class Trainer:
    """Train a classifier with penalties, a step strategy, callbacks and a batch transform.

    Args:
        model: the network; trained on ``device`` (default: where its parameters are).
        loss: criterion ``loss(outputs, y) -> scalar``.
        optimizer: a torch optimizer over ``model``'s parameters; default from ``config``.
        train_data: a ``Dataset`` (the Trainer shuffles it reproducibly) or a ``DataLoader``.
        test_data: optional ``Dataset``/``DataLoader`` evaluated after every epoch.
        config: :class:`TrainConfig` (epochs, batch size, optimizer, scheduler, clipping, AMP).
        penalties: callables ``(model, batch, outputs, activations) -> scalar`` added to the loss.
        step: step strategy ``(trainer, batch) -> StepOutput`` (default :class:`StandardStep`).
        callbacks: callables ``(trainer, epoch, metrics) -> mapping | None`` after each epoch.
        transform: batch transform ``(x, y, generator) -> (x, y)`` applied to training batches.
        run: a :class:`~stablecore.results.Run`; checkpoints and the metrics table go there.
        model_config: JSON-serialisable config that rebuilds ``model`` (stored in checkpoints).
        seed: the run's seed.
        progress: show a tqdm bar over epochs.
        distributed: a :class:`~stablecore.train.distributed.DistributedContext` to train data-parallel
            under torchrun (DDP); ``config.batch_size`` is then the global batch, split evenly over the
            replicas. ``self.model`` stays the bare module (penalties, checkpoints and callbacks see it);
            ``self.forward_model`` is the DDP wrapper used for the training forward pass.

    Example:
        >>> import torch
        >>> from torch.utils.data import TensorDataset
        >>> data = TensorDataset(torch.randn(32, 2), torch.randint(0, 2, (32,)))
        >>> model = torch.nn.Linear(2, 2)
        >>> trainer = Trainer(model, torch.nn.CrossEntropyLoss(), train_data=data,
        ...                   config=TrainConfig(epochs=1, batch_size=8), progress=False)
        >>> history = trainer.fit()
        >>> list(history["epoch"])
        [1]
    """

    def __init__(
        self,
        model: nn.Module,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer | None = None,
        *,
        train_data: Dataset | DataLoader,
        test_data: Dataset | DataLoader | None = None,
        config: TrainConfig | None = None,
        penalties: Sequence[Callable[..., torch.Tensor]] = (),
        step: Callable[[Trainer, Batch], StepOutput] | None = None,
        callbacks: Sequence[Callable[..., Mapping[str, float] | None]] = (),
        transform: Callable[..., Batch] | None = None,
        run: Run | None = None,
        model_config: Mapping[str, Any] | None = None,
        scheduler: Any = None,
        device: torch.device | str | None = None,
        seed: int = 0,
        progress: bool = True,
        distributed: DistributedContext | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        if not isinstance(train_data, (Dataset, DataLoader)):
            raise TypeError(f"train_data must be a Dataset or DataLoader, got {type(train_data).__name__}")
        if step is not None and not callable(step):
            raise TypeError("step must be callable (trainer, batch) -> StepOutput")
        if transform is not None and not callable(transform):
            raise TypeError("transform must be callable (x, y, generator) -> (x, y)")
        for i, cb in enumerate(callbacks):
            if not callable(cb):
                raise TypeError(f"callbacks[{i}] must be callable, got {type(cb).__name__}")
        if not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        if distributed is not None and not isinstance(distributed, DistributedContext):
            raise TypeError(f"distributed must be a DistributedContext, got {type(distributed).__name__}")
        self.config = config if config is not None else TrainConfig()
        self.distributed = distributed
        if distributed is not None:
            per_replica_batch_size(self.config.batch_size, distributed.world_size)
            if isinstance(train_data, DataLoader) and not hasattr(train_data.sampler, "set_epoch"):
                raise ValueError(
                    "under DDP train_data must be a Dataset (the Trainer splits it over the replicas) or a "
                    "DataLoader with a DistributedSampler"
                )
            if device is None:
                device = distributed.device
        self.device = torch.device(device) if device is not None else model_device(model)
        self.model = model.to(self.device)
        self.forward_model: nn.Module = self.model if distributed is None else distributed.wrap(self.model)
        self.loss_fn = loss
        self.optimizer = (
            optimizer if optimizer is not None else build_optimizer(model.parameters(), self.config)
        )
        self.scheduler = scheduler if scheduler is not None else build_scheduler(self.optimizer, self.config)
        self.train_data = train_data
        self.test_data = test_data
        self.penalties = check_penalties(penalties)
        self.penalty_names = [penalty_name(p, i) for i, p in enumerate(self.penalties)]
        self.step = step if step is not None else StandardStep()
        self.callbacks = list(callbacks)
        self.transform = transform
        self.run = run
        self.model_config = dict(model_config) if model_config is not None else None
        self.seed = seed
        self.progress = progress
        self.epoch = 0  # number of completed epochs
        self.checkpoint_epoch: int | None = None  # epoch of the checkpoint this Trainer wrote or resumed
        self._last_heartbeat = time.monotonic()
        self.history: list[dict[str, float]] = []
        self.generator = torch.Generator(device=self.device)
        self._activations: dict[str, torch.Tensor] = {}
        self._watched = self._watched_modules()

    # -- pieces a step strategy uses -----------------------------------------------------
    @property
    def amp_enabled(self) -> bool:
        return bool(self.config.amp) and self.device.type == "cuda"

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_enabled:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _watched_modules(self) -> dict[str, nn.Module]:
        wanted = {name for p in self.penalties for name in getattr(p, "modules", ()) or ()}
        modules = dict(self.model.named_modules())
        missing = sorted(wanted - set(modules))
        if missing:
            raise ValueError(f"penalties ask for activations of unknown modules {missing}")
        return {name: modules[name] for name in sorted(wanted)}

    def compute_loss(self, batch: Batch) -> StepOutput:
        """Forward pass: task loss + every penalty (with the activations they asked for)."""
        x, y = batch
        self._activations = {}
        handles = [
            module.register_forward_hook(self._make_hook(name)) for name, module in self._watched.items()
        ]
        try:
            with self._autocast():
                outputs = self.forward_model(x)
            # low-precision (bf16 autocast) outputs are upcast; float64 models keep float64 losses
            wide = outputs if outputs.dtype in (torch.float32, torch.float64) else outputs.float()
            task_loss = self.loss_fn(wide, y)
            values = {}
            for name, penalty in zip(self.penalty_names, self.penalties):
                value = penalty(self.model, batch, outputs, self._activations)
                if not isinstance(value, torch.Tensor) or value.numel() != 1:
                    raise TypeError(f"penalty {name!r} must return a scalar tensor")
                values[name] = value.reshape(())
        finally:
            for h in handles:
                h.remove()
        total = task_loss + sum(values.values()) if values else task_loss
        return StepOutput(loss=total, task_loss=task_loss, outputs=outputs, penalties=values)

    def _make_hook(self, name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            self._activations[name] = output

        return hook

    def backward(self, loss: torch.Tensor) -> None:
        """Check the loss is finite, then back-propagate it."""
        if not torch.isfinite(loss.detach()).all():
            raise NonFiniteLossError(
                f"loss became {float(loss.detach())} at epoch {self.epoch + 1}; training stopped, "
                + self._checkpoint_note()
            )
        loss.backward()

    def _checkpoint_note(self) -> str:
        """What is true about the run's checkpoint: only one this Trainer wrote or resumed from counts."""
        if self.run is None:
            return "no run, so no checkpoint"
        path = self.run.checkpoint_path()
        if self.checkpoint_epoch is None or not path.is_file():
            return "no checkpoint was written"
        return f"the last good checkpoint (epoch {self.checkpoint_epoch}) is kept in {path}"

    def optimizer_step(self) -> None:
        """Clip gradients (if configured) and step the optimizer."""
        if self.config.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()

    # -- data ---------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """True in a single process and on rank 0 under DDP: the process that writes the run."""
        return self.distributed is None or self.distributed.is_main

    def _train_loader(self, seed: int) -> Iterable[Batch]:
        if isinstance(self.train_data, DataLoader):
            if self.distributed is not None:
                self.train_data.sampler.set_epoch(self.epoch)
            return self.train_data
        if self.distributed is not None:
            return distributed_loader(
                self.train_data,
                global_batch_size=self.config.batch_size,
                seed=seed,
                rank=self.distributed.rank,
                world_size=self.distributed.world_size,
                num_workers=self.config.num_workers,
            )
        return shuffled_loader(
            self.train_data,
            batch_size=self.config.batch_size,
            seed=seed,
            num_workers=self.config.num_workers,
        )

    # -- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "history": self.history,
            "seed": self.seed,
            "model_config": self.model_config,
            "train_config": self.config.to_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])
        self.history = [dict(row) for row in state["history"]]

    def save_checkpoint(self) -> None:
        if self.run is None or not self.is_main:
            return
        atomic_torch_save(self.run.checkpoint_path(), self.state_dict())
        self.checkpoint_epoch = self.epoch
        self.run.write_table("metrics", pd.DataFrame(self.history))

    def heartbeat(self, *, every: float = 0.0) -> None:
        """Refresh the run's heartbeat (rank 0 only), at most once per ``every`` seconds."""
        if self.run is None or not self.is_main or time.monotonic() - self._last_heartbeat < every:
            return
        self.run.heartbeat()
        self._last_heartbeat = time.monotonic()

    def resume(self) -> bool:
        """Load the run's last checkpoint if there is one; True when training resumes from it."""
        if self.distributed is not None:
            return self._resume_distributed()
        if self.run is None:
            raise ValueError("resume needs a run (Trainer(..., run=...))")
        path = self.run.checkpoint_path()
        if not path.is_file():
            return False
        state = read_checkpoint(path, within=self.run.path, required=TRAINING_KEYS, map_location=self.device)
        self._load_checkpoint(state, path)
        return True

    def _load_checkpoint(self, state: Mapping[str, Any], path: Any) -> None:
        try:
            self.load_state_dict(state)
        except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as exc:
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            raise ValueError(
                f"checkpoint {str(path)!r} does not fit this model or optimizer: {first}"
            ) from exc
        self.checkpoint_epoch = self.epoch

    def _resume_distributed(self) -> bool:
        # rank 0 reads (other nodes need not see its file system) and broadcasts state or error
        reply: Any = None
        if self.is_main:
            if self.run is None:
                reply = "resume needs a run on rank 0 (Trainer(..., run=...))"
            elif self.run.checkpoint_path().is_file():
                try:
                    reply = read_checkpoint(
                        self.run.checkpoint_path(), within=self.run.path, required=TRAINING_KEYS
                    )
                except ValueError as exc:
                    reply = str(exc)
        reply = broadcast_object(reply, self.distributed)
        if isinstance(reply, str):
            raise ValueError(reply)
        if reply is None:
            return False
        self._load_checkpoint(reply, "the checkpoint of rank 0")
        return True

    # -- loop ---------------------------------------------------------------------------
    def train_epoch(self) -> dict[str, float]:
        seed = epoch_seed(self.seed, self.epoch + 1)
        rank = self.distributed.rank if self.distributed is not None else 0
        torch.manual_seed(replica_seed(seed, rank))  # the shuffle (seed) is shared, the noise is not
        self.generator.manual_seed(replica_seed(seed + 1, rank))
        self.model.train()
        sums: dict[str, float] = {"loss": 0.0, "correct": 0.0}
        sums.update({f"penalty/{n}": 0.0 for n in self.penalty_names})
        count = 0
        for x, y in self._train_loader(seed):
            x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
            if self.transform is not None:
                x, y = self.transform(x, y, self.generator)
            out = self.step(self, (x, y))
            n = len(y)
            count += n
            sums["loss"] += float(out.task_loss.detach()) * n
            sums["correct"] += float((out.outputs.detach().argmax(dim=1) == y).sum())
            for name, value in out.penalties.items():
                sums[f"penalty/{name}"] += float(value.detach()) * n
            self.heartbeat(every=HEARTBEAT_SECONDS)
        if self.distributed is not None:
            keys = list(sums)
            *totals, count = all_reduce_sum([sums[k] for k in keys] + [count], self.distributed)
            sums = dict(zip(keys, totals))
        if count == 0:
            raise ValueError("train_data produced no batch")
        metrics = {"train_loss": sums.pop("loss") / count, "train_accuracy": sums.pop("correct") / count}
        metrics.update({k: v / count for k, v in sums.items()})
        return metrics

    def fit(self, epochs: int | None = None, *, resume: bool = False) -> pd.DataFrame:
        """Train until ``epochs`` (default ``config.epochs``) epochs are done; returns the history.

        With ``resume=True`` the run's last checkpoint is loaded first and training continues
        from the epoch after it (a broken checkpoint is a ``ValueError`` naming it). The run is marked
        running (with a heartbeat after every epoch and at least every :data:`HEARTBEAT_SECONDS`
        within one), completed at the end, failed on an error and interrupted on Ctrl-C.
        """
        total = self.config.epochs if epochs is None else int(epochs)
        if total < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        run = self.run if self.is_main else None
        if run is not None:
            extra = {"distributed": self.distributed.summary()} if self.distributed is not None else {}
            run.update_manifest(
                status="running",
                device=str(self.device),
                model_config=self.model_config,
                train_config=self.config.to_dict(),
                **extra,
            )  # status "running" claims the run for this process, with a fresh heartbeat
            self._last_heartbeat = time.monotonic()
        bar = None
        done: dict[str, int] = {} if resume else {"epochs_done": self.epoch}  # unknown until resumed
        try:
            if resume:
                self.resume()
                done = {"epochs_done": self.epoch}
            bar = tqdm(
                total=total,
                initial=self.epoch,
                desc="train",
                unit="epoch",
                disable=not (self.progress and self.is_main),
            )
            while self.epoch < total:
                start = time.perf_counter()
                metrics: dict[str, float] = {"epoch": float(self.epoch + 1)}
                metrics.update(self.train_epoch())
                metrics["lr"] = float(self.optimizer.param_groups[0]["lr"])
                if self.scheduler is not None:
                    self.scheduler.step()
                if self.test_data is not None:
                    ev = evaluate(
                        self.model,
                        self.test_data,
                        self.loss_fn,
                        batch_size=self.config.eval_batch_size,
                        device=self.device,
                    )
                    metrics["test_loss"], metrics["test_accuracy"] = ev["loss"], ev["accuracy"]
                metrics["epoch_time"] = time.perf_counter() - start
                self.epoch += 1
                for cb in self.callbacks:
                    extra = cb(self, self.epoch, dict(metrics))
                    if extra:
                        metrics.update({k: float(v) for k, v in extra.items()})
                self.history.append(metrics)
                self.save_checkpoint()
                done = {"epochs_done": self.epoch}
                self.heartbeat()
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items() if k.endswith("accuracy")})
        except KeyboardInterrupt:
            if run is not None:
                run.set_status("interrupted", **done)
            raise
        except BaseException as exc:
            if run is not None:
                run.fail(exc, **done)
            raise
        finally:
            if bar is not None:
                bar.close()
        if run is not None:
            run.finish(epochs_done=self.epoch, final_metrics=self.history[-1] if self.history else {})
        return self.history_frame()

    def history_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.history)
        if "epoch" in frame:
            frame["epoch"] = frame["epoch"].astype(int)
        return frame
