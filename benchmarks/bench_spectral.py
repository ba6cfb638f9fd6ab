"""Spectral norms side by side: stablecore's Gram iteration vs power iteration, exact FFT routes and peers.

Cases (one run, fixed seeds, float64 unless a row says otherwise):

* (a) dense 500×400 Gaussian matrix: Gram vs power iteration vs SVD;
* (b) circular conv 64→64, 3×3, 32×32: Gram vs exact (FFT + SVD, FFT + ``eigvalsh`` of the Gram blocks),
  power iteration, orthogonium ``get_conv_sv`` (with the input size), Fantastic Four, LipGrid,
  deel-torchlip's conv normalisation, ``torch.nn.utils.spectral_norm``;
* (c) 5×5 kernels 64→64 at 12×12 (the thesis's case) with lip4conv's notebook numbers as reference rows;
* (d) zero padding 64→64 3×3 at 32×32 against Ryu's 100-step power iteration on the operator, and
  16→16 3×3 at 8×8 against the exact norm of the explicit matrix;
* (e) whole networks (trained digits ConvNet, random ResNet-20 in eval mode) against the largest
  Jacobian spectral norm over 16 inputs (float64, ``torch.func.jacrev``).

Times are medians after one warm-up call and include all the work (FFTs, reshapes, validation).
``python -m benchmarks.bench_spectral`` writes ``results/bench_spectral.{json,md}``.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from benchmarks.common import median_time, write_results
from stablecore.spectral import conv_norm, lipschitz_bound, matrix_norm, register
from stablecore.types import Bound

THREADS = torch.get_num_threads()  # the machine's default, set explicitly in main() and recorded
DTYPE = torch.float64
ORTH_CIRC_ITERS = 6  # same number of Gram iterations as stablecore's circular default
ORTH_ZERO_ITERS = {16: 4, 32: 3, 64: 3}  # kernel-space iterations by channel count (cost ~ 4^T k² c³)
PEER_NOTES: list[str] = []


# ----------------------------------------------------------------------------------- peers
def _import_peers() -> tuple[Any, Any, Any, int]:
    """orthogonium's ``get_conv_sv`` and deel-torchlip's spectral normalisation + LConvNorm coefficient.

    Only submodules that do not import torchvision (broken here) are loaded; a peer that pulls it in
    or fails to import is skipped with a note.
    """
    get_conv_sv = deel_sigma = deel_coef = None
    deel_maxiter = 10
    try:
        from orthogonium.layers.conv.singular_values.get_sv import get_conv_sv
    except Exception as exc:  # pragma: no cover - depends on the environment
        PEER_NOTES.append(f"orthogonium skipped: {type(exc).__name__}: {exc}")
    try:
        from deel.torchlip.normalizers import DEFAULT_MAXITER_SPECTRAL as deel_maxiter
        from deel.torchlip.normalizers import spectral_normalization as deel_sigma
        from deel.torchlip.utils.lconv_norm import compute_lconv_coef as deel_coef
    except Exception as exc:  # pragma: no cover
        PEER_NOTES.append(f"deel-torchlip skipped: {type(exc).__name__}: {exc}")
    if "torchvision" in sys.modules:  # pragma: no cover
        PEER_NOTES.append("a peer imported torchvision; peers skipped")
        return None, None, None, deel_maxiter
    return get_conv_sv, deel_sigma, deel_coef, deel_maxiter


GET_CONV_SV, DEEL_SIGMA, DEEL_COEF, DEEL_MAXITER = _import_peers()


def _conv_layer(kernel: torch.Tensor, padding_mode: str, stride: int = 1) -> nn.Conv2d:
    co, ci, kh, kw = kernel.shape
    layer = nn.Conv2d(
        ci, co, (kh, kw), stride=stride, padding=(kh // 2, kw // 2), padding_mode=padding_mode, bias=False
    ).to(kernel.dtype)
    with torch.no_grad():
        layer.weight.copy_(kernel)
    return layer


def orthogonium_value(layer: nn.Conv2d, n_iter: int, imsize: int | None) -> float:
    return float(GET_CONV_SV(layer, n_iter, return_stab_rank=False, imsize=imsize))


def deel_value(weight: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int]) -> float:
    """The norm deel-torchlip's ``SpectralConv2d`` assumes: σ₁(reshaped kernel) (its power iteration)
    divided by the LConvNorm coefficient 1/√(⌈kh/sh⌉·⌈kw/sw⌉)."""
    mat = weight.detach().reshape(weight.shape[0], -1)
    # deel draws u in the default dtype (float32) and doubles maxiter for a fresh u: same here in float64
    u = torch.randn(1, mat.shape[1], generator=torch.Generator().manual_seed(0), dtype=mat.dtype)
    _, _, sigma = DEEL_SIGMA(mat, u, maxiter=2 * DEEL_MAXITER)
    return float(sigma) / float(DEEL_COEF(tuple(kernel_size), None, tuple(stride)))


def torch_sn_value(weight: torch.Tensor) -> float:
    """σ that ``torch.nn.utils.parametrizations.spectral_norm`` divides a conv weight by (reshaped
    kernel ``(c_out, c_in·kh·kw)``, 15 power iterations at registration): not a bound of the conv."""
    co, ci, kh, kw = weight.shape
    holder = nn.Conv2d(ci, co, (kh, kw), bias=False).to(weight.dtype)
    with torch.no_grad():
        holder.weight.copy_(weight.detach())
    torch.nn.utils.parametrizations.spectral_norm(holder)
    holder.eval()
    with torch.no_grad():
        return float(torch.linalg.vector_norm(weight) / torch.linalg.vector_norm(holder.weight))


# ----------------------------------------------------------------------------------- exact FFT routes
def _fft_blocks(kernel: torch.Tensor, n: int) -> torch.Tensor:
    """``(n·(n//2+1), c_out, c_in)`` DFT blocks of the kernel on an ``n×n`` torus (``rfft2``)."""
    co, ci = kernel.shape[:2]
    return torch.fft.rfft2(kernel, s=(n, n)).permute(2, 3, 0, 1).reshape(-1, co, ci)


def exact_fft_svd(kernel: torch.Tensor, n: int) -> float:
    """Sedghi et al. 2019: largest singular value over the ``rfft2`` blocks (batched SVD)."""
    return float(torch.linalg.svdvals(_fft_blocks(kernel, n))[:, 0].max())


def exact_fft_eigh(kernel: torch.Tensor, n: int) -> float:
    """Same value through ``eigvalsh`` of the smaller Gram matrix of every block."""
    b = _fft_blocks(kernel, n)
    gram = b.mH.contiguous() @ b if b.shape[2] <= b.shape[1] else b @ b.mH.contiguous()
    return math.sqrt(max(float(torch.linalg.eigvalsh(gram)[:, -1].max()), 0.0))


# ----------------------------------------------------------------------------------- table helpers
def timed(fn: Callable[[], Any], *, budget: float = 1.0, max_repeats: int = 20, min_repeats: int = 1):
    """``(result of a warm-up call, median time over repeats, repeats)``; repeats fill ``budget`` s."""
    start = time.perf_counter()
    out = fn()
    first = time.perf_counter() - start
    repeats = max(min_repeats, min(max_repeats, int(budget / max(first, 1e-6))))
    return out, median_time(fn, repeats=repeats, warmup=0), repeats


def interleaved(
    fns: dict[str, Callable[[], Any]], *, repeats: int, warmup: int = 1
) -> tuple[dict[str, Any], dict[str, float]]:
    """Warm-up calls, then ``repeats`` rounds calling every function once per round; median per function.

    Used where a target compares times: on a shared machine the load changes from second to second,
    and interleaving exposes the competitors to the same load.
    """
    outs: dict[str, Any] = {}
    for _ in range(warmup):
        outs = {name: fn() for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return outs, {name: statistics.median(t) for name, t in times.items()}


def _value(out: Any) -> tuple[float, int | None]:
    if isinstance(out, Bound):
        return out.value, out.n_iter
    return float(out), None


class Table:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.last: Any = None  # the output of the latest ``run`` (to read its details)

    def add(
        self,
        case: str,
        method: str,
        kind: str,
        value: float,
        ref: float | None,
        ref_name: str,
        *,
        n_iter: int | None = None,
        seconds: float | None = None,
        repeats: int | None = None,
        target: str = "",
        met: str = "",
    ) -> dict[str, Any]:
        row = {
            "case": case,
            "method": method,
            "kind": kind,
            "value": float(value),
            "reference": ref_name,
            "rel_err": float(value / ref - 1) if ref else float("nan"),
            "n_iter": "" if n_iter is None else str(n_iter),
            "time_ms": float(seconds * 1e3) if seconds is not None else float("nan"),
            "repeats": "" if repeats is None else str(repeats),
            "target": target,
            "met": met,
        }
        self.rows.append(row)
        return row

    def run(
        self,
        case: str,
        method: str,
        kind: str,
        fn: Callable[[], Any],
        ref: float | None,
        ref_name: str,
        *,
        budget: float = 1.0,
        min_repeats: int = 1,
        **extra: Any,
    ) -> dict[str, Any]:
        out, seconds, repeats = timed(fn, budget=budget, min_repeats=min_repeats)
        self.last = out
        value, n_iter = _value(out)
        kind = out.kind if isinstance(out, Bound) else kind
        return self.add(
            case,
            method,
            kind,
            value,
            ref,
            ref_name,
            n_iter=extra.pop("n_iter", n_iter),
            seconds=seconds,
            repeats=repeats,
            **extra,
        )

    def add_out(
        self, case: str, method: str, kind: str, out: Any, ref: float | None, ref_name: str, **extra: Any
    ) -> dict[str, Any]:
        """Row for the output of an :func:`interleaved` call (``extra``: seconds, repeats, target ...)."""
        value, n_iter = _value(out)
        kind = out.kind if isinstance(out, Bound) else kind
        return self.add(case, method, kind, value, ref, ref_name, n_iter=extra.pop("n_iter", n_iter), **extra)


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _kernel(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=DTYPE)


def _conv_peers(
    table: Table,
    case: str,
    kernel: torch.Tensor,
    n: int,
    padding: str,
    ref: float,
    ref_name: str,
    *,
    orthogonium: bool = True,
) -> None:
    """Fantastic Four, LipGrid, orthogonium, deel-torchlip, torch spectral_norm rows for one kernel."""
    for method in ("fantastic4", "lipgrid"):
        table.run(
            case, f"stablecore {method} baseline", "upper_bound",
            lambda m=method: conv_norm(kernel, n, padding=padding, method=m), ref, ref_name,
        )  # fmt: skip
    if GET_CONV_SV is not None and orthogonium:
        for label, fn in _orthogonium_fns(kernel, n, padding).items():
            table.run(case, label, "upper_bound", fn, ref, ref_name)
    if DEEL_SIGMA is not None:
        kh, kw = kernel.shape[-2:]
        table.run(
            case, "deel-torchlip SpectralConv2d norm: σ_PI(reshaped)·√(kh·kw) (LConvNorm)", "estimate",
            lambda: deel_value(kernel, (kh, kw), (1, 1)), ref, ref_name,
        )  # fmt: skip
    torch.manual_seed(0)
    table.run(
        case, "torch spectral_norm σ (reshaped kernel; NOT a bound)", "estimate",
        lambda: torch_sn_value(kernel), ref, ref_name,
    )  # fmt: skip


def _orthogonium_fns(kernel: torch.Tensor, n: int, padding: str) -> dict[str, Callable[[], float]]:
    """orthogonium ``get_conv_sv`` calls (with the input size): float64 and float32 for circular padding."""
    if padding == "circular":
        fns = {}
        for dtype in (torch.float64, torch.float32):
            layer = _conv_layer(kernel.to(dtype), "circular")
            label = f"orthogonium get_conv_sv(imsize={n}), {ORTH_CIRC_ITERS} it., {str(dtype)[6:]}"
            fns[label] = lambda layer=layer: orthogonium_value(layer, ORTH_CIRC_ITERS, n)
        return fns
    it = ORTH_ZERO_ITERS.get(max(kernel.shape[:2]), 3)
    layer = _conv_layer(kernel, "zeros")
    label = f"orthogonium get_conv_sv (zeros: delattre2024, kernel space), {it} it., float64"
    return {label: lambda: orthogonium_value(layer, it, n)}


# ----------------------------------------------------------------------------------- (a) dense
def case_dense(table: Table) -> dict[str, Any]:
    case = "(a) dense 500×400"
    W = _kernel((500, 400), 0)
    exact = table.run(
        case, "SVD (stablecore exact)", "exact", lambda: matrix_norm(W, method="exact"), None, ""
    )
    ref = exact["value"]
    exact["reference"], exact["rel_err"] = "itself", 0.0
    table.run(
        case, "eigvalsh(WᵀW) (exact route)", "exact",
        lambda: math.sqrt(float(torch.linalg.eigvalsh(W.T @ W)[-1])), ref, "SVD",
    )  # fmt: skip
    table.run(case, "stablecore gram, default (≤12 it., tol 1e-12)", "", lambda: matrix_norm(W), ref, "SVD")
    table.run(
        case, "stablecore power, default (≤100 it., tol 1e-10)", "", lambda: matrix_norm(W, method="power"),
        ref, "SVD",
    )  # fmt: skip
    gram = matrix_norm(W, method="gram", n_iter=12, tol=0.0)
    t_gram = next((i + 1 for i, h in enumerate(gram.history) if h <= ref * (1 + 1e-6)), None)
    power = matrix_norm(W, method="power", n_iter=3000, tol=0.0)
    n_pi = next((i + 1 for i, h in enumerate(power.history) if h >= ref * (1 - 1e-6)), None)
    outs, secs = interleaved(
        {
            "gram": lambda: matrix_norm(W, method="gram", n_iter=t_gram or 12, tol=0.0),
            "power": lambda: matrix_norm(W, method="power", n_iter=n_pi or 3000, tol=0.0),
        },
        repeats=20,
        warmup=3,
    )
    ok = t_gram is not None and t_gram <= 12 and n_pi is not None and secs["gram"] <= secs["power"]
    table.add_out(
        case, f"stablecore gram, first T within 1e-6 (T={t_gram})", "upper_bound", outs["gram"], ref, "SVD",
        seconds=secs["gram"], repeats=20, target="≤1e-6 above exact in ≤12 it., time ≤ PI to 1e-6 below",
        met=f"{_yes(ok)}: T={t_gram}, {secs['gram'] * 1e3:.1f} ms vs PI {n_pi} it. "
        f"{secs['power'] * 1e3:.1f} ms ({secs['gram'] / secs['power']:.2f}×)",
    )  # fmt: skip
    table.add_out(
        case, f"stablecore power, first N within 1e-6 below (N={n_pi})", "lower_bound", outs["power"], ref,
        "SVD", seconds=secs["power"], repeats=20,
    )  # fmt: skip
    return {
        "gram_history_rel_err": [h / ref - 1 for h in gram.history],
        "gram_margin": gram.details["margin"],
        "power_iters_to_1e-6": n_pi,
        "gram_iters_to_1e-6": t_gram,
        "gram_ms": secs["gram"] * 1e3,
        "power_ms": secs["power"] * 1e3,
    }


# ----------------------------------------------------------------------------------- (b) circular
def case_circular(table: Table) -> dict[str, Any]:
    case = "(b) circular 64→64 3×3 @32×32"
    k, n = _kernel((64, 64, 3, 3), 1), 32
    exact_fns = {
        "stablecore exact (DFT blocks + eigvalsh)": lambda: conv_norm(
            k, n, padding="circular", method="exact"
        ),
        "rfft2 + batched SVD (Sedghi 2019; this benchmark)": lambda: exact_fft_svd(k, n),
        "rfft2 + eigvalsh of the Gram blocks (this benchmark)": lambda: exact_fft_eigh(k, n),
    }
    gram_label = "stablecore gram (DFT blocks, ≤6 it.)"
    orth_fns = _orthogonium_fns(k, n, "circular") if GET_CONV_SV is not None else {}
    fns = {**exact_fns, gram_label: lambda: conv_norm(k, n, padding="circular"), **orth_fns}
    repeats = 3
    outs, secs = interleaved(fns, repeats=repeats)
    ref = _value(outs[next(iter(exact_fns))])[0]
    rows = {}
    for label in fns:
        kind = "exact" if label in exact_fns else "upper_bound"
        name = "itself" if label == next(iter(exact_fns)) else "exact"
        rows[label] = table.add_out(
            case, label, kind, outs[label], ref, name, seconds=secs[label], repeats=repeats
        )
    table.run(
        case, "stablecore power on the operator (100 it.)", "",
        lambda: conv_norm(k, n, padding="circular", method="power", n_iter=100, tol=0.0), ref, "exact",
    )  # fmt: skip
    _conv_peers(table, case, k, n, "circular", ref, "exact", orthogonium=False)
    if GET_CONV_SV is not None:
        layer = _conv_layer(k, "circular")
        table.run(
            case, "orthogonium get_conv_sv WITHOUT imsize (torus n=k: another operator)", "estimate",
            lambda: orthogonium_value(layer, ORTH_CIRC_ITERS, None), ref, "exact",
        )  # fmt: skip
    t = secs[gram_label]
    fastest_exact = min(secs[label] for label in exact_fns)
    speed_exact = fastest_exact / t
    speed_orth = min(secs[label] for label in orth_fns) / t if orth_fns else float("nan")
    gram = rows[gram_label]
    ok = gram["rel_err"] <= 1e-3 and speed_exact >= 2 and (not orth_fns or speed_orth >= 5)
    gram["target"] = "≤1e-3 rel.; ≥2× fastest exact; ≥5× orthogonium"
    gram["met"] = (
        f"{_yes(ok)}: {gram['rel_err']:.1e}; {speed_exact:.1f}× fastest exact; "
        f"{speed_orth:.1f}× fastest orthogonium"
    )
    return {"speedup_vs_fastest_exact": speed_exact, "speedup_vs_orthogonium": speed_orth}


# ----------------------------------------------------------------------------------- (c) thesis case
NOTEBOOK = [  # lip4conv notebook_test_gram_iteration.ipynb (CUDA), relative to Sedghi 83.092
    ("Sedghi 2019 exact circular", "exact", 83.092, None),
    ("Ryu 2019 PI zero padding, 100 it.", "lower_bound", 77.561, None),
    ("GI circular (delattre2023), 5 it.", "upper_bound", 83.092 + 0.026, 0.53),
    ("norm2toep zero padding (delattre2024), 5 it.", "upper_bound", 83.092 + 3.34, 0.72),
    ("Fantastic Four (Singla 2021), 50 it.", "estimate", 83.092 + 94.0, 17.9),
    ("LipGrid (Araujo 2021), 50 samples", "estimate", 83.092 + 273.6, 1.0),
]


def case_thesis(table: Table) -> dict[str, Any]:
    case = "(c) 64→64 5×5 @12×12"
    k, n = _kernel((64, 64, 5, 5), 2), 12
    ex = table.run(
        case,
        "stablecore exact circular (FFT blocks + eigvalsh)",
        "exact",
        lambda: conv_norm(k, n, padding="circular", method="exact"),
        None,
        "",
    )
    ref = ex["value"]
    ex["reference"], ex["rel_err"] = "itself", 0.0
    table.run(
        case, "rfft2 + batched SVD (this benchmark)", "exact", lambda: exact_fft_svd(k, n), ref, "exact circ."
    )
    table.run(
        case,
        "rfft2 + eigvalsh of Gram blocks (this benchmark)",
        "exact",
        lambda: exact_fft_eigh(k, n),
        ref,
        "exact circ.",
    )
    table.run(
        case,
        "stablecore gram circular (≤6 it.)",
        "",
        lambda: conv_norm(k, n, padding="circular"),
        ref,
        "exact circ.",
    )
    table.run(
        case,
        "stablecore power circular (100 it.)",
        "",
        lambda: conv_norm(k, n, padding="circular", method="power", n_iter=100, tol=0.0),
        ref,
        "exact circ.",
    )
    _conv_peers(table, case, k, n, "circular", ref, "exact circ.")
    zero_gram = table.run(
        case,
        "stablecore gram zero padding",
        "",
        lambda: conv_norm(k, n, padding="zeros"),
        ref,
        "exact circ.",
    )
    zero_gram["method"] += f" (winner: {table.last.details['winner']})"
    table.run(
        case,
        "stablecore norm2toep zero padding",
        "",
        lambda: conv_norm(k, n, padding="zeros", method="norm2toep"),
        ref,
        "exact circ.",
    )
    table.run(
        case,
        "stablecore power zero padding (Ryu, 100 it.)",
        "",
        lambda: conv_norm(k, n, padding="zeros", method="power", n_iter=100, tol=0.0),
        ref,
        "exact circ.",
    )
    for name, kind, value, ms in NOTEBOOK:
        label = f"lip4conv notebook: {name}" + (f" (CUDA {ms} ms)" if ms else "")
        table.add(case, label, kind, value, 83.092, "notebook Sedghi (their kernel)")
    return {}


# ----------------------------------------------------------------------------------- (d) zero padding
def case_zeros(table: Table) -> dict[str, Any]:
    case = "(d) zeros 64→64 3×3 @32×32"
    k, n = _kernel((64, 64, 3, 3), 3), 32
    pi_label = "stablecore power on the operator (Ryu 2019, 100 it.)"
    outs, secs = interleaved(
        {
            pi_label: lambda: conv_norm(k, n, padding="zeros", method="power", n_iter=100, tol=0.0),
            "gram": lambda: conv_norm(k, n, padding="zeros"),
        },
        repeats=3,
    )
    ref = outs[pi_label].value
    pi = table.add_out(case, pi_label, "", outs[pi_label], ref, "itself", seconds=secs[pi_label], repeats=3)
    bound = outs["gram"]
    gram = table.add_out(
        case, f"stablecore gram zero padding (winner of 2: {bound.details['winner']})", "", bound, ref,
        "PI-100 (lower)", seconds=secs["gram"], repeats=3,
    )  # fmt: skip
    table.run(
        case, "stablecore norm2toep alone (kernel space, input-size free)", "",
        lambda: conv_norm(k, n, padding="zeros", method="norm2toep"), ref, "PI-100 (lower)",
    )  # fmt: skip
    table.run(
        case, f"stablecore gram on the {n + 2}×{n + 2} circular embedding alone", "upper_bound",
        lambda: conv_norm(k, n + 2, padding="circular").value, ref, "PI-100 (lower)",
    )  # fmt: skip
    table.run(
        case, f"rfft2 + eigvalsh on the {n + 2}×{n + 2} torus (embedding, no margin)", "upper_bound",
        lambda: exact_fft_eigh(k, n + 2), ref, "PI-100 (lower)",
    )  # fmt: skip
    _conv_peers(table, case, k, n, "zeros", ref, "PI-100 (lower)")
    ok = gram["rel_err"] <= 0.01 and gram["time_ms"] < pi["time_ms"]
    gram["target"] = "≤1% above PI-100, faster than PI-100"
    gram["met"] = f"{_yes(ok)}: +{gram['rel_err']:.2%}, {gram['time_ms'] / pi['time_ms']:.2f}× PI time"

    case = "(d) zeros 16→16 3×3 @8×8"
    k, n = _kernel((16, 16, 3, 3), 4), 8
    ex = table.run(
        case,
        "stablecore exact (explicit 1024×1024 matrix, SVD)",
        "",
        lambda: conv_norm(k, n, padding="zeros", method="exact"),
        None,
        "",
    )
    ref = ex["value"]
    ex["reference"], ex["rel_err"] = "itself", 0.0
    row = table.run(
        case, "stablecore gram zero padding", "", lambda: conv_norm(k, n, padding="zeros"), ref, "exact"
    )
    row["method"] += f" (winner of 2: {table.last.details['winner']})"
    table.run(
        case,
        "stablecore norm2toep alone",
        "",
        lambda: conv_norm(k, n, padding="zeros", method="norm2toep"),
        ref,
        "exact",
    )
    table.run(
        case,
        "stablecore power on the operator (Ryu, 100 it.)",
        "",
        lambda: conv_norm(k, n, padding="zeros", method="power", n_iter=100, tol=0.0),
        ref,
        "exact",
    )
    table.run(
        case,
        f"rfft2 + eigvalsh on the {n + 2}×{n + 2} torus (embedding, no margin)",
        "upper_bound",
        lambda: exact_fft_eigh(k, n + 2),
        ref,
        "exact",
    )
    _conv_peers(table, case, k, n, "zeros", ref, "exact")
    return {"zeros_32_winner": bound.details["winner"], "zeros_32_candidates": bound.details["candidates"]}


# ----------------------------------------------------------------------------------- (e) networks
@contextmanager
def conv_rule(fn: Callable[..., tuple[Bound, tuple[int, ...]]]) -> Iterator[None]:
    """Temporarily bound every ``nn.Conv2d`` with ``fn`` (the rest of the walk stays stablecore's)."""
    import stablecore.spectral.leaves as leaves

    register(nn.Conv2d)(fn)
    try:
        yield
    finally:
        register(nn.Conv2d)(leaves._conv2d)


def _out_shape(module: nn.Conv2d, shape: tuple[int, ...]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(module(torch.zeros(1, *shape, dtype=module.weight.dtype)).shape[1:])


def _peer_conv(kind: str) -> Callable[..., tuple[Bound, tuple[int, ...]]]:
    def fn(module: nn.Conv2d, shape: tuple[int, ...], **options: Any) -> tuple[Bound, tuple[int, ...]]:
        m64 = copy.deepcopy(module).double()
        w = m64.weight.detach()
        if kind == "orthogonium":
            it = ORTH_ZERO_ITERS.get(max(w.shape[:2]), 3) if m64.padding_mode == "zeros" else ORTH_CIRC_ITERS
            bound = Bound(orthogonium_value(m64, it, shape[1]), "upper_bound", "orthogonium")
        elif kind == "deel":
            bound = Bound(deel_value(w, m64.kernel_size, m64.stride), "estimate", "deel LConvNorm")
        else:
            bound = Bound(torch_sn_value(w), "estimate", "torch spectral_norm")
        return bound, _out_shape(module, shape)

    return fn


def max_jacobian_norm(model: nn.Module, inputs: torch.Tensor) -> float:
    """Largest ‖J_f(x)‖₂ over the inputs (float64 copy, ``torch.func.jacrev``): a Lipschitz lower bound."""
    m64 = copy.deepcopy(model).double().eval()

    def f(x: torch.Tensor) -> torch.Tensor:
        return m64(x.unsqueeze(0)).squeeze(0)

    with torch.no_grad():
        jac = torch.func.vmap(torch.func.jacrev(f))(inputs.double())
    return float(torch.linalg.matrix_norm(jac.reshape(len(inputs), jac.shape[1], -1), 2).max())


def _one(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _network(
    table: Table,
    case: str,
    model: nn.Module,
    shape: tuple[int, ...],
    inputs: torch.Tensor,
    exact_layers: bool,
) -> dict[str, Any]:
    lb, s_lb = _one(lambda: max_jacobian_norm(model, inputs))
    table.add(
        case,
        f"max ‖J(x)‖₂ over {len(inputs)} inputs (jacrev, float64)",
        "lower_bound",
        lb,
        lb,
        "itself",
        seconds=s_lb,
        repeats=1,
    )
    ours, s_ours = _one(lambda: lipschitz_bound(model, shape))
    row = table.add(
        case,
        "stablecore lipschitz_bound (gram layers)",
        ours.kind,
        ours.value,
        lb,
        "Jacobian LB",
        seconds=s_ours,
        repeats=1,
    )
    if exact_layers:
        ex, s_ex = _one(lambda: lipschitz_bound(model, shape, method="exact"))
        table.add(
            case,
            "stablecore lipschitz_bound (exact layers)",
            ex.kind,
            ex.value,
            lb,
            "Jacobian LB",
            seconds=s_ex,
            repeats=1,
        )
    peers = {}
    for name, label in [
        ("orthogonium", "conv: orthogonium get_conv_sv"),
        ("deel", "conv: deel-torchlip σ_PI·√(kh·kw)"),
        ("torch_sn", "conv: torch spectral_norm σ (NOT a bound)"),
    ]:
        if (name == "orthogonium" and GET_CONV_SV is None) or (name == "deel" and DEEL_SIGMA is None):
            continue
        torch.manual_seed(0)
        with conv_rule(_peer_conv(name)):
            peer, s_peer = _one(lambda: lipschitz_bound(model, shape))
        kind = "upper_bound" if name == "orthogonium" else "estimate"
        table.add(
            case,
            f"layer-wise product, {label}, rest stablecore",
            kind,
            peer.value,
            lb,
            "Jacobian LB",
            seconds=s_peer,
            repeats=1,
        )
        peers[name] = peer.value
    sound = {k: v for k, v in peers.items() if k in ("orthogonium", "deel")}
    ok = all(v >= ours.value for v in sound.values()) and ours.value >= lb
    row["target"] = "sound peer bounds ≥ ours ≥ LB"
    row["met"] = f"{_yes(ok)}: ours/LB = {ours.value / lb:.3g}; " + ", ".join(
        f"{k}/ours = {v / ours.value:.3g}" for k, v in sound.items()
    )
    return {"ours": ours.value, "lower": lb, "peers": peers}


def case_networks(table: Table) -> dict[str, Any]:
    from stablecore.models import build_model
    from stablecore.workflows import train_classifier

    with tempfile.TemporaryDirectory() as home:
        result, s_train = _one(
            lambda: train_classifier("digits", "convnet", epochs=3, seed=0, progress=False, home=home)
        )
    model = result.model.eval()
    test = result.data.test
    inputs = torch.stack([test[i][0] for i in range(16)])
    info = {"digits_convnet": {"train_s": s_train, "test_accuracy": result.test["accuracy"]}}
    info["digits_convnet"].update(
        _network(table, "(e) digits ConvNet (3 epochs)", model, tuple(result.data.input_shape), inputs, True)
    )
    net = build_model("resnet20", input_shape=(3, 32, 32), num_classes=10, seed=0).eval()
    rand = torch.rand((16, 3, 32, 32), generator=torch.Generator().manual_seed(5))
    info["resnet20"] = _network(table, "(e) ResNet-20 random init (eval)", net, (3, 32, 32), rand, False)
    return info


# ----------------------------------------------------------------------------------- main
NOTES = """\
Rows. `value` is the number each method returns; `kind` says what it is (exact, upper_bound, \
lower_bound, estimate); `rel_err` = value / reference − 1, the reference being named per row (the \
exact norm where one is computable; for zero padding at 32×32 Ryu's 100-step power iteration on the \
operator, a lower bound; for networks the largest Jacobian norm). `time_ms` is the median over \
`repeats` calls after one warm-up call (each call includes every FFT, reshape and copy); network rows \
are single calls. Exact routes: stablecore's `method="exact"` already takes `eigvalsh` of the Gram \
blocks (DFT by one matmul for k² ≤ 64, `rfft2` otherwise); the `rfft2 + SVD` and `rfft2 + eigvalsh` \
rows are implemented in this benchmark. The fastest exact route is the fastest of the three rows.
Peers. orthogonium `get_conv_sv` gets the input size (`imsize`); for zero padding it runs \
delattre2024 in kernel space (input-size free) with {zero_iters} iterations by channel count (one \
more iteration costs ~20×: 67 s for 64 channels at T=4 in a one-off measurement); its values carry \
no rounding margin (bounds in exact arithmetic). The row "WITHOUT imsize" shows the trap: it bounds \
the conv on a k×k torus, another operator. deel-torchlip: `SpectralConv2d` divides the kernel by \
σ₁ of the reshaped kernel (its power iteration, eps 1e-3) and multiplies by the LConvNorm \
coefficient 1/√(kh·kw), so the norm it assumes is σ·√(kh·kw): a proven bound when σ is exact, but σ \
comes from power iteration (from below), hence kind `estimate`. `torch.nn.utils.spectral_norm` σ \
(reshaped kernel) is NOT a bound of the conv: it falls below the exact norm. Fantastic Four / LipGrid \
are stablecore's sound re-implementations (exact reshaping norms; proven grid correction), so they \
differ from the notebook's rows, which used power iterations and no correction. Reference rows of (c) \
are lip4conv's notebook numbers for *their* random kernel: compare relative gaps only. Network peer \
rows replace every Conv2d norm by the peer's value and keep stablecore's other layer bounds. \
{peer_notes}"""


def main() -> Path:
    torch.set_num_threads(THREADS)
    load_start = os.getloadavg()
    start = time.perf_counter()
    table = Table()
    meta: dict[str, Any] = {"torch_threads": THREADS, "loadavg_start": load_start}
    meta["dense"] = case_dense(table)
    meta["circular"] = case_circular(table)
    meta["thesis"] = case_thesis(table)
    meta["zeros"] = case_zeros(table)
    meta["networks"] = case_networks(table)
    meta["loadavg_end"] = os.getloadavg()
    meta["total_seconds"] = time.perf_counter() - start
    frame = pd.DataFrame(table.rows)
    notes = NOTES.format(
        zero_iters=", ".join(f"{c} ch: T={t}" for c, t in ORTH_ZERO_ITERS.items()),
        peer_notes=" ".join(PEER_NOTES),
    )
    notes += (
        f"\n\nTorch threads: {THREADS} (machine default). Load average at start / end: "
        f"{load_start[0]:.2f} / {meta['loadavg_end'][0]:.2f} (a shared machine: timings are noisy). "
        f"Total run: {meta['total_seconds']:.0f} s."
    )
    return write_results("bench_spectral", frame, notes=notes, meta=meta)


if __name__ == "__main__":
    print(main().read_text())
