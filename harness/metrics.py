"""Retrieval metrics, vectorised over queries: the scorer's conventions (DESIGN section 6).

A ranked list is a row of gallery positions, best first, padded with -1. A gallery item is
relevant to a query when their labels are equal; ``m_q`` counts the relevant gallery items.
A repeated neighbour earns nothing but keeps its rank slot; a row of -1 (a missing query) scores 0.
"""

from __future__ import annotations

import numpy as np

from harness.errors import ConfigError

METRICS = ("map@k", "precision@k", "recall@k", "hit@k", "map@r")
_CELLS_PER_BLOCK = 1 << 22  # ranked cells scored at once: ~60 MB of temporaries per block


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    return metric


def relevant_counts(query_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """``m_q``: how many gallery items share each query's label (0 if none)."""
    values, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    labels = np.asarray(query_labels)
    if len(values) == 0:
        return np.zeros(len(labels), dtype=np.int64)
    where = np.searchsorted(values, labels).clip(max=len(values) - 1)
    return np.where(values[where] == labels, counts[where], 0).astype(np.int64)


def first_occurrences(ranked: np.ndarray) -> np.ndarray:
    """True where a row's entry is not a repeat of an earlier entry in the same row."""
    first = np.ones(ranked.shape, dtype=bool)
    ordered = np.sort(ranked, axis=1)
    has_repeat = ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any(axis=1)
    rows = np.flatnonzero(has_repeat)
    if len(rows) == 0:
        return first
    k = ranked.shape[1]
    # one sort of (position, rank) keys puts each copy right after its earlier copies
    key = ranked[rows].astype(np.int64) * k + np.arange(k)
    key.sort(axis=1)
    position, rank = np.divmod(key, k)
    repeat = (position[:, 1:] == position[:, :-1]) & (position[:, 1:] >= 0)
    sub_rows, cols = np.nonzero(repeat)
    first[rows[sub_rows], rank[sub_rows, cols + 1]] = False
    return first


def relevance(ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) bool: is the item at each rank relevant (and not a repeat, and not padding)?"""
    ranked = _cut(ranked, k)
    query_labels = np.asarray(query_labels, dtype=np.int64)
    if ranked.size and not (ranked.min() >= -1 and ranked.max() < len(gallery_labels)):
        raise ValueError(f"ranked positions must lie in [-1, {len(gallery_labels)})")
    # position -1 picks the appended label, which no query has
    no_label = (query_labels.min() - 1) if len(query_labels) else 0
    labels = np.append(np.asarray(gallery_labels, dtype=np.int64), no_label)
    rel = labels[ranked] == query_labels[:, None]
    return rel & first_occurrences(ranked)


def per_query_scores(
    ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray, metric: str, k: int
) -> np.ndarray:
    """(Q,) float64 score of each query's ranked list under ``metric`` with cut-off ``k``."""
    check_metric(metric)
    if k < 1:
        raise ConfigError(f"k must be >= 1 but got {k}")
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2 or len(ranked) != len(query_labels):
        raise ValueError(f"ranked must be (Q, k) with Q={len(query_labels)}, got shape {ranked.shape}")
    query_labels = np.asarray(query_labels)
    m = relevant_counts(query_labels, gallery_labels)
    if metric == "map@r" and len(m) and m.max() > k:
        raise ConfigError(f"map@r needs k >= the largest number of relevant items ({m.max()}) but k is {k}")
    out = np.zeros(len(m), dtype=np.float64)
    rows = max(1, _CELLS_PER_BLOCK // k)  # memory bounded by a block of queries, whatever Q
    for start in range(0, len(m), rows):
        stop = start + rows
        out[start:stop] = _block_scores(
            ranked[start:stop], query_labels[start:stop], gallery_labels, m[start:stop], metric, k
        )
    return out


def _block_scores(ranked, query_labels, gallery_labels, m, metric: str, k: int) -> np.ndarray:
    rel = relevance(ranked, query_labels, gallery_labels, k)
    hits = rel.sum(axis=1)
    if metric == "precision@k":
        return hits / k
    if metric == "hit@k":
        return (hits > 0).astype(np.float64)
    denominator = np.minimum(m, k)
    if metric == "recall@k":
        return _divide(hits, denominator)
    if metric == "map@r":
        rel = rel & (np.arange(1, k + 1)[None, :] <= m[:, None])
        denominator = m
    hits_so_far = np.cumsum(rel, axis=1, dtype=np.int32)
    precision_sum = (np.where(rel, hits_so_far, 0) / np.arange(1, k + 1)).sum(axis=1)
    return _divide(precision_sum, denominator)


def mean_score(scores: np.ndarray) -> float:
    return float(np.mean(scores)) if len(scores) else 0.0


def _cut(ranked: np.ndarray, k: int) -> np.ndarray:
    """Exactly k columns: longer lists are cut, shorter ones padded with -1."""
    if ranked.shape[1] >= k:
        return ranked[:, :k]
    pad = np.full((ranked.shape[0], k - ranked.shape[1]), -1, dtype=ranked.dtype)
    return np.concatenate([ranked, pad], axis=1)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
