"""``center``: softmax plus center loss (Wen et al. 2016); centers get their own learning rate."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64, "normalize": False},
    loss={"name": "center", "center_weight": 0.01},
    sampler={"name": "random"},
    indexer={"name": "exact", "metric": "cosine"},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.center_weight": trial.suggest_float("loss.center_weight", 1e-3, 0.1, log=True),
        "loss.center_lr": trial.suggest_float("loss.center_lr", 1e-3, 0.5, log=True),
    }


@hookimpl
def register_methods(register):
    register(
        "center",
        lambda: Method("Softmax + center loss, exact search", DEFAULTS, search_space),
        description="Softmax cross-entropy plus center loss",
    )
