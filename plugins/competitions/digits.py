"""``digits`` (the default) and ``digits-unseen``: scikit-learn's digits, nothing to download."""

from __future__ import annotations

from harness import CompetitionSpec, hookimpl


def digits() -> CompetitionSpec:
    """Seen classes: per class 10 queries, 10 val, 60 train, the rest (~100) gallery; map@100."""
    return CompetitionSpec(
        name="digits",
        dataset="digits",
        protocol="seen-classes",
        protocol_config={"query": 10, "val": 10, "train": 60},
        metric="map@k",
        k=100,
        public_fraction=0.3,
        salt="digits",
        seed=0,
        description="sklearn digits, deep-hashing protocol: all 10 classes in every role",
    )


def digits_unseen() -> CompetitionSpec:
    """Unseen classes: train/val on digits 0-4, query/gallery on 5-9 (20 queries per class); map@100."""
    return CompetitionSpec(
        name="digits-unseen",
        dataset="digits",
        protocol="unseen-classes",
        protocol_config={"train_classes": [0, 1, 2, 3, 4], "val": 20, "query": 20},
        metric="map@k",
        k=100,
        public_fraction=0.3,
        salt="digits-unseen",
        seed=0,
        description="sklearn digits, metric-learning protocol: train on 0-4, retrieve 5-9",
    )


@hookimpl
def register_competitions(register):
    register("digits", digits, description="sklearn digits, seen classes, map@100 (default)")
    register("digits-unseen", digits_unseen, description="sklearn digits, train 0-4, retrieve 5-9, map@100")
