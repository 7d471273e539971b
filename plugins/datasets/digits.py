"""``digits``: scikit-learn's 1,797 handwritten digits, 8x8 grey (0..16 scaled to [0, 1]), 10 classes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from harness import ArrayDataset, hookimpl


def _arrays() -> tuple[np.ndarray, np.ndarray]:
    # Importing sklearn takes seconds; its digits are one small CSV it ships, read directly when present.
    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def digits() -> ArrayDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes); needs no download."""
    images, labels = _arrays()
    names = [f"{i:04d}" for i in range(len(labels))]
    return ArrayDataset(images, labels, names, [str(c) for c in range(10)], scale=16.0)


@hookimpl
def register_datasets(register):
    register("digits", digits, description="scikit-learn's 8x8 handwritten digits, 10 classes (embedded)")
