"""Chapter 3: Lipschitz-by-design layers: CPL (ICML'22, dynamical systems) and SLL/AOL (ICLR'23, SDP view).

Reported numbers (docs/chapters/ch03.md §4) and the chapter's experiments. Accuracies are percentages on the
test set; certified accuracy at an ℓ₂ radius ε (in [0, 1] pixel space) uses the last-layer-normalised (LLN)
margin certificate.

Experiments (functions of a :class:`Ch03Config`, ``quick`` on a 2-core CPU or ``full`` on a GPU; each
returns a tidy DataFrame whose ``id`` column names the matching reported number where one exists):

* :func:`moons_boundaries` -- decision regions and certified radii of a standard MLP and of CPL, SLL, AOL
  and SR networks on two moons (:func:`boundary_summary` condenses it to one row per model);
* :func:`offset_tradeoff` -- clean vs certified accuracy when sweeping the offset of the offset
  cross-entropy;
* :func:`digits_certified` -- certified accuracy vs radius of dense Lipschitz networks on digits;
* :func:`digits_model` -- a network :func:`digits_certified` trained, reloaded from the run store (for
  the notebook's close-up of one example);
* :func:`cifar10_certified` -- the same for the conv networks on CIFAR-10 (full mode only, data read
  from the user's data directory, never downloaded);
* :func:`power_iteration_gap` -- the reference CPL code's one-step power iteration underestimates
  ‖W‖₂ (so its layer, :class:`stablecore.layers.reference.ReferenceCPLLinear`, is not provably
  1-Lipschitz), Gram iteration does not
  (:func:`power_iteration_summary` condenses it);
* :func:`jacobian_check` -- largest Jacobian norm of random CPL/SLL/AOL/SR layers
  (docs/chapters/ch03.md §4 [num]);
* :func:`sll_gram_check` -- SLL with Gram rescaling of depth k (docs/chapters/ch02.md §3.1(d); k = 1 is
  SLL): Jacobian norms, the step it gains over SLL, and its distance to SLL;
* :func:`reported_comparison` -- measured values next to :data:`REPORTED` (docs/chapters/ch03.md,
  Prach et al.); :func:`reported_cifar_curves` -- the reported CIFAR-10 certified accuracies as curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from stablecore.blocks import Normalize
from stablecore.certify import certify_model, input_jacobians, lipschitz_radius, split_last_linear
from stablecore.certify.accuracy import certified_mask, check_radii
from stablecore.chapters.common import COMPARISON_COLUMNS as COMPARISON_COLUMNS
from stablecore.chapters.common import (
    Compared,
    Getter,
    ModeConfig,
    check_seed,
    comparison_table,
    experiment,
    resolve_config,
)
from stablecore.chapters.common import compared_ids as common_compared_ids
from stablecore.chapters.reported import ReportedNumber, load_reported, reported_numbers
from stablecore.chapters.validate import (
    check_choice,
    check_choices,
    check_frame,
    check_int,
    check_int_tuple,
    check_ints,
    check_mode,
    check_number_tuple,
    check_numbers,
    check_optional_int,
    check_optional_path,
    is_int,
)
from stablecore.data import DatasetBundle, load_dataset
from stablecore.layers import (
    AOLLinear,
    CPLLinear,
    NormalizedLinear,
    SLLGramLinear,
    SLLLinear,
    SRLinear,
    sll_gram_inverse_diagonal,
    sll_inverse_diagonal,
)
from stablecore.layers.reference import (
    ReferenceCPLLinear,
    cpl_step_lipschitz,
    reference_normalize,
    reference_power_iteration,
)
from stablecore.models.lipschitz_nets import CONV_SIZES
from stablecore.results import list_runs, open_run
from stablecore.spectral import lipschitz_bound, matrix_norm
from stablecore.train import OffsetCrossEntropy, eval_mode
from stablecore.types import Bound
from stablecore.workflows import TrainResult, load_model, train_classifier

CHAPTER: int = 3
TITLE: str = "Lipschitz-by-design layers: CPL (dynamical-system view), SLL and AOL (SDP view)"
NOTEBOOK: str = "notebooks/ch03_lipschitz_layers.ipynb"

REPORTED: tuple[ReportedNumber, ...] = load_reported(CHAPTER)
"""The chapter's reported numbers (data file ``stablecore/chapters/reported/ch03.csv``)."""


# =================================================================================== experiments
_FAMILIES: tuple[str, ...] = ("mlp", "cpl", "sll", "aol", "sr")
_LIPSCHITZ_FAMILIES: tuple[str, ...] = ("cpl", "sll", "aol", "sr")
_JACOBIAN_LAYERS: tuple[str, ...] = ("cpl", "sll", "aol", "sr")
_SMALL_DATASETS: tuple[str, ...] = ("moons", "digits")
_CIFAR_EPS: tuple[float, ...] = (36 / 255, 72 / 255, 108 / 255, 1.0)


@dataclass(frozen=True)
class Ch03Config(ModeConfig):
    """Data sizes, networks, epochs and radii of the chapter's experiments.

    Use :meth:`quick` (2-core CPU, the notebook in about a minute) or :meth:`full` (longer runs, CIFAR-10
    on a GPU), or :meth:`for_mode`; change single fields with :func:`dataclasses.replace`.

    Families: ``"mlp"`` (a standard ReLU MLP, trained with plain cross-entropy) and the dense Lipschitz
    networks ``"cpl"``, ``"sll"``, ``"aol"``, ``"sr"`` of :func:`stablecore.models.build_model` with an
    LLN head, trained with the offset cross-entropy :class:`~stablecore.train.OffsetCrossEntropy`
    (``offset``, ``temperature``). Radii ``*_eps`` are ℓ₂ radii in the space the model is fed (moons
    coordinates; pixels in [0, 1] for digits and CIFAR-10).
    """

    mode: str = "quick"
    device: str = "cpu"
    num_threads: int | None = 1
    """torch CPU threads during an experiment (restored afterwards); ``None`` leaves torch's setting."""
    # training recipe of the moons and digits runs (Adam, constant learning rate)
    lr: float = 1e-2
    batch_size: int = 64
    temperature: float = 0.25
    mlp_hidden: tuple[int, ...] = (64, 64)
    # moons_boundaries
    moons_samples: int = 600
    moons_noise: float = 0.1
    moons_families: tuple[str, ...] = _FAMILIES
    moons_width: int = 32
    moons_depth: int = 4
    moons_epochs: int = 20
    moons_offset: float = 1.0
    moons_eps: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    grid_size: int = 100
    n_circles: int = 12
    # offset_tradeoff
    offset_dataset: str = "moons"
    offset_family: str = "sll"
    offsets: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0)
    offset_epochs: int = 20
    offset_eps: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)
    # digits_certified
    digits_families: tuple[str, ...] = _FAMILIES
    digits_width: int = 64
    digits_depth: int = 4
    digits_epochs: int = 15
    digits_offset: float = 1.5 * math.sqrt(2.0)
    digits_eps: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(21))
    # cifar10_certified (full mode only)
    cifar_families: tuple[str, ...] = _LIPSCHITZ_FAMILIES
    cifar_size: str = "small"
    cifar_epochs: int = 30
    cifar_batch_size: int = 256
    cifar_lr: float = 1e-3
    cifar_offset: float = 1.5 * math.sqrt(2.0)
    cifar_eps: tuple[float, ...] = _CIFAR_EPS
    cifar_root: str | None = None
    """data root holding ``cifar-10-batches-py`` (default ``$STABLECORE_DATA``); never downloaded."""
    # power_iteration_gap
    pi_shapes: tuple[tuple[int, int], ...] = ((32, 32), (64, 64), (128, 128))
    pi_draws: int = 50
    pi_random_iters: tuple[int, ...] = (1, 5, 20)
    pi_width: int = 16
    pi_depth: int = 3
    pi_steps: int = 150
    pi_eval_iters: int = 100
    cpl_eps: float = 1e-4
    # jacobian_check
    jacobian_layers: tuple[str, ...] = _JACOBIAN_LAYERS
    jacobian_draws: int = 60
    jacobian_points: int = 5
    jacobian_features: int = 8
    # sll_gram_check (the draws' features and points are jacobian_features and jacobian_points)
    sll_gram_depths: tuple[int, ...] = (1, 2, 3, 4)
    sll_gram_draws: int = 20

    def __post_init__(self) -> None:
        check_mode(self.mode)
        check_ints(self, (
            "batch_size", "moons_samples", "moons_width", "moons_depth", "moons_epochs", "grid_size",
            "offset_epochs", "digits_width", "digits_depth", "digits_epochs", "cifar_epochs",
            "cifar_batch_size", "pi_draws", "pi_width", "pi_depth", "pi_steps", "pi_eval_iters",
            "jacobian_draws", "jacobian_points", "jacobian_features", "sll_gram_draws",
        ))  # fmt: skip
        check_int(self.n_circles, "n_circles", minimum=0)
        for name in ("moons_width", "digits_width"):
            if getattr(self, name) % 2:
                raise ValueError(f"{name} must be even (MaxMin pairs units), got {getattr(self, name)}")
        check_optional_int(self.num_threads, "num_threads")
        check_numbers(self, ("lr", "temperature", "cifar_lr"))
        check_numbers(
            self, ("moons_noise", "moons_offset", "digits_offset", "cifar_offset", "cpl_eps"), strict=False
        )
        for name in ("offsets", "moons_eps", "offset_eps", "digits_eps", "cifar_eps"):
            check_number_tuple(getattr(self, name), name)
        for name in ("mlp_hidden", "pi_random_iters", "sll_gram_depths"):
            check_int_tuple(getattr(self, name), name)
        if (
            not isinstance(self.pi_shapes, tuple)
            or not self.pi_shapes
            or not all(len(s) == 2 and all(is_int(v) for v in s) for s in self.pi_shapes)
        ):
            raise ValueError(
                f"pi_shapes must be a non-empty tuple of (rows, cols) >= 1, got {self.pi_shapes!r}"
            )
        for name, allowed in (
            ("moons_families", _FAMILIES),
            ("digits_families", _FAMILIES),
            ("cifar_families", _LIPSCHITZ_FAMILIES),
            ("jacobian_layers", _JACOBIAN_LAYERS),
        ):
            check_choices(getattr(self, name), name, allowed, unique=True)
        check_choice(self.offset_family, "offset_family", _FAMILIES)
        check_choice(self.offset_dataset, "offset_dataset", _SMALL_DATASETS)
        if not isinstance(self.cifar_size, str):
            raise ValueError(f"cifar_size must be a size name such as 'small', got {self.cifar_size!r}")
        check_optional_path(self.cifar_root, "cifar_root")

    @classmethod
    def quick(cls, **overrides: Any) -> Ch03Config:
        """CPU sizes: 600 two-moons points, 20 epochs; digits, 15 epochs; 150 training steps of the
        reference-CPL net; 60 random layers × 5 inputs per layer type for the Jacobian check. No CIFAR-10."""
        return replace(cls(), **overrides)

    @classmethod
    def full(cls, **overrides: Any) -> Ch03Config:
        """Longer runs on a GPU (CPU if none): 100 epochs on moons and digits, bigger dense nets, 3,000
        Jacobian draws (300 layers × 10 inputs, docs/chapters/ch03.md §4 [num]), and CIFAR-10 with the SLL
        code's ``"small"`` conv nets for ``cifar_epochs`` epochs (a reduced budget: the papers train 200 (CPL)
        to 1000 (SLL) epochs)."""
        base = cls(
            mode="full",
            device="cuda" if torch.cuda.is_available() else "cpu",
            num_threads=None,
            moons_samples=2000,
            moons_width=64,
            moons_epochs=100,
            grid_size=200,
            offset_dataset="digits",
            offsets=(0.0, 0.5, 1.0, 1.5 * math.sqrt(2.0), 3.0, 4.0),
            offset_epochs=100,
            offset_eps=(0.1, 0.3, 0.5, 1.0),
            digits_width=256,
            digits_depth=8,
            digits_epochs=100,
            pi_shapes=((64, 64), (256, 256), (1024, 1024)),
            pi_draws=200,
            pi_steps=1000,
            pi_width=64,
            pi_depth=6,
            jacobian_draws=300,
            jacobian_points=10,
            sll_gram_draws=300,
        )
        return replace(base, **overrides)


BOUNDARY_COLUMNS = (
    "id", "model", "part", "index", "x0", "x1", "label", "prediction", "correct", "radius", "circle",
    "lipschitz", "lipschitz_kind", "certificate", "test_accuracy",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "id", "model", "test_accuracy", "lipschitz", "lipschitz_kind", "certificate", "median_radius",
    "max_radius",
)  # fmt: skip
OFFSET_COLUMNS = (
    "id", "dataset", "family", "offset", "temperature", "epochs", "eps", "certified_accuracy",
    "clean_accuracy", "median_radius", "lipschitz", "lipschitz_kind", "certificate",
)  # fmt: skip
CERTIFIED_COLUMNS = (
    "id", "dataset", "family", "size", "epochs", "eps", "certified_accuracy", "clean_accuracy",
    "lipschitz", "lipschitz_kind", "certificate", "parameters", "train_img_per_s", "seconds",
)  # fmt: skip
PI_COLUMNS = (
    "id", "setting", "shape", "layer", "step", "n_iter", "pi", "pi_kind", "exact", "gram", "gram_kind",
    "pi_ratio", "gram_ratio", "ref_lipschitz", "ref_lipschitz_kind", "ours_lipschitz",
)  # fmt: skip
JACOBIAN_COLUMNS = (
    "id", "layer", "draw", "point", "features", "jacobian_norm", "kind", "bound", "bound_kind",
)  # fmt: skip
SLL_GRAM_COLUMNS = (
    "id", "depth", "draw", "point", "features", "jacobian_norm", "kind", "bound", "bound_kind",
    "step_ratio", "distance_to_sll",
)  # fmt: skip


# ----------------------------------------------------------------------------------- helpers
def _config(cfg: Ch03Config | None) -> Ch03Config:
    return resolve_config(cfg, Ch03Config)


_experiment = experiment(Ch03Config)


def _tensors(data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*(data[i] for i in range(len(data))))  # type: ignore[arg-type]
    return torch.stack(xs), torch.stack(ys)


def _eps_label(eps: float, per255: bool = False) -> str:
    """``eps0.05``; with ``per255``, ``eps36`` for ε = 36/255 (the reported-number convention of the
    CIFAR-10 radii) when ε·255 is an integer."""
    k = eps * 255
    return f"eps{round(k)}" if per255 and eps > 0 and abs(k - round(k)) < 1e-9 else f"eps{eps:g}"


def _data_kwargs(cfg: Ch03Config, dataset: str, seed: int) -> dict[str, Any]:
    if dataset == "moons":
        return {"n_samples": cfg.moons_samples, "noise": cfg.moons_noise, "seed": seed}
    return {"seed": seed}


def _train(
    cfg: Ch03Config,
    dataset: str,
    family: str,
    *,
    seed: int,
    epochs: int,
    offset: float | None,
    width: int,
    depth: int,
    experiment: str,
    home: str | Path | None,
) -> TrainResult:
    """One run of ``family`` on ``dataset`` (moons or digits): Adam, constant ``cfg.lr``; plain
    cross-entropy when ``offset`` is None, else the offset cross-entropy at ``cfg.temperature``."""
    if family == "mlp":
        model_kwargs: dict[str, Any] = {"hidden": list(cfg.mlp_hidden)}
    else:
        model_kwargs = {"width": width, "depth": depth, "head": "lln"}
    loss, loss_kwargs = ("ce", {}) if offset is None else (
        "offset_ce", {"offset": float(offset), "temperature": cfg.temperature}
    )  # fmt: skip
    return train_classifier(
        dataset,
        family,
        epochs=epochs,
        mode=cfg.mode,
        seed=seed,
        device=cfg.device,
        loss=loss,
        loss_kwargs=loss_kwargs,
        data_kwargs=_data_kwargs(cfg, dataset, seed),
        model_kwargs=model_kwargs,
        train_kwargs={
            "batch_size": cfg.batch_size,
            "lr": cfg.lr,
            "optimizer": "adam",
            "scheduler": None,
            "weight_decay": 0.0,
            "amp": False,
        },
        experiment=experiment,
        home=home,
        progress=False,
    )


def _certify(result: TrainResult, eps: Sequence[float]) -> pd.DataFrame:
    """:func:`~stablecore.certify.certify_model` on the test split, pairwise (LLN) certificate."""
    return certify_model(
        result.model, result.data.test, list(eps), input_shape=result.data.input_shape, last_layer="auto"
    )


def predict_with_radius(
    model: nn.Module,
    x: torch.Tensor,
    input_shape: Sequence[int],
    *,
    labels: torch.Tensor | None = None,
    batch_size: int = 4096,
) -> tuple[torch.Tensor, torch.Tensor, Bound, str]:
    r"""Prediction and certified ℓ₂ radius of unlabelled (or labelled) inputs, as :func:`certify_model`.

    The certificate is the pairwise one of :func:`~stablecore.certify.lipschitz_radius` when the model
    ends in a linear layer (:func:`~stablecore.certify.split_last_linear`),
    :math:`r(x) = \min_{j\ne y}(f_y - f_j)/(L_\text{body}\|w_y - w_j\|)` with :math:`L_\text{body}` the
    :func:`~stablecore.spectral.lipschitz_bound` of the rest, else the global :math:`M/(\sqrt2 L)`.
    ``y`` is ``labels`` or, without labels, the predicted class (the prediction is then certified to be
    constant on the ball). The model's modes are restored.

    Returns:
        ``(prediction, radius, bound, certificate)``: int64 and float64 tensors of shape ``(N,)``, the
        Lipschitz bound used (``upper_bound``) and ``"pairwise"`` or ``"global"``.

    Raises:
        ValueError: a model :func:`~stablecore.spectral.lipschitz_bound` cannot bound.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or x.ndim < 2 or len(x) == 0:
        raise ValueError("x must be a non-empty batch tensor (N, ...)")
    split = split_last_linear(model)
    target = model if split is None else split[0]
    param = next(model.parameters(), None)
    device = param.device if param is not None else x.device
    dtype = param.dtype if param is not None else x.dtype
    with eval_mode(model):
        bound = lipschitz_bound(target, tuple(input_shape))
        bound.require_certifiable("the Lipschitz bound of the model")
        with torch.no_grad():
            logits = torch.cat(
                [
                    model(x[i : i + batch_size].to(device, dtype)).to("cpu", torch.float64)
                    for i in range(0, len(x), batch_size)
                ]
            )
            head = None if split is None else split[1].weight.detach()
    radius = lipschitz_radius(logits, bound, last_layer=head, labels=labels)
    return logits.argmax(dim=1), radius, bound, "global" if split is None else "pairwise"


# ----------------------------------------------------------------------------------- two moons
def _grid(points: torch.Tensor, size: int, pad: float = 0.5) -> torch.Tensor:
    lo = points.min(dim=0).values - pad
    hi = points.max(dim=0).values + pad
    g0 = torch.linspace(float(lo[0]), float(hi[0]), size)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), size)
    x1, x0 = torch.meshgrid(g1, g0, indexing="ij")  # rows: x1, columns: x0
    return torch.stack([x0.reshape(-1), x1.reshape(-1)], dim=1)


def _part(
    part: str,
    x: torch.Tensor,
    label: torch.Tensor | None,
    prediction: torch.Tensor,
    radius: torch.Tensor,
    circle: np.ndarray | None = None,
) -> pd.DataFrame:
    n = len(x)
    return pd.DataFrame(
        {
            "part": part,
            "index": np.arange(n),
            "x0": x[:, 0].double().numpy(),
            "x1": x[:, 1].double().numpy(),
            "label": pd.array([pd.NA] * n if label is None else label.tolist(), dtype="Int64"),
            "prediction": prediction.numpy().astype(np.int64),
            "correct": pd.array(
                [pd.NA] * n if label is None else (prediction == label).tolist(), dtype="boolean"
            ),
            "radius": radius.numpy(),
            "circle": np.zeros(n, dtype=bool) if circle is None else circle,
        }
    )


@_experiment
def moons_boundaries(
    cfg: Ch03Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Decision regions and certified radii of a standard MLP and of Lipschitz networks on two moons.

    Each family of ``cfg.moons_families`` is trained on the same two-moons sample (``"mlp"``: ReLU MLP
    ``cfg.mlp_hidden`` with cross-entropy; Lipschitz families: ``cfg.moons_width`` × ``cfg.moons_depth``
    with an LLN head and the offset cross-entropy, offset ``cfg.moons_offset``). Every point gets the
    pairwise certified radius of :func:`predict_with_radius`,

    .. math:: r(x) = \min_{j\ne y}\frac{f_y(x)-f_j(x)}{L_\text{body}\,\|w_y-w_j\|_2},

    where :math:`L_\text{body}` is the :func:`~stablecore.spectral.lipschitz_bound` (``upper_bound``) of
    the network without its last layer: for the Lipschitz nets it is :math:`1/\min\sigma` of the input
    standardisation (times rounding margins), for the MLP the product of its layers' Gram bounds, which
    is loose, so its radii are small although its margins are large.

    Returns:
        One row per point and model (columns :data:`BOUNDARY_COLUMNS`): ``part`` is ``"grid"`` (a
        ``cfg.grid_size``² grid around the data; radius of the predicted class, no label), ``"train"``
        or ``"test"`` (radius of the true label, 0 when misclassified). ``circle`` marks the
        ``cfg.n_circles`` test points (the same for every model, seeded) whose certified disk the plot
        draws. ``lipschitz`` / ``lipschitz_kind`` / ``certificate`` describe the bound; ids
        ``ch03.moons.<model>``.
    """
    rows: list[pd.DataFrame] = []
    grid: torch.Tensor | None = None
    chosen: np.ndarray | None = None
    for family in cfg.moons_families:
        offset = None if family == "mlp" else cfg.moons_offset
        result = _train(
            cfg, "moons", family, seed=seed, epochs=cfg.moons_epochs, offset=offset,
            width=cfg.moons_width, depth=cfg.moons_depth, experiment="ch03-moons", home=home,
        )  # fmt: skip
        x_tr, y_tr = _tensors(result.data.train)
        x_te, y_te = _tensors(result.data.test)
        if grid is None:
            grid = _grid(torch.cat([x_tr, x_te]), cfg.grid_size)
            rng = np.random.default_rng(seed)
            picked = rng.choice(len(x_te), size=min(cfg.n_circles, len(x_te)), replace=False)
            chosen = np.zeros(len(x_te), dtype=bool)
            chosen[picked] = True
        model, shape = result.model, result.data.input_shape
        g_pred, g_rad, bound, certificate = predict_with_radius(model, grid, shape)
        tr_pred, tr_rad, _, _ = predict_with_radius(model, x_tr, shape, labels=y_tr)
        te_pred, te_rad, _, _ = predict_with_radius(model, x_te, shape, labels=y_te)
        frame = pd.concat(
            [
                _part("grid", grid, None, g_pred, g_rad),
                _part("train", x_tr, y_tr, tr_pred, tr_rad),
                _part("test", x_te, y_te, te_pred, te_rad, chosen),
            ],
            ignore_index=True,
        )
        frame.insert(0, "model", family)
        frame.insert(0, "id", f"ch03.moons.{family}")
        frame["lipschitz"] = bound.value
        frame["lipschitz_kind"] = bound.kind
        frame["certificate"] = certificate
        frame["test_accuracy"] = float((te_pred == y_te).double().mean())
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)[list(BOUNDARY_COLUMNS)]


def boundary_summary(frame: pd.DataFrame, eps: Sequence[float] = (0.05, 0.1, 0.2)) -> pd.DataFrame:
    """One row per model of :func:`moons_boundaries`: test accuracy, the Lipschitz bound used, median
    and largest certified radius over the test points (0 for a misclassified point) and the certified
    accuracy ``certified@<ε>`` (correct and radius ≥ ε) for each ``eps``."""
    check_frame(frame, BOUNDARY_COLUMNS, "moons_boundaries")
    eps_list = check_radii(eps, "eps")
    rows = []
    for model, group in frame[frame["part"] == "test"].groupby("model", sort=False):
        correct = group["correct"].astype(bool).to_numpy()
        radius = group["radius"].to_numpy()
        row = {
            "id": group["id"].iloc[0],
            "model": model,
            "test_accuracy": float(correct.mean()),
            "lipschitz": group["lipschitz"].iloc[0],
            "lipschitz_kind": group["lipschitz_kind"].iloc[0],
            "certificate": group["certificate"].iloc[0],
            "median_radius": float(np.median(radius)),
            "max_radius": float(radius.max()),
        }
        for e in eps_list:
            row[f"certified@{e:g}"] = float(np.mean(certified_mask(radius, correct, e)))
        rows.append(row)
    return pd.DataFrame(rows, columns=[*SUMMARY_COLUMNS, *(f"certified@{e:g}" for e in eps_list)])


# ----------------------------------------------------------------------------------- offset sweep
def _size_label(cfg: Ch03Config, family: str, width: int, depth: int) -> str:
    if family == "mlp":
        return "mlp" + "-".join(str(h) for h in cfg.mlp_hidden)
    return f"dense{width}x{depth}"


@_experiment
def offset_tradeoff(
    cfg: Ch03Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Clean vs certified accuracy of ``cfg.offset_family`` trained with each offset of ``cfg.offsets``.

    The offset cross-entropy :math:`T\cdot\mathrm{CE}((z - o\,e_y)/T, y)` (Prach & Lampert 2022; SLL
    code) asks the true logit to win by :math:`o`; with an LLN head and a 1-Lipschitz body a margin
    :math:`o` certifies a radius of about :math:`o/(\sqrt2\,L_\text{body})`. A larger offset buys
    certified radius at the price of clean accuracy, the trade-off this experiment measures (a
    research outcome, reported as measured). Same data set, network, epochs and seed for every
    offset.

    Returns:
        One row per (offset, ε of ``cfg.offset_eps``) (columns :data:`OFFSET_COLUMNS`) with the
        certified accuracy at ε, the clean accuracy, the median certified radius and the bound used.
        Ids ``ch03.offset.<dataset>.<family>.offset<o>.eps<ε>``.
    """
    dataset, family = cfg.offset_dataset, cfg.offset_family
    width, depth = (
        (cfg.moons_width, cfg.moons_depth) if dataset == "moons" else (cfg.digits_width, cfg.digits_depth)
    )
    rows = []
    for offset in cfg.offsets:
        result = _train(
            cfg, dataset, family, seed=seed, epochs=cfg.offset_epochs, offset=float(offset),
            width=width, depth=depth, experiment="ch03-offset", home=home,
        )  # fmt: skip
        cert = _certify(result, cfg.offset_eps)
        for eps in cfg.offset_eps:
            rows.append(
                {
                    "id": f"ch03.offset.{dataset}.{family}.offset{offset:g}.eps{eps:g}",
                    "dataset": dataset,
                    "family": family,
                    "offset": float(offset),
                    "temperature": cfg.temperature,
                    "epochs": cfg.offset_epochs,
                    "eps": float(eps),
                    "certified_accuracy": float(cert[f"certified@{eps:g}"].mean()),
                    "clean_accuracy": float(cert["correct"].mean()),
                    "median_radius": float(cert["radius"].median()),
                    "lipschitz": cert.attrs["lipschitz"],
                    "lipschitz_kind": cert.attrs["kind"],
                    "certificate": cert.attrs["certificate"],
                }
            )
    return pd.DataFrame(rows, columns=list(OFFSET_COLUMNS))


# ----------------------------------------------------------------------------------- certified accuracy
def _certified_rows(
    result: TrainResult, cert: pd.DataFrame, *, dataset: str, family: str, size: str, epochs: int,
    eps: Sequence[float], id_prefix: str, per255: bool = False,
) -> list[dict[str, Any]]:  # fmt: skip
    images = result.data.num_train * epochs
    return [
        {
            "id": f"{id_prefix}.{_eps_label(e, per255)}",
            "dataset": dataset,
            "family": family,
            "size": size,
            "epochs": epochs,
            "eps": float(e),
            "certified_accuracy": float(cert[f"certified@{e:g}"].mean()),
            "clean_accuracy": float(cert["correct"].mean()),
            "lipschitz": cert.attrs["lipschitz"],
            "lipschitz_kind": cert.attrs["kind"],
            "certificate": cert.attrs["certificate"],
            "parameters": sum(p.numel() for p in result.model.parameters()),
            "train_img_per_s": images / result.seconds if result.seconds > 0 else math.nan,
            "seconds": result.seconds,
        }
        for e in eps
    ]


@_experiment
def digits_certified(
    cfg: Ch03Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Certified accuracy vs radius of dense networks on scikit-learn's digits (8×8 pixels in [0, 1]).

    Each family of ``cfg.digits_families`` (``cfg.digits_width`` × ``cfg.digits_depth``, LLN head,
    offset cross-entropy with ``cfg.digits_offset``; the MLP with plain cross-entropy) is trained for
    ``cfg.digits_epochs`` epochs and certified on the test split with the pairwise certificate of
    :func:`~stablecore.certify.certify_model`. A point is certified at ε when it is correctly classified
    and its radius exceeds ε (strictly).

    Returns:
        One row per (family, ε of ``cfg.digits_eps``) (columns :data:`CERTIFIED_COLUMNS`); ids
        ``ch03.digits.<family>.eps<ε>``. ``train_img_per_s`` counts training images per second of the
        whole run (per-epoch evaluation included).
    """
    rows = []
    for family in cfg.digits_families:
        offset = None if family == "mlp" else cfg.digits_offset
        result = _train(
            cfg, "digits", family, seed=seed, epochs=cfg.digits_epochs, offset=offset,
            width=cfg.digits_width, depth=cfg.digits_depth, experiment="ch03-digits", home=home,
        )  # fmt: skip
        cert = _certify(result, cfg.digits_eps)
        rows += _certified_rows(
            result, cert, dataset="digits", family=family,
            size=_size_label(cfg, family, cfg.digits_width, cfg.digits_depth), epochs=cfg.digits_epochs,
            eps=cfg.digits_eps, id_prefix=f"ch03.digits.{family}",
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(CERTIFIED_COLUMNS))


def digits_model(
    family: str = "sll", *, seed: int = 0, mode: str | None = None, home: str | Path | None = None
) -> tuple[nn.Module, DatasetBundle]:
    """The ``family`` network that :func:`digits_certified` trained last, and its data set.

    Looks up the newest ``completed`` run of experiment ``"ch03-digits"`` in the run store ``home``
    (default ``$STABLECORE_HOME``) with this ``seed`` and model (and ``mode``, when given), rebuilds the
    network from its last checkpoint (:func:`~stablecore.workflows.load_model`, eval mode, CPU) and
    reloads the digits split it was trained on. No training: call :func:`digits_certified` first.

    Raises:
        LookupError: no such run in the store.
    """
    check_choice(family, "family", _FAMILIES)
    seed = check_seed(seed)
    runs = list_runs(home, "ch03-digits")
    runs = runs[(runs["status"] == "completed") & (runs["seed"] == seed)]
    if mode is not None:
        runs = runs[runs["mode"] == check_mode(mode)]
    for path in runs["path"]:  # newest first
        config = open_run(path).manifest.get("config", {})
        if config.get("dataset") == "digits" and config.get("model", {}).get("name") == family:
            data = load_dataset("digits", **config.get("data_kwargs", {}))
            return load_model(path), data
    raise LookupError(
        f"no completed ch03-digits run of {family!r} with seed {seed} in the run store; "
        "run digits_certified first"
    )


@_experiment
def cifar10_certified(
    cfg: Ch03Config | None = None, *, seed: int = 0, home: str | Path | None = None
) -> pd.DataFrame:
    r"""Certified accuracy of the conv Lipschitz networks on CIFAR-10 (full mode only).

    For each family of ``cfg.cifar_families``: ``build_model(family, input_shape=(3, 32, 32), ...,
    layout="conv", size=cfg.cifar_size)`` (the SLL code's ``"small"`` sizes; for CPL its code's
    default network; AOL and SR, whose MaxMin pairs channels, one channel more when the size's width
    is odd: 46 for ``small``), LLN head, offset
    cross-entropy (``cfg.cifar_offset`` = √2·3/2 and ``cfg.temperature`` = 0.25, as the SLL code), Adam
    at ``cfg.cifar_lr`` with a cosine schedule, batch ``cfg.cifar_batch_size``, **no data
    augmentation**, for ``cfg.cifar_epochs`` epochs: a reduced budget next to the papers' 200 (CPL) and
    1000 (SLL) epochs and Prach et al.'s 24 h, so the numbers are not expected to match theirs.
    Certified at ε ∈ ``cfg.cifar_eps`` (36, 72, 108, 255 /255).

    CIFAR-10 is read from ``cfg.cifar_root`` (default ``$STABLECORE_DATA``) and never downloaded.

    Returns:
        As :func:`digits_certified`; ids ``ch03.cifar10.<family>.<size>.eps<36|72|108|255>``.

    Raises:
        ValueError: ``cfg.mode`` is not ``"full"`` (quick mode never touches CIFAR-10).
        FileNotFoundError: CIFAR-10 is not in the data directory.
    """
    if cfg.mode != "full":
        raise ValueError(
            "cifar10_certified runs in full mode only (cfg.mode='full', e.g. STABLECORE_MODE=full); "
            f"got cfg.mode={cfg.mode!r}"
        )
    rows = []
    for family in cfg.cifar_families:
        model_kwargs: dict[str, Any] = {"layout": "conv", "size": cfg.cifar_size, "head": "lln"}
        width = CONV_SIZES.get(cfg.cifar_size, (0, 0, 0, 0))[2]
        if family in ("aol", "sr") and width % 2:
            model_kwargs["width"] = width + 1  # MaxMin pairs channels: the SLL 'small' width 45 is odd
        result = train_classifier(
            "cifar10",
            family,
            epochs=cfg.cifar_epochs,
            mode=cfg.mode,
            seed=seed,
            device=cfg.device,
            loss="offset_ce",
            loss_kwargs={"offset": cfg.cifar_offset, "temperature": cfg.temperature},
            data_kwargs={"root": cfg.cifar_root, "download": False, "progress": False},
            model_kwargs=model_kwargs,
            train_kwargs={
                "batch_size": cfg.cifar_batch_size,
                "lr": cfg.cifar_lr,
                "optimizer": "adam",
                "scheduler": "cosine",
                "weight_decay": 0.0,
                "amp": False,
                "eval_batch_size": 500,
            },
            experiment="ch03-cifar10",
            home=home,
            progress=False,
        )
        cert = _certify(result, cfg.cifar_eps)
        rows += _certified_rows(
            result, cert, dataset="cifar10", family=family, size=cfg.cifar_size, epochs=cfg.cifar_epochs,
            eps=cfg.cifar_eps, id_prefix=f"ch03.cifar10.{family}.{cfg.cifar_size}", per255=True,
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(CERTIFIED_COLUMNS))


# ----------------------------------------------------------------------------------- power iteration
def _weight_stats(W: torch.Tensor) -> tuple[float, Bound, bool]:
    """(σ₁ by float64 SVD, Gram upper bound, whether W has full row rank)."""
    W64 = W.detach().to("cpu", torch.float64)
    svals = torch.linalg.svdvals(W64)
    exact = float(svals[0])
    full_row_rank = W64.shape[0] <= W64.shape[1] and float(svals[-1]) > 1e-10 * exact
    return exact, matrix_norm(W64, method="gram"), full_row_rank


def _pi_row(
    row_id: str, setting: str, shape: str, layer: int | None, step: int, n_iter: int, pi: float,
    stats: tuple[float, Bound, bool], eps: float,
) -> dict[str, Any]:  # fmt: skip
    exact, gram, full_row_rank = stats
    return {
        "id": row_id,
        "setting": setting,
        "shape": shape,
        "layer": layer,
        "step": step,
        "n_iter": n_iter,
        "pi": pi,
        "pi_kind": "lower_bound",
        "exact": exact,
        "gram": gram.value,
        "gram_kind": gram.kind,
        "pi_ratio": pi / exact,
        "gram_ratio": gram.value / exact,
        "ref_lipschitz": cpl_step_lipschitz(exact, max(pi, 0.0), eps),
        "ref_lipschitz_kind": "exact" if full_row_rank else "upper_bound",
        "ours_lipschitz": cpl_step_lipschitz(exact, gram.value, eps),
    }


def _reference_cpl_net(
    cfg: Ch03Config, mean: Sequence[float], std: Sequence[float], seed: int
) -> nn.Sequential:
    """Normalize → AOL lift (2 → width) → depth × ReferenceCPLLinear → LLN head, seeded."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lift, head = AOLLinear(2, cfg.pi_width), NormalizedLinear(cfg.pi_width, 2)
    blocks = [
        ReferenceCPLLinear(cfg.pi_width, eps=cfg.cpl_eps, eval_iters=cfg.pi_eval_iters, seed=seed + 1 + i)
        for i in range(cfg.pi_depth)
    ]
    return nn.Sequential(Normalize(mean, std), lift, *blocks, head)


@_experiment
def power_iteration_gap(cfg: Ch03Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""One-step power iteration (CPL reference code) vs exact :math:`\sigma_1` vs the Gram upper bound.

    The reference CPL layer divides by :math:`\hat\sigma^2` from one power-iteration step per training
    step on a persistent vector; :math:`\hat\sigma \le \sigma_1 = \|W\|_2`, so its step
    :math:`2/(\hat\sigma^2+\varepsilon)` can exceed :math:`2/\sigma_1^2` and the layer's Lipschitz
    constant :math:`\max(1, 2\sigma_1^2/(\hat\sigma^2+\varepsilon) - 1)` (:func:`cpl_step_lipschitz`)
    exceed 1. stablecore's :class:`~stablecore.layers.CPLLinear` divides by a Gram bound
    :math:`\rho \ge \sigma_1` instead, so its constant is 1. Two settings:

    * ``"random"``: standard Gaussian :math:`W` of each shape in ``cfg.pi_shapes`` (``cfg.pi_draws``
      draws), :func:`reference_power_iteration` with ``n_iter`` ∈ ``cfg.pi_random_iters`` from a fresh
      random unit vector (float64);
    * ``"training"``: a two-moons network ``Normalize → AOL → cfg.pi_depth × ReferenceCPLLinear → LLN``
      trained with Adam for ``cfg.pi_steps`` steps (offset cross-entropy, CPU); at every step and layer,
      the :math:`\hat\sigma` the forward used (float32, as the reference) next to :math:`\sigma_1` and the
      Gram bound of the very weights it was applied to; ``"eval"`` rows: the 100-iteration value the
      reference uses at test time, after training.

    ``exact`` is the float64 SVD, ``gram`` :func:`~stablecore.spectral.matrix_norm` (``upper_bound``);
    ``pi_ratio = pi/exact`` (≤ 1 up to float32 rounding), ``gram_ratio = gram/exact`` (≥ 1);
    ``ref_lipschitz`` / ``ours_lipschitz`` the layer constants with :math:`\hat\sigma` / Gram (``exact``
    when :math:`W` has full row rank). ``step`` is the training step, or the draw for ``"random"``.
    Ids ``ch03.pi.random.<m>x<n>.draw<d>.pi<k>``, ``ch03.pi.training.layer<l>.step<s>``,
    ``ch03.pi.eval.layer<l>``.
    """
    rows: list[dict[str, Any]] = []
    for s, (m, n) in enumerate(cfg.pi_shapes):
        for d in range(cfg.pi_draws):
            gen = torch.Generator().manual_seed(seed * 1_000_003 + s * 100_003 + d)
            W = torch.randn(m, n, generator=gen, dtype=torch.float64)
            u0 = reference_normalize(torch.randn(n, generator=gen, dtype=torch.float64))
            stats = _weight_stats(W)
            for k in cfg.pi_random_iters:
                sigma, _ = reference_power_iteration(W, u0, k)
                rows.append(
                    _pi_row(f"ch03.pi.random.{m}x{n}.draw{d}.pi{k}", "random", f"{m}x{n}", None, d, k,
                            float(sigma), stats, cfg.cpl_eps)
                )  # fmt: skip
    data = load_dataset("moons", **_data_kwargs(cfg, "moons", seed))
    x, y = _tensors(data.train)
    net = _reference_cpl_net(cfg, data.mean, data.std, seed)
    layers = [(i, m) for i, m in enumerate(b for b in net if isinstance(b, ReferenceCPLLinear))]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    loss_fn = OffsetCrossEntropy(cfg.moons_offset, cfg.temperature)
    gen = torch.Generator().manual_seed(seed)
    order, pos = torch.randperm(len(x), generator=gen), 0
    shape = f"{cfg.pi_width}x{cfg.pi_width}"
    net.train()
    for step in range(1, cfg.pi_steps + 1):
        if pos + cfg.batch_size > len(order):
            order, pos = torch.randperm(len(x), generator=gen), 0
        idx = order[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        loss = loss_fn(net(x[idx]), y[idx])
        for i, layer in layers:  # the weights this forward used, before the update
            rows.append(
                _pi_row(f"ch03.pi.training.layer{i}.step{step}", "training", shape, i, step,
                        layer.train_iters, float(layer.last_sigma), _weight_stats(layer.weight), cfg.cpl_eps)
            )  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        net(x[:1])
    for i, layer in layers:
        rows.append(
            _pi_row(f"ch03.pi.eval.layer{i}", "eval", shape, i, cfg.pi_steps, layer.eval_iters,
                    float(layer.last_sigma), _weight_stats(layer.weight), cfg.cpl_eps)
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(PI_COLUMNS))
    return frame.astype({"layer": "Int64"})


def power_iteration_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (setting, shape, n_iter) of :func:`power_iteration_gap`: rows, smallest and median
    σ̂/σ₁, smallest Gram ratio ρ/σ₁, largest constant of the reference layer and the share of rows where
    it exceeds 1, largest constant of stablecore's layer."""
    check_frame(frame, PI_COLUMNS, "power_iteration_gap")
    grouped = frame.assign(_above=frame["ref_lipschitz"] > 1).groupby(
        ["setting", "shape", "n_iter"], sort=False
    )
    return grouped.agg(
        rows=("pi_ratio", "size"),
        min_pi_ratio=("pi_ratio", "min"),
        median_pi_ratio=("pi_ratio", "median"),
        min_gram_ratio=("gram_ratio", "min"),
        max_ref_lipschitz=("ref_lipschitz", "max"),
        share_ref_above_1=("_above", "mean"),
        max_ours_lipschitz=("ours_lipschitz", "max"),
    ).reset_index()


# ----------------------------------------------------------------------------------- Jacobian check
def _random_layer(name: str, features: int, gen: torch.Generator) -> nn.Module:
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG: keep it untouched
        layer: nn.Module = {
            "cpl": lambda: CPLLinear(features),
            "sll": lambda: SLLLinear(features),
            "aol": lambda: AOLLinear(features, features),
            "sr": lambda: SRLinear(features, features),
        }[name]()
    layer = layer.double()
    with torch.no_grad():
        for p in layer.parameters():  # W, b (and SLL's log q) ~ N(0, s²), s log-uniform in [e⁻², e²]
            scale = math.exp(4 * float(torch.rand((), generator=gen, dtype=torch.float64)) - 2)
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * scale)
    return layer


def _random_inputs(points: int, features: int, gen: torch.Generator) -> torch.Tensor:
    r"""Gaussian float64 inputs, each row scaled by :math:`e^{u}`, :math:`u\sim U[-1, 1]` (log-uniform)."""
    scale = torch.exp(2 * torch.rand(points, 1, generator=gen, dtype=torch.float64) - 1)
    return torch.randn(points, features, generator=gen, dtype=torch.float64) * scale


@_experiment
def jacobian_check(cfg: Ch03Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""Largest Jacobian spectral norm of random CPL, SLL, AOL and SR dense layers (docs/chapters/ch03.md §4
    [num]).

    For each layer of ``cfg.jacobian_layers``, ``cfg.jacobian_draws`` random layers of
    ``cfg.jacobian_features`` features in float64 whose parameters (weights, bias, SLL's
    :math:`\log q`) are Gaussian with a log-uniform scale in :math:`[e^{-2}, e^{2}]`, each evaluated at
    ``cfg.jacobian_points`` Gaussian inputs with a log-uniform scale in :math:`[e^{-1}, e]` (quick:
    60 × 5 = 300 draws; full: 300 × 10 = 3,000). ``jacobian_norm`` is :math:`\|J_h(x)\|_2` (float64
    autograd + SVD), a ``lower_bound`` of the layer's Lipschitz constant; ``bound`` is the constant the
    layer registers with :func:`~stablecore.spectral.lipschitz_bound` (``upper_bound``, 1 up to
    rounding margins). The thesis reports a maximum of 1.0000 over 3,000 draws. Ids
    ``ch03.<layer>.jacobian`` (the reported ids add ``.max_norm_3000``).
    """
    rows = []
    f, points = cfg.jacobian_features, cfg.jacobian_points
    for li, name in enumerate(cfg.jacobian_layers):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + li)
        for d in range(cfg.jacobian_draws):
            layer = _random_layer(name, f, gen)
            x = _random_inputs(points, f, gen)
            norms = torch.linalg.matrix_norm(input_jacobians(layer, x), 2)
            bound = lipschitz_bound(layer, (f,))
            rows += [
                {
                    "id": f"ch03.{name}.jacobian",
                    "layer": name,
                    "draw": d,
                    "point": p,
                    "features": f,
                    "jacobian_norm": float(norms[p]),
                    "kind": "lower_bound",
                    "bound": bound.value,
                    "bound_kind": bound.kind,
                }
                for p in range(points)
            ]
    return pd.DataFrame(rows, columns=list(JACOBIAN_COLUMNS))


@_experiment
def sll_gram_check(cfg: Ch03Config | None = None, *, seed: int = 0) -> pd.DataFrame:
    r"""SLL with Gram rescaling of depth :math:`k` (docs/chapters/ch02.md §3.1(d)) next to SLL (:math:`k=1`).

    :class:`~stablecore.layers.SLLGramLinear` replaces SLL's Gershgorin diagonal by
    :math:`T_i = \bigl(\sum_j \tfrac{q_j}{q_i}|((WW^\top)^{2^{k-1}})_{ij}|\bigr)^{2^{-(k-1)}}`
    (:func:`~stablecore.layers.sll_gram_inverse_diagonal`): still :math:`T \succeq WW^\top`, so the layer
    stays 1-Lipschitz, with a larger step where the Gershgorin sums were loose. For each of
    ``cfg.sll_gram_draws`` random SLL layers (parameters as in :func:`jacobian_check`:
    ``cfg.jacobian_features`` features, Gaussian with a log-uniform scale, float64), every depth of
    ``cfg.sll_gram_depths`` gets the *same* ``W``, ``b``, :math:`\log q` and the same
    ``cfg.jacobian_points`` inputs.

    Returns:
        One row per (depth, draw, point) (columns :data:`SLL_GRAM_COLUMNS`): ``jacobian_norm``
        :math:`\|J_h(x)\|_2` (``lower_bound`` of the layer's constant), ``bound`` the registered
        :func:`~stablecore.spectral.lipschitz_bound` (``upper_bound``), ``step_ratio`` the mean over
        units of :math:`T^{(1)}_i/T^{(k)}_i` (above 1 means a larger step than SLL's on average; not for
        every unit) and ``distance_to_sll`` :math:`\|h_k(x) - h_\text{SLL}(x)\|_2` (zero up to rounding
        for ``k = 1``). Ids ``ch03.sll_gram.depth<k>``.
    """
    rows = []
    f, points = cfg.jacobian_features, cfg.jacobian_points
    gen = torch.Generator().manual_seed(seed * 1_000_003 + 17)
    for d in range(cfg.sll_gram_draws):
        sll = _random_layer("sll", f, gen)
        x = _random_inputs(points, f, gen)
        with torch.no_grad():
            y_sll = sll(x)
            t_sll = sll_inverse_diagonal(sll.weight, sll.log_q)
        for k in cfg.sll_gram_depths:
            with torch.random.fork_rng(devices=[]):
                layer = SLLGramLinear(f, depth=k, dtype=torch.float64)
            layer.load_state_dict(sll.state_dict())
            norms = torch.linalg.matrix_norm(input_jacobians(layer, x), 2)
            bound = lipschitz_bound(layer, (f,))
            with torch.no_grad():
                t_k = sll_gram_inverse_diagonal(layer.weight, layer.log_q, k)
                used = (t_sll > 0) & (t_k > 0)
                ratio = float((t_k[used] / t_sll[used]).mean()) if bool(used.any()) else 1.0
                distance = torch.linalg.vector_norm(layer(x) - y_sll, dim=1)
            rows += [
                {
                    "id": f"ch03.sll_gram.depth{k}",
                    "depth": int(k),
                    "draw": d,
                    "point": p,
                    "features": f,
                    "jacobian_norm": float(norms[p]),
                    "kind": "lower_bound",
                    "bound": bound.value,
                    "bound_kind": bound.kind,
                    "step_ratio": ratio,
                    "distance_to_sll": float(distance[p]),
                }
                for p in range(points)
            ]
    return pd.DataFrame(rows, columns=list(SLL_GRAM_COLUMNS))


# ----------------------------------------------------------------------------------- reported numbers
EXPERIMENTS: dict[str, Callable[..., pd.DataFrame]] = {
    "moons_boundaries": moons_boundaries,
    "offset_tradeoff": offset_tradeoff,
    "digits_certified": digits_certified,
    "cifar10_certified": cifar10_certified,
    "power_iteration_gap": power_iteration_gap,
    "jacobian_check": jacobian_check,
    "sll_gram_check": sll_gram_check,
}
"""The chapter's experiments by name (the keys :func:`reported_comparison` expects)."""


def _jacobian_max(layer: str) -> Getter:
    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        frame = results.get("jacobian_check")
        if frame is None or "id" not in frame.columns:
            return None
        hit = frame.loc[frame["id"] == f"ch03.{layer}.jacobian", "jacobian_norm"]
        return None if hit.empty else float(hit.max())

    return get


def _cifar_rows(results: Mapping[str, pd.DataFrame], family: str) -> pd.DataFrame | None:
    frame = results.get("cifar10_certified")
    if frame is None or not {"family", "size", "id"} <= set(frame.columns):
        return None
    rows = frame[(frame["family"] == family) & (frame["size"] == "small")]
    return None if rows.empty else rows


def _cifar_percent(family: str, metric: str) -> Getter:
    """Our CIFAR-10 ``small`` network of ``family``: clean or certified accuracy (``eps36`` ...) in %."""

    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        rows = _cifar_rows(results, family)
        if rows is None:
            return None
        if metric == "clean":
            return 100.0 * float(rows["clean_accuracy"].iloc[0])
        hit = rows.loc[rows["id"].str.endswith("." + metric), "certified_accuracy"]
        return None if hit.empty else 100.0 * float(hit.iloc[0])

    return get


def _throughput_ratio(a: str, b: str) -> Getter:
    def get(results: Mapping[str, pd.DataFrame]) -> float | None:
        ra, rb = _cifar_rows(results, a), _cifar_rows(results, b)
        if ra is None or rb is None:
            return None
        den = float(rb["train_img_per_s"].iloc[0])
        return float(ra["train_img_per_s"].iloc[0]) / den if den > 0 else None

    return get


def _comparison_specs() -> list[Compared]:
    """Every reported number an experiment measures: where its value is and how ours was obtained."""
    jac = "jacobian_check"
    specs = [
        Compared(
            f"ch03.{layer}.jacobian.max_norm_{3000}",
            jac,
            _jacobian_max(layer),
            "max over this run's draws (3,000 in full mode), our random layers (sizes not given)",
        )
        for layer in ("cpl", "sll", "aol")
    ]
    cifar = "cifar10_certified"
    not_run = "cifar10_certified was not run (full mode only)"
    budget = (
        "ours: SLL-code 'small' conv net, Ch03Config.cifar_epochs epochs of Adam, no augmentation "
        "(reduced budget; full mode only)"
    )
    metrics5 = ("clean", "eps36", "eps72", "eps108", "eps255")
    specs += [
        Compared(
            f"ch03.sll23.cifar10.small.{m}", cifar, _cifar_percent("sll", m), budget + "; SLL: 1000 epochs",
            not_run=not_run,
        )
        for m in metrics5
    ]  # fmt: skip
    specs += [
        Compared(
            f"ch03.cpl22.cifar10.s.{m}", cifar, _cifar_percent("cpl", m),
            "ours: the CPL code's default conv net (no S size transcribed); " + budget, not_run=not_run,
        )
        for m in metrics5[:4]
    ]  # fmt: skip
    specs += [
        Compared(
            f"ch03.prach24.cifar10.{layer}.s.{m}", cifar, _cifar_percent(layer, m),
            budget + "; Prach: their ConvNet-S, 24 h on an A100", not_run=not_run,
        )
        for layer in ("aol", "cpl", "sll")
        for m in ("clean", "eps36")
    ]  # fmt: skip
    specs.append(
        Compared(
            "ch03.prach24.throughput_ratio.cpl_over_sll", cifar, _throughput_ratio("cpl", "sll"),
            "ratio of our training images/s (per-epoch evaluation included), 'small' nets, this device",
            not_run=not_run,
        )
    )  # fmt: skip
    return specs


_CURVES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("SLL Small (Araujo et al.)", "ch03.sll23.cifar10.small", ("eps36", "eps72", "eps108", "eps255")),
    ("SLL X-Large (Araujo et al.)", "ch03.sll23.cifar10.xlarge", ("eps36", "eps72", "eps108", "eps255")),
    ("CPL-XL (Meunier et al.)", "ch03.cpl22.cifar10.xl", ("eps36", "eps72", "eps108")),
    (
        "AOL-Large (Prach et al. table)",
        "ch03.sll23.cifar10.aol_large",
        ("eps36", "eps72", "eps108", "eps255"),
    ),
    ("CPL ConvNet-S, 24 h (Prach et al.)", "ch03.prach24.cifar10.cpl.s", ("eps36",)),
    ("SLL ConvNet-S, 24 h (Prach et al.)", "ch03.prach24.cifar10.sll.s", ("eps36",)),
    ("AOL ConvNet-S, 24 h (Prach et al.)", "ch03.prach24.cifar10.aol.s", ("eps36",)),
)


def reported_cifar_curves() -> pd.DataFrame:
    """The reported CIFAR-10 certified accuracies as curves (``label, id, eps, value, status``; ``value``
    a fraction, ε in pixel units: 36/255 ...), for :func:`stablecore.plots.certified_accuracy_plot`'s
    ``reported`` overlay. Numbers the chapter note does not give are left out."""
    table = reported_numbers(CHAPTER).set_index("id")
    rows = []
    for label, prefix, metrics in _CURVES:
        for metric in metrics:
            rep = table.loc[f"{prefix}.{metric}"]
            if rep["status"] == "not transcribed":
                continue
            rows.append(
                {
                    "label": label,
                    "id": f"{prefix}.{metric}",
                    "eps": int(metric[3:]) / 255,
                    "value": float(rep["value"]) / 100,
                    "status": rep["status"],
                }
            )
    return pd.DataFrame(rows, columns=["label", "id", "eps", "value", "status"])


def compared_ids(experiment: str | None = None) -> list[str]:
    """Ids of the reported numbers that an experiment of this chapter measures (all, or those of
    ``experiment``), in :func:`~stablecore.chapters.reported_numbers` order."""
    return common_compared_ids(CHAPTER, EXPERIMENTS, _comparison_specs(), experiment)


def reported_comparison(results: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every reported number of the chapter next to the value the experiments measured.

    Args:
        results: experiment name (a key of :data:`EXPERIMENTS`) -> the DataFrame it returned; missing
            experiments leave their numbers unmeasured (CIFAR-10 runs in full mode only).

    Returns:
        One row per reported number (:func:`~stablecore.chapters.reported_numbers` order) with columns
        ``id, quantity, unit, status, reported, measured, measured_by, comparison, note``. ``status`` is
        the reported number's own (``transcribed`` / ``recalled`` / ``not transcribed``);
        ``comparison`` is ``"measured"`` (both values), ``"not measured"`` (no experiment of this
        notebook, or not in this mode: ``note`` says which) or ``"not transcribed"`` (the chapter
        note gives no value; ``measured`` still shows ours when we have it). Accuracies are converted to %.
    """
    return comparison_table(CHAPTER, EXPERIMENTS, results, _comparison_specs())
