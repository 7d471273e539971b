"""``digits`` (the default) and ``digits-unseen``: scikit-learn's digits, nothing to download."""

from __future__ import annotations

from harness import CompetitionSpec, hookimpl


def digits() -> CompetitionSpec:
    """Seen classes: per class 40 queries (half public), 10 val, 60 train, the rest (64-73) gallery; map@100."""
    return CompetitionSpec(
        name="digits",
        dataset="digits",
        protocol="seen-classes",
        protocol_config={"query": 40, "val": 10, "train": 60},
        metric="map@k",
        k=100,
        public_fraction=0.5,
        salt="digits",
        seed=0,
        description="sklearn digits, deep-hashing protocol: all 10 classes in every role",
    )


def digits_unseen() -> CompetitionSpec:
    """Unseen classes: train on digits 0-4, select on 5-6, retrieve 7-9 (40 queries per class); map@100."""
    return CompetitionSpec(
        name="digits-unseen",
        dataset="digits",
        protocol="unseen-classes",
        protocol_config={"train_classes": [0, 1, 2, 3, 4, 5, 6], "val_classes": [5, 6], "query": 40, "gallery": 100},
        metric="map@k",
        k=100,
        public_fraction=0.5,
        salt="digits-unseen",
        seed=0,
        description="sklearn digits, metric-learning protocol: train on 0-4, select on 5-6, retrieve 7-9",
    )


@hookimpl
def register_competitions(register):
    register("digits", digits, description="sklearn digits, seen classes, 400 queries, map@100 (default)")
    register("digits-unseen", digits_unseen, description="sklearn digits, train 0-4, val 5-6, retrieve 7-9, map@100")
