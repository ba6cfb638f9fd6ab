"""scikit-learn's 8×8 handwritten digits (UCI optical recognition of handwritten digits test set).

1797 grey-level images with 17 levels (0..16), shipped with scikit-learn: no download. Reference:
Alpaydin & Kaynak (1998), UCI ML repository; :func:`sklearn.datasets.load_digits`.
"""

from __future__ import annotations

import numpy as np
import torch

from stablecore.data.bundle import DatasetBundle, check_seed, check_test_fraction, from_tensors

__all__ = ["digits"]


def digits(*, test_fraction: float = 0.25, seed: int = 0) -> DatasetBundle:
    """The digits set as images of shape ``(1, 8, 8)`` in [0, 1] (grey levels divided by 16), 10 classes.

    The train/test split is stratified and fixed by ``seed`` (``train_test_split(..., stratify=y,
    random_state=seed)``); mean and std are those of the train pixels (one channel).
    """
    test_fraction = check_test_fraction(test_fraction)
    seed = check_seed(seed)
    # scikit-learn is imported here, not at module level: it costs ~2 s of import time that the
    # dashboard and the CLI would otherwise pay before showing anything
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    raw = load_digits()
    x = (np.asarray(raw.data, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = np.asarray(raw.target, dtype=np.int64)
    try:
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, y, test_size=test_fraction, random_state=seed, stratify=y, shuffle=True
        )
    except ValueError as exc:  # too few examples per class on one side of the split
        raise ValueError(f"test_fraction={test_fraction} cannot give a stratified split: {exc}") from exc
    metadata = {
        "source": "sklearn.datasets.load_digits",
        "seed": seed,
        "test_fraction": test_fraction,
        "n_samples": len(y),
        "scale": "grey level / 16",
    }
    return from_tensors(
        "digits",
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(y_tr),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(y_te),
        num_classes=10,
        metadata=metadata,
    )
