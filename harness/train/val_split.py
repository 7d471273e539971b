"""The val score during training: every val item retrieves among the other val items (leave-one-out).

Vectorised: one search and one metric call for the whole val set, whatever its size.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from harness.components import create_indexer
from harness.data.cutoff import capped_k
from harness.metrics import per_query_scores

if TYPE_CHECKING:
    import torch


def leave_one_out(
    embeddings: np.ndarray, indexer: dict[str, Any], k: int, device: torch.device | str | None = None
) -> tuple[np.ndarray, int]:
    """Each item's ranked neighbours among the others, k capped to ``n - 1``.

    ``indexer`` (the run's indexer section) searches on ``device`` (the model's) unless it names its own.
    """
    n = len(embeddings)
    k_val = capped_k(k, n - 1)
    if k_val < 1:
        return np.zeros((n, 0), dtype=np.int64), 0
    values = dict(indexer)
    name = values.pop("name")
    if device is not None:
        values.setdefault("device", str(device))
    _, indices = create_indexer(name, **values).build(embeddings).search(embeddings, k_val + 1)
    indices = np.asarray(indices, dtype=np.int64)
    keep = indices != np.arange(n)[:, None]
    keep[keep.all(axis=1), -1] = False  # self not found among the k+1 (ties): drop the last instead
    return indices[keep].reshape(n, k_val), k_val


def leave_one_out_scores(ranked: np.ndarray, labels: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Per-query scores of val items that have a class mate, each scored as if removed from the gallery.

    A metric counts the relevant gallery items of a query (``m_q``), and item i must not count
    for itself. So each class c gets ``n_c - 1`` alias items with their own label, query i takes
    that alias label, and the class mates in i's list point at distinct aliases (skipping i's
    slot): the relevance pattern is unchanged and ``m_q = n_c - 1``, in one metric call. Labels
    are doubled (aliases odd) so their order, which a vote's tie-break may use, is kept.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ranked = np.asarray(ranked, dtype=np.int64)
    n = len(labels)
    classes, class_of, counts = np.unique(labels, return_inverse=True, return_counts=True)
    usable = counts[class_of] > 1  # a val item alone in its class has nothing to retrieve
    if not usable.any() or ranked.shape[1] == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(class_of, kind="stable")
    rank_in_class = np.empty(n, dtype=np.int64)
    rank_in_class[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    alias_start = n + np.cumsum(counts - 1) - (counts - 1)
    gallery_labels = np.concatenate([2 * labels, np.repeat(2 * classes + 1, counts - 1)])

    valid = ranked >= 0
    neighbour = np.where(valid, ranked, 0)
    mate = valid & (class_of[neighbour] == class_of[:, None])
    own_rank = rank_in_class[:, None]
    slot = alias_start[class_of][:, None] + rank_in_class[neighbour] - (rank_in_class[neighbour] > own_rank)
    remapped = np.where(mate, slot, ranked)
    remapped[ranked == np.arange(n)[:, None]] = -1  # the query itself is never relevant to itself
    return per_query_scores(remapped[usable], 2 * labels[usable] + 1, gallery_labels, metric, k)


def mean_leave_one_out_score(ranked: np.ndarray, labels: np.ndarray, metric: str, k: int) -> float:
    """Mean of :func:`leave_one_out_scores` (NaN when nothing can be scored)."""
    scores = leave_one_out_scores(ranked, labels, metric, k) if k >= 1 else np.zeros(0)
    return float(np.mean(scores)) if len(scores) else float("nan")


def leave_one_out_score(
    embeddings: np.ndarray, labels: np.ndarray, indexer: dict[str, Any], metric: str, k: int
) -> float:
    """Mean leave-one-out score of the val set under ``metric`` (NaN when nothing can be scored)."""
    ranked, k_val = leave_one_out(embeddings, indexer, k)
    return mean_leave_one_out_score(ranked, labels, metric, k_val)
