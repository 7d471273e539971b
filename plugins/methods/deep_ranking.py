"""``deep-ranking``: the deep-ranking triplet study (Wang et al. 2014, "Learning Fine-grained Image Similarity
with Deep Ranking"), as the seed document ran it on NCT-CRC-HE: VGG16 features reduced to a 1024-d
embedding, triplets with similarity-constrained sampling, inner-product search, top-5 / top-30 accuracy.

Here the backbone is the small CNN (seconds on a CPU); the paper's is one ``--set`` away (README):
``--set backbone.name=timm --set backbone.model=vgg16.tv_in1k --set backbone.pretrained=true``.
"""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 1024, "normalize": True},  # unit length: inner product = cosine
    loss={"name": "triplet", "margin": 0.2, "mining": "semihard"},
    # similarity-constrained: each anchor's negatives come from its most similar other-class items
    sampler={"name": "hard-negative", "k": 4, "pool": 5},
    indexer={"name": "exact", "metric": "ip"},
    train={"epochs": 12},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.margin": trial.suggest_float("loss.margin", 0.05, 0.5),
        "sampler.pool": trial.suggest_int("sampler.pool", 1, 20, log=True),
    }


@hookimpl
def register_methods(register):
    register(
        "deep-ranking",
        lambda: Method(
            "Deep ranking (Wang et al. 2014): triplets with similarity-constrained negatives, 1024-d embedding, "
            "inner-product search; the seed study used VGG16 features on NCT-CRC-HE",
            DEFAULTS,
            search_space,
        ),
        description="Deep ranking triplets, 1024-d inner-product embedding (Wang et al. 2014)",
    )
