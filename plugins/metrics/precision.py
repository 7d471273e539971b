"""Precision in two conventions: ``precision@k`` (fixed cut-off) and ``r-precision`` (cut-off R)."""

from __future__ import annotations

import numpy as np

from harness import ConfigError, hookimpl, relevance, relevant_counts, safe_divide


def precision_at_k(ranked, query_labels, gallery_labels, k):
    """Relevant items among the first k ranks, divided by k (missing neighbours count as misses)."""
    return relevance(ranked, query_labels, gallery_labels, k).sum(axis=1) / k


def r_precision(ranked, query_labels, gallery_labels, k):
    """Relevant items among the first R ranks, divided by R (R = the query's relevant items)."""
    m = relevant_counts(query_labels, gallery_labels)
    if len(m) and m.max() > k:
        raise ConfigError(f"r-precision needs k >= the largest number of relevant items ({m.max()}) but k is {k}")
    rel = relevance(ranked, query_labels, gallery_labels, k) & (np.arange(1, k + 1)[None, :] <= m[:, None])
    return safe_divide(rel.sum(axis=1), m)


@hookimpl
def register_metrics(register):
    register("precision@k", precision_at_k, description="relevant in the top k / k")
    register("r-precision", r_precision, description="relevant in the top R / R, R = relevant items")
