"""``fashion-mnist`` and ``fashion-mnist-unseen``: real photos at a size where a default run takes under a minute.

Both train on 400 images, select on 200 and score 900-1,000 queries (half public) against 2,000-2,100
gallery images with map@100. The training side is small on purpose: a default run (30 epochs of the
small CNN on one CPU thread) must stay well under a minute so that a 5-seed board of every method is
cheap to rebuild. Submissions are Parquet (about 160 KB against 0.9 MB of CSV) so boards fit in git.
The files come from Debian's ``dataset-fashion-mnist`` (see plugins/datasets/fashion_mnist.py).
"""

from __future__ import annotations

from harness import CompetitionSpec, hookimpl

# Unseen classes: fit on five, select on a top and a shoe, retrieve a hard pair of tops (coat, shirt) and a shoe.
FIT_CLASSES = [0, 1, 3, 5, 8]  # T-shirt/top, Trouser, Dress, Sandal, Bag
VAL_CLASSES = [2, 7]  # Pullover, Sneaker
TEST_CLASSES = [4, 6, 9]  # Coat, Shirt, Ankle boot


def fashion_mnist() -> CompetitionSpec:
    """Seen classes: per class 100 queries (half public), 20 val, 40 train, 200 gallery; map@100."""
    return CompetitionSpec(
        name="fashion-mnist",
        dataset="fashion-mnist",
        protocol="seen-classes",
        protocol_config={"query": 100, "val": 20, "train": 40, "gallery": 200},
        metric="map@k",
        k=100,
        public_fraction=0.5,
        salt="fashion-mnist",
        seed=0,
        description="Fashion-MNIST, deep-hashing protocol: all 10 classes in every role",
        submission_format="parquet",
    )


def fashion_mnist_unseen() -> CompetitionSpec:
    """Unseen classes: 80 train per class of 5, 100 val per class of 2 others, 300 queries and 700 gallery
    per class of the last 3; map@100."""
    return CompetitionSpec(
        name="fashion-mnist-unseen",
        dataset="fashion-mnist",
        protocol="unseen-classes",
        protocol_config={
            "train_classes": FIT_CLASSES + VAL_CLASSES,
            "val_classes": VAL_CLASSES,
            "train": 80,
            "val": 100,
            "query": 300,
            "gallery": 700,
        },
        metric="map@k",
        k=100,
        public_fraction=0.5,
        salt="fashion-mnist-unseen",
        seed=0,
        description="Fashion-MNIST, metric-learning protocol: train on 5 classes, select on 2, retrieve 3 others",
        submission_format="parquet",
    )


@hookimpl
def register_competitions(register):
    register(
        "fashion-mnist",
        fashion_mnist,
        description="Fashion-MNIST, seen classes, 1,000 queries, map@100 (apt: dataset-fashion-mnist)",
    )
    register(
        "fashion-mnist-unseen",
        fashion_mnist_unseen,
        description="Fashion-MNIST, train 5 classes, val 2, retrieve 3 unseen, map@100 (apt: dataset-fashion-mnist)",
    )
