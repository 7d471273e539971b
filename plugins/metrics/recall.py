"""``recall@k`` (share of the findable relevant items found) and ``hit@k`` (metric learning's "Recall@K")."""

from __future__ import annotations

import numpy as np

from harness import hookimpl, relevance, relevant_counts, safe_divide


def recall_at_k(ranked, query_labels, gallery_labels, k):
    """Relevant items in the top k, divided by min(relevant items, k)."""
    found = relevance(ranked, query_labels, gallery_labels, k).sum(axis=1)
    return safe_divide(found, np.minimum(relevant_counts(query_labels, gallery_labels), k))


def hit_at_k(ranked, query_labels, gallery_labels, k):
    """1 when at least one relevant item is in the top k, else 0 ("Recall@K" in metric-learning papers)."""
    return relevance(ranked, query_labels, gallery_labels, k).any(axis=1).astype(np.float64)


@hookimpl
def register_metrics(register):
    register("recall@k", recall_at_k, description="relevant in the top k / min(relevant, k)")
    register("hit@k", hit_at_k, description="1 if any relevant item is in the top k (metric learning's Recall@K)")
