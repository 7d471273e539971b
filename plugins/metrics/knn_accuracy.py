"""``knn-accuracy@k``: is the majority label of the top k neighbours the query's label?

This is the "top-k accuracy" of k-nearest-neighbour classification (seed 000's tables). Each
distinct neighbour votes once; a tie goes to the tied label that appears first in the ranking.
"""

from __future__ import annotations

import numpy as np

from harness import hookimpl, ranked_labels

_CELLS = 1 << 22  # (queries x classes) vote counts held at once


def knn_accuracy_at_k(ranked, query_labels, gallery_labels, k):
    """1 when the top-k majority vote (ties: the earliest-ranked label) equals the query's label."""
    labels, valid = ranked_labels(ranked, gallery_labels, k)
    query_labels = np.asarray(query_labels, dtype=np.int64)
    classes, codes = np.unique(labels, return_inverse=True)
    codes = codes.reshape(labels.shape)
    pairwise = k * k <= len(classes)  # count votes by comparing the k labels, not per class
    out = np.zeros(len(query_labels), dtype=np.float64)
    rows_per_block = max(1, _CELLS // (k * k if pairwise else max(len(classes), 1)))
    for start in range(0, len(out), rows_per_block):
        block = slice(start, start + rows_per_block)
        code, ok = codes[block], valid[block]
        rows = np.arange(len(code))[:, None]
        if pairwise:  # votes[i, j]: valid slots holding slot j's label
            votes = ((code[:, :, None] == code[:, None, :]) & ok[:, :, None]).sum(axis=1)
        else:
            cells = (np.broadcast_to(rows, code.shape) * len(classes) + code)[ok]
            counts = np.bincount(cells, minlength=len(code) * len(classes)).reshape(len(code), len(classes))
            votes = counts[rows, code]
        best = np.where(ok, votes, 0).max(axis=1)
        tied = ok & (votes == best[:, None]) & (best[:, None] > 0)
        winner = classes[code[np.arange(len(code)), tied.argmax(axis=1)]]
        out[block] = (tied.any(axis=1) & (winner == query_labels[block])).astype(np.float64)
    return out


@hookimpl
def register_metrics(register):
    register("knn-accuracy@k", knn_accuracy_at_k, description="majority label of the top k is right (kNN accuracy)")
