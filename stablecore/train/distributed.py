r"""Data-parallel training under ``torchrun`` (DDP): process group, data split, rank-0 writes.

One process per replica (``torchrun --nproc_per_node N``, over one or several nodes) trains a copy of
the model on its share of every batch; DDP all-reduces (averages) the gradients in the backward pass,
so every replica takes the same optimizer step. With ``B`` the global batch size and ``W`` the number of
replicas, each replica sees ``b = B / W`` examples per step and

.. math::

    \frac1W\sum_{r=0}^{W-1}\nabla_\theta\,\frac1b\sum_{i\in\mathcal B_r}\ell_i
    = \nabla_\theta\,\frac1B\sum_{i\in\mathcal B}\ell_i ,\qquad
    \mathcal B = \textstyle\bigsqcup_r \mathcal B_r,

i.e. the step of a single process on the global batch :math:`\mathcal B` (up to float rounding).
:func:`distributed_loader` makes :math:`\mathcal B` *the same set* as the single-process Trainer's
batch: it takes the order ``perm`` in which the single-process loader (:func:`shuffled_loader`, same
seed) visits the examples and DDP's :class:`~torch.utils.data.distributed.DistributedSampler` deals
it out with stride ``W``, so replica ``r``'s ``k``-th batch is ``perm[kB + r + W j]``, ``j < b``.
The tail ``N mod W`` of each epoch's order is dropped (``drop_last=True``: equal batch counts on
every replica, no padded duplicates), so a run equals the single-process one exactly when ``W``
divides ``N``.

What stays exact and what does not (the Trainer's extension points, ARCHITECTURE.md):

* **Penalties** are computed per replica on its share and enter the all-reduced gradient, i.e. the
  gradient of :math:`\frac1W\sum_r P(\theta; \mathcal B_r)`. Penalties that do not depend on the batch
  (weight decay, a Lipschitz/Gram penalty, the input-Hessian bound) or are means over examples
  (activation decay) give the single-process gradient; penalties nonlinear in the batch (gradient norm
  of the batch loss, Hutchinson trace of its Hessian, local Hessian bounds) become the mean of
  per-replica values -- a different estimator of the same quantity.
* **SAM** (:class:`stablecore.curvature.SAM`) reads ``p.grad`` after its first backward: under DDP
  it is already the all-reduced gradient, so the perturbation :math:`\rho g/\|g\|` uses the global
  gradient and the step equals the single-process one.
* **Buffers**: the Lipschitz layers (AOL, SLL, CPL, SR, normalised layers, heads) keep no mutable
  state -- their parametrizations recompute the constrained weight from the free parameter at every
  forward (no power-iteration or Gram cache), so replicas stay in sync through the parameters.
  ``OrthogonalLinear`` (torch's ``orthogonal`` parametrization) holds a constant ``base`` buffer and
  ``Normalize`` constant ``mean``/``std`` buffers; DDP copies rank 0's buffers at construction.
  BatchNorm's running statistics are per replica; with ``broadcast_buffers=True`` (default) rank 0's
  are copied to every replica before each forward (as in plain DDP; use SyncBatchNorm on GPUs for
  global batch statistics).
* **Randomness**: the shuffling permutation is shared; torch's global RNG (dropout, penalties drawing
  probes with ``seed=None``) and the batch-transform generator are offset by rank
  (:func:`replica_seed`; rank 0 keeps the single-process streams), so replicas draw independent noise
  (``GaussianNoise``, ``NoiseInjection`` with ``seed=None``: the all-reduced gradient averages the
  replicas' draws). A penalty or step with its own integer seed (``HutchinsonTracePenalty(seed=0)``)
  draws the same values on every replica.
* **Writes**: only rank 0 writes the run store (manifest, metrics, checkpoints); every replica
  evaluates and runs the callbacks (they may use collectives), rank 0's values are stored. Resuming
  reads the checkpoint on rank 0 and broadcasts it.

Reference:
    S. Li et al. *PyTorch Distributed: Experiences on Accelerating Data Parallel Training.* VLDB 2020.

Example:
    >>> per_replica_batch_size(64, 4)
    16
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import inspect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

__all__ = [
    "TORCHRUN_ENV",
    "DistributedContext",
    "all_reduce_sum",
    "broadcast_object",
    "destroy_distributed",
    "distributed_loader",
    "distributed_session",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "per_replica_batch_size",
    "replica_seed",
    "shuffled_loader",
    "unwrap_model",
]

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
_SEED_MOD = 2**63 - 1
_RANK_STRIDE = 1_000_000_007


@dataclass(frozen=True)
class DistributedContext:
    """How this process takes part in data-parallel training.

    Attributes:
        rank: global rank ``0 <= rank < world_size``.
        world_size: number of replicas ``W``.
        local_rank: rank on this node (selects ``cuda:<local_rank>``).
        backend: ``"gloo"`` (CPU) or ``"nccl"`` (CUDA).
        device: this replica's device.
        find_unused_parameters: passed to DDP (needed when some parameters get no gradient).
        broadcast_buffers: passed to DDP (rank 0's buffers copied before every forward).
        owns_group: whether :func:`init_distributed` created the process group (and
            :func:`destroy_distributed` should end it).
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    find_unused_parameters: bool = False
    broadcast_buffers: bool = True
    owns_group: bool = True

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only replica that writes."""
        return self.rank == 0

    def wrap(self, model: nn.Module) -> DistributedDataParallel:
        """``model`` wrapped in DDP on this replica's device (parameters and buffers are broadcast
        from rank 0 at construction, so every replica starts from the same weights)."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if not dist.is_initialized():
            raise ValueError("the process group is not initialised; call init_distributed() first")
        model = model.to(self.device)
        return DistributedDataParallel(
            model,
            device_ids=[self.device.index] if self.device.type == "cuda" else None,
            find_unused_parameters=self.find_unused_parameters,
            **_buffer_sync_option(self.broadcast_buffers),
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready description for the run manifest."""
        return {"world_size": self.world_size, "backend": self.backend, "rank0_device": str(self.device)}


def _buffer_sync_option(sync: bool) -> dict[str, bool]:
    # torch >= 2.13 renames DDP's ``broadcast_buffers`` (per-forward sync) to ``forward_sync_buffers``
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    return {"forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers": sync}


def _env_int(name: str) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from None


def init_distributed(
    device: str | torch.device | None = "auto",
    *,
    backend: str | None = None,
    find_unused_parameters: bool = False,
    broadcast_buffers: bool = True,
    timeout_s: float | None = None,
) -> DistributedContext:
    """Join the process group that ``torchrun`` describes in ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` (``init_method="env://"``).

    Args:
        device: ``"auto"``/``None`` (``cuda:<LOCAL_RANK>`` when CUDA is available, else CPU),
            ``"cpu"`` or ``"cuda"`` (the index is always ``LOCAL_RANK``).
        backend: ``"gloo"`` or ``"nccl"``; default ``nccl`` on CUDA, ``gloo`` on CPU.
        find_unused_parameters, broadcast_buffers: DDP options (:class:`DistributedContext`).
        timeout_s: collective timeout in seconds (default: torch's).

    Returns:
        The :class:`DistributedContext`. A process group that already exists is reused (and then
        not destroyed by :func:`destroy_distributed`).

    Raises:
        ValueError: not launched by torchrun (a variable is missing), a bad ``device``/``backend``,
            or ``nccl`` without CUDA.
    """
    missing = [name for name in TORCHRUN_ENV if name not in os.environ]
    if missing and not dist.is_initialized():
        raise ValueError(
            f"DDP needs the torchrun environment; {', '.join(missing)} not set. Launch with "
            "`torchrun --nproc_per_node N -m stablecore.cli.main train --ddp ...`"
        )
    if not isinstance(find_unused_parameters, bool):
        raise TypeError(f"find_unused_parameters must be a bool, got {type(find_unused_parameters).__name__}")
    if not isinstance(broadcast_buffers, bool):
        raise TypeError(f"broadcast_buffers must be a bool, got {type(broadcast_buffers).__name__}")
    local_rank = _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else 0
    kind = "auto" if device is None else str(device)
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    kind = kind.split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda' under DDP, got {device!r}")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    else:
        torch_device = torch.device("cpu")
    chosen = backend if backend is not None else ("nccl" if kind == "cuda" else "gloo")
    if chosen not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if chosen == "nccl" and kind != "cuda":
        raise ValueError("backend 'nccl' needs CUDA devices; use 'gloo' on CPU")
    owns = not dist.is_initialized()
    if owns:
        kwargs: dict[str, Any] = {"backend": chosen, "init_method": "env://"}
        if timeout_s is not None:
            if not timeout_s > 0:
                raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
            kwargs["timeout"] = _dt.timedelta(seconds=float(timeout_s))
        if chosen == "nccl":
            kwargs["device_id"] = torch_device
        dist.init_process_group(**kwargs)
    else:
        chosen = dist.get_backend()
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        backend=str(chosen),
        device=torch_device,
        find_unused_parameters=find_unused_parameters,
        broadcast_buffers=broadcast_buffers,
        owns_group=owns,
    )


def destroy_distributed(ctx: DistributedContext | None = None) -> None:
    """End the process group (only if ``ctx`` created it; without ``ctx``, whenever one exists)."""
    if dist.is_initialized() and (ctx is None or ctx.owns_group):
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_session(
    device: str | torch.device | None = "auto", **kwargs: Any
) -> Iterator[DistributedContext]:
    """``with distributed_session() as ctx:`` -- :func:`init_distributed`, then
    :func:`destroy_distributed` on exit (also on an error)."""
    ctx = init_distributed(device, **kwargs)
    try:
        yield ctx
    finally:
        destroy_distributed(ctx)


def get_rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    """The number of replicas (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    """True on rank 0 and in a single process: the process that writes."""
    return get_rank() == 0


def per_replica_batch_size(global_batch_size: int, world_size: int) -> int:
    """``global_batch_size / world_size``, refusing a global batch that does not split evenly.

    Raises:
        ValueError: non-positive sizes, or ``world_size`` not dividing ``global_batch_size``.
    """
    for name, value in (("global_batch_size", global_batch_size), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if global_batch_size % world_size:
        raise ValueError(
            f"the global batch size ({global_batch_size}) must be divisible by the number of replicas "
            f"({world_size}) so that every replica gets {global_batch_size}/{world_size} examples per step; "
            f"use --batch-size {max(world_size, global_batch_size - global_batch_size % world_size)} or "
            f"another multiple of {world_size}"
        )
    return global_batch_size // world_size


def replica_seed(seed: int, rank: int) -> int:
    """Seed of replica ``rank``'s random streams: ``seed`` on rank 0, distinct offsets elsewhere."""
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    return int(seed) if rank == 0 else (int(seed) + rank * _RANK_STRIDE) % _SEED_MOD


def shuffled_loader(dataset: Dataset, *, batch_size: int, seed: int, num_workers: int = 0) -> DataLoader:
    """The single-process Trainer's loader: reshuffled with ``torch.Generator().manual_seed(seed)``."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(int(seed)),
        num_workers=num_workers,
    )


def single_process_order(n: int, *, batch_size: int, seed: int) -> list[int]:
    """The order in which :func:`shuffled_loader` visits ``n`` examples (it consumes its generator
    beyond the permutation, so the order is read off the same loader over ``range(n)``)."""
    loader = shuffled_loader(range(n), batch_size=batch_size, seed=seed)  # type: ignore[arg-type]
    return [int(i) for batch in loader for i in batch]


def distributed_loader(
    dataset: Dataset,
    *,
    global_batch_size: int,
    seed: int,
    rank: int,
    world_size: int,
    num_workers: int = 0,
) -> DataLoader:
    """Replica ``rank``'s share of the single-process Trainer's shuffled batches (module docstring).

    The order is the single-process one (:func:`single_process_order`); replica ``r`` takes positions
    ``r, r + W, ...`` of it (a :class:`~torch.utils.data.distributed.DistributedSampler` without
    shuffling over the reordered data), ``global_batch_size / W`` per batch, so the union of the
    replicas' ``k``-th batches is the single process's ``k``-th batch. The last ``N mod W`` positions
    are dropped.

    Raises:
        ValueError: bad sizes or rank, or ``world_size`` not dividing ``global_batch_size``.
    """
    local = per_replica_batch_size(global_batch_size, world_size)
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"rank must be an int in [0, {world_size}), got {rank!r}")
    ordered = Subset(dataset, single_process_order(len(dataset), batch_size=global_batch_size, seed=seed))
    sampler = DistributedSampler(ordered, num_replicas=world_size, rank=rank, shuffle=False, drop_last=True)
    return DataLoader(ordered, batch_size=local, sampler=sampler, num_workers=num_workers)


def all_reduce_sum(values: Sequence[float], ctx: DistributedContext) -> list[float]:
    """Sum each number over the replicas (float64; every replica gets the totals)."""
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return [float(v) for v in tensor.cpu()]


def broadcast_object(obj: Any, ctx: DistributedContext, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every replica (pickled; tensors should be on the CPU)."""
    box = [obj if ctx.rank == src else None]
    dist.broadcast_object_list(box, src=src, device=ctx.device if ctx.backend == "nccl" else None)
    return box[0]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model
