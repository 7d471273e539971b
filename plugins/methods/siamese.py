"""``siamese``: contrastive pairs plus a softmax classification term (multi-task)."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64},
    loss={"name": "contrastive", "margin": 0.5},
    sampler={"name": "pk", "k": 8},
    indexer={"name": "exact", "metric": "cosine"},
    train={"classification_weight": 0.5},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.margin": trial.suggest_float("loss.margin", 0.2, 1.5),
        "train.classification_weight": trial.suggest_float("train.classification_weight", 0.1, 2.0, log=True),
    }


@hookimpl
def register_methods(register):
    register(
        "siamese",
        lambda: Method("Siamese: contrastive pairs + softmax classification, exact search", DEFAULTS, search_space),
        description="Contrastive loss with an auxiliary classification term",
    )
