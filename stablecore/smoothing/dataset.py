"""Certify a data set with randomized smoothing, one row per example, resumable and sharded.

:func:`certify_dataset` certifies every ``every``-th example (Cohen et al.'s ``--skip``), or the examples
``i ≡ shard (mod n)`` among those with ``shard="i/n"``, and writes the rows to the table
``certify-<method>`` of a run (``tables/certify-<method>.parquet``, or ``.../part-<i>.parquet`` for a
shard), rewritten atomically every ``flush_every`` rows. A rerun reads the rows already there and
continues after them; each example's noise comes from its own generator seeded by ``(seed, index)``, so
an interrupted and resumed run gives the same table as an uninterrupted one, and the shards concatenate
to the unsharded table (in example order once sorted by ``index``).

Columns: ``index, label, prediction, correct, radius, p_lower, counts_selection, counts_estimation,
seconds`` plus the method's own columns (``lvm``: ``p_upper, map, temperature``; ``lipschitz``:
``radius_monolip, radius_cohen_score, prediction_votes, radius_votes, p_lower_votes, score_lipschitz,
temperature``). ``prediction = -1`` is an abstention (``radius = 0``). Every method draws the same noise
for an example (selection then estimation draws from the example's generator), so their vote counts agree.
A resumed run must use the same settings: the rows already written are kept as they are.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from stablecore.certify.lipschitz import certified_accuracy_curve as _curve
from stablecore.results import open_run, parse_shard
from stablecore.results.io import atomic_write_parquet
from stablecore.smoothing import bounds
from stablecore.smoothing.bounds import check_alpha
from stablecore.smoothing.core import ABSTAIN, Smooth, certify_from_counts
from stablecore.smoothing.lipschitz import cohen_radius, monolip_radius, ode_radius, score_lipschitz
from stablecore.smoothing.lvm import lvm_certificate_from_moments, select_lvm_candidate
from stablecore.train.evaluate import model_device

__all__ = ["METHODS", "METHOD_OPTIONS", "certified_accuracy_curve", "certify_dataset", "example_generator"]


def example_generator(seed: int, index: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The noise generator of example ``index`` (``SeedSequence([seed, index])``), on ``device``."""
    state = np.random.SeedSequence([int(seed), int(index)]).generate_state(2, dtype=np.uint32)
    return torch.Generator(device=device).manual_seed(int(state[0]) << 32 | int(state[1]))


def _cohen(
    smooth: Smooth, x: torch.Tensor, settings: dict[str, Any], generator: torch.Generator
) -> dict[str, Any]:
    selection = smooth.sample(x, settings["n0"], settings["batch_size"], generator=generator).counts
    estimation = smooth.sample(x, settings["n"], settings["batch_size"], generator=generator).counts
    cert = certify_from_counts(selection, estimation, settings["alpha"], smooth.sigma)
    return {
        "prediction": cert.prediction,
        "radius": cert.radius,
        "p_lower": cert.p_lower,
        "counts_selection": selection.tolist(),
        "counts_estimation": estimation.tolist(),
    }


def _lvm(
    smooth: Smooth, x: torch.Tensor, settings: dict[str, Any], generator: torch.Generator
) -> dict[str, Any]:
    """Sound LVM-RS (:func:`~stablecore.smoothing.lvm.certify_lvm`), streamed: the candidate is chosen on
    the ``n0`` selection logits, then only the chosen map's score sums are accumulated over ``n``."""
    options = {k: settings[k] for k in ("maps", "temperatures", "mode", "soft_bound") if k in settings}
    selection = smooth.sample_logits(x, settings["n0"], settings["batch_size"], generator=generator)
    choice = select_lvm_candidate(
        selection, settings["n"], sigma=smooth.sigma, alpha=settings["alpha"], **options
    )
    stats = smooth.sample(
        x,
        settings["n"],
        settings["batch_size"],
        generator=generator,
        score_map=choice.map,
        temperature=choice.temperature or 1.0,
    )
    cert = lvm_certificate_from_moments(
        choice,
        stats.score_mean,
        stats.score_variance,
        stats.num,
        sigma=smooth.sigma,
        alpha=settings["alpha"],
        **{k: v for k, v in options.items() if k in ("mode", "soft_bound")},
    )
    return {
        "prediction": cert.prediction,
        "radius": cert.radius,
        "p_lower": cert.p_lower,
        "p_upper": cert.p_upper,
        "map": cert.map,
        "temperature": cert.temperature,
        "counts_selection": np.bincount(selection.argmax(1), minlength=smooth.num_classes).tolist(),
        "counts_estimation": stats.counts.tolist(),
    }


def _lipschitz(
    smooth: Smooth, x: torch.Tensor, settings: dict[str, Any], generator: torch.Generator
) -> dict[str, Any]:
    r"""Lipschitz-aware radii of a softmax score (:mod:`stablecore.smoothing.lipschitz`): class = argmax of
    the selection draws' mean score, :math:`\underline p_A` = empirical-Bernstein lower bound of its mean
    over the ``n`` estimation draws, ``radius`` = R_ode with the score's Lipschitz bound ``L`` (plus
    R_monoLip and σΦ⁻¹(p̲_A) of the same p̲_A); ``radius_votes`` = Cohen's radius of the same draws' votes,
    a separate certificate at the same level (not combined with the others: a maximum would need a
    union bound)."""
    temperature, lip = settings["temperature"], settings["score_lipschitz"]
    sel = smooth.sample(
        x, settings["n0"], settings["batch_size"], generator=generator, temperature=temperature
    )
    est = smooth.sample(
        x, settings["n"], settings["batch_size"], generator=generator, temperature=temperature
    )
    c_a = int(np.argmax(sel.score_mean))
    p_lower = float(
        bounds.empirical_bernstein_lower(
            est.score_mean[c_a], est.score_variance[c_a], est.num, settings["alpha"]
        )
    )
    ode = ode_radius(p_lower, lip, smooth.sigma)
    votes = certify_from_counts(sel.counts, est.counts, settings["alpha"], smooth.sigma)
    return {
        "prediction": ABSTAIN if ode.abstain else c_a,
        "radius": float(ode.radius),
        "p_lower": p_lower,
        "radius_monolip": float(monolip_radius(p_lower, lip, smooth.sigma).radius),
        "radius_cohen_score": float(cohen_radius(p_lower, smooth.sigma).radius),
        "prediction_votes": votes.prediction,
        "radius_votes": votes.radius,
        "p_lower_votes": votes.p_lower,
        "score_lipschitz": lip,
        "temperature": temperature,
        "counts_selection": sel.counts.tolist(),
        "counts_estimation": est.counts.tolist(),
    }


def _lipschitz_settings(settings: dict[str, Any], smooth: Smooth) -> dict[str, Any]:
    logits_bound = settings.pop("logits_bound", None)
    if logits_bound is None:
        raise ValueError(
            "method='lipschitz' needs logits_bound= (a Bound of the logits, e.g. "
            "stablecore.spectral.lipschitz_bound(model, input_shape))"
        )
    temperature = settings.setdefault("temperature", 1.0)
    settings["score_lipschitz"] = score_lipschitz(logits_bound, temperature).value
    settings["logits_bound_method"] = logits_bound.method
    return settings


METHODS: dict[str, Callable[..., dict[str, Any]]] = {"cohen": _cohen, "lvm": _lvm, "lipschitz": _lipschitz}
#: Keyword options each method accepts (``certify_dataset(..., **options)``).
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "cohen": (),
    "lvm": ("maps", "temperatures", "mode", "soft_bound"),
    "lipschitz": ("logits_bound", "temperature"),
}


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _table_path(out: Any, name: str, shard: tuple[int, int] | None) -> Path:
    if hasattr(out, "table_path"):
        return out.table_path(name, shard)
    return open_run(out).table_path(name, shard)


def certify_dataset(
    smooth: Smooth,
    dataset: Any,
    *,
    out: Any,
    method: str = "cohen",
    n0: int = 100,
    n: int = 100_000,
    alpha: float = 0.001,
    batch_size: int = 1000,
    every: int = 1,
    shard: str | tuple[int, int] | None = None,
    seed: int = 0,
    flush_every: int = 10,
    progress: bool = True,
    **method_kwargs: Any,
) -> pd.DataFrame:
    """Certify ``dataset`` (items ``(x, label)``) with ``smooth``; returns the shard's full table.

    Args:
        smooth: the smoothed classifier.
        dataset: a map-style dataset of ``(x, label)`` pairs.
        out: a run (``stablecore.results.Run``) or a run directory; the table is written there.
        method: a key of :data:`METHODS`: ``"cohen"`` (votes, Clopper–Pearson), ``"lvm"`` (sound LVM-RS;
            options ``maps``, ``temperatures``, ``mode``, ``soft_bound`` as in
            :func:`~stablecore.smoothing.lvm.certify_lvm`) or ``"lipschitz"`` (R_ode of a softmax score;
            needs ``logits_bound=`` an ``exact``/``upper_bound`` :class:`~stablecore.types.Bound` of the
            logits, and takes ``temperature=`` (default 1)).
        n0, n, alpha, batch_size: Cohen et al.'s CERTIFY settings.
        every: certify every ``every``-th example.
        shard: ``"i/n"``: only examples ``i, i + n, ...`` of the selected ones.
        seed: noise seed (per example, see :func:`example_generator`).
        flush_every: rows between atomic rewrites of the table.
        method_kwargs: extra settings of the method.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    unknown = sorted(set(method_kwargs) - set(METHOD_OPTIONS[method]))
    if unknown:
        raise ValueError(
            f"method {method!r} takes no option(s) {unknown}; its options are {list(METHOD_OPTIONS[method])}"
        )
    settings = {
        "n0": _check_int(n0, "n0"),
        "n": _check_int(n, "n"),
        "alpha": check_alpha(alpha),
        "batch_size": _check_int(batch_size, "batch_size"),
        **method_kwargs,
    }
    if method == "lipschitz":
        settings = _lipschitz_settings(settings, smooth)
    every, flush_every = _check_int(every, "every"), _check_int(flush_every, "flush_every")
    parsed = parse_shard(shard)
    try:
        size = len(dataset)
    except TypeError as exc:
        raise TypeError(
            f"dataset must be a map-style dataset with len(), got {type(dataset).__name__}"
        ) from exc
    if size == 0:
        raise ValueError("dataset is empty")
    indices = list(range(0, size, every))
    if parsed is not None:
        indices = indices[parsed[0] :: parsed[1]]
    path = _table_path(out, f"certify-{method}", parsed)
    rows: list[dict[str, Any]] = pd.read_parquet(path).to_dict("records") if path.exists() else []
    done = {int(r["index"]) for r in rows}
    todo = [i for i in indices if i not in done]
    device = model_device(smooth.base_classifier)
    pending = 0
    for i in tqdm(todo, desc=f"certify ({method})", disable=not progress):
        x, label = dataset[i]
        x = torch.as_tensor(x)
        start = time.perf_counter()
        row = METHODS[method](smooth, x, settings, example_generator(seed, i, device))
        label = int(label)
        rows.append(
            {
                "index": i,
                "label": label,
                **row,
                "correct": bool(row["prediction"] == label),
                "seconds": time.perf_counter() - start,
            }
        )
        pending += 1
        if pending >= flush_every:
            atomic_write_parquet(path, pd.DataFrame(rows))
            pending = 0
    table = pd.DataFrame(rows)
    if pending or not path.exists():
        atomic_write_parquet(path, table)
    table.attrs.update(
        method=method, sigma=smooth.sigma, **{k: v for k, v in settings.items() if np.isscalar(v)}
    )
    return table.sort_values("index", kind="stable").reset_index(drop=True)


def certified_accuracy_curve(
    table: pd.DataFrame, radii: Any, *, radius_column: str = "radius"
) -> pd.DataFrame:
    """Certified accuracy (correct and radius > r) at each ``r``: DataFrame(eps, certified_accuracy)."""
    for column in ("correct", radius_column):
        if column not in table.columns:
            raise ValueError(f"table has no column {column!r} (columns: {list(table.columns)})")
    radius = table[radius_column].to_numpy(dtype=float)
    return _curve(
        np.where(np.isfinite(radius), radius, -math.inf).clip(min=0), table["correct"].to_numpy(), radii
    )
