"""``contrastive``: the contrastive pair loss (Hadsell et al. 2006) on normalised embeddings."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64},
    loss={"name": "contrastive", "margin": 0.5},
    sampler={"name": "pk", "k": 8},
    indexer={"name": "exact", "metric": "cosine"},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.margin": trial.suggest_float("loss.margin", 0.2, 1.5),
        "head.dim": trial.suggest_categorical("head.dim", [32, 64, 128]),
    }


@hookimpl
def register_methods(register):
    register(
        "contrastive",
        lambda: Method("Contrastive pair loss on P×K batches, exact search", DEFAULTS, search_space),
        description="Contrastive pair loss over all pairs in a batch",
    )
