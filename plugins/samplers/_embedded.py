"""What the samplers that mine train embeddings share (a helper module: it registers nothing)."""

from __future__ import annotations

import numpy as np

from harness import require


def unit_rows(embeddings, n: int) -> np.ndarray:
    """``(n, D)`` embeddings (NumPy or torch) as float64 rows of unit length."""
    if hasattr(embeddings, "detach"):  # a torch tensor, possibly on a GPU
        embeddings = embeddings.detach().cpu().numpy()
    x = np.asarray(embeddings, dtype=np.float64)
    require(x.ndim == 2 and len(x) == n, f"refresh needs ({n}, D) embeddings but got shape {x.shape}")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def distances_from(x: np.ndarray, row: int) -> np.ndarray:
    """Euclidean distances from item ``row`` to every item (one row of the distance matrix)."""
    return np.sqrt(np.maximum(((x - x[row]) ** 2).sum(1), 0.0))
