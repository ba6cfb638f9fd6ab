"""Data sets as :class:`DatasetBundle` s: synthetic 2-D sets, scikit-learn digits, MNIST and CIFAR-10.

Quick mode uses only the synthetic sets and ``digits`` (no download); MNIST and CIFAR-10 are read from
files under :func:`data_root` (``$STABLECORE_DATA``, default ``./data/cache``) and downloaded, MD5-checked,
on request (``download=True``).

Example:
    >>> bundle = load_dataset("moons", n_samples=200, seed=1)
    >>> bundle.input_shape, bundle.num_classes
    ((2,), 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stablecore.data.bundle import DatasetBundle
from stablecore.data.digits import digits
from stablecore.data.download import download_file, verify_file
from stablecore.data.files import cifar10, data_root, mnist
from stablecore.data.synthetic import blobs, circles, moons, spirals

__all__ = [
    "DATASETS",
    "DatasetBundle",
    "blobs",
    "cifar10",
    "circles",
    "data_root",
    "digits",
    "download_file",
    "load_dataset",
    "mnist",
    "moons",
    "spirals",
    "verify_file",
]

#: Loader of each data set name accepted by :func:`load_dataset`.
DATASETS: dict[str, Callable[..., DatasetBundle]] = {
    "moons": moons,
    "circles": circles,
    "spirals": spirals,
    "blobs": blobs,
    "digits": digits,
    "mnist": mnist,
    "cifar10": cifar10,
}


def load_dataset(name: str, **kwargs: Any) -> DatasetBundle:
    """Load the data set ``name`` (a key of :data:`DATASETS`), passing ``kwargs`` to its loader."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise ValueError(f"unknown data set name {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    return DATASETS[key](**kwargs)
