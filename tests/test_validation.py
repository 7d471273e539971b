"""The vectorised leave-one-out val score against the per-item loop it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics import metric_names, per_query_scores
from harness.train.val_split import leave_one_out, leave_one_out_score, leave_one_out_scores


def loop_reference(ranked, labels, metric, k):
    """Item i scored against the val set with i's own label hidden: one metric call per item."""
    counts = np.bincount(labels)
    out = []
    for i in np.flatnonzero(counts[labels] > 1):
        gallery = labels.copy()
        gallery[i] = labels.min() - 1
        out.append(per_query_scores(ranked[i : i + 1], labels[i : i + 1], gallery, metric, k)[0])
    return np.array(out)


@pytest.mark.parametrize("metric", metric_names())
def test_vectorised_scores_equal_the_loop(metric):
    rng = np.random.default_rng(0)
    n, k = 300, 40
    labels = rng.integers(0, 12, n)
    labels[:3] = [20, 21, 22]  # classes of one item: skipped as queries, still retrievable
    ranked = np.array([rng.permutation(np.delete(np.arange(n), i))[:k] for i in range(n)])
    ranked[5, 30:] = -1  # short lists
    ranked[6, 10] = ranked[6, 3]  # a repeat earns nothing
    k_metric = k if metric != "map@r" else 40
    if metric == "map@r":
        labels = rng.integers(0, 30, n)  # map@r needs k >= the class sizes
    expected = loop_reference(ranked, labels, metric, k_metric)
    got = leave_one_out_scores(ranked, labels, metric, k_metric)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_val_score_on_embeddings_and_degenerate_sets():
    rng = np.random.default_rng(1)
    centers = rng.standard_normal((5, 16)) * 4
    labels = rng.integers(0, 5, 200)
    embeddings = (centers[labels] + rng.standard_normal((200, 16))).astype(np.float32)
    cfg = {"name": "exact"}  # the run's indexer section
    ranked, k = leave_one_out(embeddings, cfg, 50)
    assert k == 50 and not (ranked == np.arange(200)[:, None]).any()
    score = leave_one_out_score(embeddings, labels, cfg, "map@k", 50)
    assert score == pytest.approx(loop_reference(ranked, labels, "map@k", 50).mean())
    assert score > 0.9
    assert np.isnan(leave_one_out_score(embeddings[:1], labels[:1], cfg, "map@k", 50))
    assert np.isnan(leave_one_out_score(embeddings[:5], np.arange(5), cfg, "map@k", 50))
