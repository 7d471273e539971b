"""Average precision in three conventions: ``map@k``, ``map@r`` and ``map@k-found``.

They differ only in which ranks count and what the precision sum is divided by:

- ``map@k`` (Google Landmark Retrieval): ranks 1..k, divided by min(m, k).
- ``map@r`` (Musgrave et al., "A Metric Learning Reality Check"): ranks 1..m, divided by m.
- ``map@k-found`` (DeepHash-pytorch): ranks 1..k, divided by the relevant items found in the top k,
  so a list with one relevant item at rank 1 scores 1.0 however many relevant items it missed.
"""

from __future__ import annotations

import numpy as np

from harness import ConfigError, average_precision, hookimpl, relevance, relevant_counts


def map_at_k(ranked, query_labels, gallery_labels, k):
    """Mean average precision at k, normalised by min(relevant items, k)."""
    rel = relevance(ranked, query_labels, gallery_labels, k)
    return average_precision(rel, np.minimum(relevant_counts(query_labels, gallery_labels), k))


def map_at_r(ranked, query_labels, gallery_labels, k):
    """Average precision over the first R ranks (R = the query's relevant items), divided by R."""
    m = relevant_counts(query_labels, gallery_labels)
    if len(m) and m.max() > k:
        raise ConfigError(f"map@r needs k >= the largest number of relevant items ({m.max()}) but k is {k}")
    rel = relevance(ranked, query_labels, gallery_labels, k) & (np.arange(1, k + 1)[None, :] <= m[:, None])
    return average_precision(rel, m)


def map_at_k_found(ranked, query_labels, gallery_labels, k):
    """Average precision at k divided by the relevant items found in the top k (DeepHash-pytorch)."""
    rel = relevance(ranked, query_labels, gallery_labels, k)
    return average_precision(rel, rel.sum(axis=1))


@hookimpl
def register_metrics(register):
    register("map@k", map_at_k, description="AP over the top k / min(relevant, k) (Google Landmark Retrieval)")
    register("map@r", map_at_r, description="AP over the top R / R, R = relevant items (Musgrave et al. 2020)")
    register("map@k-found", map_at_k_found, description="AP over the top k / relevant found (DeepHash-pytorch)")
