"""``mrr@k``: the reciprocal rank of the first relevant item within the top k."""

from __future__ import annotations

import numpy as np

from harness import hookimpl, relevance


def mrr_at_k(ranked, query_labels, gallery_labels, k):
    """1 / rank of the first relevant item in the top k; 0 when none is there."""
    rel = relevance(ranked, query_labels, gallery_labels, k)
    first = rel.argmax(axis=1)
    return np.where(rel.any(axis=1), 1.0 / (first + 1), 0.0)


@hookimpl
def register_metrics(register):
    register("mrr@k", mrr_at_k, description="1 / rank of the first relevant item in the top k")
