"""``bell-bala``: Bell and Bala (2015), "Learning visual similarity for product design with convolutional neural
networks": a siamese network trained with the contrastive loss on pairs sampled 1:20 positive:negative plus
a category classification loss, L2-normalised embeddings compared by cosine.

The small CNN stands in for the paper's ImageNet network (README: ``--set backbone.name=timm ...``).
"""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64, "normalize": True},
    loss={"name": "contrastive", "margin": 0.5, "pairs": "adjacent"},
    sampler={"name": "pair-ratio", "negatives_per_positive": 20},
    indexer={"name": "exact", "metric": "cosine"},
    train={"epochs": 12, "classification_weight": 1.0},
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
        "bell-bala",
        lambda: Method(
            "Bell & Bala (2015): siamese contrastive pairs sampled 1:20 positive:negative plus category "
            "classification, L2-normalised embeddings, cosine search",
            DEFAULTS,
            search_space,
        ),
        description="Contrastive 1:20 pairs + classification, cosine (Bell & Bala 2015)",
    )
