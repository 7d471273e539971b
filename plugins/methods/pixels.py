"""``pixels``: no training, the resized image itself searched by exact cosine: the floor every method must beat."""

from __future__ import annotations

from harness import Method, hookimpl

# train.epochs=0: nothing is learnt, so the loss and sampler are never built; they only keep the config complete.
DEFAULTS = {
    "backbone": {"name": "pixels", "size": 32},
    "head": {"name": "identity"},
    "loss": {"name": "triplet"},
    "sampler": {"name": "random"},
    "indexer": {"name": "exact", "metric": "cosine"},
    "train": {"epochs": 0},
}


def search_space(trial):
    """Only the resolution (and the distance): there is nothing else to tune."""
    return {
        "backbone.size": trial.suggest_categorical("backbone.size", [8, 16, 32, 64]),
        "indexer.metric": trial.suggest_categorical("indexer.metric", ["cosine", "euclidean"]),
    }


@hookimpl
def register_methods(register):
    register(
        "pixels",
        lambda: Method(
            "Raw pixels (resized to 32×32), exact cosine search, no training: the floor", DEFAULTS, search_space
        ),
        description="No training: raw pixels and exact cosine search (the floor)",
    )
