"""``softmax``: the classification baseline; its embeddings are searched by exact cosine similarity."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "embedding", "dim": 64, "normalize": True},
    loss={"name": "softmax", "normalize": True, "temperature": 0.05},
    sampler={"name": "random"},
    indexer={"name": "exact", "metric": "cosine"},
)


def search_space(trial):
    return {
        **common_space(trial),
        "loss.temperature": trial.suggest_float("loss.temperature", 0.02, 0.5, log=True),
        "loss.label_smoothing": trial.suggest_float("loss.label_smoothing", 0.0, 0.2),
    }


@hookimpl
def register_methods(register):
    register(
        "softmax",
        lambda: Method("Softmax classification baseline, exact cosine search", DEFAULTS, search_space),
        description="Softmax cross-entropy baseline",
    )
