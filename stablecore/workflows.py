"""End-to-end workflows shared by the CLI, the notebooks and the dashboard.

:func:`train_classifier` = data set + model + :class:`~stablecore.train.Trainer` + run store;
:func:`resume_classifier` continues such a run from its last checkpoint with its stored settings;
:func:`load_model` rebuilds a trained model from a run directory (its config is in the manifest
and in the checkpoint; the checkpoint is loaded with ``weights_only=True`` and checked, a broken one is
a ``ValueError`` naming it).

A run's files are user input: a model config (from ``model_kwargs`` or a checkpoint) is built under
:func:`stablecore.limits.check_memory` (parameters counted as they are allocated), and training checks
the memory of the parameters, gradients, optimizer state and one batch's activations before it starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from stablecore.data import DatasetBundle, load_dataset
from stablecore.limits import check_memory, check_work, max_memory
from stablecore.models import build_model, model_config
from stablecore.results import STALE_AFTER_ENV, Run, create_run, open_run, run_status
from stablecore.train import MODES, TrainConfig, Trainer, build_loss, current_mode, eval_mode, evaluate
from stablecore.train.checkpoints import TRAINING_KEYS, load_weights, read_checkpoint

__all__ = ["TrainResult", "load_model", "resolve_device", "resume_classifier", "train_classifier"]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device to run on: ``None``/``"auto"`` -> CUDA when available, else CPU.

    Otherwise only what this machine can run is accepted: ``cpu``, ``cuda`` or ``cuda:N`` with ``N`` below
    the number of CUDA devices. Other device types (``mps``, ``xla``, ``meta``, ...) are refused with a
    ``ValueError`` naming the device, before any model or run is made.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    expected = "'auto', 'cpu', 'cuda' or 'cuda:N'"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device must be {expected}, got {str(device)!r}") from exc
    if resolved.type == "cpu":
        return resolved
    if resolved.type != "cuda":
        raise ValueError(f"device must be {expected} (what stablecore runs on), got {str(device)!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} requested but CUDA is not available on this machine")
    count = torch.cuda.device_count()
    if resolved.index is not None and resolved.index >= count:
        raise ValueError(f"device {str(device)!r} requested but this machine has {count} CUDA device(s)")
    return resolved


# --------------------------------------------------------------------------------------------------
# memory checks before allocating
# --------------------------------------------------------------------------------------------------
_SIZED_FACTORIES = (torch.empty, torch.zeros, torch.ones, torch.rand, torch.randn)


def _factory_numel(func: Any, args: tuple, kwargs: Mapping[str, Any]) -> int | None:
    """Elements a torch factory call asks for (None when the call is not one of the sized factories)."""
    if func in _SIZED_FACTORIES:
        size: Any = kwargs.get("size", args[0] if len(args) == 1 else args)
    elif func in (torch.full, torch.empty_strided):
        size = kwargs.get("size", args[0] if args else ())
    elif func is torch.eye:
        n = args[0] if args else kwargs.get("n", 0)
        size = (n, args[1] if len(args) > 1 else kwargs.get("m", n))
    else:
        return None
    if isinstance(size, int):
        size = (size,)
    if not all(isinstance(s, int) for s in size):
        return None
    return math.prod(int(s) for s in size)


class _AllocationGuard(TorchFunctionMode):
    """Counts the bytes of the tensors that torch's factories create (an ``nn.Linear``'s weight comes
    from ``torch.empty``) and refuses, through :func:`~stablecore.limits.check_memory`, the call that
    would take the total above the limit, *before* it allocates."""

    def __init__(self, argument: str, what: str) -> None:
        super().__init__()
        self.argument, self.what = argument, what
        self.limit = max_memory()
        self.total = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        numel = _factory_numel(func, args, kwargs)
        if numel is not None:
            dtype = kwargs.get("dtype") or torch.get_default_dtype()
            nbytes = numel * dtype.itemsize
            check_memory(self.total + nbytes, argument=self.argument, what=self.what, limit=self.limit)
            self.total += nbytes
        return func(*args, **kwargs)


def _build_checked(name: Any, config: Mapping[str, Any], argument: str) -> nn.Sequential:
    """``build_model(name, **config)``, refused (``ValueError`` naming ``argument``) before the parameters
    it allocates exceed :func:`~stablecore.limits.max_memory` (e.g. ``hidden=[10**12]``)."""
    with _AllocationGuard(argument, "the model's parameters"):
        return build_model(name, **config)


def _activation_numel(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(sum, max) over the leaf modules of the number of elements of their output for ONE example
    (a forward pass of one zero input in eval mode, without gradients; the global RNG is untouched).
    One example is cheap once the parameters have passed their check; a batch multiplies it."""
    sizes: list[int] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            sizes.append(output.numel())

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    param = next(model.parameters(), None)
    x = torch.zeros(1, *input_shape, dtype=param.dtype if param is not None else None)
    try:
        with torch.no_grad(), eval_mode(model), torch.random.fork_rng(devices=[]):
            model(x)
    finally:
        for h in handles:
            h.remove()
    return (sum(sizes), max(sizes, default=0))


def _check_training_memory(
    model: nn.Module, input_shape: tuple[int, ...], config: TrainConfig, names: Mapping[str, str]
) -> None:
    """Refuse a training whose memory is out of reach: about 4x the parameters (weights, gradients and
    two optimizer moments) plus ``batch_size`` x the activations of one example (kept for the backward
    pass), or ``eval_batch_size`` x the largest activation when evaluating."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    itemsize = next((p.element_size() for p in model.parameters()), 4)
    check_memory(
        4 * params,
        argument=names["model"],
        what="the parameters, their gradients and the optimizer state",
    )
    try:
        total, largest = _activation_numel(model, tuple(input_shape))
    except RuntimeError as exc:  # e.g. an input_shape in model_kwargs that is not the data's
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ValueError(
            f"{names['model']}: the model does not run on the data's inputs of shape "
            f"{tuple(input_shape)}: {first}"
        ) from exc
    train, test = config.batch_size * total, config.eval_batch_size * largest
    check_memory(
        4 * params + itemsize * max(train, test),
        argument=names["batch_size"] if train >= test else names["model"],
        what=f"training (parameters, optimizer state, activations of a batch of {config.batch_size}; "
        f"evaluation in batches of {config.eval_batch_size})",
    )


def _check_training_work(data: DatasetBundle, config: TrainConfig, *, argument: str) -> None:
    """Refuse a training whose work is out of reach: ``epochs x (train + test examples)`` forward passes
    above :func:`stablecore.limits.max_work` (e.g. ``epochs=10**30``)."""
    examples = len(data.train) + (len(data.test) if data.test is not None else 0)
    check_work(
        config.epochs * examples, argument=argument, what=f"{config.epochs:.3g} epochs of {examples} examples"
    )


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` / :func:`resume_classifier` produced (``run`` is None on DDP
    replicas other than rank 0); ``epochs_trained`` counts the epochs this call trained (0 when a
    resumed run had nothing left to do)."""

    run: Run | None
    model: nn.Module
    data: DatasetBundle
    history: pd.DataFrame
    test: dict[str, float]
    seconds: float
    epochs_trained: int | None = None

    def summary(self) -> pd.DataFrame:
        """A one-row table: data set, model, epochs, accuracies, time, run path."""
        last = self.history.iloc[-1]
        return pd.DataFrame(
            [
                {
                    "dataset": self.data.name,
                    "model": model_config(self.model)["name"],
                    "parameters": sum(p.numel() for p in self.model.parameters()),
                    "epochs": int(last["epoch"]),
                    "train_accuracy": float(last["train_accuracy"]),
                    "test_accuracy": self.test["accuracy"],
                    "test_loss": self.test["loss"],
                    "seconds": round(self.seconds, 2),
                    "run": str(self.run.path),
                }
            ]
        )


def train_classifier(
    dataset: str = "moons",
    model: str = "mlp",
    *,
    epochs: int | None = None,
    mode: str | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    loss: str = "ce",
    loss_kwargs: Mapping[str, float] | None = None,
    data_kwargs: Mapping[str, Any] | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    train_kwargs: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    home: str | os.PathLike | None = None,
    progress: bool = True,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Train ``model`` on ``dataset`` and store everything in a new run.

    ``trainer_kwargs`` go to :class:`~stablecore.train.Trainer` (``penalties``, ``step``,
    ``callbacks``, ``transform``, ``distributed``; under DDP only rank 0 creates and writes the run).
    The model's standardisation (``Normalize``) is taken from the data set's train mean/std unless
    ``model_kwargs`` sets ``mean``/``std``. Everything is validated (device, sizes against
    :func:`stablecore.limits.max_memory`) before the run is created; once it exists, a failure marks it
    ``failed`` with the error and Ctrl-C marks it ``interrupted``, so no run stays ``running``.
    """
    mode = current_mode(mode)
    torch_device = resolve_device(device)
    data = load_dataset(dataset, **dict(data_kwargs or {}))
    kwargs = {
        "input_shape": data.input_shape,
        "num_classes": data.num_classes,
        "mean": data.mean,
        "std": data.std,
        "seed": seed,
    }
    kwargs.update(model_kwargs or {})
    net = _build_checked(model, kwargs, argument="model_kwargs")
    overrides = dict(train_kwargs or {})
    if epochs is not None:
        overrides["epochs"] = epochs
    config = TrainConfig.preset(mode, **overrides)
    _check_training_memory(
        net, data.input_shape, config, {"model": "model_kwargs", "batch_size": "batch_size"}
    )
    _check_training_work(data, config, argument="epochs")
    net = net.to(torch_device)
    criterion = build_loss(loss, **dict(loss_kwargs or {}))
    ddp = trainer_kwargs.get("distributed")
    run = (
        None
        if ddp is not None and not ddp.is_main
        else create_run(
            experiment if experiment is not None else f"train-{dataset}-{model}",
            {
                "dataset": dataset,
                "data_kwargs": dict(data_kwargs or {}),
                "model": model_config(net),
                "train": config.to_dict(),
                "loss": {"name": loss, **dict(loss_kwargs or {})},
            },
            seed=seed,
            mode=mode,
            device=str(torch_device),
            home=home,
        )
    )
    return _fit(
        net, data, config, criterion, run, seed=seed, progress=progress, resume=False, **trainer_kwargs
    )


def _mark_stopped(run: Run, exc: BaseException) -> None:
    """A run left ``running`` by an error is marked ``failed`` with it (``interrupted`` on Ctrl-C); a
    status the Trainer already wrote is kept. Never masks ``exc``: a manifest that cannot be rewritten
    is left as it is."""
    with contextlib.suppress(OSError, ValueError, TypeError):
        manifest = run.manifest
        if isinstance(manifest, dict) and manifest.get("status") not in (None, "running"):
            return
        if isinstance(exc, KeyboardInterrupt):
            run.set_status("interrupted")
        else:
            run.fail(exc)


def _fit(
    net: nn.Module,
    data: DatasetBundle,
    config: TrainConfig,
    criterion: nn.Module,
    run: Run | None,
    *,
    seed: int,
    progress: bool,
    resume: bool,
    already: int = 0,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Trainer + fit + test evaluation on an existing run, which never stays ``running`` on an error
    (``already``: epochs the run's checkpoint holds when resuming)."""
    start = time.perf_counter()
    try:
        trainer = Trainer(
            net,
            criterion,
            train_data=data.train,
            test_data=data.test,
            config=config,
            run=run,
            model_config=model_config(net),
            seed=seed,
            progress=progress,
            **trainer_kwargs,
        )
        history = trainer.fit(resume=resume)
        test = evaluate(net, data.test, criterion, batch_size=config.eval_batch_size)
    except BaseException as exc:
        if run is not None:
            _mark_stopped(run, exc)
        raise
    seconds = time.perf_counter() - start
    if run is not None:
        run.update_manifest(test_accuracy=test["accuracy"], test_loss=test["loss"], seconds=seconds)
    return TrainResult(
        run=run,
        model=net,
        data=data,
        history=history,
        test=test,
        seconds=seconds,
        epochs_trained=trainer.epoch - already,
    )


def _rebuild(config: Any, source: str) -> nn.Sequential:
    """The model of a stored config (``{"name": ..., **keys}``), every defect a ``ValueError`` naming
    ``source``; built under the memory limit."""
    if not isinstance(config, Mapping) or not isinstance(config.get("name"), str):
        raise ValueError(f"{source}: the model config must be a dict with a 'name', got {config!r:.80}")
    keys = {k: v for k, v in config.items() if k != "name"}
    try:
        return _build_checked(config["name"], keys, argument="the model config")
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{source}: cannot rebuild the model {config['name']!r}: {exc}") from exc


def _manifest(handle: Run) -> dict[str, Any]:
    manifest = handle.manifest
    if not isinstance(manifest, dict):
        raise ValueError(
            f"run {handle.path}: manifest.json must hold a JSON object, got a {type(manifest).__name__}"
        )
    return manifest


def load_model(
    run: str | os.PathLike | Run, *, checkpoint: str = "last.pt", device: str | torch.device | None = "cpu"
) -> nn.Module:
    """Rebuild the model of a run and load its checkpoint, in eval mode.

    The checkpoint is read with ``weights_only=True`` and checked
    (:func:`~stablecore.train.checkpoints.read_checkpoint`): it must lie inside the run once symbolic
    links are resolved and be a dict whose ``"model"`` state dict fits the model rebuilt from its
    ``"model_config"`` (or the manifest's), which is built under the memory limit.

    Raises:
        FileNotFoundError: ``run`` is not a run directory, or it has no such checkpoint.
        ValueError: a bad ``device``, or anything wrong with the checkpoint or the model config (the
            message names the file and what is wrong).
    """
    torch_device = resolve_device(device)
    path = run.path if isinstance(run, Run) else Path(run)
    handle = open_run(path)
    ckpt = handle.checkpoint_path(checkpoint)
    if not ckpt.is_file():
        raise FileNotFoundError(f"run {path} has no checkpoint {checkpoint!r} (looked for {ckpt})")
    state = read_checkpoint(ckpt, within=path)
    config, source = state.get("model_config"), f"checkpoint {str(ckpt)!r}"
    if not config:
        stored = _manifest(handle).get("config")
        config = stored.get("model") if isinstance(stored, dict) else None
        source = f"the manifest of run {path}"
        if not config:
            raise ValueError(f"run {path} does not record its model config; cannot rebuild the model")
    model = _rebuild(config, source)
    load_weights(model, state["model"], ckpt)
    return model.to(torch_device).eval()


@dataclass(frozen=True)
class _Stored:
    """What a run of :func:`train_classifier` stored: enough to continue it."""

    config: dict[str, Any]  # the manifest's "config"
    dataset: str
    data_kwargs: dict[str, Any]
    model: dict[str, Any]
    train: TrainConfig
    loss: dict[str, Any]
    seed: int
    mode: str
    status: str | None


def _stored_settings(handle: Run) -> _Stored:
    where = f"run {handle.path}"
    manifest = _manifest(handle)
    config = manifest.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError(f"{where} does not record a model config: it was not made by `stablecore train`")
    checks = {
        "config.dataset": (config.get("dataset"), str),
        "config.data_kwargs": (config.get("data_kwargs", {}), dict),
        "config.train": (config.get("train"), dict),
        "config.loss": (config.get("loss", {"name": "ce"}), dict),
        "seed": (manifest.get("seed"), int),
    }
    for field, (value, kind) in checks.items():
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ValueError(f"{where}: manifest field {field} must be a {kind.__name__}, got {value!r:.60}")
    loss = dict(config.get("loss", {"name": "ce"}))
    if not isinstance(loss.get("name"), str):
        raise ValueError(f"{where}: manifest field config.loss must name its loss, got {loss!r:.60}")
    if manifest.get("mode") not in MODES or manifest["seed"] < 0:
        raise ValueError(
            f"{where}: manifest fields mode and seed must be one of {MODES} and an int >= 0, got "
            f"{manifest.get('mode')!r} and {manifest['seed']!r}"
        )
    try:
        train = TrainConfig.from_dict(dict(config["train"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: manifest field config.train is not a valid TrainConfig: {exc}") from exc
    status = manifest.get("status")
    return _Stored(
        config=config,
        dataset=config["dataset"],
        data_kwargs=dict(config.get("data_kwargs", {})),
        model=config["model"],
        train=train,
        loss=loss,
        seed=manifest["seed"],
        mode=manifest["mode"],
        status=status if isinstance(status, str) else None,
    )


def _refuse_live_writer(handle: Run) -> None:
    """Refuse a run that the store still shows as ``running`` (:func:`~stablecore.results.run_status`:
    its writer is not known dead and its heartbeat is recent)."""
    manifest = _manifest(handle)
    status, _ = run_status(manifest)
    if status == "running":
        raise ValueError(
            f"run {handle.path} is still running (process {manifest.get('pid')} on "
            f"{manifest.get('host')}, last heartbeat {manifest.get('heartbeat')}); stop it before resuming. "
            f"A writer that died on another machine shows as interrupted after ${STALE_AFTER_ENV} seconds "
            "without a heartbeat"
        )


def resume_classifier(
    run: str | os.PathLike | Run,
    *,
    epochs: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Continue a run of :func:`train_classifier` from its ``checkpoints/last.pt``.

    The data set, model config, loss, seed, mode and training config are the ones the run stored; the
    weights, optimizer and scheduler state and history come from the checkpoint (without one, training
    starts again from the same initialisation). The Trainer re-seeds every epoch from (seed, epoch), so
    the result equals an uninterrupted run bit for bit on the same device (CPU).

    Args:
        run: the run directory (or :class:`~stablecore.results.Run`).
        epochs: train up to this many epochs in total; it may only extend the planned number, and only
            without a learning-rate schedule (a cosine or step schedule is planned for the total, so
            extending it would not be the run it was).
        device: where to train (default: CUDA when available).
        progress: show a progress bar.
        **trainer_kwargs: as for :func:`train_classifier`; penalties, steps, callbacks and transforms
            are code, not stored: pass the ones the run was trained with.

    Returns:
        The :class:`TrainResult`; a completed run with all its epochs done is not touched (nothing is
        trained, ``epochs_trained == 0``) and its model and history are returned as stored.

    Raises:
        FileNotFoundError: ``run`` is not a run directory.
        ValueError: the manifest lacks the settings or has malformed ones, the checkpoint is broken,
            ``epochs`` shortens the run or extends a schedule, or the run's writer is still alive.
    """
    handle = run if isinstance(run, Run) else open_run(run)
    where = f"run {handle.path}"
    stored = _stored_settings(handle)
    _refuse_live_writer(handle)
    torch_device = resolve_device(device)
    ckpt = handle.checkpoint_path()
    state = read_checkpoint(ckpt, within=handle.path, required=TRAINING_KEYS) if ckpt.is_file() else None
    if state is not None and state.get("seed", stored.seed) != stored.seed:
        raise ValueError(f"checkpoint {str(ckpt)!r} has seed {state['seed']!r}, the manifest {stored.seed}")
    done = state["epoch"] if state is not None else 0
    config = stored.train
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int):
            raise TypeError(f"epochs must be an int, got {type(epochs).__name__}")
        if epochs < config.epochs:
            raise ValueError(
                f"epochs: {where} is planned for {config.epochs} epochs and can only be extended, "
                f"got {epochs}"
            )
        if epochs > config.epochs and config.scheduler is not None:
            raise ValueError(
                f"epochs: {where} follows a {config.scheduler!r} learning-rate schedule planned for "
                f"{config.epochs} epochs; extending it would change that schedule, so start a new run "
                f"with the number of epochs you want (got {epochs})"
            )
        config = dataclasses.replace(config, epochs=epochs)
    data = load_dataset(stored.dataset, **stored.data_kwargs)
    net = _rebuild(stored.model, where)
    _check_training_memory(
        net,
        data.input_shape,
        config,
        {"model": f"the model config of {where}", "batch_size": f"the batch size of {where}"},
    )
    _check_training_work(data, config, argument="epochs")
    net = net.to(torch_device)
    try:
        criterion = build_loss(stored.loss["name"], **{k: v for k, v in stored.loss.items() if k != "name"})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: manifest field config.loss cannot be built: {exc}") from exc
    ddp = trainer_kwargs.get("distributed")
    writer = None if ddp is not None and not ddp.is_main else handle
    if state is not None and stored.status == "completed" and done >= config.epochs:
        load_weights(net, state["model"], ckpt)
        history = pd.DataFrame(state["history"])
        if "epoch" in history:
            history["epoch"] = history["epoch"].astype(int)
        test = evaluate(net, data.test, criterion, batch_size=config.eval_batch_size)
        return TrainResult(writer, net.eval(), data, history, test, seconds=0.0, epochs_trained=0)
    if writer is not None and config.epochs != stored.train.epochs:
        writer.update_manifest(config={**stored.config, "train": config.to_dict()})
    return _fit(
        net,
        data,
        config,
        criterion,
        writer,
        seed=stored.seed,
        progress=progress,
        resume=True,
        already=done,
        **trainer_kwargs,
    )
