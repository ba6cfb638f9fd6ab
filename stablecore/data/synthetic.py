"""Synthetic 2-D classification sets: two moons, concentric circles, interleaved spirals, Gaussian blobs.

Every generator draws from ``numpy.random.default_rng(seed)`` only, so a seed gives the same tensors on
every machine and different seeds give different samples. Classes are balanced (sizes differ by at most
one) and the train/test split is stratified. Inputs are float32 of shape ``(n, 2)``, labels int64.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from stablecore.data.bundle import (
    DatasetBundle,
    check_float,
    check_int,
    check_seed,
    check_test_fraction,
    from_tensors,
)

__all__ = ["blobs", "circles", "moons", "spirals"]


def _class_sizes(n_samples: int, n_classes: int) -> list[int]:
    """Split ``n_samples`` into ``n_classes`` sizes that differ by at most one."""
    base, extra = divmod(n_samples, n_classes)
    return [base + (1 if k < extra else 0) for k in range(n_classes)]


def _check_common(n_samples: object, n_classes: int, noise: object, seed: object, test_fraction: object):
    n = check_int("n_samples", n_samples, minimum=4)
    if n < 2 * n_classes:
        raise ValueError(
            f"n_samples must be >= 2 * n_classes = {2 * n_classes} (one train and one test "
            f"example per class), got {n}"
        )
    return n, check_float("noise", noise, minimum=0.0), check_seed(seed), check_test_fraction(test_fraction)


def _split_and_bundle(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    rng: np.random.Generator,
    test_fraction: float,
    params: dict,
) -> DatasetBundle:
    """Stratified split (every class gets at least one train and one test example), then shuffle."""
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for k in range(n_classes):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_test = min(max(round(test_fraction * len(idx)), 1), len(idx) - 1)
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr = rng.permutation(np.concatenate(train_idx))
    te = rng.permutation(np.concatenate(test_idx))
    xt = torch.from_numpy(x.astype(np.float32))
    yt = torch.from_numpy(y.astype(np.int64))
    metadata = {"source": "synthetic", "generator": name, **params, "test_fraction": test_fraction}
    return from_tensors(name, xt[tr], yt[tr], xt[te], yt[te], num_classes=n_classes, metadata=metadata)


def moons(
    n_samples: int = 1000, *, noise: float = 0.1, seed: int = 0, test_fraction: float = 0.25
) -> DatasetBundle:
    """Two interleaving half circles (as ``sklearn.datasets.make_moons``), two classes.

    Class 0: ``(cos t, sin t)``; class 1: ``(1 - cos t, 0.5 - sin t)``, ``t ~ U(0, π)``, plus isotropic
    Gaussian noise of std ``noise``.
    """
    n, noise, seed, test_fraction = _check_common(n_samples, 2, noise, seed, test_fraction)
    rng = np.random.default_rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t0 = rng.uniform(0.0, math.pi, n0)
    t1 = rng.uniform(0.0, math.pi, n1)
    x = np.concatenate(
        [np.stack([np.cos(t0), np.sin(t0)], 1), np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], 1)]
    )
    x = x + noise * rng.standard_normal(x.shape)
    y = np.repeat([0, 1], [n0, n1])
    params = {"seed": seed, "n_samples": n, "noise": noise}
    return _split_and_bundle("moons", x, y, 2, rng, test_fraction, params)


def circles(
    n_samples: int = 1000,
    *,
    noise: float = 0.05,
    factor: float = 0.5,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> DatasetBundle:
    """Two concentric circles (as ``sklearn.datasets.make_circles``): class 0 outer (radius 1), class 1
    inner (radius ``factor``, 0 < factor < 1), angles ``U(0, 2π)``, plus Gaussian noise of std ``noise``.
    """
    n, noise, seed, test_fraction = _check_common(n_samples, 2, noise, seed, test_fraction)
    factor = check_float("factor", factor, minimum=0.0, maximum=1.0, strict=True)
    rng = np.random.default_rng(seed)
    n0, n1 = _class_sizes(n, 2)
    t = rng.uniform(0.0, 2 * math.pi, n)
    r = np.repeat([1.0, factor], [n0, n1])
    x = np.stack([r * np.cos(t), r * np.sin(t)], 1) + noise * rng.standard_normal((n, 2))
    y = np.repeat([0, 1], [n0, n1])
    params = {"seed": seed, "n_samples": n, "noise": noise, "factor": factor}
    return _split_and_bundle("circles", x, y, 2, rng, test_fraction, params)


def spirals(
    n_samples: int = 1000,
    *,
    noise: float = 0.2,
    n_classes: int = 2,
    turns: float = 1.5,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> DatasetBundle:
    """``n_classes`` interleaved Archimedean spiral arms in the unit disc.

    Arm ``k``: radius ``r ~ U(0, 1)``, angle ``2π·turns·r + 2πk/n_classes + noise·ε``, ``ε ~ N(0, 1)``.
    The noise perturbs the *angle* (radians), as in the CS231n spiral data, so it moves points mostly
    along the arm and the classes stay separable away from the centre.
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    n, noise, seed, test_fraction = _check_common(n_samples, n_classes, noise, seed, test_fraction)
    turns = check_float("turns", turns, minimum=0.0, strict=True)
    rng = np.random.default_rng(seed)
    sizes = _class_sizes(n, n_classes)
    y = np.repeat(np.arange(n_classes), sizes)
    r = rng.uniform(0.0, 1.0, n)
    angle = 2 * math.pi * turns * r + 2 * math.pi * y / n_classes + noise * rng.standard_normal(n)
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    params = {"seed": seed, "n_samples": n, "noise": noise, "n_classes": n_classes, "turns": turns}
    return _split_and_bundle("spirals", x, y, n_classes, rng, test_fraction, params)


def blobs(
    n_samples: int = 1000,
    *,
    n_classes: int = 3,
    noise: float = 1.0,
    radius: float = 5.0,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> DatasetBundle:
    """Isotropic Gaussian blobs, one per class, with cluster std ``noise``.

    The centres lie evenly spaced on a circle of radius ``radius`` around the origin, rotated by a random
    angle drawn from the seed (so, unlike ``make_blobs``, clusters never collide by chance).
    """
    n_classes = check_int("n_classes", n_classes, minimum=2)
    n, noise, seed, test_fraction = _check_common(n_samples, n_classes, noise, seed, test_fraction)
    radius = check_float("radius", radius, minimum=0.0)
    rng = np.random.default_rng(seed)
    sizes = _class_sizes(n, n_classes)
    y = np.repeat(np.arange(n_classes), sizes)
    phase = rng.uniform(0.0, 2 * math.pi)
    angles = phase + 2 * math.pi * np.arange(n_classes) / n_classes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = centers[y] + noise * rng.standard_normal((n, 2))
    params = {
        "seed": seed,
        "n_samples": n,
        "noise": noise,
        "n_classes": n_classes,
        "radius": radius,
        "centers": [tuple(float(v) for v in c) for c in centers],
    }
    return _split_and_bundle("blobs", x, y, n_classes, rng, test_fraction, params)
