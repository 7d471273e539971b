"""MassImageRetrieval's and Bell & Bala's samplers against slow hand-written references.

Each test recomputes what a batch must satisfy with explicit loops over items (distances, dot products,
pair labels), independent of the vectorised code in the plugins.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from harness.components import create_sampler
from harness.errors import ConfigError

LABELS = np.repeat(np.arange(6), 10)  # 6 classes x 10 items
N = len(LABELS)


def embeddings(seed=0, dim=4):
    rng = np.random.default_rng(seed)
    # classes around distinct centres, so that distances mean something
    centres = rng.normal(size=(6, dim)) * 2
    return centres[LABELS] + rng.normal(size=(N, dim))


def unit(x):
    return [list(row / math.sqrt(sum(v * v for v in row))) for row in x]


def dist(u, v):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(u, v)))


def triplets_of(batch):
    return [batch[i : i + 3] for i in range(0, len(batch) - 2, 3)]


# -- cluster-anchor -------------------------------------------------------------------------------
def test_cluster_anchor_is_pk_before_refresh_then_anchors_near_centres_and_far_pairs():
    sampler = create_sampler("cluster-anchor", LABELS, 12, k=4, anchors_per_cluster=3, radius=0.3)
    for batch in sampler:
        assert sorted(Counter(LABELS[batch].tolist()).values()) == [4, 4, 4]
    x = embeddings()
    sampler.refresh(x)
    rows = unit(x)
    assert len(sampler.centres) == 6  # clusters=0: one per class
    expected_anchors = set()
    for centre in sampler.centres:
        by_distance = sorted(range(N), key=lambda i: (dist(rows[i], centre), i))
        expected_anchors |= set(by_distance[:3])
    assert set(sampler.anchors.tolist()) == expected_anchors
    sampler.on_epoch_start(1, 2)
    for batch in sampler:
        assert len(batch) == 12
        for a, p, n in triplets_of(batch):
            assert a in expected_anchors
            assert LABELS[p] == LABELS[a] != LABELS[n] and p != a
            far_positive = [j for j in range(N) if LABELS[j] == LABELS[a] and dist(rows[a], rows[j]) > 0.3]
            far_negative = [j for j in range(N) if LABELS[j] != LABELS[a] and dist(rows[a], rows[j]) > 0.3]
            if far_positive:
                assert p in far_positive
            if far_negative:
                assert n in far_negative


def test_cluster_anchor_settings_are_checked():
    with pytest.raises(ConfigError, match="radius"):
        create_sampler("cluster-anchor", LABELS, 12, radius=2.5)
    with pytest.raises(ConfigError, match="clusters"):
        create_sampler("cluster-anchor", LABELS, 12, clusters=N + 1)


# -- zero-loss ------------------------------------------------------------------------------------
def test_zero_loss_weights_follow_a_hand_written_update():
    sampler = create_sampler("zero-loss", LABELS, 8, k=4, decay=0.5, floor=0.1)
    expected = [1.0] * N
    rng = np.random.default_rng(3)
    for _ in range(20):
        positions = rng.choice(N, 8, replace=False)
        losses = rng.choice([0.0, 0.0, 0.7, np.nan], 8)
        sampler.observe(positions, losses.astype(np.float32), np.zeros((8, 2), np.float32))
        for i, loss in zip(positions.tolist(), losses.tolist()):
            if math.isnan(loss):
                continue
            expected[i] = max(expected[i] * 0.5, 0.1) if loss == 0 else 1.0
    np.testing.assert_allclose(sampler.weights, expected)


def test_zero_loss_items_and_classes_are_drawn_less_often():
    sampler = create_sampler("zero-loss", LABELS, 4, k=4, decay=0.1, floor=0.1)
    quiet = np.flatnonzero(LABELS == 0)  # every item of class 0 gave zero loss
    sampler.observe(quiet, np.zeros(len(quiet), np.float32), np.zeros((len(quiet), 2), np.float32))
    counts = Counter()
    for epoch in range(200):
        sampler.on_epoch_start(epoch, 200)
        for batch in sampler:
            counts[int(LABELS[batch[0]])] += 1
    # one class per batch, drawn with probability ∝ its mean weight: 0.1 / (0.1 + 5) for class 0
    weights = [sum(sampler.weights[c == LABELS]) / 10 for c in range(6)]
    total = sum(counts.values())
    assert counts[0] / total == pytest.approx(weights[0] / sum(weights), abs=0.015)
    assert counts[1] / total == pytest.approx(weights[1] / sum(weights), abs=0.04)


# -- distance-mcmc --------------------------------------------------------------------------------
def test_distance_mcmc_transitions_match_a_loop_over_the_distance_row():
    sampler = create_sampler("distance-mcmc", LABELS, 8, k=2, temperature=0.3)
    x = embeddings(1)
    sampler.refresh(x)
    rows = unit(x)
    excluded = {int(LABELS[7]), 4}
    got = sampler.transition(7, excluded)
    weights = [0.0 if LABELS[j] in excluded else math.exp(-dist(rows[7], rows[j]) / 0.3) for j in range(N)]
    np.testing.assert_allclose(got, [w / sum(weights) for w in weights], rtol=1e-9, atol=1e-15)


def test_distance_mcmc_batches_walk_through_distinct_classes_k_items_each():
    sampler = create_sampler("distance-mcmc", LABELS, 12, k=3)
    sampler.refresh(embeddings(2))
    for batch in sampler:
        groups = [batch[i : i + 3] for i in range(0, 12, 3)]
        classes = [int(LABELS[g[0]]) for g in groups]
        assert len(set(classes)) == 4  # each step moves to a class not yet in the batch
        assert all(len(set(LABELS[g].tolist())) == 1 and len(set(g)) == 3 for g in groups)


# -- angle ----------------------------------------------------------------------------------------
def test_angle_keeps_only_triplets_with_positive_and_negative_on_one_side():
    sampler = create_sampler("angle", LABELS, 12)
    x = embeddings(4)
    sampler.refresh(x)
    rows = unit(x)
    seen = 0
    for batch in sampler:
        for a, p, n in triplets_of(batch):
            assert LABELS[p] == LABELS[a] != LABELS[n]
            dot = sum((rows[p][d] - rows[a][d]) * (rows[n][d] - rows[a][d]) for d in range(4))
            assert dot > 0
            seen += 1
    assert seen == len(sampler) * 4


# -- pair-ratio -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [20, 3, 0])
def test_pair_ratio_batches_hold_the_ratio_of_positive_pairs(ratio):
    labels = np.repeat(np.arange(20), 30)
    sampler = create_sampler("pair-ratio", labels, 32, negatives_per_positive=ratio)
    positives = negatives = 0
    for j, batch in enumerate(sampler):
        pairs = [(batch[i], batch[i + 1]) for i in range(0, 32, 2)]
        in_batch = sum(1 for a, b in pairs if labels[a] == labels[b])
        assert all(a != b for a, b in pairs)
        q = 16 / (ratio + 1)
        assert in_batch == round((j + 1) * q) - round(j * q)
        positives += in_batch
        negatives += len(pairs) - in_batch
    assert positives == round(len(sampler) * 16 / (ratio + 1))
    if ratio:
        assert negatives / positives == pytest.approx(ratio, rel=0.1)


def test_pair_ratio_needs_an_even_batch():
    with pytest.raises(ConfigError, match="even"):
        create_sampler("pair-ratio", LABELS, 9)
