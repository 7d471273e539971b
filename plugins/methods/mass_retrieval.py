"""``mass-retrieval``: the MassImageRetrieval project's triplet recipe (ResNet-50 features, triplet loss, and
its list of sampling strategies: cluster anchors, zero-loss feedback, distance-driven Markov chain, angle).

The default sampler is ``zero-loss`` ("record the zero-loss samples and let them guide sampling"); the
others are ``--set sampler.name=cluster-anchor|distance-mcmc|angle`` and part of the search space. The
small CNN stands in for ResNet-50: ``--set backbone.name=timm --set backbone.model=resnet50 ...`` (README).
"""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 128},
    loss={"name": "triplet", "margin": 0.2, "mining": "semihard"},
    sampler={"name": "zero-loss", "k": 4},
    indexer={"name": "exact", "metric": "cosine"},
    train={"epochs": 12},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.margin": trial.suggest_float("loss.margin", 0.05, 0.5),
        "sampler.name": trial.suggest_categorical(
            "sampler.name", ["zero-loss", "cluster-anchor", "distance-mcmc", "angle", "hard-negative"]
        ),
    }


@hookimpl
def register_methods(register):
    register(
        "mass-retrieval",
        lambda: Method(
            "MassImageRetrieval: triplet loss with its sampling strategies (zero-loss feedback by default; "
            "cluster-anchor, distance-mcmc, angle); the project used ResNet-50 features",
            DEFAULTS,
            search_space,
        ),
        description="MassImageRetrieval's triplet training with feedback sampling",
    )
