"""Shared pieces of the built-in indexers (no hooks here): setting and input checks, result order.

Every indexer returns scores where higher is better and orders each row by score, then gallery
position; missing neighbours are index -1 with score -inf.
"""

from __future__ import annotations

import numpy as np

from harness import BenchError, ConfigError, check_int

METRICS = {
    "ip": "ip",
    "inner_product": "ip",
    "dot": "ip",
    "cosine": "cosine",
    "euclidean": "euclidean",
    "l2": "euclidean",
}


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)} but got {metric!r}")
    return METRICS[metric]


def as_matrix(x, what: str, dim: int | None = None) -> np.ndarray:
    """``x`` as a C-contiguous float32 (n, d) array (copied only if needed); refused if not finite or too wide."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ConfigError(f"{what} must be a 2-D array (n, d) but has shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise ConfigError(f"{what} have {x.shape[1]} dimensions but the gallery has {dim}")
    if not np.isfinite(x).all():
        raise BenchError(f"{what} contain NaN or infinite values")
    return x


def normalized(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def pack_bits(x: np.ndarray) -> np.ndarray:
    """Binary codes (±1 or 0/1 floats; positive means 1) packed 8 per byte: (n, ceil(d / 8)) uint8."""
    return np.packbits(x > 0, axis=1)


def sort_rows(scores: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-order each row by score (desc), then position; -1 last with score -inf; exactly k columns."""
    scores = np.asarray(scores, dtype=np.float32)
    idx = np.asarray(idx, dtype=np.int64)
    if idx.shape[1] < k:
        pad = k - idx.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        idx = np.pad(idx, ((0, 0), (0, pad)), constant_values=-1)
    missing = idx < 0
    scores = np.where(missing, -np.inf, scores).astype(np.float32)
    order = np.lexsort((np.where(missing, np.iinfo(np.int64).max, idx), missing, -scores), axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(idx, order, axis=1)


def finish(scores: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 scores with -inf where the index is -1."""
    return np.where(idx >= 0, scores, -np.inf).astype(np.float32), idx


class Index:
    """Base of the built-in indexers: input checks shared by build and search."""

    code_kind = "float"

    def __init__(self):
        self.dim: int | None = None
        self.size = 0
        self.bytes_per_item = 0

    def _check_build(self, gallery) -> np.ndarray:
        gallery = as_matrix(gallery, "gallery")
        self.dim, self.size = gallery.shape[1], gallery.shape[0]
        return gallery

    def _check_search(self, queries, k) -> np.ndarray:
        if self.dim is None:
            raise BenchError(f"{type(self).__name__}: call build(gallery) before search()")
        check_int("k", k)
        return as_matrix(queries, "queries", self.dim)
