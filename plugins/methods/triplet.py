"""``triplet``: triplet margin loss with semi-hard mining over P×K batches; ``triplet-hermans``: the seed recipe.

The defaults are the ones that hold on Fashion-MNIST (docs/recipes.md has the ablation): semi-hard
mining, k=4 images per class, Adam at 1e-3 without weight decay, Euclidean distance between the unit
embeddings. The seed recipe (batch-hard, k=8, AdamW 3e-3) stalls there: its loss sits at the margin for
most of a short run, the sign of collapsed embeddings. It stays available as ``triplet-hermans``.
"""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import OPTIM, common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64},
    loss={"name": "triplet", "margin": 0.2, "mining": "semihard", "distance": "euclidean"},
    sampler={"name": "pk", "k": 4},
    indexer={"name": "exact", "metric": "cosine"},
    optim={"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
)

# Hermans et al. 2017's batch-hard triplet as bench first shipped it (and as the digits board knew it).
HERMANS = recipe(
    head={"name": "embedding", "dim": 64},
    loss={"name": "triplet", "margin": 0.2, "mining": "hard", "distance": "euclidean"},
    sampler={"name": "pk", "k": 8},
    indexer={"name": "exact", "metric": "cosine"},
    optim=dict(OPTIM),
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
        lambda: Method(
            "Triplet loss (semi-hard) on P×K batches of k=4, Adam 1e-3, exact search", DEFAULTS, search_space
        ),
        description="Triplet margin loss with semi-hard mining",
    )
    register(
        "triplet-hermans",
        lambda: Method("Triplet loss (batch-hard, Euclidean) on P×K batches: the seed recipe", HERMANS, search_space),
        description="Batch-hard triplet loss (Hermans et al. 2017), the seed recipe",
    )
