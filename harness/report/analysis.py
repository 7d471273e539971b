"""Numbers behind the report's pictures: pure numpy on ranked gallery positions and labels.

``ranked`` is what ``read_submission`` returns: ``(Q, k)`` gallery positions, best first, ``-1``
where a query lists fewer than k neighbours. Relevance itself (``rel``) comes from
``harness.metrics.relevance``, so the pictures follow the scorer's conventions (DESIGN 6).
"""

from __future__ import annotations

import numpy as np


def neighbour_correct(ranked: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray) -> np.ndarray:
    """``(Q, k)`` bool: the neighbour in that slot has the query's label (what a frame shows)."""
    ranked = np.asarray(ranked, dtype=np.int64)
    gallery_labels = np.asarray(gallery_labels)
    safe = np.where(ranked >= 0, ranked, 0)
    same = gallery_labels[safe] == np.asarray(query_labels)[:, None]
    return same & (ranked >= 0)


def precision_recall_curves(rel: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean precision@k and recall@k for k = 1..K over the queries.

    precision@k = relevant in top k / k; recall@k = relevant in top k / m_q (all relevant items),
    the textbook curve, which keeps rising after k passes m_q.
    """
    rel = np.asarray(rel, dtype=np.float64)
    ks = np.arange(1, rel.shape[1] + 1)
    if rel.shape[0] == 0:
        return ks, np.zeros(len(ks)), np.zeros(len(ks))
    found = np.cumsum(rel, axis=1)
    precision = (found / ks[None, :]).mean(axis=0)
    recall = (found / np.maximum(np.asarray(m, dtype=np.float64), 1.0)[:, None]).mean(axis=0)
    return ks, precision, recall


def per_class_mean(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes present in ``labels``, the mean of ``values`` per class, and the query count per class."""
    labels = np.asarray(labels)
    values = np.asarray(values, dtype=np.float64)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=values, minlength=len(classes))
    return classes, sums / np.maximum(counts, 1), counts


def worst_first(scores: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` lowest scores, lowest first; ties keep query order."""
    return np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")[: max(int(n), 0)]


def pareto_front(costs: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cost no higher, score no lower, one strictly),
    sorted by cost. Non-finite points are ignored."""
    costs = np.asarray(costs, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(costs) & np.isfinite(scores))
    order = ok[np.lexsort((-scores[ok], costs[ok]))]  # cheapest first, best score first on ties
    front: list[int] = []
    best = -np.inf
    for i in order:
        if scores[i] > best:
            front.append(int(i))
            best = scores[i]
    return np.array(front, dtype=np.int64)
