"""Peer recipes: bench's backbone trained with pytorch-metric-learning's losses, miners and sampler.

``pml-triplet``, ``pml-ms`` and ``pml-contrastive`` are the field's reference recipes (PML's documented
defaults, MPerClassSampler with m=4, Adam at 1e-3, a constant rate) on the same small CNN and 64-d head
as bench's own methods, so a board shows how bench's recipes stand against them at equal budget.
They need pytorch-metric-learning (``pip install 'bench[pml]'``).
"""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

PEER = {
    "head": {"name": "embedding", "dim": 64},
    "sampler": {"name": "m-per-class", "m": 4},
    "indexer": {"name": "exact", "metric": "cosine"},
    "optim": {"name": "adam", "lr": 1e-3, "weight_decay": 0.0, "schedule": "constant"},
}
TRIPLET = recipe(**PEER, loss={"name": "pml-triplet", "margin": 0.2, "distance": "cosine", "mining": "semihard"})
MULTI_SIMILARITY = recipe(**PEER, loss={"name": "pml-multi-similarity"})
CONTRASTIVE = recipe(**PEER, loss={"name": "pml-contrastive"})


@hookimpl
def register_methods(register):
    register(
        "pml-triplet",
        lambda: Method(
            "pytorch-metric-learning TripletMarginLoss(0.2, cosine) + semi-hard miner, m=4 per class, Adam 1e-3",
            TRIPLET,
            common_space,
        ),
        description="Peer recipe: PML triplet loss + semi-hard miner",
    )
    register(
        "pml-ms",
        lambda: Method(
            "pytorch-metric-learning MultiSimilarityLoss + MultiSimilarityMiner, m=4 per class, Adam 1e-3",
            MULTI_SIMILARITY,
            common_space,
        ),
        description="Peer recipe: PML multi-similarity loss + miner",
    )
    register(
        "pml-contrastive",
        lambda: Method(
            "pytorch-metric-learning ContrastiveLoss(0, 1) over every pair, m=4 per class, Adam 1e-3",
            CONTRASTIVE,
            common_space,
        ),
        description="Peer recipe: PML contrastive loss",
    )
