"""``triplet``: triplet margin loss with batch-hard mining over P×K batches."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64},
    loss={"name": "triplet", "margin": 0.2, "mining": "hard"},
    sampler={"name": "pk", "k": 8},
    indexer={"name": "exact", "metric": "cosine"},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.margin": trial.suggest_float("loss.margin", 0.05, 0.5),
        "loss.mining": trial.suggest_categorical("loss.mining", ["all", "hard", "semihard"]),
        "head.dim": trial.suggest_categorical("head.dim", [32, 64, 128]),
    }


@hookimpl
def register_methods(register):
    register(
        "triplet",
        lambda: Method("Triplet loss (batch-hard) on P×K batches, exact search", DEFAULTS, search_space),
        description="Triplet margin loss with batch-hard mining",
    )
