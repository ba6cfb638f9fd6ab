"""Curvature side by side: stablecore vs PyHessian (top-k, trace, density), vs loss-landscapes (2-D slices),
vs curvlinops + SciPy (top-k, trace).

Same model, batch and seeds for both sides, in one run (issue 13, "Benchmark"):

* models: a digits MLP 64-32-10 (2,410 parameters; the first 512 training examples as one batch), small
  enough for its dense float64 Hessian, and a ResNet-20 (272k parameters) on a seeded random
  CIFAR-shaped batch; both in eval mode for both libraries (PyHessian calls ``model.eval()`` itself;
  stablecore evaluates in eval mode by default without touching the flags);
* (a) top eigenvalue and top 5 by magnitude (``which="LM"``, what PyHessian's power iteration with
  deflation returns): stablecore Lanczos (``tol=1e-4``) vs ``pyhessian.hessian.eigenvalues`` (its
  defaults ``maxIter=100, tol=1e-3``): value, error against the dense Hessian (MLP), Hessian-vector
  products, wall time;
* (b) Hutchinson trace at equal samples (PyHessian with ``tol=-inf`` so that it draws them all);
* (c) spectral density (SLQ) at equal Lanczos steps and runs (PyHessian's ``density`` calls the removed
  ``torch.eig``: it is timed with a shim that answers through ``torch.linalg.eigh``);
* (d) a 51×51 filter-normalised landscape of the MLP: ``stablecore.landscape.slice_2d`` vs
  ``loss_landscapes.random_plane(deepcopy_model=True)`` (each with its own random plane), grid points per
  second against the model's plain forward throughput on the batch, whether the centre is on the grid,
  whether the model is untouched;
* (e) (when curvlinops is installed; issue 23) curvlinops' ``HessianLinearOperator`` with
  ``scipy.sparse.linalg.eigsh`` (ARPACK, top-k LM, same ``tol``) beside stablecore's Lanczos on its own
  operator and on curvlinops' (through :func:`stablecore.curvature.as_operator`), and curvlinops'
  batched ``hutchinson_trace`` beside ``hessian_trace`` (probes batched, and one at a time) with the
  same number of products.

Each timed call is end to end (operator / wrapper construction included). Competing calls are interleaved
round by round (the machine is shared) and the median per call is reported; ResNet-20 calls are single.
``python -m benchmarks.bench_curvature`` writes ``results/bench_curvature.{json,md}``; ``--quick`` runs tiny
sizes and writes ``bench_curvature_quick.*`` to a temporary directory (the smoke test).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.sparse.linalg import eigsh
from torch import nn
from torch.func import functional_call

from benchmarks import common
from benchmarks.common import write_results
from stablecore.chapters.common import threads as torch_threads
from stablecore.curvature import (
    HessianOperator,
    eigenvalues,
    hessian_density,
    hessian_eigenvalues,
    hessian_trace,
)
from stablecore.curvature.lanczos import lanczos
from stablecore.data import load_dataset
from stablecore.landscape import slice_2d
from stablecore.models import build_model

THREADS = torch.get_num_threads()  # the machine's default, set explicitly in main() and recorded
SEED = 0
LOSS = nn.CrossEntropyLoss()
TOL = 1e-4  # stablecore Lanczos: relative eigenvalue error (its gap-theorem estimate, criterion="error")
# (a)-(c) on the digits MLP run with one torch (and BLAS) thread for both libraries: a Hessian-vector
# product there is ~1 ms, where a second thread on the shared 2-core machine only adds contention
MLP_THREADS = 1
PEER_NOTES: list[str] = []


@dataclass(frozen=True)
class Sizes:
    hidden: tuple[int, ...] = (32,)
    examples: int = 512  # first digits training examples, one batch
    resnet_shape: tuple[int, int, int] = (3, 32, 32)
    resnet_batch: int = 64
    top_k: int = 5
    trace_mlp: int = 100
    trace_resnet: int = 20
    density_mlp: tuple[int, int] = (100, 3)  # (Lanczos steps, runs)
    density_resnet: tuple[int, int] = (20, 1)
    pyhessian_max_iter: int = 100  # PyHessian's default
    grid_steps: int = 51
    chunks: tuple[int, ...] = (8, 64)  # extra stablecore chunk sizes besides the automatic one
    repeats: int = 3  # interleaved rounds for the MLP and the landscape
    resnet_repeats: int = 3  # interleaved rounds for ResNet-20 (no warm-up call: a warm-up backward)
    forward_block: int = 500  # forward passes per timed forward call


FULL = Sizes()
QUICK = Sizes(
    hidden=(8,),
    examples=64,
    resnet_shape=(3, 8, 8),
    resnet_batch=2,
    top_k=2,
    trace_mlp=8,
    trace_resnet=4,
    density_mlp=(8, 1),
    density_resnet=(5, 1),
    pyhessian_max_iter=10,
    grid_steps=11,
    chunks=(8,),
    repeats=1,
    resnet_repeats=1,
    forward_block=20,
)


# ----------------------------------------------------------------------------------- peers
def _import_peers() -> tuple[Any, Any, Any, Any]:
    """PyHessian's ``hessian`` class and its module, loss-landscapes' ``random_plane`` and ``Loss``."""
    ph_cls = ph_mod = plane = metric = None
    try:
        from pyhessian import hessian as ph_cls

        ph_mod = sys.modules["pyhessian.hessian"]  # the package re-exports the class under the same name
    except Exception as exc:  # pragma: no cover - depends on the environment
        PEER_NOTES.append(f"PyHessian skipped: {type(exc).__name__}: {exc}")
    try:
        from loss_landscapes import random_plane as plane
        from loss_landscapes.metrics import Loss as metric
    except Exception as exc:  # pragma: no cover
        PEER_NOTES.append(f"loss-landscapes skipped: {type(exc).__name__}: {exc}")
    if "torchvision" in sys.modules:  # pragma: no cover
        PEER_NOTES.append("a peer imported torchvision")
    return ph_cls, ph_mod, plane, metric


PYHESSIAN, PH_MODULE, RANDOM_PLANE, LL_LOSS = _import_peers()


@contextlib.contextmanager
def _count_pyhessian_hvps() -> Iterator[list[int]]:
    """Count PyHessian's Hessian-vector products (its module-level ``hessian_vector_product``)."""
    count = [0]
    original = PH_MODULE.hessian_vector_product

    def counted(*args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return original(*args, **kwargs)

    PH_MODULE.hessian_vector_product = counted
    try:
        yield count
    finally:
        PH_MODULE.hessian_vector_product = original


@contextlib.contextmanager
def _torch_eig_shim() -> Iterator[None]:
    """``torch.eig(T, eigenvectors=True)`` (removed in torch 2) for PyHessian's SLQ, answered by ``eigh``
    (T is a symmetric tridiagonal): eigenvalues as ``(n, 2)`` real/imaginary columns, eigenvectors."""

    def eig(matrix: torch.Tensor, eigenvectors: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        w, v = torch.linalg.eigh(matrix)
        return torch.stack([w, torch.zeros_like(w)], dim=1), v

    missing = object()
    saved = getattr(torch, "eig", missing)
    torch.eig = eig
    try:
        yield
    finally:
        if saved is missing:
            del torch.eig
        else:
            torch.eig = saved


def pyhessian_call(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], fn: Callable[[Any], Any]):
    """``(fn(hessian(model, ...)), HVPs)`` with the global RNG seeded (PyHessian draws from it); the
    ``.grad`` fields PyHessian fills (with their graph) are cleared before and after."""
    model.zero_grad(set_to_none=True)
    torch.manual_seed(SEED)
    try:
        with warnings.catch_warnings(), _count_pyhessian_hvps() as count:
            warnings.simplefilter("ignore")  # backward(create_graph=True) reference-cycle warning
            out = fn(PYHESSIAN(model, LOSS, data=data, cuda=False))
    finally:
        model.zero_grad(set_to_none=True)
    return out, count[0]


# ----------------------------------------------------------------------------------- helpers
def interleaved(
    fns: dict[str, Callable[[], Any]], *, repeats: int, warmup: int = 1
) -> tuple[dict[str, Any], dict[str, float]]:
    """Warm-up calls, then ``repeats`` rounds calling every function once per round; median per function
    (on a shared machine the load changes from second to second: interleaving exposes the competitors to
    the same load)."""
    outs: dict[str, Any] = {}
    for _ in range(warmup):
        outs = {name: fn() for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            outs[name] = fn()
            times[name].append(time.perf_counter() - start)
    return outs, {name: statistics.median(t) for name, t in times.items()}


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in values) + "]"


def _lm(values: Any, k: int) -> np.ndarray:
    """The ``k`` values of largest magnitude, by decreasing magnitude."""
    arr = np.asarray(values, dtype=float)
    return arr[np.argsort(-np.abs(arr), kind="stable")][:k]


def _rel(value: float, ref: float | None) -> float:
    return abs(value / ref - 1) if ref else float("nan")


class Table:
    COLUMNS = (
        "part", "model", "method", "value", "truth", "rel_err", "detail", "n_hvp", "time_s", "ratio",
        "target", "met",
    )  # fmt: skip

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, part: str, model: str, method: str, **cells: Any) -> dict[str, Any]:
        row: dict[str, Any] = {c: "" for c in self.COLUMNS}
        row.update(part=part, model=model, method=method, **cells)
        for c in ("value", "truth", "rel_err", "time_s", "ratio"):
            row[c] = float(row[c]) if row[c] not in ("", None) else float("nan")
        row["n_hvp"] = "" if row["n_hvp"] in ("", None) else str(row["n_hvp"])
        self.rows.append(row)
        return row

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(self.COLUMNS))


# ----------------------------------------------------------------------------------- models and truth
def mlp_case(sizes: Sizes) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    bundle = load_dataset("digits")
    pairs = [bundle.train[i] for i in range(sizes.examples)]
    x = torch.stack([p[0] for p in pairs])
    y = torch.as_tensor([int(p[1]) for p in pairs])
    model = build_model(
        "mlp", input_shape=bundle.input_shape, num_classes=bundle.num_classes, mean=bundle.mean,
        std=bundle.std, hidden=list(sizes.hidden), seed=SEED,
    )  # fmt: skip
    return model.eval(), (x, y)


def resnet_case(sizes: Sizes) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    model = build_model("resnet20", input_shape=sizes.resnet_shape, num_classes=10, seed=SEED).eval()
    g = torch.Generator().manual_seed(SEED)
    x = torch.rand((sizes.resnet_batch, *sizes.resnet_shape), generator=g)
    y = torch.randint(0, 10, (sizes.resnet_batch,), generator=g)
    return model, (x, y)


def dense_hessian(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], chunk: int = 128) -> np.ndarray:
    """The loss Hessian of a float64 copy of ``model`` (eval mode), independent of stablecore's operator:
    one gradient graph, then batches of ``chunk`` unit vectors through one double-backward
    (``is_grads_batched``)."""
    m64 = copy.deepcopy(model).double().eval()
    params = {n: p.detach().requires_grad_(True) for n, p in m64.named_parameters()}
    buffers = {n: b.detach() for n, b in m64.named_buffers()}
    x, y = data[0].double(), data[1]
    loss = LOSS(functional_call(m64, {**params, **buffers}, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    flat = torch.cat([g.reshape(-1) for g in grads])
    n = flat.numel()
    hess = torch.empty((n, n), dtype=torch.float64)
    for s in range(0, n, chunk):
        e = torch.zeros((min(chunk, n - s), n), dtype=torch.float64)
        e[torch.arange(len(e)), torch.arange(s, s + len(e))] = 1.0
        cols = torch.autograd.grad(flat, list(params.values()), grad_outputs=e, is_grads_batched=True,
                                   retain_graph=True)  # fmt: skip
        hess[s : s + len(e)] = torch.cat([c.reshape(len(e), -1) for c in cols], dim=1)
    return ((hess + hess.T) / 2).numpy()


def check_truth(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], hess: np.ndarray) -> float:
    """Largest relative deviation of ``hess @ v`` from stablecore's float64 operator on two random vectors."""
    from stablecore.curvature import HessianOperator

    op = HessianOperator(copy.deepcopy(model).double(), LOSS, (data[0].double(), data[1]))
    g = torch.Generator().manual_seed(SEED + 1)
    worst = 0.0
    for _ in range(2):
        v = torch.randn(op.size, generator=g, dtype=torch.float64)
        hv = op.matvec(v).numpy()
        worst = max(worst, float(np.linalg.norm(hess @ v.numpy() - hv) / np.linalg.norm(hv)))
    return worst


# ----------------------------------------------------------------------------------- (a) eigenvalues
def oracle_lanczos_steps(
    model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], k: int, ref: np.ndarray, tol: float = 1e-4
) -> int | None:
    """The fewest Lanczos steps (= products) after which the top-``k`` (LM) Ritz values from stablecore's
    start vector are all within ``tol`` of the dense truth ``ref``: an oracle that knows the answer and
    stops there, the floor for any stopping rule (the Ritz values of step m are the eigenvalues of T's
    leading m × m block)."""
    op = HessianOperator(model, LOSS, data)
    _, _, _, a, b = lanczos(
        op.matvec, op.size, k=k, which="LM", max_steps=min(op.size, 120), seed=SEED, device=op.device,
        stop=False,
    )  # fmt: skip
    for m in range(k, len(a) + 1):
        t = np.diag(a[:m]) + np.diag(b[: m - 1], 1) + np.diag(b[: m - 1], -1)
        if np.all(np.abs(_lm(np.linalg.eigvalsh(t), k) / ref[:k] - 1) <= tol):
            return m
    return None


def part_eigen(
    table: Table,
    name: str,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    k: int,
    truth: np.ndarray | None,
    sizes: Sizes,
    *,
    repeats: int,
    warmup: int,
    target: tuple[float, str],
) -> dict[str, Any]:
    """Top-``k`` (LM) by stablecore Lanczos vs PyHessian power iteration; ``target = (ratio, label)``."""
    fns = {
        "ours": lambda: hessian_eigenvalues(model, LOSS, data, k=k, which="LM", tol=TOL, seed=SEED),
        "pyhessian": lambda: pyhessian_call(
            model, data, lambda h: h.eigenvalues(maxIter=sizes.pyhessian_max_iter, tol=1e-3, top_n=k)[0]
        ),
    }
    outs, secs = interleaved(fns, repeats=repeats, warmup=warmup)
    ours = outs["ours"]
    peer_values, peer_hvp = outs["pyhessian"]
    ours_vals, peer_vals = _lm(ours.eigenvalues, k), _lm(peer_values, k)
    ratio = secs["ours"] / secs["pyhessian"]
    ref = _lm(truth, k) if truth is not None else None
    part = f"(a) top-{k} LM"

    def errs(vals: np.ndarray) -> tuple[float, float]:
        if ref is None:
            return float("nan"), float("nan")
        rel = np.abs(vals / ref - 1)
        return float(rel[0]), float(rel.max())

    (o1, omax), (p1, pmax) = errs(ours_vals), errs(peer_vals)
    floor = oracle_lanczos_steps(model, data, k, ref) if ref is not None else None
    err_ok = ref is None or (o1 <= 1e-4 if k == 1 else omax <= 1e-4)
    met = ratio <= target[0] and err_ok
    figures = f"{ratio:.2f}× PyHessian's time"
    if ref is not None:
        figures += f", rel. err {o1 if k == 1 else omax:.1e}" + (" (max over k)" if k > 1 else "")
    detail = [] if k == 1 else ["values " + _fmt(ours_vals)]
    if ref is not None and k > 1:
        detail.append(f"max rel. err over k {omax:.1e}")
    detail.append(f"max residual {float(np.max(ours.residuals)):.1e}")
    if floor is not None:
        detail.append(f"oracle floor {floor} products (first Lanczos step with all {k} within 1e-4)")
    table.add(
        part, name, f"stablecore Lanczos (LM, tol {TOL:g})", value=ours_vals[0],
        truth=ref[0] if ref is not None else None, rel_err=o1, detail="; ".join(detail),
        n_hvp=ours.n_hvp, time_s=secs["ours"], ratio=ratio, target=target[1], met=f"{_yes(met)}: {figures}",
    )  # fmt: skip
    pdetail = "" if k == 1 else "values " + _fmt(peer_vals)
    if ref is not None and k > 1:
        pdetail += f"; max rel. err over k {pmax:.1e}"
    table.add(
        part, name, f"PyHessian power iteration (maxIter {sizes.pyhessian_max_iter}, tol 1e-3)",
        value=peer_vals[0], truth=ref[0] if ref is not None else None, rel_err=p1, detail=pdetail,
        n_hvp=peer_hvp, time_s=secs["pyhessian"],
    )  # fmt: skip
    return {
        "model": name,
        "k": k,
        "ours": ours_vals.tolist(),
        "ours_residuals": np.asarray(ours.residuals).tolist(),
        "pyhessian": [float(v) for v in peer_values],
        "truth": ref.tolist() if ref is not None else None,
        "ours_rel_err_top1": o1,
        "ours_rel_err_max": omax,
        "pyhessian_rel_err_top1": p1,
        "pyhessian_rel_err_max": pmax,
        "ours_n_hvp": ours.n_hvp,
        "oracle_floor_n_hvp": floor,
        "pyhessian_n_hvp": peer_hvp,
        "ours_s": secs["ours"],
        "pyhessian_s": secs["pyhessian"],
        "ratio": ratio,
        "target_ratio": target[0],
        "met": met,
    }


# ----------------------------------------------------------------------------------- (b) trace
def part_trace(
    table: Table,
    name: str,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    samples: int,
    truth: float | None,
    *,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    fns = {
        "ours": lambda: hessian_trace(model, LOSS, data, num_samples=samples, seed=SEED),
        "pyhessian": lambda: pyhessian_call(model, data, lambda h: h.trace(maxIter=samples, tol=-math.inf)),
    }
    outs, secs = interleaved(fns, repeats=repeats, warmup=warmup)
    ours = outs["ours"]
    peer_samples, peer_hvp = outs["pyhessian"]
    arr = np.asarray(peer_samples, dtype=float)
    peer_mean, peer_se = float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size))
    diff = abs(ours.mean - peer_mean)
    se_diff = math.hypot(ours.stderr, peer_se)
    agree = diff <= 3 * se_diff
    z_truth = abs(ours.mean - truth) / ours.stderr if truth is not None else float("nan")
    ratio = secs["ours"] / secs["pyhessian"]
    part = f"(b) trace, {samples} samples"
    met = f"{_yes(agree)}: |Δ| = {diff:.4g} = {diff / se_diff:.2f} stderr of the difference"
    if truth is not None:
        met += f"; ours {z_truth:.2f} stderr from the dense trace"
    table.add(
        part, name, "stablecore Hutchinson (Rademacher)", value=ours.mean, truth=truth,
        rel_err=_rel(ours.mean, truth), detail=f"stderr {ours.stderr:.3g}", n_hvp=ours.n_hvp,
        time_s=secs["ours"], ratio=ratio, target="equal within 3 stderr", met=met,
    )  # fmt: skip
    table.add(
        part, name, "PyHessian trace (Rademacher, tol=-inf: all samples)", value=peer_mean, truth=truth,
        rel_err=_rel(peer_mean, truth), detail=f"stderr {peer_se:.3g} (from its samples)", n_hvp=peer_hvp,
        time_s=secs["pyhessian"],
    )  # fmt: skip
    return {
        "model": name,
        "samples": samples,
        "ours_mean": ours.mean,
        "ours_stderr": ours.stderr,
        "pyhessian_mean": peer_mean,
        "pyhessian_stderr": peer_se,
        "diff_in_stderr": diff / se_diff if se_diff else float("nan"),
        "truth": truth,
        "ours_truth_z": z_truth,
        "agree": agree,
        "ours_s": secs["ours"],
        "pyhessian_s": secs["pyhessian"],
        "ratio": ratio,
    }


# ----------------------------------------------------------------------------------- (c) density
def pyhessian_density_error(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> str:
    """What PyHessian's ``density`` does without the shim (it calls ``torch.eig``)."""
    try:
        pyhessian_call(model, data, lambda h: h.density(iter=2, n_v=1))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0].split('. ')[0]}"
    return "ran"


def part_density(
    table: Table,
    name: str,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    steps: int,
    runs: int,
    lam_max: float | None,
    *,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    def peer() -> tuple[Any, int]:
        with _torch_eig_shim():
            return pyhessian_call(model, data, lambda h: h.density(iter=steps, n_v=runs))

    fns = {
        "ours": lambda: hessian_density(model, LOSS, data, lanczos_steps=steps, num_runs=runs, seed=SEED),
        "pyhessian": peer,
    }
    outs, secs = interleaved(fns, repeats=repeats, warmup=warmup)
    ours = outs["ours"]
    (peer_nodes, peer_weights), peer_hvp = outs["pyhessian"]
    pn, pw = np.asarray(peer_nodes, dtype=float), np.asarray(peer_weights, dtype=float)
    ratio = secs["ours"] / secs["pyhessian"]
    part = f"(c) density, {steps} steps × {runs} run{'s' if runs > 1 else ''}"
    ours_top = float(np.nanmax(ours.nodes))
    table.add(
        part, name, "stablecore SLQ (full reorth., float64 basis)", value=ours_top, truth=lam_max,
        rel_err=_rel(ours_top, lam_max),
        detail=f"value: largest node; mean Σw·θ = {float(np.nansum(ours.nodes * ours.weights)) / runs:.4g}",
        n_hvp=ours.n_hvp, time_s=secs["ours"], ratio=ratio,
    )  # fmt: skip
    table.add(
        part, name, "PyHessian density (torch.eig shim → eigh)", value=float(pn.max()), truth=lam_max,
        rel_err=_rel(float(pn.max()), lam_max),
        detail=f"value: largest node; mean Σw·θ = {float((pn * pw).sum()) / runs:.4g}", n_hvp=peer_hvp,
        time_s=secs["pyhessian"],
    )  # fmt: skip
    return {
        "model": name,
        "steps": steps,
        "runs": runs,
        "ours_s": secs["ours"],
        "pyhessian_s": secs["pyhessian"],
        "ratio": ratio,
        "ours_largest_node": ours_top,
        "pyhessian_largest_node": float(pn.max()),
        "ours_n_hvp": ours.n_hvp,
        "pyhessian_n_hvp": peer_hvp,
    }


# ----------------------------------------------------------------------------------- (e) curvlinops
def _import_curvlinops() -> Any:
    try:
        import curvlinops
    except Exception as exc:  # pragma: no cover - depends on the environment
        PEER_NOTES.append(f"curvlinops skipped: {type(exc).__name__}: {exc}")
        return None
    return curvlinops


CURVLINOPS = _import_curvlinops()


def curvlinops_hessian(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> Any:
    """curvlinops' ``HessianLinearOperator`` on the same model (eval mode), loss and batch; its
    determinism check (extra products at construction) is off, as stablecore's costs none."""
    params = [p for p in model.parameters() if p.requires_grad]
    return CURVLINOPS.HessianLinearOperator(model, LOSS, params, [data], check_deterministic=False)


def _counted_scipy(op: Any) -> tuple[Any, list[int]]:
    """``op.to_scipy()`` in float64 (as stablecore's Lanczos basis), counting its products."""
    from scipy.sparse.linalg import LinearOperator as ScipyLinearOperator

    inner, count, dtype = op.to_scipy(), [0], op.dtype

    def matvec(v: np.ndarray) -> np.ndarray:
        count[0] += 1
        t = torch.as_tensor(np.asarray(v, dtype=float).reshape(-1)).to(dtype).numpy()
        return np.asarray(inner.matvec(t), dtype=float)

    return ScipyLinearOperator(inner.shape, matvec=matvec, dtype=np.float64), count


def part_curvlinops(
    table: Table,
    name: str,
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    k: int,
    samples: int,
    truth: np.ndarray | None,
    *,
    repeats: int,
    warmup: int,
) -> dict[str, Any]:
    """Top-``k`` (LM) and the Hutchinson trace at equal products: stablecore (its Hessian operator; and
    its Lanczos on curvlinops' operator through the SciPy adapter) vs curvlinops' Hessian with
    ``scipy.sparse.linalg.eigsh`` (ARPACK, ``tol`` = ours) and curvlinops' ``hutchinson_trace``."""

    def peer_eigsh() -> tuple[np.ndarray, int]:
        linop, count = _counted_scipy(curvlinops_hessian(model, data))
        return eigsh(linop, k=k, which="LM", tol=TOL, return_eigenvectors=False), count[0]

    def peer_trace() -> float:
        torch.manual_seed(SEED)  # curvlinops draws its probes from the global RNG
        return float(CURVLINOPS.hutchinson_trace(curvlinops_hessian(model, data), samples))

    eig_fns = {
        "ours": lambda: hessian_eigenvalues(model, LOSS, data, k=k, which="LM", tol=TOL, seed=SEED),
        "ours_on_peer": lambda: eigenvalues(
            curvlinops_hessian(model, data), k=k, which="LM", tol=TOL, seed=SEED
        ),
        "eigsh": peer_eigsh,
    }
    trace_fns = {
        "ours": lambda: hessian_trace(model, LOSS, data, num_samples=samples, seed=SEED),
        "ours_looped": lambda: hessian_trace(model, LOSS, data, num_samples=samples, seed=SEED, block_size=1),
        "curvlinops": peer_trace,
    }
    outs, secs = interleaved(eig_fns, repeats=repeats, warmup=warmup)
    touts, tsecs = interleaved(trace_fns, repeats=repeats, warmup=warmup)
    ref = _lm(truth, k) if truth is not None else None
    peer_vals, peer_hvp = _lm(outs["eigsh"][0], k), outs["eigsh"][1]

    def err(vals: np.ndarray) -> float:
        return float(np.max(np.abs(vals / ref - 1))) if ref is not None else float("nan")

    part = f"(e) top-{k} LM vs curvlinops + eigsh"
    rows = [
        ("ours", f"stablecore Lanczos on HessianOperator (LM, tol {TOL:g})", outs["ours"].eigenvalues,
         outs["ours"].n_hvp),
        ("ours_on_peer", "stablecore Lanczos on curvlinops' HessianLinearOperator (adapter)",
         outs["ours_on_peer"].eigenvalues, outs["ours_on_peer"].n_hvp),
        ("eigsh", f"scipy eigsh (ARPACK, tol {TOL:g}) on curvlinops' HessianLinearOperator", peer_vals,
         peer_hvp),
    ]  # fmt: skip
    for key, method, vals, n_hvp in rows:
        vals = _lm(vals, k)
        table.add(
            part, name, method, value=vals[0], truth=ref[0] if ref is not None else None,
            rel_err=_rel(vals[0], ref[0] if ref is not None else None),
            detail=f"values {_fmt(vals)}" + (f"; max rel. err {err(vals):.1e}" if ref is not None else ""),
            n_hvp=n_hvp, time_s=secs[key], ratio=secs[key] / secs["eigsh"],
        )  # fmt: skip
    ours_t, peer_t = touts["ours"], touts["curvlinops"]
    trace_truth = float(np.sum(truth)) if truth is not None else None
    tpart = f"(e) trace, {samples} products vs curvlinops"
    # curvlinops' estimate has no standard error; both average the same number of Rademacher probes, so
    # the standard error of the difference is about √2 times ours
    se_diff = math.sqrt(2) * ours_t.stderr
    agree = abs(ours_t.mean - peer_t) <= 3 * se_diff
    for key, method, value, detail in [
        ("ours", "stablecore hessian_trace (probes batched, vmap)", ours_t.mean,
         f"stderr {ours_t.stderr:.3g}"),
        ("ours_looped", "stablecore hessian_trace (block_size=1: one product per probe)",
         touts["ours_looped"].mean, "same probes, one at a time"),
        ("curvlinops", "curvlinops hutchinson_trace (batched A @ G)", peer_t,
         f"{'agrees' if agree else 'DISAGREES'} with ours within 3·√2 stderr"),
    ]:  # fmt: skip
        table.add(
            tpart, name, method, value=value, truth=trace_truth, rel_err=_rel(value, trace_truth),
            detail=detail, n_hvp=samples, time_s=tsecs[key], ratio=tsecs[key] / tsecs["curvlinops"],
        )  # fmt: skip
    return {
        "model": name,
        "k": k,
        "samples": samples,
        "truth": ref.tolist() if ref is not None else None,
        "ours": _lm(outs["ours"].eigenvalues, k).tolist(),
        "ours_on_curvlinops": _lm(outs["ours_on_peer"].eigenvalues, k).tolist(),
        "eigsh": peer_vals.tolist(),
        "ours_rel_err_max": err(_lm(outs["ours"].eigenvalues, k)),
        "ours_on_curvlinops_rel_err_max": err(_lm(outs["ours_on_peer"].eigenvalues, k)),
        "eigsh_rel_err_max": err(peer_vals),
        "ours_n_hvp": outs["ours"].n_hvp,
        "eigsh_n_hvp": peer_hvp,
        "ours_s": secs["ours"],
        "ours_on_curvlinops_s": secs["ours_on_peer"],
        "eigsh_s": secs["eigsh"],
        "trace_ours": ours_t.mean,
        "trace_ours_stderr": ours_t.stderr,
        "trace_curvlinops": peer_t,
        "trace_agree": agree,
        "trace_ours_s": tsecs["ours"],
        "trace_ours_looped_s": tsecs["ours_looped"],
        "trace_curvlinops_s": tsecs["curvlinops"],
    }


# ----------------------------------------------------------------------------------- (d) landscape
def _snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool], list[bool]]:
    return (
        {k: v.detach().clone() for k, v in model.state_dict().items()},
        [p.requires_grad for p in model.parameters()],
        [m.training for m in model.modules()],
    )


def _untouched(model: nn.Module, snap: tuple[dict[str, torch.Tensor], list[bool], list[bool]]) -> bool:
    state, grads, modes = snap
    now = model.state_dict()
    return (
        now.keys() == state.keys()
        and all(torch.equal(now[k], v) for k, v in state.items())
        and [p.requires_grad for p in model.parameters()] == grads
        and [m.training for m in model.modules()] == modes
    )


def _flat(params: Any) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


def peer_centre(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], steps: int) -> dict[str, Any]:
    """Where loss-landscapes' grid points lie relative to the model (a metric that records the distance of
    every evaluated parameter vector from θ, in units of its step ‖θ‖/(distance·steps), distance = 1)."""
    from loss_landscapes.metrics.metric import Metric

    theta = _flat(model.parameters())
    step = float(torch.linalg.vector_norm(theta)) / steps
    seen: list[float] = []

    class Where(Metric):
        def __call__(self, wrapper: Any) -> float:
            seen.append(float(torch.linalg.vector_norm(_flat(wrapper.get_module_parameters()) - theta)))
            return 0.0

    torch.manual_seed(SEED)
    RANDOM_PLANE(model, Where(), distance=1, steps=steps, normalization="filter", deepcopy_model=True)
    return {"nearest_point_in_steps": min(seen) / step, "points": len(seen)}


def peer_in_place(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], steps: int) -> dict[str, Any]:
    """``random_plane(deepcopy_model=False)`` (the package's default) on a copy of the model."""
    victim = copy.deepcopy(model)
    before = _flat(victim.parameters()).clone()
    torch.manual_seed(SEED)
    RANDOM_PLANE(victim, LL_LOSS(LOSS, *data), distance=1, steps=steps, normalization="filter",
                 deepcopy_model=False)  # fmt: skip
    after = _flat(victim.parameters())
    moved = float(torch.linalg.vector_norm(after - before) / torch.linalg.vector_norm(before))
    return {
        "moved_rel": moved,
        "requires_grad_after": sorted({p.requires_grad for p in victim.parameters()}),
    }


def part_landscape(
    table: Table, model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], sizes: Sizes
) -> dict[str, Any]:
    steps = sizes.grid_steps
    x, y = data
    part = f"(d) landscape {steps}×{steps}"
    name = "digits MLP"
    with torch.no_grad():
        centre_loss = float(LOSS(model(x), y))

    def forward_block() -> None:
        with torch.no_grad():
            for _ in range(sizes.forward_block):
                LOSS(model(x), y)

    def ours(chunk: int | None) -> Callable[[], Any]:
        return lambda: slice_2d(
            model, LOSS, data, steps=steps, span=(-1, 1), normalization="filter", seed=SEED,
            chunk_size=chunk, progress=False,
        )  # fmt: skip

    def peer() -> np.ndarray:
        torch.manual_seed(SEED)
        return RANDOM_PLANE(model, LL_LOSS(LOSS, x, y), distance=1, steps=steps, normalization="filter",
                            deepcopy_model=True)  # fmt: skip

    snap = _snapshot(model)
    fns: dict[str, Callable[[], Any]] = {"forward": forward_block, "ours": ours(None)}
    for c in sizes.chunks:
        fns[f"ours_chunk_{c}"] = ours(c)
    fns["peer"] = peer
    untouched: dict[str, bool] = {}
    outs: dict[str, Any] = {}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for round_ in range(sizes.repeats + 1):  # round 0 is the warm-up
        for key, fn in fns.items():
            start = time.perf_counter()
            outs[key] = fn()
            if round_:
                times[key].append(time.perf_counter() - start)
            untouched[key] = untouched.get(key, True) and _untouched(model, snap)
            if not untouched[key]:
                model.load_state_dict(snap[0])  # keep later rows honest
    secs = {k: statistics.median(t) for k, t in times.items()}
    fwd_per_s = sizes.forward_block / secs["forward"]
    land = outs["ours"]
    points = int(land.loss.size)
    ours_pps = points / secs["ours"]
    peer_points = int(np.asarray(outs["peer"]).size)
    peer_pps = peer_points / secs["peer"]
    ours_centre = bool((land.alphas == 0).any() and (land.betas == 0).any())
    centre_dev = abs(land.centre_loss - centre_loss) / abs(centre_loss) if ours_centre else float("nan")
    where = peer_centre(model, data, steps)
    in_place = peer_in_place(model, data, steps)
    ratio_fwd = ours_pps / fwd_per_s
    ok = ratio_fwd >= 0.8 and ours_centre and centre_dev <= 1e-5 and untouched["ours"]
    table.add(
        part, name, f"plain forward of the batch ({len(x)} examples, no_grad)", value=fwd_per_s,
        detail="value: forward passes/s = the points/s limit of exact evaluation", time_s=secs["forward"],
    )  # fmt: skip
    table.add(
        part, name, f"stablecore slice_2d (vmap, automatic chunk = {land.metadata.get('chunk_size')})",
        value=ours_pps, truth=fwd_per_s,
        detail=f"value: points/s ({points} points; {ours_pps / peer_pps:.2f}× the peer); centre on grid: "
        f"{_yes(ours_centre)} (loss there vs direct: {centre_dev:.1e} rel.); model untouched: "
        f"{_yes(untouched['ours'])}",
        time_s=secs["ours"], ratio=ratio_fwd, target="points/s ≥ 0.8× forward/s; centre on grid; untouched",
        met=f"{_yes(ok)}: {ratio_fwd:.2f}× forward, {ours_pps:.0f} vs {fwd_per_s:.0f}/s",
    )  # fmt: skip
    for c in sizes.chunks:
        key = f"ours_chunk_{c}"
        pps = points / secs[key]
        table.add(
            part, name, f"stablecore slice_2d (chunk_size={c})", value=pps, truth=fwd_per_s,
            detail=f"value: points/s; model untouched: {_yes(untouched[key])}", time_s=secs[key],
            ratio=pps / fwd_per_s,
        )  # fmt: skip
    nearest = where["nearest_point_in_steps"]
    peer_centre_txt = "yes" if nearest <= 1e-3 else f"NO (nearest point {nearest:.2f} steps away)"
    table.add(
        part, name, "loss-landscapes random_plane (distance=1, deepcopy_model=True)", value=peer_pps,
        truth=fwd_per_s,
        detail=f"value: points/s ({peer_points} points); centre on grid: {peer_centre_txt}; model "
        f"untouched: {_yes(untouched['peer'])}",
        time_s=secs["peer"], ratio=peer_pps / fwd_per_s,
    )  # fmt: skip
    table.add(
        part, name, "loss-landscapes random_plane (deepcopy_model=False, its default; on a copy)",
        value=float("nan"),
        detail=f"model moved by {in_place['moved_rel']:.1%} of its norm; requires_grad afterwards: "
        f"{in_place['requires_grad_after']}",
    )  # fmt: skip
    return {
        "forward_per_s": fwd_per_s,
        "ours_points_per_s": ours_pps,
        "ours_chunk": land.metadata.get("chunk_size"),
        "ours_chunks_points_per_s": {c: points / secs[f"ours_chunk_{c}"] for c in sizes.chunks},
        "peer_points_per_s": peer_pps,
        "ours_over_forward": ratio_fwd,
        "peer_over_forward": peer_pps / fwd_per_s,
        "ours_over_peer": ours_pps / peer_pps,
        "ours_centre_on_grid": ours_centre,
        "ours_centre_loss_rel_dev": centre_dev,
        "peer_nearest_point_in_steps": where["nearest_point_in_steps"],
        "untouched": untouched,
        "peer_in_place": in_place,
        "met": ok,
    }


# ----------------------------------------------------------------------------------- main
def _warm_resnet(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    """One gradient graph and one double-backward (first-call allocations and kernel selection)."""
    params = [p for p in model.parameters() if p.requires_grad]
    loss = LOSS(model(data[0]), data[1])
    grads = torch.autograd.grad(loss, params, create_graph=True)
    torch.autograd.grad(grads, params, grad_outputs=[torch.ones_like(g) for g in grads])


def _summary(meta: dict[str, Any], quick: bool) -> str:
    e = meta["eigen"]
    lines = ["## Targets (issue 13)", ""]
    for key, label in [
        ("mlp_top1", "(a) top-1 on the MLP: rel. error ≤ 1e-4 vs the dense Hessian, time ≤ 0.6× PyHessian"),
        ("resnet_top1", "(a) top-1 on ResNet-20: time ≤ 1.2× PyHessian"),
        ("mlp_topk", f"(a) top-{e['mlp_topk']['k']} on the MLP: time ≤ 0.25× PyHessian, values within 1e-4"),
        ("resnet_topk", f"(a) top-{e['resnet_topk']['k']} on ResNet-20: time ≤ 0.25× PyHessian"),
    ]:
        r = e[key]
        err = ""
        if r["truth"] is not None:
            which = "top1" if r["k"] == 1 else "max"
            err = (
                f"; ours rel. err {r[f'ours_rel_err_{which}']:.1e} "
                f"(PyHessian {r[f'pyhessian_rel_err_{which}']:.1e})"
            )
        floor = ""
        if r.get("oracle_floor_n_hvp") is not None:
            floor = (
                f"; an oracle stopping Lanczos at the first step within 1e-4 of the truth would still need "
                f"{r['oracle_floor_n_hvp']} products (+1 gradient graph) against PyHessian's "
                f"{r['pyhessian_n_hvp']} (+1), a floor of ≈ "
                f"{(r['oracle_floor_n_hvp'] + 1) / (r['pyhessian_n_hvp'] + 1):.2f}× at equal cost per product"
            )
        lines.append(
            f"- {label}: **{'met' if r['met'] else 'missed'}** — {r['ratio']:.2f}× "
            f"({r['ours_s']:.3g} s vs {r['pyhessian_s']:.3g} s; {r['ours_n_hvp']} vs {r['pyhessian_n_hvp']} "
            f"HVPs){err}{floor}"
        )
    for key in ("mlp", "resnet"):
        t = meta["trace"][key]
        truth = ""
        if t["truth"] is not None:
            truth = f"; dense trace {t['truth']:.5g}, ours {t['ours_truth_z']:.2f} stderr from it"
        lines.append(
            f"- (b) trace on the {t['model']} ({t['samples']} samples each): "
            f"**{'met' if t['agree'] else 'missed'}** — ours {t['ours_mean']:.5g} ± {t['ours_stderr']:.3g}, "
            f"PyHessian {t['pyhessian_mean']:.5g} ± {t['pyhessian_stderr']:.3g}: "
            f"{t['diff_in_stderr']:.2f} stderr of the difference apart{truth}"
        )
    for c in meta.get("curvlinops", {}).values():  # (e), issue 23: beside curvlinops + scipy eigsh
        err = "" if c["truth"] is None else (
            f"; max rel. err ours {c['ours_rel_err_max']:.1e}, ours on curvlinops' operator "
            f"{c['ours_on_curvlinops_rel_err_max']:.1e}, eigsh {c['eigsh_rel_err_max']:.1e}"
        )  # fmt: skip
        lines.append(
            f"- (e) top-{c['k']} LM on the {c['model']}: stablecore Lanczos {c['ours_s']:.3g} s "
            f"({c['ours_n_hvp']} products), on curvlinops' operator {c['ours_on_curvlinops_s']:.3g} s, "
            f"curvlinops + scipy eigsh {c['eigsh_s']:.3g} s ({c['eigsh_n_hvp']} products){err}; trace with "
            f"{c['samples']} products: ours {c['trace_ours']:.5g} ± {c['trace_ours_stderr']:.3g} in "
            f"{c['trace_ours_s']:.3g} s (one probe at a time {c['trace_ours_looped_s']:.3g} s), curvlinops "
            f"{c['trace_curvlinops']:.5g} in {c['trace_curvlinops_s']:.3g} s "
            f"({'agree' if c['trace_agree'] else 'DISAGREE'} within 3·√2 stderr)"
        )
    d = meta["landscape"]
    lines.append(
        f"- (d) landscape points/s ≥ 0.8× the plain forward throughput (CPU): "
        f"**{'met' if d['ours_over_forward'] >= 0.8 else 'missed'}** — {d['ours_points_per_s']:.0f} points/s "
        f"= {d['ours_over_forward']:.2f}× the forward's {d['forward_per_s']:.0f}/s "
        f"(loss-landscapes {d['peer_points_per_s']:.0f} points/s = {d['peer_over_forward']:.2f}×; ours/peer "
        f"{d['ours_over_peer']:.2f}×)"
    )
    centre_ok = d["ours_centre_on_grid"] and d["ours_centre_loss_rel_dev"] <= 1e-5
    met = "met" if centre_ok and d["untouched"]["ours"] else "missed"
    lines.append(
        f"- (d) centre on the grid and model untouched: **{met}**"
        f" — stablecore: centre on the grid {_yes(d['ours_centre_on_grid'])} (its loss within "
        f"{d['ours_centre_loss_rel_dev']:.1e} of a direct evaluation), model untouched "
        f"{_yes(d['untouched']['ours'])}; loss-landscapes: nearest grid point "
        f"{d['peer_nearest_point_in_steps']:.2f} steps from the centre, model untouched with "
        f"deepcopy_model=True {_yes(d['untouched']['peer'])}, with deepcopy_model=False moved by "
        f"{d['peer_in_place']['moved_rel']:.1%} of its norm and requires_grad left "
        f"{d['peer_in_place']['requires_grad_after']}"
    )
    lines.append("- (d) ≥ 10× the peer on a GPU: **not measured** (no GPU on this machine)")
    if quick:
        lines.append("")
        lines.append("Quick run (smoke-test sizes): the targets are stated for the full sizes only.")
    return "\n".join(lines)


NOTES = """\
Columns. `value`: top eigenvalue (a), trace estimate (b), largest Ritz node (c), points or forward passes \
per second (d); `truth`: from the dense float64 Hessian of the MLP ({n_params} parameters; eigvalsh; \
built by batched double-backward independently of stablecore's operator, which agrees with it to \
{truth_dev:.1e} relative on random vectors), or the forward throughput in (d); \
`rel_err` = |value/truth − 1|; \
`n_hvp`: Hessian-vector products (PyHessian's counted by wrapping its `hessian_vector_product`); \
`time_s`: median wall time of one end-to-end call ({repeats} interleaved rounds after a warm-up for the MLP \
and the landscape; {resnet_repeats} interleaved rounds for ResNet-20 after one warm-up backward, no warm-up \
call); `ratio`: ours / PyHessian in \
(a)–(c), points/s ÷ forward/s in (d).
Setup. MLP {hidden} on the first {examples} digits training examples (one batch); ResNet-20 \
({resnet_params} parameters) on {batch} uniform random {shape} images with random labels (seed {seed}); \
cross-entropy; both models in eval mode for both libraries; seeds {seed} everywhere (PyHessian draws \
from the global RNG, seeded before each call). stablecore: `hessian_eigenvalues(which="LM", \
tol={tol:g})` (stops when every wanted value's relative error estimate min(r, r²/gap) — residual r, gap to \
the other Ritz values, Parlett's gap theorem — is ≤ tol; PyHessian stops when its Rayleigh quotient \
changes by ≤ 1e-3 relative), `hessian_trace(num_samples=M)`, `hessian_density(lanczos_steps, num_runs)`, \
`slice_2d(steps={steps}, span=(-1, 1), normalization="filter")` (biases get a zero direction, Li et \
al.'s `biasbn`). PyHessian 0.1: `hessian(model, criterion, data=(x, y), cuda=False)` built inside each \
timed call, `eigenvalues(maxIter={max_iter}, tol=1e-3, top_n=k)`, `trace(maxIter=M, tol=-inf)` (its \
relative-change stop disabled so both draw M probes), `density(iter, n_v)`: {eig_error} — timed with a \
`torch.eig` shim answering through `torch.linalg.eigh`. loss-landscapes {ll_version}: \
`random_plane(model, Loss(loss_fn, x, y), distance=1, steps={steps}, normalization="filter", \
deepcopy_model=True)`; each library draws its own plane (the peer cannot take given directions), so \
only speed, the centre and side effects are compared, not loss values. Agreement in (b) uses the \
standard error of the difference of the two independent estimates, √(se₁² + se₂²).
{peer_notes}"""


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in ("stablecore", "pyhessian", "loss-landscapes", "curvlinops-for-pytorch", "scipy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = None
    return out


def _blas_threads() -> list[dict[str, Any]]:
    """Thread pools of numpy/torch's BLAS and OpenMP (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return []
    return [{k: i.get(k) for k in ("internal_api", "num_threads", "version")} for i in threadpool_info()]


def main(
    quick: bool = False, results_dir: str | os.PathLike | None = None, threads: int | None = None
) -> Path:
    """Run (a)–(d); write ``bench_curvature.{json,md}`` (``bench_curvature_quick`` with ``quick``).

    ``threads``: torch threads (default: the machine's, as the other benchmarks; 1 for a quick run, whose
    tiny operations only lose to thread contention on a busy machine)."""
    if PYHESSIAN is None or RANDOM_PLANE is None:
        raise RuntimeError("bench_curvature needs pyhessian and loss-landscapes: " + " ".join(PEER_NOTES))
    sizes = QUICK if quick else FULL
    threads = threads or (1 if quick else THREADS)
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(sizes, quick, results_dir, threads)
    finally:
        torch.set_num_threads(saved_threads)


def _run(sizes: Sizes, quick: bool, results_dir: str | os.PathLike | None, threads: int) -> Path:
    load_start = os.getloadavg()
    start = time.perf_counter()
    table = Table()
    meta: dict[str, Any] = {"quick": quick, "sizes": asdict(sizes), "torch_threads": threads}
    meta["loadavg_start"] = load_start
    meta["versions"] = _versions()
    meta["blas_threads"] = _blas_threads()

    mlp, mlp_data = mlp_case(sizes)
    net, net_data = resnet_case(sizes)
    n_mlp = sum(p.numel() for p in mlp.parameters())
    n_net = sum(p.numel() for p in net.parameters())
    loads: dict[str, float] = {"start": load_start[0]}  # 1-min load average at each part's start
    print(f"dense Hessian of the MLP ({n_mlp} parameters)", flush=True)
    t0 = time.perf_counter()
    hess = dense_hessian(mlp, mlp_data)
    eig = np.linalg.eigvalsh(hess)
    truth_dev = check_truth(mlp, mlp_data, hess)
    meta["truth"] = {
        "seconds": time.perf_counter() - t0,
        "lm_top": _lm(eig, 10).tolist(),
        "la_max": float(eig[-1]),
        "sa_min": float(eig[0]),
        "trace": float(eig.sum()),
        "operator_rel_dev": truth_dev,
    }
    k = sizes.top_k
    r_mlp = dict(repeats=sizes.repeats, warmup=1)
    r_net = dict(repeats=sizes.resnet_repeats, warmup=0)
    eigen: dict[str, Any] = {}
    print("(a) top eigenvalues", flush=True)
    loads["(a)"] = os.getloadavg()[0]
    mlp_args = ("digits MLP", mlp, mlp_data)
    net_args = ("ResNet-20", net, net_data)
    with torch_threads(MLP_THREADS, blas=True):
        eigen["mlp_top1"] = part_eigen(
            table, *mlp_args, 1, eig, sizes, target=(0.6, "rel. err ≤ 1e-4; ≤ 0.6× PyHessian"), **r_mlp
        )
        eigen["mlp_topk"] = part_eigen(
            table, *mlp_args, k, eig, sizes, target=(0.25, "≤ 0.25× PyHessian; rel. err ≤ 1e-4"), **r_mlp
        )
    _warm_resnet(net, net_data)
    net.zero_grad(set_to_none=True)
    eigen["resnet_top1"] = part_eigen(
        table, *net_args, 1, None, sizes, target=(1.2, "≤ 1.2× PyHessian"), **r_net
    )
    eigen["resnet_topk"] = part_eigen(
        table, *net_args, k, None, sizes, target=(0.25, "≤ 0.25× PyHessian"), **r_net
    )
    meta["eigen"] = eigen
    print("(b) trace", flush=True)
    loads["(b)"] = os.getloadavg()[0]
    with torch_threads(MLP_THREADS, blas=True):
        trace_mlp = part_trace(table, "digits MLP", mlp, mlp_data, sizes.trace_mlp, float(eig.sum()), **r_mlp)
    meta["trace"] = {
        "mlp": trace_mlp,
        "resnet": part_trace(table, "ResNet-20", net, net_data, sizes.trace_resnet, None, **r_net),
    }
    print("(c) density", flush=True)
    loads["(c)"] = os.getloadavg()[0]
    eig_error = pyhessian_density_error(mlp, mlp_data)
    meta["pyhessian_density_unpatched"] = eig_error
    with torch_threads(MLP_THREADS, blas=True):
        density_mlp = part_density(
            table, "digits MLP", mlp, mlp_data, *sizes.density_mlp, float(eig[-1]), **r_mlp
        )
    meta["density"] = {
        "mlp": density_mlp,
        "resnet": part_density(table, "ResNet-20", net, net_data, *sizes.density_resnet, None, **r_net),
    }
    if CURVLINOPS is not None:
        print("(e) curvlinops + scipy eigsh", flush=True)
        loads["(e)"] = os.getloadavg()[0]
        with torch_threads(MLP_THREADS, blas=True):
            peer_mlp = part_curvlinops(table, *mlp_args, k, sizes.trace_mlp, eig, **r_mlp)
        meta["curvlinops"] = {
            "mlp": peer_mlp,
            "resnet": part_curvlinops(table, *net_args, k, sizes.trace_resnet, None, **r_net),
        }
    print("(d) landscape", flush=True)
    loads["(d)"] = os.getloadavg()[0]
    meta["landscape"] = part_landscape(table, mlp, mlp_data, sizes)
    meta["loadavg_end"] = os.getloadavg()
    loads["end"] = meta["loadavg_end"][0]
    meta["loadavg_parts"] = loads
    meta["total_seconds"] = time.perf_counter() - start
    load_end = meta["loadavg_end"]
    noisy = max(loads.values()) > 0.5 * (os.cpu_count() or 1)
    notes = NOTES.format(
        n_params=n_mlp, truth_dev=truth_dev, repeats=sizes.repeats, resnet_repeats=sizes.resnet_repeats,
        hidden="64-" + "-".join(map(str, sizes.hidden)) + "-10",
        examples=sizes.examples, resnet_params=n_net, batch=sizes.resnet_batch,
        shape="×".join(map(str, sizes.resnet_shape)), seed=SEED, tol=TOL, steps=sizes.grid_steps,
        max_iter=sizes.pyhessian_max_iter, eig_error=f"without help it fails with `{eig_error}`",
        ll_version=meta["versions"].get("loss-landscapes"), peer_notes=" ".join(PEER_NOTES),
    )  # fmt: skip
    notes += "\n\n" + _summary(meta, quick)
    thread_note = "machine default" if threads == THREADS else "quick run or --threads"
    notes += (
        f"\n\nTorch threads: {threads} ({thread_note}), except (a)–(c) on the digits MLP: {MLP_THREADS} "
        "torch and BLAS thread for both libraries (a product there takes ~1 ms; a second thread on the "
        "shared 2-core machine only added contention). Load average (1 min) at start / end: "
        f"{load_start[0]:.2f} / {load_end[0]:.2f}; at the start of each part: "
        + ", ".join(f"{k} {v:.2f}" for k, v in loads.items() if k not in ("start", "end"))
        + f"{' (other jobs were running: timings are noisy)' if noisy else ''}. Total run: "
        f"{meta['total_seconds']:.0f} s."
    )
    name = "bench_curvature_quick" if quick else "bench_curvature"
    if quick and results_dir is None:
        results_dir = tempfile.mkdtemp(prefix="bench_curvature_")
    with common.results_dir(results_dir):
        return write_results(name, table.frame(), notes=notes, meta=meta)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, written to a temporary directory")
    parser.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: machine's)")
    args = parser.parse_args()
    print(main(quick=args.quick, results_dir=args.out, threads=args.threads).read_text())
