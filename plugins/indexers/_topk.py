"""Exact streaming top-k (no hooks here): the k smallest distances per query over gallery blocks,
ties broken by gallery position, with memory bounded by one (query block x gallery block)."""

from __future__ import annotations

import numpy as np


def smallest_k(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k smallest values and their columns, ordered by value then column."""
    n, m = d.shape
    if m <= k:
        cols = np.argsort(d, axis=1, kind="stable")
        return np.take_along_axis(d, cols, axis=1), cols
    if np.issubdtype(d.dtype, np.integer) and (int(d.max(initial=0)) + 1) * m < 2**31 and d.min(initial=0) >= 0:
        return _smallest_k_small_ints(d, k)
    kth = np.partition(d, k - 1, axis=1)[:, k - 1 : k]
    chosen = d <= kth
    # rows with values tied with the k-th beyond k: keep the tied ones of lowest column
    rows = np.flatnonzero(np.count_nonzero(chosen, axis=1) > k)
    if len(rows):
        sub, t = d[rows], kth[rows]
        less, equal = sub < t, sub == t
        need = k - np.count_nonzero(less, axis=1)[:, None]
        chosen[rows] = less | (equal & (np.cumsum(equal, axis=1, dtype=np.int32) <= need))
    cols = np.nonzero(chosen)[1].reshape(n, k)
    vals = np.take_along_axis(d, cols, axis=1)
    order = np.lexsort((cols, vals), axis=-1)
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(cols, order, axis=1)


def _smallest_k_small_ints(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer distances (Hamming): value and column packed in one int32 key, so ties need no fix-up."""
    m = d.shape[1]
    key = d.astype(np.int32)
    key *= m
    key += np.arange(m, dtype=np.int32)
    top = np.partition(key, k - 1, axis=1)[:, :k]
    top.sort(axis=1)
    return (top // m).astype(d.dtype), (top % m).astype(np.int64)


def merge(vals_a, idx_a, vals_b, idx_b, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best of two sorted candidate sets (lower value first, then lower position)."""
    vals, idx = np.concatenate([vals_a, vals_b], axis=1), np.concatenate([idx_a, idx_b], axis=1)
    order = np.lexsort((idx, vals), axis=-1)[:, :k]
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(idx, order, axis=1)


def merge_candidates(vals, idx, rows, cand_vals, cand_idx, k: int) -> None:
    """Fold scattered candidates (row, value, position) into the sorted best (vals, idx), in place."""
    touched, rows = np.unique(rows, return_inverse=True)
    n = len(touched)
    all_rows = np.concatenate([np.repeat(np.arange(n), k), rows])
    all_vals = np.concatenate([vals[touched].ravel(), cand_vals])
    all_idx = np.concatenate([idx[touched].ravel(), cand_idx])
    order = np.lexsort((all_idx, all_vals, all_rows))
    starts = np.concatenate([[0], np.cumsum(np.bincount(all_rows, minlength=n))[:-1]])
    best = order[(starts[:, None] + np.arange(k)).ravel()]
    vals[touched] = all_vals[best].reshape(n, k)
    idx[touched] = all_idx[best].reshape(n, k)


def stream_smallest(n_queries, n_gallery, k, query_block, gallery_block, distances, dtype):
    """Exact top-k smallest of ``distances(q0, q1, g0, g1)`` over all blocks: (values, positions).

    Once a row holds k results only values strictly below its k-th can enter (later blocks hold
    later positions, which lose ties), so most blocks cost one comparison beyond their distances.
    """
    sentinel = np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max
    out_vals = np.full((n_queries, k), sentinel, dtype=dtype)
    out_idx = np.full((n_queries, k), -1, dtype=np.int64)
    for q0 in range(0, n_queries, query_block):
        q1 = min(q0 + query_block, n_queries)
        best_vals, best_idx = out_vals[q0:q1], out_idx[q0:q1]
        for g0 in range(0, n_gallery, gallery_block):
            g1 = min(g0 + gallery_block, n_gallery)
            block = distances(q0, q1, g0, g1)
            entering = block < best_vals[:, -1:]
            if np.count_nonzero(entering) > (q1 - q0) * k:
                vals, cols = smallest_k(block, k)
                best_vals[:], best_idx[:] = merge(best_vals, best_idx, vals, cols + g0, k)
            else:
                rows, cols = np.nonzero(entering)
                if len(rows):
                    merge_candidates(best_vals, best_idx, rows, block[rows, cols], cols + g0, k)
    return out_vals, out_idx
