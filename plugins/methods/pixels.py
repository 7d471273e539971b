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


@hookimpl
def register_methods(register):
    register(
        "pixels",
        lambda: Method("Raw pixels (resized to 32×32), exact cosine search, no training: the floor", DEFAULTS),
        description="No training: raw pixels and exact cosine search (the floor)",
    )
