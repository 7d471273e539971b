"""Metric values on hand-computed cases, and the vectorised scorer against a slow reference loop."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.cutoff import capped_k, metric_label, val_label
from harness.errors import ConfigError
from harness.metrics import parse_metric, per_query_scores
from harness.scoring.answers import Answers
from harness.scoring.scorer import paired_bootstrap, score

METRICS = ("map@k", "precision@k", "recall@k", "hit@k", "map@r")
GALLERY = np.array([0, 0, 1, 1, 1, 2])  # positions 0..5; label 0 has m=2, label 1 has m=3


def one(ranked, label, metric="map@k", k=4):
    return per_query_scores(np.array([ranked]), np.array([label]), GALLERY, metric, k)[0]


def test_map_at_k_by_hand():
    # relevant at ranks 2 and 4: (1/2 + 2/4) / min(2, 4)
    assert one([2, 0, 5, 1], 0) == pytest.approx(0.5)
    assert one([0, 1, 2, 3], 0) == pytest.approx(1.0)


def test_repeated_neighbour_earns_nothing_but_keeps_its_slot():
    # ranks: 0 (rel), 0 again (repeat: 0), 1 (rel at rank 3) -> (1 + 2/3) / 2
    assert one([0, 0, 1, -1], 0) == pytest.approx((1 + 2 / 3) / 2)
    assert one([0, 0, 1, -1], 0, "precision@k") == pytest.approx(2 / 4)
    assert one([0, 0, 0, 0], 0, "recall@k") == pytest.approx(1 / 2)


def test_missing_query_and_short_lists():
    assert one([-1, -1, -1, -1], 0) == 0.0
    assert one([1], 0) == pytest.approx(1 / 2)  # fewer than k columns: padded
    assert one([1, -1, -1, -1], 0, "hit@k") == 1.0
    assert one([5, -1, -1, -1], 0, "hit@k") == 0.0


def test_denominator_is_min_of_m_and_k():
    assert one([2, 3], 1, k=2) == pytest.approx(1.0)  # m=3 > k=2
    assert one([2, 3], 1, "recall@k", k=2) == pytest.approx(1.0)
    assert one([2, 0, 3, 4], 1, "recall@k") == pytest.approx(1.0)
    assert one([2, 0, 3, 5], 1, "precision@k") == pytest.approx(2 / 4)


def test_map_at_r_counts_only_the_first_r_ranks():
    # m=3: ranks 1..3 are rel, not, rel -> (1 + 2/3) / 3; the relevant item at rank 4 is ignored
    assert one([2, 0, 3, 4], 1, "map@r") == pytest.approx((1 + 2 / 3) / 3)
    assert one([2, 3, 4, 0], 1, "map@r") == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="map@r needs k >= .*3"):
        one([2, 3], 1, "map@r", k=2)


def test_unknown_metric_and_bad_k():
    with pytest.raises(ConfigError, match="unknown metric"):
        one([0], 0, "ndcg@k")
    with pytest.raises(ConfigError, match="k must be >= 1"):
        one([0], 0, k=0)


def slow_reference(ranked, q_labels, g_labels, metric, k):
    out = []
    for row, label in zip(ranked, q_labels):
        m = int((g_labels == label).sum())
        seen, hits, total = set(), 0, 0.0
        cutoff = m if metric == "map@r" else k
        for rank, pos in enumerate(row[:k], start=1):
            rel = pos >= 0 and pos not in seen and g_labels[pos] == label
            seen.add(pos)
            if rel:
                hits += 1
                if rank <= cutoff:
                    total += hits / rank
        if metric == "map@k":
            out.append(total / min(m, k))
        elif metric == "map@r":
            out.append(total / m)
        elif metric == "precision@k":
            out.append(hits / k)
        elif metric == "recall@k":
            out.append(hits / min(m, k))
        else:
            out.append(float(hits > 0))
    return np.array(out)


@pytest.mark.parametrize("metric", METRICS)
def test_vectorised_matches_slow_loop(metric):
    rng = np.random.default_rng(0)
    g_labels = rng.integers(0, 8, 60)
    q_labels = rng.choice(g_labels, 300)
    ranked = rng.integers(-1, 60, (300, 25))  # repeats and padding scattered in
    k = 25 if metric == "map@r" else 10
    expected = slow_reference(ranked, q_labels, g_labels, metric, k)
    got = per_query_scores(ranked, q_labels, g_labels, metric, k)
    np.testing.assert_allclose(got, expected)


def make_answers(public, metric="map@k", k=2):
    labels = np.array([0, 1, 0, 1])
    return Answers("toy", metric, k, np.array(["q0", "q1", "q2", "q3"]), labels, np.array(public),
                   np.array(["g0", "g1", "g2"]), np.array([0, 1, 1]), "sha")  # fmt: skip


def test_score_splits_public_and_private_and_is_seeded():
    answers = make_answers([True, True, False, False])
    ranked = np.array([[0, -1], [1, 2], [1, 0], [-1, -1]])  # AP: 1, 1, 1/2, 0
    report = score(answers, ranked, seed=3)
    assert report.public == pytest.approx(1.0) and report.private == pytest.approx(0.25)
    assert report.public_ci == (1.0, 1.0)
    assert report.private_ci[0] <= 0.25 <= report.private_ci[1]
    assert score(answers, ranked, seed=3).private_ci == report.private_ci
    np.testing.assert_allclose(report.per_query, [1, 1, 0.5, 0])
    assert report.metric_label == "map@2"


def test_score_all_private():
    report = score(make_answers([False] * 4), np.full((4, 2), -1))
    assert report.public == 0.0 and report.public_ci == (0.0, 0.0)


def test_paired_bootstrap():
    rng = np.random.default_rng(1)
    b = rng.random(500)
    same = paired_bootstrap(b, b)
    assert same.difference == 0 and same.share_a_better == 0
    better = paired_bootstrap(b + 0.1, b, seed=1)
    assert better.difference == pytest.approx(0.1) and better.share_a_better == 1.0
    assert better.ci[0] == pytest.approx(0.1) and better.mean_a > better.mean_b
    noisy = paired_bootstrap(b, rng.random(500), seed=2)
    assert noisy.ci[0] < noisy.difference < noisy.ci[1]


@pytest.mark.parametrize("metric", METRICS)
def test_scoring_in_query_blocks_matches_one_block(monkeypatch, metric):
    # review regression: per_query_scores streams over blocks of queries (memory bounded by the block)
    import harness.metrics as metrics

    rng = np.random.default_rng(3)
    gallery = rng.integers(0, 4, 40)
    queries = rng.integers(0, 4, 23)
    ranked = np.where(rng.random((23, 45)) < 0.1, -1, rng.integers(0, 40, (23, 45)))
    whole = per_query_scores(ranked, queries, gallery, metric, 45)
    monkeypatch.setattr(metrics, "_CELLS_PER_BLOCK", 45 * 4)  # blocks of 4 queries, the last one short
    np.testing.assert_array_equal(per_query_scores(ranked, queries, gallery, metric, 45), whole)


def test_the_cutoff_label_and_cap_have_one_home():
    assert metric_label("map@k", 100) == "map@100"
    assert metric_label("map@r", 100) == "map@r"
    assert val_label("precision@k", 5) == "val precision@5"
    assert parse_metric("hit@4", 100).label == metric_label("hit@k", 4)
    assert capped_k(100, 30) == 30 and capped_k(10, 30) == 10
