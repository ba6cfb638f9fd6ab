"""Randomized-smoothing certification: stablecore vs IBM ART's ``PyTorchRandomizedSmoothing``.

Same model, examples, ``n0``, ``alpha`` and ``sigma`` for both sides, in one run (issue 14, "Benchmark"):

* model: the digits ConvNet (``build_model("convnet", input_shape=(1, 8, 8))``: 16-32 conv channels, a
  64-unit head) trained briefly by ``stablecore.workflows.train_classifier`` with Gaussian-noise
  augmentation at the certification ``sigma`` (``stablecore.train.GaussianNoise``);
* (a) **certification throughput** at ``n = 10^4`` and ``10^5`` on the first test examples: stablecore's
  ``Smooth.certify`` at several batch sizes vs ART 1.20's ``certify`` at its default batch size (32) and at
  the same batch sizes, against the base model's raw forward throughput on ``n0 + n`` noisy copies (a
  noisy batch made once, then forward passes only: the limit of any certifier), and, for reference, the
  forward with the noise drawn per batch. Every configuration certifies every example once per round,
  round by round (the machine is shared: interleaving exposes all of them to the same load);
  examples/s = examples / summed time. **Peak memory**: each probed configuration (stablecore at its
  best batch size, ART at its default and at its best) certifies one example in a fresh subprocess; the
  growth of the peak resident set (``VmHWM``, reset just before) over the resident set before that
  certification is reported at both ``n``;
* (b) **certified accuracy** at three radii on the ConvNet and on a noise-trained Lipschitz-by-design SLL
  network (the base the Lipschitz-aware radii are meant for), every radius of a model computed from one set
  of noisy logits per example (:func:`noisy_logits`: the noise of ``Smooth.sample`` and
  ``certify_dataset``): Cohen's (votes, Clopper–Pearson); LVM-RS (``stablecore.smoothing.lvm.certify_lvm``,
  sound) and, labelled as NOT a certificate, the reference's best-of-candidates
  (``lvm_best_of_candidates_uncertified``); for a soft score map(z/T) (empirical-Bernstein p̲_A)
  σΦ⁻¹(p̲_A), R_monoLip and R_ode of ``stablecore.smoothing.lipschitz`` with the score's Lipschitz bound
  from ``stablecore.spectral.lipschitz_bound``. The soft score's map and temperature, and the σ of an extra
  Lipschitz block, are chosen on a validation split of the TRAIN data (:func:`part_validation`), never on
  the test examples; the a-priori softmax T = 1 rows are kept beside them.

``python -m benchmarks.bench_smoothing`` writes ``results/bench_smoothing.{json,md}``; ``--quick`` runs tiny
sizes and writes ``bench_smoothing_quick.*`` to a temporary directory (the smoke test); ``--threads`` sets
torch's intra-op threads for every configuration alike (default 1: on this shared 2-core machine two threads
per process made small batches up to 50× slower whenever another job ran; the machine's default is
recorded).
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn

from benchmarks import common
from benchmarks.common import to_markdown, write_results

ROOT = Path(__file__).resolve().parents[1]
THREADS = torch.get_num_threads()  # the machine's default, recorded
DEFAULT_THREADS = 1  # see the module docstring (``--threads``)
SEED = 0
SIGMA = 0.25
ALPHA = 0.001
NUM_CLASSES = 10
INPUT_SHAPE = (1, 8, 8)
SCORE_T = 1.0  # softmax temperature of the a-priori soft score in (b) (chapter 6's default)
SLL_KWARGS = {"width": 64, "depth": 4}  # the Lipschitz base of (b)
FLAT_MIB = 8.0  # "flat in n": peak-RSS growth at the largest n within this of the growth at the smallest
PEER_NOTES: list[str] = []


@dataclass(frozen=True)
class Sizes:
    ns: tuple[int, ...] = (10_000, 100_000)
    n0: int = 100
    examples: int = 4  # first test examples, (a)
    batches: tuple[int, ...] = (250, 1000, 2500, 10_000)  # tried for both libraries
    art_default: int = 32  # ART's certify(batch_size=32)
    epochs: int = 10  # noise-augmented training of each model
    cert_n: int = 10_000  # (b)
    cert_every: int = 4  # (b): every 4th test example (113 of 450)
    radii: tuple[float, ...] = (0.1, 0.25, 0.5)
    # (b) validation of the soft score (map, T) and σ of the Lipschitz-aware radii (never on the test set)
    val_fraction: float = 0.2  # of the train split held out
    val_every: int = 2  # every 2nd held-out example
    val_sigmas: tuple[float, ...] = (0.12, 0.25, 0.5)
    val_maps: tuple[str, ...] = ("softmax", "sparsemax")
    val_temperatures: tuple[float, ...] = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0)
    probe_ns: tuple[int, ...] = (10_000, 100_000)  # memory probes (fresh processes) at these n
    probe_ours_long: int | None = 300_000  # and stablecore once more at this n: does its peak plateau?
    probe_art: bool = True  # probe ART at its default batch size (and at its best, if another)
    quick: bool = False


FULL = Sizes()
QUICK = Sizes(
    ns=(300, 1000), n0=10, examples=1, batches=(100, 1000), epochs=1, cert_n=200, cert_every=90,
    probe_ns=(300, 1000), probe_ours_long=None, probe_art=False, val_every=60, val_sigmas=(0.12, 0.25),
    val_temperatures=(0.5, 1.0), quick=True,
)  # fmt: skip


# ----------------------------------------------------------------------------------- peer
def _import_art() -> Any:
    """ART's ``PyTorchRandomizedSmoothing`` (None with a note if it cannot be imported, or if importing it
    pulled in torchvision, which this benchmark must not use)."""
    try:
        from art.estimators.certification.randomized_smoothing import PyTorchRandomizedSmoothing
    except Exception as exc:  # pragma: no cover - depends on the environment
        PEER_NOTES.append(f"ART skipped: {type(exc).__name__}: {exc}")
        return None
    if "torchvision" in sys.modules:  # pragma: no cover
        PEER_NOTES.append("importing ART's PyTorch randomized smoothing imported torchvision")
    return PyTorchRandomizedSmoothing


def art_smoother(model: nn.Module, n0: int) -> Any:
    """ART's smoother around a copy of ``model`` (ART switches its model's mode itself) on the CPU; its
    ``sample_size`` is CERTIFY's ``n0``."""
    cls = _import_art()
    if cls is None:
        return None
    return cls(
        copy.deepcopy(model), nn.CrossEntropyLoss(), input_shape=INPUT_SHAPE, nb_classes=NUM_CLASSES,
        device_type="cpu", sample_size=n0, scale=SIGMA, alpha=ALPHA,
    )  # fmt: skip


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for dist in ("stablecore", "adversarial-robustness-toolbox", "statsmodels", "scipy", "numpy"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:  # pragma: no cover
            out[dist] = None
    return out


def _git_head() -> dict[str, Any]:
    """HEAD and the last commits touching ``stablecore/smoothing`` (which radii exist at run time)."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):  # pragma: no cover
            return ""
        return out.stdout.strip()

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "smoothing_log": git("log", "--oneline", "-5", "--", "stablecore/smoothing/").splitlines(),
    }


# ----------------------------------------------------------------------------------- models
def train_models(sizes: Sizes, home: str) -> dict[str, Any]:
    """The noise-trained digits ConvNet (parts a and b) and SLL net (part b), each in a run under ``home``."""
    from stablecore.train import GaussianNoise
    from stablecore.workflows import train_classifier

    out = {}
    for key, name, kwargs in [("convnet", "convnet", {}), ("sll", "sll", SLL_KWARGS)]:
        start = time.perf_counter()
        res = train_classifier(
            "digits", name, epochs=sizes.epochs, mode="quick", seed=SEED, device="cpu",
            model_kwargs=kwargs, transform=GaussianNoise(SIGMA), home=home, progress=False,
            experiment=f"bench-smoothing-{key}",
        )  # fmt: skip
        out[key] = {
            "result": res,
            "seconds": time.perf_counter() - start,
            "parameters": sum(p.numel() for p in res.model.parameters()),
        }
    return out


# ----------------------------------------------------------------------------------- (a) throughput
@dataclass(frozen=True)
class Config:
    library: str  # "stablecore" | "ART" | "torch forward" | "torch forward + noise"
    batch: int
    label: str

    @property
    def key(self) -> str:
        return f"{self.library}@{self.batch}"


def configs(sizes: Sizes, with_art: bool) -> list[Config]:
    out = [Config("stablecore", b, "stablecore Smooth.certify") for b in sizes.batches]
    if with_art:
        out.append(Config("ART", sizes.art_default, "ART certify (its default batch)"))
        out += [Config("ART", b, "ART certify") for b in sizes.batches if b != sizes.art_default]
    out += [Config("torch forward", b, "raw forward on a noisy batch (the limit)") for b in sizes.batches]
    out += [Config("torch forward + noise", b, "forward, noise drawn per batch") for b in sizes.batches]
    return out


def _runner(
    cfg: Config, model: nn.Module, art: Any, x: torch.Tensor, index: int, n0: int, n: int
) -> Callable[[], tuple[int, float]]:
    """One certification (or its forward-only stand-in) of example ``index``: ``() -> (class, radius)``."""
    if cfg.library == "stablecore":
        from stablecore.smoothing import Smooth
        from stablecore.smoothing.dataset import example_generator

        smooth = Smooth(model, NUM_CLASSES, SIGMA)

        def run() -> tuple[int, float]:
            cert = smooth.certify(x, n0, n, ALPHA, cfg.batch, generator=example_generator(SEED, index))
            return cert.prediction, cert.radius

        return run
    if cfg.library == "ART":
        xn = x.numpy()[None]

        def run() -> tuple[int, float]:
            np.random.seed(SEED + index)  # noqa: NPY002 (ART draws its noise from numpy's global generator)
            pred, radius = art.certify(xn, n=n, batch_size=cfg.batch)
            return int(pred[0]), float(radius[0])

        return run
    g = torch.Generator().manual_seed(SEED + index)
    noisy = x.unsqueeze(0) + SIGMA * torch.randn((cfg.batch, *x.shape), generator=g)
    draw = cfg.library == "torch forward + noise"

    def run() -> tuple[int, float]:
        remaining = n0 + n
        with torch.no_grad():
            while remaining > 0:
                b = min(cfg.batch, remaining)
                if draw:
                    model(x.unsqueeze(0) + SIGMA * torch.randn((b, *x.shape), generator=g))
                else:
                    model(noisy[:b])
                remaining -= b
        return -2, float("nan")

    return run


def part_throughput(
    model: nn.Module, xs: list[torch.Tensor], sizes: Sizes, n: int, cfgs: list[Config]
) -> dict[str, Any]:
    """Every configuration on every example, interleaved by example; the order of configurations rotates
    from one example to the next."""
    art = art_smoother(model, sizes.n0) if any(c.library == "ART" for c in cfgs) else None
    model.eval()
    times: dict[str, list[float]] = {c.key: [] for c in cfgs}
    outs: dict[str, list[tuple[int, float]]] = {c.key: [] for c in cfgs}
    loads = []
    # warm-up: one small call of each (first-call allocations, lazy imports of scipy / statsmodels)
    for c in cfgs:
        _runner(c, model, art, xs[0], 0, sizes.n0, min(n, 2 * c.batch))()
    for i, x in enumerate(xs):
        order = cfgs[i % len(cfgs) :] + cfgs[: i % len(cfgs)]
        for c in order:
            fn = _runner(c, model, art, x, i, sizes.n0, n)
            start = time.perf_counter()
            out = fn()
            times[c.key].append(time.perf_counter() - start)
            outs[c.key].append(out)
        loads.append(os.getloadavg()[0])
    per_s = {k: len(xs) / sum(v) for k, v in times.items()}
    return {"n": n, "times": times, "outs": outs, "examples_per_s": per_s, "loadavg_after_each": loads}


def _best(per_s: dict[str, float], library: str) -> tuple[str, float]:
    cands = {k: v for k, v in per_s.items() if k.startswith(library + "@")}
    key = max(cands, key=cands.get)
    return key, cands[key]


# ----------------------------------------------------------------------------------- memory probes
def _status_mib(field: str) -> float:
    """``VmRSS`` (resident now) or ``VmHWM`` (its peak) of this process, in MiB (Linux ``/proc``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the peak RSS to the current RSS (``/proc/self/clear_refs``, value 5; Linux ≥ 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # pragma: no cover - another kernel or no permission
        return False
    return True


def probe(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a fresh interpreter: load the model from its run, warm up with one certification at
    ``n = n0`` (same batch size: lazy imports, allocator, thread pool), then certify one example at ``n``.

    ``growth_mib`` = peak RSS during that certification − RSS just before it: the process's peak RSS
    (``VmHWM``) is reset to its current RSS first, so earlier peaks (imports, loading) do not hide the
    certification's own. Without the reset (old kernel), the ``ru_maxrss`` difference is reported instead, a
    lower bound of the growth."""
    torch.set_num_threads(int(spec["threads"]))
    from stablecore.data import load_dataset
    from stablecore.workflows import load_model

    model = load_model(spec["run"])
    x = load_dataset("digits").test[int(spec["index"])][0]
    n0, n, b = int(spec["n0"]), int(spec["n"]), int(spec["batch"])
    cfg = Config(spec["library"], b, "")
    art = art_smoother(model, n0) if cfg.library == "ART" else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _runner(cfg, model, art, x, 1, n0, n0)()
        gc.collect()
        maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        reset = _reset_peak()
        rss_before = _status_mib("VmRSS")
        start = time.perf_counter()
        _runner(cfg, model, art, x, int(spec["index"]), n0, n)()
        seconds = time.perf_counter() - start
    peak = _status_mib("VmHWM")
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        **spec,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak,
        "growth_mib": (peak - rss_before) if reset else (maxrss_after - maxrss_before),
        "peak_reset": reset,
        "maxrss_growth_mib": maxrss_after - maxrss_before,
        "seconds": seconds,
        "torchvision_imported": "torchvision" in sys.modules,
    }


def run_probe(spec: dict[str, Any]) -> dict[str, Any]:
    """:func:`probe` in a new ``python`` process (the repository on its path); its JSON answer."""
    code = (
        "import json, sys; from benchmarks.bench_smoothing import probe; "
        "print('PROBE ' + json.dumps(probe(json.loads(sys.argv[1]))))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    for line in proc.stdout.splitlines():
        if line.startswith("PROBE "):
            return json.loads(line[6:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {**spec, "error": f"probe exited {proc.returncode}: {' | '.join(tail)}"}


# ----------------------------------------------------------------------------------- (b) accuracy
@dataclass(frozen=True)
class SoftScore:
    """A [0, 1]-valued base score ``map(z / T)_c`` of the logits z (``stablecore.smoothing.lvm`` maps)."""

    map: str  # "softmax" | "sparsemax"
    temperature: float
    origin: str  # "a priori" | "validation"

    @property
    def label(self) -> str:
        return f"{self.map} T={self.temperature:g}, {self.origin}"


def noisy_logits(
    model: nn.Module, x: torch.Tensor, num: int, batch: int, generator: torch.Generator, sigma: float
) -> np.ndarray:
    """``(num, K)`` float64 logits of ``model(x + σδ)``, the noise drawn exactly as ``Smooth.sample`` draws it
    (``torch.randn`` of the batch's shape, in the model's dtype, batch after batch from ``generator``): the
    votes of these logits are ``Smooth.sample``'s counts (checked against ``certify_dataset``'s rows)."""
    dtype = next(model.parameters()).dtype
    x = x.to(dtype)
    out, remaining = [], num
    with torch.no_grad():
        while remaining > 0:
            b = min(batch, remaining)
            noise = torch.randn((b, *x.shape), generator=generator, dtype=dtype)
            out.append(model(x.unsqueeze(0).expand(b, *x.shape) + sigma * noise).double())
            remaining -= b
    return torch.cat(out).numpy()


def _curve(correct: np.ndarray, radius: np.ndarray, radii: tuple[float, ...]) -> list[float]:
    from stablecore.smoothing import certified_accuracy_curve

    table = pd.DataFrame({"correct": correct, "radius": radius})
    return [float(v) for v in certified_accuracy_curve(table, list(radii))["certified_accuracy"]]


def certify_examples(
    model: nn.Module,
    data: Any,
    indices: list[int],
    *,
    sigma: float,
    n0: int,
    n: int,
    batch: int,
    scores: list[SoftScore],
    logits_bound: Any,
    lvm: bool = False,
    lvm_uncertified: bool = False,
) -> dict[str, Any]:
    """Every radius of (b) for the examples ``data[i]``, ``i`` in ``indices``, from ONE set of noisy logits
    per example (``n0`` selection then ``n`` estimation draws of ``example_generator(SEED, i)``, as
    ``certify_dataset`` draws them):

    * Cohen: votes, ``certify_from_counts`` (Clopper–Pearson);
    * each soft score s: class = argmax of the selection draws' mean score, p̲ = empirical-Bernstein lower
      bound (level α) of its estimation mean, then σΦ⁻¹(p̲), R_monoLip and R_ode with
      ``score_lipschitz(logits_bound, T, map=...)``; checked per example: R_ode ≥ R_monoLip ≥ σΦ⁻¹(p̲);
    * ``lvm``: ``certify_lvm`` (sound; map, T and class chosen on the selection draws);
    * ``lvm_uncertified``: ``lvm_best_of_candidates_uncertified`` on the estimation draws (an estimate).

    Returns ``{"labels", "methods": {name: (pred, radius, L, kind)}, "checks", ...}``."""
    from stablecore.smoothing import bounds as sb
    from stablecore.smoothing import certify_from_counts
    from stablecore.smoothing import lipschitz as sl
    from stablecore.smoothing import lvm as slvm
    from stablecore.smoothing.dataset import example_generator

    model.eval()
    k = NUM_CLASSES
    labels, coh_pred, coh_r, coh_p, logged = [], [], [], [], []
    soft_pred = {s: [] for s in scores}
    soft_p = {s: [] for s in scores}
    lvm_rows: dict[str, list[Any]] = {"sound": [], "uncertified": []}
    start = time.perf_counter()
    lvm_s = 0.0
    for i in indices:
        x, y = data[i]
        g = example_generator(SEED, i)
        z_sel = noisy_logits(model, x, n0, batch, g, sigma)
        z_est = noisy_logits(model, x, n, batch, g, sigma)
        sel_votes = np.bincount(z_sel.argmax(1), minlength=k)
        est_votes = np.bincount(z_est.argmax(1), minlength=k)
        cert = certify_from_counts(sel_votes, est_votes, ALPHA, sigma)
        labels.append(int(y))
        coh_pred.append(cert.prediction)
        coh_r.append(cert.radius)
        coh_p.append(cert.p_lower)
        logged.append((sel_votes.tolist(), est_votes.tolist()))
        for s in scores:
            a = int(np.argmax(slvm.simplex_map(z_sel, s.map, s.temperature).mean(0)))
            col = slvm.simplex_map(z_est, s.map, s.temperature)[:, a]
            lo = float(sb.empirical_bernstein_lower(col.mean(), col.var(ddof=1), n, ALPHA))
            soft_pred[s].append(a if lo > 0.5 else -1)
            soft_p[s].append(lo)
        t0 = time.perf_counter()
        if lvm:
            c = slvm.certify_lvm(z_sel, z_est, sigma=sigma, alpha=ALPHA)
            lvm_rows["sound"].append((c.prediction, c.radius, c.map, c.temperature, c.kind))
        if lvm_uncertified:
            c = slvm.lvm_best_of_candidates_uncertified(z_est, sigma=sigma, alpha=ALPHA)
            lvm_rows["uncertified"].append((c.prediction, c.radius, c.map, c.temperature, c.kind))
        lvm_s += time.perf_counter() - t0
    sampling_s = time.perf_counter() - start - lvm_s
    pc = np.array(coh_p)
    methods: dict[str, tuple[np.ndarray, np.ndarray, float, str]] = {
        "Cohen (votes, Clopper–Pearson)": (np.array(coh_pred), np.array(coh_r), math.inf, "certificate")
    }
    checks: dict[str, Any] = {}
    ode_votes = np.asarray(sl.ode_radius(pc, math.inf, sigma).radius, float)
    checks["ode_votes_max_dev_from_cohen"] = float(np.max(np.abs(ode_votes - np.array(coh_r))))
    violations, p_soft = 0, {}
    for s in scores:
        ps, pred = np.array(soft_p[s]), np.array(soft_pred[s])
        lip = sl.score_lipschitz(logits_bound, s.temperature, map=s.map, num_classes=k)
        base = np.asarray(sl.cohen_radius(ps, sigma).radius, float)
        mono = np.asarray(sl.monolip_radius(ps, lip, sigma).radius, float)
        ode = np.asarray(sl.ode_radius(ps, lip, sigma).radius, float)
        tol = 1e-9 * np.maximum(base, 1e-300)
        violations += int(np.sum(ode < mono - tol) + np.sum(mono < base - tol))
        methods[f"σΦ⁻¹(p̲), {s.label} (emp. Bernstein)"] = (pred, base, math.inf, "certificate")
        methods[f"R_monoLip, {s.label} (same p̲)"] = (pred, mono, lip.value, "certificate")
        methods[f"R_ode, {s.label} (same p̲)"] = (pred, ode, lip.value, "certificate")
        p_soft[s.label] = ps.tolist()
    checks["order_violations"] = violations
    checks["ode_ge_cohen_same_p"] = violations == 0
    chosen: dict[str, Any] = {}
    for key, name in [
        ("sound", "LVM-RS (sound: certify_lvm, map/T/class on the n0 draws)"),
        ("uncertified", "LVM-RS best of candidates on the n draws (NOT a certificate)"),
    ]:
        if lvm_rows[key]:
            pred, rad, maps, temps, kinds = zip(*lvm_rows[key], strict=True)
            kind = "certificate" if set(kinds) == {"lower_bound"} else "estimate"
            methods[name] = (np.array(pred), np.array(rad, float), math.nan, kind)
            chosen[key] = {
                "kind": sorted(set(kinds)),
                "maps": {m: int(sum(v == m for v in maps)) for m in sorted(set(maps))},
                "median_temperature": float(
                    np.median([t for t, m in zip(temps, maps, strict=True) if m != "hardmax"] or [0.0])
                ),
            }
    return {
        "labels": np.array(labels),
        "methods": methods,
        "checks": checks,
        "logged": logged,
        "p_cp": pc.tolist(),
        "p_soft": p_soft,
        "lvm_chosen": chosen,
        "sampling_seconds": sampling_s,
        "lvm_seconds": lvm_s,
    }


def _rows(
    model: str, sigma: float, res: dict[str, Any], clean: float, radii: tuple[float, ...]
) -> list[dict]:
    y = res["labels"]
    rows = []
    for name, (pred, rad, lip, kind) in res["methods"].items():
        correct = pred == y
        row: dict[str, Any] = {
            "model": model, "sigma": sigma, "method": name, "kind": kind, "L_score": lip,
            "examples": len(y), "clean_accuracy": clean, "smoothed_accuracy": float(correct.mean()),
            "abstain": float((pred < 0).mean()),
        }  # fmt: skip
        for r, acc in zip(radii, _curve(correct, rad, radii), strict=True):
            row[f"certified@{r:g}"] = acc
        row["median_radius"] = float(np.median(rad[pred >= 0])) if (pred >= 0).any() else 0.0
        rows.append(row)
    return rows


def _train_sll(data: Any, sigma: float, epochs: int, train_data: Any) -> nn.Module:
    """The (b) SLL recipe of :func:`train_models` (same seed, epochs, loss, optimiser, noise augmentation,
    standardisation) on ``train_data`` with the :class:`~stablecore.train.Trainer` directly (no run)."""
    from stablecore.models import build_model
    from stablecore.train import GaussianNoise, TrainConfig, Trainer, build_loss

    net = build_model(
        "sll", input_shape=data.input_shape, num_classes=data.num_classes, mean=data.mean, std=data.std,
        seed=SEED, **SLL_KWARGS,
    )  # fmt: skip
    Trainer(
        net, build_loss("ce"), train_data=train_data, config=TrainConfig.preset("quick", epochs=epochs),
        transform=GaussianNoise(sigma), seed=SEED, progress=False,
    ).fit()  # fmt: skip
    return net.eval()


def part_validation(data: Any, sizes: Sizes, batch: int) -> dict[str, Any]:
    """Choose the soft score (map, T) and σ of the Lipschitz-aware radii WITHOUT the test set.

    The digits train split is split again (stratified, ``sizes.val_fraction`` held out, seed :data:`SEED`);
    for each σ of ``sizes.val_sigmas`` an SLL is trained on the rest with (b)'s recipe, and every
    ``val_every``-th held-out example is certified at n0, n, α of (b) with Cohen and with R_ode for every
    (map, T) of ``sizes.val_maps`` × ``sizes.val_temperatures``. Criterion, fixed before running: the largest
    gain max_r [certified accuracy of R_ode − of Cohen] at (b)'s radii (same model, σ and noise), ties
    broken by R_ode's mean certified accuracy over the radii. Chosen: the best (map, T) at σ = :data:`SIGMA`
    (the issue's σ) and the best (σ, map, T) overall."""
    from sklearn.model_selection import train_test_split
    from torch.utils.data import Subset

    from stablecore.spectral import lipschitz_bound

    y = np.array([int(data.train[i][1]) for i in range(len(data.train))])
    fit_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=sizes.val_fraction, random_state=SEED, stratify=y
    )
    fit, held = Subset(data.train, fit_idx.tolist()), Subset(data.train, val_idx.tolist())
    examples = list(range(0, len(held), sizes.val_every))
    cands = [SoftScore(m, t, "validation") for m in sizes.val_maps for t in sizes.val_temperatures]
    grid, start = [], time.perf_counter()
    for sigma in sizes.val_sigmas:
        net = _train_sll(data, sigma, sizes.epochs, fit)
        lb = lipschitz_bound(net, INPUT_SHAPE)
        res = certify_examples(
            net, held, examples, sigma=sigma, n0=sizes.n0, n=sizes.cert_n, batch=batch, scores=cands,
            logits_bound=lb,
        )  # fmt: skip
        correct = res["methods"]["Cohen (votes, Clopper–Pearson)"][0] == res["labels"]
        cohen = _curve(correct, res["methods"]["Cohen (votes, Clopper–Pearson)"][1], sizes.radii)
        for s in cands:
            pred, rad, lip, _ = res["methods"][f"R_ode, {s.label} (same p̲)"]
            ode = _curve(pred == res["labels"], rad, sizes.radii)
            gain = max(o - c for o, c in zip(ode, cohen, strict=True))
            row = {"sigma": sigma, "map": s.map, "temperature": s.temperature, "L_score": lip}
            row.update({f"ode@{r:g}": v for r, v in zip(sizes.radii, ode, strict=True)})
            row.update({f"cohen@{r:g}": v for r, v in zip(sizes.radii, cohen, strict=True)})
            grid.append({**row, "gain": gain, "ode_mean": float(np.mean(ode))})

    def best(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return max(rows, key=lambda r: (round(r["gain"], 12), round(r["ode_mean"], 12)))

    at_sigma = [r for r in grid if r["sigma"] == SIGMA]
    return {
        "fit_examples": len(fit_idx),
        "held_out": len(val_idx),
        "examples": len(examples),
        "grid": grid,
        "best_at_sigma": best(at_sigma) if at_sigma else None,
        "best": best(grid),
        "seconds": time.perf_counter() - start,
    }


def part_certified(
    models: dict[str, Any], sizes: Sizes, batch: int, validation: dict[str, Any], home: str
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Certified accuracy at ``sizes.radii`` on every ``cert_every``-th digits test example
    (:func:`certify_examples`): the ConvNet and the SLL at σ = :data:`SIGMA` with Cohen, LVM-RS (sound and
    the uncertified best-of-candidates), and the soft score's σΦ⁻¹(p̲), R_monoLip, R_ode for the a-priori
    score (softmax, T = :data:`SCORE_T`) and the one chosen on validation at σ; then, if validation chose
    another σ, an SLL trained at that σ (same recipe and seed) with Cohen, LVM-RS (sound) and the chosen
    score. ``certify_dataset`` reproduces the logged counts of the first examples of each block."""
    from torch.utils.data import Subset

    from stablecore.smoothing import Smooth, certify_dataset
    from stablecore.spectral import lipschitz_bound
    from stablecore.train import GaussianNoise
    from stablecore.workflows import train_classifier

    apriori = SoftScore("softmax", SCORE_T, "a priori")

    def chosen(entry: dict[str, Any]) -> SoftScore:
        return SoftScore(entry["map"], float(entry["temperature"]), "validation")

    blocks = [
        ("convnet", "digits ConvNet", SIGMA, models["convnet"]["result"], [apriori], True),
        ("sll", "SLL dense (Lipschitz base)", SIGMA, models["sll"]["result"],
         list(dict.fromkeys([apriori, chosen(validation["best_at_sigma"])])), True),
    ]  # fmt: skip
    best = validation["best"]
    if best["sigma"] != SIGMA:
        res = train_classifier(
            "digits", "sll", epochs=sizes.epochs, mode="quick", seed=SEED, device="cpu",
            model_kwargs=SLL_KWARGS, transform=GaussianNoise(best["sigma"]), home=home, progress=False,
            experiment="bench-smoothing-sll-validation-sigma",
        )  # fmt: skip
        blocks.append(
            (f"sll_sigma{best['sigma']:g}", "SLL dense (Lipschitz base)", float(best["sigma"]), res,
             [chosen(best)], False)
        )  # fmt: skip
    rows, meta = [], {}
    for key, label, sigma, res, scores, uncertified in blocks:
        model, test = res.model.eval(), res.data.test
        lb = lipschitz_bound(model, INPUT_SHAPE)
        idx = list(range(0, len(test), sizes.cert_every))
        out = certify_examples(
            model, test, idx, sigma=sigma, n0=sizes.n0, n=sizes.cert_n, batch=batch, scores=scores,
            logits_bound=lb, lvm=True, lvm_uncertified=uncertified,
        )  # fmt: skip
        # certify_dataset draws the same noise (example_generator(SEED, index)): same counts
        k = min(3, len(idx))
        table = certify_dataset(
            Smooth(model, NUM_CLASSES, sigma), Subset(test, range(idx[k - 1] + 1)), out=res.run, n0=sizes.n0,
            n=sizes.cert_n, alpha=ALPHA, batch_size=batch, every=sizes.cert_every, seed=SEED, progress=False,
        )  # fmt: skip
        same = [
            (list(r["counts_selection"]), list(r["counts_estimation"])) == out["logged"][j]
            for j, (_, r) in enumerate(table.iterrows())
        ]
        rows += _rows(label, sigma, out, float(res.test["accuracy"]), sizes.radii)
        meta[key] = {
            "model": label,
            "sigma": sigma,
            "examples": len(idx),
            "clean_accuracy": float(res.test["accuracy"]),
            "logits_bound": {"value": lb.value, "kind": lb.kind, "method": lb.method},
            "scores": [asdict(s) for s in scores],
            **out["checks"],
            "certify_dataset_same_counts": f"{sum(same)}/{len(same)}",
            "lvm_chosen": out["lvm_chosen"],
            "sampling_seconds": out["sampling_seconds"],
            "lvm_seconds": out["lvm_seconds"],
            "p_cp": out["p_cp"],
            "p_soft": out["p_soft"],
        }
    return pd.DataFrame(rows), meta


# ----------------------------------------------------------------------------------- report
def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _fmt_batch(key: str) -> str:
    return key.split("@")[1]


def build_table(
    results: list[dict[str, Any]], cfgs: list[Config], probes: list[dict[str, Any]]
) -> pd.DataFrame:
    rows = []
    for res in results:
        per_s = res["examples_per_s"]
        fwd_key, fwd = _best(per_s, "torch forward")
        art_default = next((per_s[c.key] for c in cfgs if c.label.endswith("(its default batch)")), math.nan)
        art_best = _best(per_s, "ART")[1] if any(c.library == "ART" for c in cfgs) else math.nan
        for c in cfgs:
            v = per_s[c.key]
            mem = next(
                (
                    p
                    for p in probes
                    if p["library"] == c.library and p["batch"] == c.batch and p["n"] == res["n"]
                ),
                None,
            )
            growth = math.nan if mem is None or "error" in mem else float(mem["growth_mib"])
            rows.append(
                {
                    "n": res["n"],
                    "library": c.library,
                    "batch_size": c.batch,
                    "what": c.label,
                    "examples_per_s": v,
                    "samples_per_s": v * (res["n"] + res["n0"]),
                    "x_art_default": v / art_default,
                    "x_art_best": v / art_best,
                    "x_forward_best": v / fwd,
                    "peak_rss_growth_mib": growth,
                    "best": {
                        "stablecore": _best(per_s, "stablecore")[0],
                        "ART": _best(per_s, "ART")[0] if not math.isnan(art_best) else "",
                        "torch forward": fwd_key,
                        "torch forward + noise": _best(per_s, "torch forward + noise")[0],
                    }[c.library]
                    == c.key,
                }
            )
    frame = pd.DataFrame(rows)
    frame["best"] = frame["best"].map({True: "best", False: ""})
    return frame


def targets(
    results: list[dict[str, Any]], probes: list[dict[str, Any]], cfgs: list[Config], probe_ns: tuple[int, ...]
) -> dict[str, Any]:
    """The issue's targets at the largest ``n`` (ratios of one run), and memory flatness."""
    res = max(results, key=lambda r: r["n"])
    per_s = res["examples_per_s"]
    ours_key, ours = _best(per_s, "stablecore")
    fwd_key, fwd = _best(per_s, "torch forward")
    out: dict[str, Any] = {
        "n": res["n"],
        "ours_key": ours_key,
        "ours": ours,
        "forward_key": fwd_key,
        "forward": fwd,
    }
    out["x_forward"] = ours / fwd
    out["forward_met"] = out["x_forward"] >= 0.8
    if any(c.library == "ART" for c in cfgs):
        default_key = next(c.key for c in cfgs if c.label.endswith("(its default batch)"))
        art_key, art = _best(per_s, "ART")
        out.update(
            art_default_key=default_key, art_default=per_s[default_key], art_best_key=art_key, art_best=art,
            x_art_default=ours / per_s[default_key], x_art_best=ours / art,
        )  # fmt: skip
        out["art_default_met"] = out["x_art_default"] >= 4
        out["art_best_met"] = out["x_art_best"] >= 2
    memory: dict[str, Any] = {}
    ns = sorted(probe_ns)
    for p in probes:  # growth per n under string keys (JSON)
        growth = memory.setdefault(f"{p['library']}@{p['batch']}", {"growth_mib": {}})["growth_mib"]
        growth[str(p["n"])] = math.nan if "error" in p else float(p["growth_mib"])
    for entry in memory.values():
        growth = entry["growth_mib"]
        if len(ns) >= 2 and all(str(n) in growth for n in (ns[0], ns[-1])):
            entry["extra_mib"] = growth[str(ns[-1])] - growth[str(ns[0])]
            entry["flat"] = bool(entry["extra_mib"] <= FLAT_MIB)
    out["memory"] = memory
    out["memory_ns"] = ns
    return out


def _cert_targets(
    cert: pd.DataFrame,
    cert_meta: dict[str, Any],
    validation: dict[str, Any],
    radii: tuple[float, ...],
    n: int,
) -> list[str]:
    """(b)'s targets: R_ode ≥ Cohen's radius per example with the same p̲_A; R_ode's certified accuracy
    strictly above Cohen's at one of the radii on the Lipschitz base (same σ), for the score and σ chosen on
    validation; LVM-RS (sound) beside them, the uncertified variant labelled."""
    cols = [f"certified@{r:g}" for r in radii]
    at = f" at r = {', '.join(f'{r:g}' for r in radii)}"

    def vals(row: pd.Series) -> str:
        return ", ".join(f"{row[c]:.3f}" for c in cols)

    ok = all(m["ode_ge_cohen_same_p"] for m in cert_meta.values())
    checks = "; ".join(
        f"{k}: {m['order_violations']} violations of R_ode ≥ R_monoLip ≥ σΦ⁻¹(p̲) over {m['examples']} "
        f"examples × {len(m['scores'])} score(s), R_ode of the votes (L = ∞) within "
        f"{m['ode_votes_max_dev_from_cohen']:.1e} of Cohen's radius"
        for k, m in cert_meta.items()
    )
    lines = [
        f"- (b) R_ode ≥ Cohen's radius per example with the same p̲_A: **{'met' if ok else 'missed'}** — "
        f"{checks}"
    ]
    best = validation["best"]
    sll_blocks = [(k, m) for k, m in cert_meta.items() if k.startswith("sll")]
    parts, met, pre_above = [], False, []
    for _key, m in sll_blocks:
        block = cert[(cert["model"] == m["model"]) & (cert["sigma"] == m["sigma"])].set_index("method")
        cohen = block.loc["Cohen (votes, Clopper–Pearson)"]
        for s in m["scores"]:
            label = f"{s['map']} T={s['temperature']:g}, {s['origin']}"
            ode = block.loc[f"R_ode, {label} (same p̲)"]
            above = [r for r, c in zip(radii, cols, strict=True) if ode[c] > cohen[c]]
            pre = (
                s["origin"] == "validation"
                and m["sigma"] == best["sigma"]
                and (s["map"], s["temperature"]) == (best["map"], best["temperature"])
            )
            if pre:
                met = bool(above)
                cap = m["sigma"] * float(norm.ppf(ALPHA ** (1 / n)))
                pre_above = [
                    f"r = {r:g}: {round(ode[f'certified@{r:g}'] * m['examples'])} vs "
                    f"{round(cohen[f'certified@{r:g}'] * m['examples'])} of {m['examples']} examples"
                    + (
                        f", beyond Cohen's largest possible radius {cap:.3f} at this n and σ"
                        if r > cap
                        else ""
                    )
                    for r in above
                ]
            parts.append(
                f"σ = {m['sigma']:g}, {label}{' (the pre-chosen row)' if pre else ''} (L = "
                f"{ode['L_score']:.3g}): R_ode {vals(ode)} vs Cohen {vals(cohen)}"
                + (f", above at r = {', '.join(f'{r:g}' for r in above)}" if above else ", never above")
            )
    lines.append(
        "- (b) R_ode's certified accuracy strictly above Cohen's at some radius (SLL base, same model, σ and "
        f"noise; σ, map and T chosen on a validation split, best gain {best['gain']:+.3f} there at σ = "
        f"{best['sigma']:g}, {best['map']} T = {best['temperature']:g}): **{'met' if met else 'missed'}**"
        + (f" (pre-chosen row: {'; '.join(pre_above)})" if pre_above else "")
        + f" — values{at}: "
        + "; ".join(parts)
    )
    if best["sigma"] != SIGMA:
        ref = cert[(cert["model"].str.startswith("SLL")) & (cert["sigma"] == SIGMA)].set_index("method")
        lines[-1] += (
            f". For reference, Cohen at the issue's σ = {SIGMA:g} (its own noise-trained SLL) certifies "
            f"{vals(ref.loc['Cohen (votes, Clopper–Pearson)'])}: a gain at σ = {best['sigma']:g} is relative "
            "to Cohen at the same σ only"
        )
    lvm_parts = []
    for _key, m in cert_meta.items():
        block = cert[(cert["model"] == m["model"]) & (cert["sigma"] == m["sigma"])].set_index("method")
        cohen = block.loc["Cohen (votes, Clopper–Pearson)"]
        sound = block.loc[block.index.str.startswith("LVM-RS (sound")].iloc[0]
        text = f"{m['model']} σ = {m['sigma']:g}: LVM-RS (sound) {vals(sound)} vs Cohen {vals(cohen)}"
        unc = block.loc[block.index.str.startswith("LVM-RS best")]
        if len(unc):
            text += f" (best-of-candidates, NOT a certificate: {vals(unc.iloc[0])})"
        lvm_parts.append(text)
    lines.append(f"- (b) LVM-RS (sound) beside them: **measured** — values{at}: " + "; ".join(lvm_parts))
    return lines


def _summary(
    t: dict[str, Any], cert: pd.DataFrame, cert_meta: dict[str, Any], validation: dict[str, Any],
    radii: tuple[float, ...], n: int, quick: bool,
) -> str:  # fmt: skip
    lines = [f"## Targets (issue 14), at n = {t['n']:,}", ""]
    ob = _fmt_batch(t["ours_key"])
    if "x_art_best" in t:
        lines.append(
            f"- ≥ 2× ART at its best batch size: **{'met' if t['art_best_met'] else 'missed'}** — "
            f"{t['x_art_best']:.2f}× (stablecore {t['ours']:.3g} examples/s at batch {ob} vs ART "
            f"{t['art_best']:.3g} at batch {_fmt_batch(t['art_best_key'])})"
        )
        lines.append(
            f"- ≥ 4× ART at its default batch size ({_fmt_batch(t['art_default_key'])}): "
            f"**{'met' if t['art_default_met'] else 'missed'}** — {t['x_art_default']:.2f}× "
            f"({t['ours']:.3g} vs {t['art_default']:.3g} examples/s)"
        )
    else:
        lines.append("- ART targets: **not measured** (" + " ".join(PEER_NOTES) + ")")
    lines.append(
        f"- ≥ 0.8× the raw forward throughput: **{'met' if t['forward_met'] else 'missed'}** — "
        f"{t['x_forward']:.2f}× ({t['ours']:.3g} examples/s vs the forward's limit {t['forward']:.3g} "
        f"examples/s = {t['forward'] * (t['n'] + t.get('n0', 0)):.3g} samples/s at batch "
        f"{_fmt_batch(t['forward_key'])})"
    )
    mem = t["memory"]
    ns = t["memory_ns"]
    ours_mem = mem.get(t["ours_key"])
    if ours_mem and "flat" in ours_mem:
        others = "; ".join(
            f"{k.replace('@', ' at batch ')}: +{v['growth_mib'][str(ns[0])]:.1f} → "
            f"+{v['growth_mib'][str(ns[-1])]:.1f} MiB"
            for k, v in mem.items()
            if k != t["ours_key"] and "extra_mib" in v
        )
        lines.append(
            f"- peak memory flat in n (growth at n = {ns[-1]:,} within {FLAT_MIB:g} MiB of that at "
            f"n = {ns[0]:,}): **{'met' if ours_mem['flat'] else 'missed'}** — stablecore at batch {ob}: "
            f"+{ours_mem['growth_mib'][str(ns[0])]:.1f} → +{ours_mem['growth_mib'][str(ns[-1])]:.1f} MiB "
            f"({ours_mem['extra_mib']:+.1f} MiB)"
            + "".join(
                f", +{v:.1f} MiB at n = {int(k):,}"
                for k, v in ours_mem["growth_mib"].items()
                if int(k) not in ns
            )
            + (f"; {others}" if others else "")
        )
    else:
        lines.append("- peak memory flat in n: **not measured** (no memory probe of stablecore's best batch)")
    lines += _cert_targets(cert, cert_meta, validation, radii, n)
    lines.append("- GPU throughput: **not measured** (no GPU on this machine)")
    if quick:
        lines += ["", "Quick run (smoke-test sizes): the targets are stated for the full sizes only."]
    return "\n".join(lines)


NOTES_A = """\
**(a) Certification throughput.** Digits ConvNet ({params} parameters, trained {epochs} epochs with \
Gaussian-noise augmentation at σ = {sigma}, test accuracy {acc:.3f}), CPU, torch threads {threads}; the \
first {k} test examples; CERTIFY with n0 = {n0}, α = {alpha}, σ = {sigma} for both libraries. stablecore: \
`Smooth(model, 10, σ).certify(x, n0, n, α, batch_size, generator=example_generator(seed, i))` (noise drawn \
per batch). ART {art_version}: `PyTorchRandomizedSmoothing(model, CrossEntropyLoss(), input_shape=(1, 8, 8), \
nb_classes=10, device_type="cpu", sample_size=n0, scale=σ, alpha=α).certify(x[None], n, batch_size)` \
(`np.random.seed` per example; it materialises all n noisy copies in float64 before predicting through a \
DataLoader). `torch forward`: `model(noisy[:b])` on one noisy batch made before timing, n0 + n samples per \
example — what any certifier must spend; `torch forward + noise`: the same with `torch.randn` per batch. \
Warm-up: one small call of every configuration; then every configuration certifies each example once per \
round, rounds interleaved (configuration order rotated per example); `examples_per_s` = examples / summed \
time; `samples_per_s` = that × (n0 + n); `x_…` = row / reference in the same n block (`x_forward_best`: \
against the fastest forward row); `best` marks each library's fastest batch size at that n. \
Predictions of stablecore and ART (different noise draws) agree on {agree} of {total} (example, n) pairs; \
largest radius difference {dr:.3g} (Monte-Carlo noise).

**Peak memory.** `peak_rss_growth_mib`: for stablecore at its best batch size and ART at its default and \
best batch sizes (best at n = {nmax:,}), a fresh `python` process loads the model from its run, certifies \
once at n = n0 (same batch size: imports, allocator and thread pools warmed), then certifies one example \
at n. Growth = peak resident set during that certification − resident set just before it (the \
process's peak, `VmHWM`, is reset to the current RSS through `/proc/self/clear_refs` first, so that the \
peaks of imports and loading do not hide it). Torch's CPU allocator does not report to `tracemalloc`, so \
the RSS peak is the honest measure here. "Flat in n" = growth at the largest n within {flat:g} MiB of \
the growth at the smallest.{probe_errors}"""

NOTES_B = """\
**(b) Certified accuracy.** Every {every}th digits test example ({examples}), n0 = {n0}, n = {n}, \
α = {alpha}, batch {batch}, noise from `example_generator({seed}, index)` (what `certify_dataset` draws: its \
rows reproduce the logged counts of the first examples of each block, {same}). One pass of n0 + n noisy \
logits per example and model (`noisy_logits`: the noise of `Smooth.sample`); every radius of a block comes \
from these logits. Cohen: `certify_from_counts` of the votes (Clopper–Pearson; hard votes are not \
Lipschitz, L = ∞). LVM-RS (sound): `lvm.certify_lvm(z_sel, z_est, sigma, alpha)` with its defaults \
(sparsemax and softmax at 50 temperatures 0.01–50, and hardmax: 101 candidates; map, T and class chosen on \
the n0 selection draws only; multi mode: p̲_A and p̄_B at α/K each, empirical Bernstein, Clopper–Pearson \
for hardmax; radius σ/2·(Φ⁻¹(p̲_A) − Φ⁻¹(p̄_B))). "LVM-RS best of candidates" is \
`lvm_best_of_candidates_uncertified` on the n estimation draws (the reference code's procedure, \
kind = estimate): the best of the 101 candidates chosen on the samples that also give its bounds, **not a \
certificate**; it is shown only to measure what that selection claims and never counts as certified. Soft \
score s = map(z/T): class = argmax of its selection-draw mean, p̲_A = empirical-Bernstein lower bound (level \
α) of its estimation mean, then `smoothing.lipschitz`'s σΦ⁻¹(p̲_A), `monolip_radius` and `ode_radius` with \
`L_score = score_lipschitz(lipschitz_bound(model), T, map=...)` (softmax 1/(2√2·T), sparsemax √(1 − 1/K)/T, \
times the logits' bound: an upper bound). Scores: softmax T = {T:g} fixed a priori (chapter 6's default) and \
the (map, T) chosen on the validation split at σ = {sigma}; validation chose σ = {best_sigma:g} overall\
{extra_block}. Certified accuracy = correct, not abstained and radius ≥ r (`certified_accuracy_curve`); \
`smoothed_accuracy` counts abstentions as wrong; `clean_accuracy` is the base model's. Same seed and \
training budget ({epochs} epochs, Adam, noise augmentation at the block's σ) for every model; the SLL net is \
`build_model("sll", width=64, depth=4)` (dense, last-layer-normalised head, {sll_params} parameters; \
logits bound {sll_l:.4g} at σ = {sigma}); the ConvNet's logits bound is {conv_l:.4g}, so its Lipschitz-aware \
radii can only match σΦ⁻¹(p̲_A). Largest Cohen radius possible at this n and α: σ·Φ⁻¹(α^(1/n)) = \
{rmax:.3f} at σ = {sigma}{rmax_extra}.

**Validation of the soft score and σ (no test example used).** The train split ({train} examples) is split \
again, stratified with seed {seed}: {fit} to fit, {held} held out; for each σ in {sigmas} an SLL is trained \
on the {fit} with the recipe above, and one held-out example in {val_every} ({val_examples}) is certified \
as in (b) with Cohen and with R_ode for every map in {maps} × T in {temps}. Criterion, fixed before the \
run: the largest gain max_r [R_ode − Cohen certified accuracy] at r = {radii} (same model, σ and noise), \
ties broken by R_ode's mean certified accuracy. Every candidate ({val_seconds:.0f} s):"""


def main(
    quick: bool = False, results_dir: str | os.PathLike | None = None, threads: int | None = None
) -> Path:
    """Run (a) and (b); write ``bench_smoothing.{json,md}`` (``bench_smoothing_quick`` with ``quick``).

    ``threads``: torch threads for every configuration (default :data:`DEFAULT_THREADS`)."""
    sizes = QUICK if quick else FULL
    threads = threads or DEFAULT_THREADS
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with tempfile.TemporaryDirectory(prefix="bench_smoothing_runs_") as home:
            return _run(sizes, quick, results_dir, threads, home)
    finally:
        torch.set_num_threads(saved_threads)


def _run(sizes: Sizes, quick: bool, results_dir: str | os.PathLike | None, threads: int, home: str) -> Path:
    load_start = os.getloadavg()
    start = time.perf_counter()
    meta: dict[str, Any] = {"quick": quick, "sizes": asdict(sizes), "torch_threads": threads}
    meta.update(sigma=SIGMA, alpha=ALPHA, seed=SEED, loadavg_start=load_start, versions=_versions())
    git = _git_head()
    meta["git"] = git
    with_art = _import_art() is not None
    meta["torchvision_imported"] = "torchvision" in sys.modules

    print("training the noise-augmented models", flush=True)
    models = train_models(sizes, home)
    meta["training"] = {
        k: {"seconds": v["seconds"], "parameters": v["parameters"], "test": v["result"].test}
        for k, v in models.items()
    }
    conv = models["convnet"]["result"]
    model = conv.model.eval()
    xs = [conv.data.test[i][0] for i in range(sizes.examples)]
    labels = [int(conv.data.test[i][1]) for i in range(sizes.examples)]

    cfgs = configs(sizes, with_art)
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in sizes.ns:
            print(f"(a) throughput at n = {n}", flush=True)
            res = part_throughput(model, xs, sizes, n, cfgs)
            res["n0"] = sizes.n0
            results.append(res)
    agree, total, dr = 0, 0, 0.0
    for res in results:
        for i in range(sizes.examples):
            ours = res["outs"][f"stablecore@{sizes.batches[0]}"][i]
            for c in cfgs:
                if c.library == "ART":
                    theirs = res["outs"][c.key][i]
                    total += 1
                    agree += ours[0] == theirs[0]
                    dr = max(dr, abs(ours[1] - theirs[1]))
    meta["agreement"] = {"agree": agree, "total": total, "max_radius_diff": dr, "labels": labels}
    meta["throughput"] = [
        {k: res[k] for k in ("n", "n0", "times", "outs", "examples_per_s", "loadavg_after_each")}
        for res in results
    ]

    probes: list[dict[str, Any]] = []
    if sizes.probe_ns:
        largest = max(results, key=lambda r: r["n"])["examples_per_s"]
        probe_cfgs = [_best(largest, "stablecore")[0]]
        if with_art and sizes.probe_art:
            default_key = f"ART@{sizes.art_default}"
            probe_cfgs.append(default_key)
            if (k := _best(largest, "ART")[0]) != default_key:
                probe_cfgs.append(k)
        for j, key in enumerate(probe_cfgs):
            library, batch = key.split("@")
            long = (sizes.probe_ours_long,) if j == 0 and sizes.probe_ours_long else ()
            for n in (*sizes.probe_ns, *long):
                print(f"memory probe {key} at n = {n}", flush=True)
                spec = {
                    "library": library, "batch": int(batch), "n": n, "n0": sizes.n0, "index": 0,
                    "threads": threads, "run": str(conv.run.path),
                }  # fmt: skip
                probes.append(run_probe(spec))
    meta["memory_probes"] = probes
    t = targets(results, probes, cfgs, sizes.probe_ns)
    t["n0"] = sizes.n0
    meta["targets"] = t

    cert_batch = int(_fmt_batch(t["ours_key"]))
    print("(b) validation of the soft score and sigma", flush=True)
    validation = part_validation(conv.data, sizes, cert_batch)
    meta["validation"] = validation
    print("(b) certified accuracy", flush=True)
    cert, cert_meta = part_certified(models, sizes, cert_batch, validation, home)
    meta["certified"] = cert.to_dict(orient="records")
    meta["certified_meta"] = cert_meta

    table = build_table(results, cfgs, probes)
    meta["loadavg_end"] = os.getloadavg()
    meta["total_seconds"] = time.perf_counter() - start
    loads = [v for r in results for v in r["loadavg_after_each"]]
    errors = [p["error"] for p in probes if "error" in p]
    notes_a = NOTES_A.format(
        params=models["convnet"]["parameters"], epochs=sizes.epochs, sigma=SIGMA, acc=conv.test["accuracy"],
        threads=threads, k=sizes.examples, n0=sizes.n0, alpha=ALPHA,
        art_version=meta["versions"].get("adversarial-robustness-toolbox"), agree=agree, total=total, dr=dr,
        nmax=max(sizes.ns), flat=FLAT_MIB,
        probe_errors=(" Probe errors: " + "; ".join(errors)) if errors else "",
    )  # fmt: skip
    rmax = SIGMA * float(norm.ppf(ALPHA ** (1 / sizes.cert_n)))
    best = validation["best"]
    extra = best["sigma"] != SIGMA
    notes_b = NOTES_B.format(
        every=sizes.cert_every, examples=cert_meta["sll"]["examples"], n0=sizes.n0, n=sizes.cert_n,
        alpha=ALPHA, batch=cert_batch, seed=SEED, sigma=SIGMA, T=SCORE_T,
        same=", ".join(f"{k} {m['certify_dataset_same_counts']}" for k, m in cert_meta.items()),
        best_sigma=best["sigma"],
        extra_block=(
            f" ({best['map']} T = {best['temperature']:g}): an SLL noise-trained at σ = {best['sigma']:g} "
            "(same recipe and seed) is certified in its own block with Cohen, LVM-RS (sound) and that score"
            if extra else " (no extra block)"
        ),
        epochs=sizes.epochs, sll_params=models["sll"]["parameters"],
        sll_l=cert_meta["sll"]["logits_bound"]["value"], conv_l=cert_meta["convnet"]["logits_bound"]["value"],
        rmax=rmax,
        rmax_extra=(
            f", {best['sigma'] * float(norm.ppf(ALPHA ** (1 / sizes.cert_n))):.3f} at σ = {best['sigma']:g}"
            if extra else ""
        ),
        train=validation["fit_examples"] + validation["held_out"], fit=validation["fit_examples"],
        held=validation["held_out"], sigmas=list(sizes.val_sigmas), val_every=sizes.val_every,
        val_examples=validation["examples"], maps=list(sizes.val_maps), temps=list(sizes.val_temperatures),
        radii=", ".join(f"{r:g}" for r in sizes.radii), val_seconds=validation["seconds"],
    )  # fmt: skip
    load_end = meta["loadavg_end"]
    noisy = max([load_start[0], load_end[0], *loads]) > threads + 1.0
    thread_note = (
        f"the benchmark's default; the machine's is {THREADS}" if threads == DEFAULT_THREADS else "--threads"
    )
    trained = ", ".join(f"{k} {v['seconds']:.0f} s" for k, v in meta["training"].items())
    end = (
        f"Torch threads: {threads} ({thread_note}). Load average (1/5/15 min) at start "
        f"{load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, at end "
        f"{load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f}; 1-min load after each round of "
        f"(a): {', '.join(f'{v:.2f}' for v in loads)}"
        f"{' (other jobs were running on this 2-core machine: timings are noisy)' if noisy else ''}. "
        f"Training: {trained}. "
        f"Total run: {meta['total_seconds']:.0f} s. Code: HEAD {git['head'] or 'unknown'}."
        + (f" Peer notes: {' '.join(PEER_NOTES)}" if PEER_NOTES else "")
    )
    probe_cols = ["library", "batch", "n", "rss_before_mib", "peak_rss_mib", "growth_mib", "seconds"]
    probe_md = (
        "Memory probes (one fresh process per row):\n\n"
        + to_markdown(pd.DataFrame([p for p in probes if "error" not in p], columns=probe_cols))
        if probes
        else "No memory probes."
    )
    notes = "\n\n".join(
        [
            notes_a,
            probe_md,
            _summary(t, cert, cert_meta, validation, sizes.radii, sizes.cert_n, quick),
            "## (b) Certified accuracy on digits",
            to_markdown(cert),
            notes_b,
            to_markdown(pd.DataFrame(validation["grid"])),
            end,
        ]
    )
    name = "bench_smoothing_quick" if quick else "bench_smoothing"
    if quick and results_dir is None:
        results_dir = tempfile.mkdtemp(prefix="bench_smoothing_")
    with common.results_dir(results_dir):
        return write_results(name, table, notes=notes, meta=meta)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, written to a temporary directory")
    parser.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: machine's)")
    args = parser.parse_args()
    print(main(quick=args.quick, results_dir=args.out, threads=args.threads).read_text())
