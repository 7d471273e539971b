"""``cifar10-hashing``: the usual deep-hashing protocol on CIFAR-10 (train and test pooled).

Per class 100 queries and a 500-image training side (450 train + 50 val, so validation never
touches query or gallery); the other 54,000 images are the gallery, and the metric is mAP over
the whole gallery (map@k with k = 54,000), as in the hashing literature's "mAP@all".
"""

from __future__ import annotations

from harness import CompetitionSpec, hookimpl

GALLERY_SIZE = 60_000 - 10 * (100 + 500)


def cifar10_hashing() -> CompetitionSpec:
    """CIFAR-10: 1,000 queries, 5,000 training side (4,500 train + 500 val), 54,000 gallery; mAP@all."""
    return CompetitionSpec(
        name="cifar10-hashing",
        dataset="cifar10",
        dataset_config={},
        protocol="seen-classes",
        protocol_config={"query": 100, "val": 50, "train": 450},
        metric="map@k",
        k=GALLERY_SIZE,
        salt="cifar10-hashing",
        seed=0,
        description="CIFAR-10 deep-hashing protocol, mAP over the full 54,000-image gallery",
    )


@hookimpl
def register_competitions(register):
    register("cifar10-hashing", cifar10_hashing, description="CIFAR-10, 1,000 queries, mAP@54000 (needs the files)")
