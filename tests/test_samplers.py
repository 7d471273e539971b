"""Batch composition, coverage, determinism and refresh behaviour of the built-in samplers, plus
a contract test over every registered sampler."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

import plugins.samplers.hard_negative as hard_negative_module
from harness.components import create_sampler, registry
from harness.errors import ConfigError

# 7 classes of uneven size; class 6 has 2 items, fewer than k=4
SIZES = (12, 10, 9, 8, 8, 7, 2)
LABELS = np.repeat(np.arange(len(SIZES)), SIZES)
N = len(LABELS)


def batches(name, batch_size=8, labels=LABELS, epoch=None, **cfg):
    sampler = create_sampler(name, labels, batch_size, **cfg)
    if epoch is not None:
        sampler.on_epoch_start(epoch, 10)
    return list(sampler)


def nearest_other_class(x, labels):
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    d[labels[:, None] == labels[None]] = np.inf
    return np.argsort(d, axis=1, kind="stable")


def test_random_batches_are_disjoint_and_full():
    got = batches("random", 8)
    flat = [i for b in got for i in b]
    assert len(got) == N // 8 and all(len(b) == 8 for b in got)
    assert len(set(flat)) == len(flat) and set(flat) <= set(range(N))


@pytest.mark.parametrize("epoch", [0, 3])
def test_pk_batches_hold_p_classes_of_k_images(epoch):
    got = batches("pk", 12, k=4, epoch=epoch)
    assert len(got) == N // 12
    for batch in got:
        per_class = Counter(LABELS[batch].tolist())
        assert len(per_class) == 3 and set(per_class.values()) == {4}
        for c in per_class:
            members = [i for i in batch if LABELS[i] == c]
            assert (len(set(members)) == 4) == (SIZES[c] >= 4)  # repeats only in a class smaller than k


def test_pk_covers_every_class_over_an_epoch():
    seen = {int(LABELS[i]) for b in batches("pk", 8, k=2) for i in b}
    assert seen == set(range(len(SIZES)))


@pytest.mark.parametrize("batch_size", [8, 7, 56])
def test_exhaustive_draws_every_item_once_before_any_repeat(batch_size):
    got = batches("exhaustive", batch_size)
    flat = [i for b in got for i in b]
    assert len(got) == math.ceil(N / batch_size) and all(len(set(b)) == batch_size for b in got)
    assert sorted(flat[:N]) == list(range(N))


def test_inverse_frequency_probabilities_follow_one_minus_share():
    sampler = create_sampler("inverse-frequency", LABELS, 8, relative_to="total")
    assert np.allclose(sampler.probabilities(), 1 / N)
    counts = np.arange(N)
    sampler.counts[:] = counts
    share = counts / counts.sum()
    assert np.allclose(sampler.probabilities(), (1 - share) / (1 - share).sum())
    sampler = create_sampler("inverse-frequency", LABELS, 8)
    assert sampler.relative_to == "max"
    sampler.counts[:] = counts
    expected = np.maximum(1 - counts / counts.max(), 1e-12)
    assert np.allclose(sampler.probabilities(), expected / expected.sum())


def test_inverse_frequency_shifts_draws_to_under_drawn_items():
    sampler = create_sampler("inverse-frequency", LABELS, 8)
    over = np.arange(N) < N // 2
    sampler.counts[over] = 3
    before = sampler.counts.copy()
    for epoch in range(30):
        sampler.on_epoch_start(epoch, 30)
        list(sampler)
    gained = sampler.counts - before
    assert gained[~over].mean() > gained[over].mean()
    assert sampler.counts.sum() == before.sum() + 30 * len(sampler) * 8  # counts persist across epochs
    assert sampler.counts.max() - sampler.counts.min() <= 2  # much tighter than uniform draws


def test_hard_negative_behaves_like_pk_before_the_first_refresh():
    sampler = create_sampler("hard-negative", LABELS, 8, k=2, refresh_every=3)
    assert sampler.refresh_every == 3
    assert list(sampler) == batches("pk", 8, k=2)


@pytest.mark.parametrize("block", [1 << 22, 50])  # 50: several distance blocks per refresh
def test_hard_negatives_are_the_nearest_other_class_items(block, monkeypatch):
    monkeypatch.setattr(hard_negative_module, "_BLOCK_ELEMENTS", block)
    x = np.random.default_rng(0).normal(size=(N, 5))
    sampler = create_sampler("hard-negative", LABELS, 9, k=3)
    sampler.refresh(x)
    nearest = nearest_other_class(x, LABELS)[:, 0]
    assert np.array_equal(sampler.negatives[:, 0], nearest)
    for batch in sampler:
        assert len(batch) == 9
        for g in range(0, 9, 3):
            anchor, positive, negative = batch[g : g + 3]
            assert LABELS[positive] == LABELS[anchor] and positive != anchor
            assert negative == nearest[anchor]


def test_hard_negative_pool_draws_among_the_nearest():
    x = np.random.default_rng(1).normal(size=(N, 5))
    sampler = create_sampler("hard-negative", LABELS, 9, k=3, pool=3)
    sampler.refresh(torch.tensor(x))
    top = nearest_other_class(x, LABELS)[:, :3]
    assert np.array_equal(np.sort(sampler.negatives, 1), np.sort(top, 1))
    chosen = [(b[g], b[g + 2]) for b in sampler for g in range(0, 9, 3)]
    assert all(n in top[a] for a, n in chosen)
    assert any(n != top[a, 0] for a, n in chosen)  # not always the very nearest


def test_distance_weighted_negatives_are_other_class_and_within_the_cutoff():
    x = np.random.default_rng(2).normal(size=(N, 8))
    sampler = create_sampler("hard-negative", LABELS, 9, k=3, strategy="distance-weighted")
    sampler.refresh(x)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    for batch in sampler:
        for g in range(0, 9, 3):
            anchor, negative = batch[g], batch[g + 2]
            assert LABELS[negative] != LABELS[anchor]
            assert np.linalg.norm(unit[anchor] - unit[negative]) < 1.4


def test_refresh_rejects_embeddings_of_the_wrong_shape():
    sampler = create_sampler("hard-negative", LABELS, 8)
    with pytest.raises(ConfigError, match="shape"):
        sampler.refresh(np.zeros((N - 1, 3)))


@pytest.mark.parametrize(
    "name,batch_size,cfg,shown",
    [
        ("random", 1, {}, "batch_size"),
        ("random", N + 1, {}, str(N + 1)),
        ("random", 8, {"seed": -1}, "-1"),
        ("pk", 8, {"k": 0}, "k must"),
        ("pk", 8, {"k": 3}, "multiple"),
        ("inverse-frequency", 8, {"relative_to": "min"}, "'min'"),
        ("hard-negative", 8, {"strategy": "easiest"}, "'easiest'"),
        ("hard-negative", 8, {"refresh_every": 0}, "refresh_every"),
    ],
)
def test_bad_settings_are_config_errors(name, batch_size, cfg, shown):
    with pytest.raises(ConfigError, match=shown):
        create_sampler(name, LABELS, batch_size, **cfg)


@pytest.mark.parametrize(
    "labels,shown", [(LABELS.reshape(2, -1), "1-D"), (LABELS.astype(float), "integers"), ([], "non-empty")]
)
def test_bad_labels_are_config_errors(labels, shown):
    with pytest.raises(ConfigError, match=shown):
        create_sampler("random", labels, 2)


# -- contract: every registered sampler ---------------------------------------------------------
SAMPLERS = registry("samplers").names()


def epoch_of(sampler, epoch):
    sampler.on_epoch_start(epoch, 5)
    return list(sampler)


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_yields_full_batches_of_valid_indices(name):
    for labels in (LABELS, LABELS.tolist(), torch.tensor(LABELS)):
        sampler = create_sampler(name, labels, 8)
        got = list(sampler)
        assert len(got) == len(sampler) > 0
        assert all(len(b) == 8 and all(type(i) is int and 0 <= i < N for i in b) for b in got)
    if hasattr(sampler, "refresh"):
        assert isinstance(sampler.refresh_every, int) and sampler.refresh_every >= 1
        sampler.refresh(np.random.default_rng(0).normal(size=(N, 4)))
        got = list(sampler)
        assert len(got) == len(sampler) and all(len(b) == 8 and all(0 <= i < N for i in b) for b in got)


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_is_deterministic_per_seed_and_epoch(name):
    first, again, other_seed = (create_sampler(name, LABELS, 8, seed=s) for s in (0, 0, 1))
    assert epoch_of(first, 0) == epoch_of(again, 0)
    assert epoch_of(first, 1) == epoch_of(again, 1) != epoch_of(other_seed, 1)
    assert epoch_of(first, 2) != epoch_of(first, 3)


def test_pk_with_too_few_classes_takes_more_images_of_each():
    labels = np.repeat(np.arange(5), 20)  # an unseen-classes training side: 5 classes
    sampler = create_sampler("pk", labels, 32, k=4)  # 8 classes of 4 cannot be drawn
    assert (sampler.k, sampler.p) == (8, 4)
    assert all((np.unique(labels[b], return_counts=True)[1] == 8).all() and len(b) == 32 for b in sampler)
    assert create_sampler("pk", np.repeat(np.arange(10), 20), 32, k=4).k == 4  # enough classes: k as set
