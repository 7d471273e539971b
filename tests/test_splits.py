"""Split protocols: sizes, class promises, relevance guarantee, determinism, public membership."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.splits import check_roles, public_mask, split
from harness.errors import CompetitionError

LABELS = np.repeat(np.arange(8), 30)[np.random.default_rng(1).permutation(240)]


def classes_of(labels, roles, role):
    return set(labels[roles == role].tolist())


def test_seen_classes_puts_every_class_in_every_role_with_exact_counts():
    roles = split(LABELS, "seen-classes", {"query": 3, "val": 2, "train": 10}, seed=0)
    for c in range(8):
        counts = {r: int(np.sum((c == LABELS) & (roles == r))) for r in ("query", "val", "train", "gallery")}
        assert counts == {"query": 3, "val": 2, "train": 10, "gallery": 15}


def test_seen_classes_fractions_and_a_gallery_cap_leave_the_rest_unused():
    roles = split(LABELS, "seen-classes", {"query": 0.1, "val": 0.1, "train": 0.5, "gallery": 5}, seed=0)
    assert np.sum(roles == "query") == 8 * 3 and np.sum(roles == "train") == 8 * 15
    assert np.sum(roles == "gallery") == 40 and np.sum(roles == "") == 240 - 24 - 24 - 120 - 40


def test_split_is_deterministic_from_the_seed():
    cfg = {"query": 3, "val": 2, "train": 10}
    a, b = split(LABELS, "seen-classes", cfg, seed=7), split(LABELS, "seen-classes", cfg, seed=7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, split(LABELS, "seen-classes", cfg, seed=8))


@pytest.mark.parametrize("train_classes", [[0, 2, 5], 3, 0.375])
def test_unseen_classes_keep_train_val_and_test_classes_apart(train_classes):
    roles = split(LABELS, "unseen-classes", {"train_classes": train_classes, "val": 4, "query": 5}, seed=0)
    train, val = classes_of(LABELS, roles, "train"), classes_of(LABELS, roles, "val")
    test_side = classes_of(LABELS, roles, "query") | classes_of(LABELS, roles, "gallery")
    train_side = train | val
    assert len(train_side) == 3 and not train_side & test_side and train_side | test_side == set(range(8))
    assert len(val) == 1 and not val & train  # val_classes 0.4 of 3 -> 1 class, never trained on
    assert np.sum(roles == "query") == 5 * 5 and np.sum(roles == "val") == 4
    assert np.sum(roles == "") == 30 - 4  # the val class's items beyond val=4 stay unused
    if isinstance(train_classes, list):
        assert train_side == {0, 2, 5}


def test_unseen_classes_val_classes_by_list_and_all_their_items():
    roles = split(LABELS, "unseen-classes", {"train_classes": [0, 1, 2, 3], "val_classes": [1, 3]}, seed=0)
    assert classes_of(LABELS, roles, "val") == {1, 3} and classes_of(LABELS, roles, "train") == {0, 2}
    assert np.sum(roles == "val") == 60 and not np.any(roles == "")
    for bad, message in (([7], "not among the train_classes"), ([0, 1, 2, 3], "besides the val_classes")):
        with pytest.raises(CompetitionError, match=message):
            split(LABELS, "unseen-classes", {"train_classes": [0, 1, 2, 3], "val_classes": bad}, seed=0)


def test_every_query_has_a_relevant_gallery_item():
    for protocol, cfg in [("seen-classes", {"query": 5, "val": 5, "train": 19}), ("unseen-classes", {"query": 29})]:
        roles = split(LABELS, protocol, cfg, seed=3)
        gallery = LABELS[roles == "gallery"]
        assert all(np.any(gallery == q) for q in LABELS[roles == "query"])


@pytest.mark.parametrize(
    "protocol, cfg, message",
    [
        ("seen-classes", {"query": 5, "val": 5, "train": 20}, "no relevant gallery"),
        ("seen-classes", {"query": 20, "val": 20}, "too few"),
        ("unseen-classes", {"train_classes": [0, 99]}, "not labels"),
        ("unseen-classes", {"train_classes": 8}, "at least one"),
        ("seen-classes", {"querys": 3}, "did you mean 'query'"),
        ("seen-classes", {"query": -1}, "count"),
        ("seen-class", {}, "did you mean 'seen-classes'"),
    ],
)
def test_impossible_or_misspelt_splits_are_refused(protocol, cfg, message):
    with pytest.raises(CompetitionError, match=f"(?i){message}"):
        split(LABELS, protocol, cfg, seed=0)


def test_given_roles_are_checked():
    given = ["train", "query", "gallery", "val", "query", "gallery"]
    assert split(np.array([0, 0, 0, 0, 1, 1]), "given", {}, seed=0, given_roles=given).tolist() == given
    labels = np.array([0, 0, 1, 1, 1])
    with pytest.raises(CompetitionError, match="no relevant gallery"):
        check_roles(labels, np.array(["train", "query", "train", "gallery", ""], dtype=object))
    with pytest.raises(CompetitionError, match="val class"):
        check_roles(labels, np.array(["val", "query", "train", "gallery", "gallery"], dtype=object))
    with pytest.raises(CompetitionError, match="needs a dataset"):
        split(labels, "given", {}, seed=0)


def test_public_share_is_on_target_and_membership_is_stable():
    ids = [f"shapes-{i:05d}" for i in range(1500)]
    mask = public_mask(ids, 0.3, "salt")
    assert abs(mask.mean() - 0.3) <= 0.02
    np.testing.assert_array_equal(mask, public_mask(ids, 0.3, "salt"))
    order = np.random.default_rng(0).permutation(1500)
    np.testing.assert_array_equal(public_mask([ids[i] for i in order], 0.3, "salt"), mask[order])
    other = public_mask(ids, 0.3, "pepper")
    assert 0.15 < np.mean(other == mask) < 0.85 or not np.array_equal(other, mask)
    with pytest.raises(CompetitionError):
        public_mask(ids, 1.5, "")


def test_public_membership_is_stratified_by_class():
    ids = [f"digits-{i:04d}" for i in range(400)]
    labels = np.repeat(np.arange(10), 40)
    mask = public_mask(ids, 0.5, "digits", labels)
    assert np.bincount(labels[mask], minlength=10).tolist() == [20] * 10
    np.testing.assert_array_equal(mask, public_mask(ids, 0.5, "digits", labels))  # a fixed draw
    assert not np.array_equal(mask, public_mask(ids, 0.5, "other salt", labels))  # salted
    unstratified = public_mask(ids, 0.5, "digits")
    assert np.bincount(labels[unstratified], minlength=10).tolist() != [20] * 10
