"""``hashnet``: HashNet (Cao et al. 2017): tanh(β·z) codes with β continuation, searched by Hamming distance."""

from __future__ import annotations

from harness import Method, hookimpl
from plugins.methods._common import common_space, recipe

DEFAULTS = recipe(
    head={"name": "hash", "bits": 48},
    loss={"name": "hashnet"},
    sampler={"name": "random"},
    indexer={"name": "hamming"},
)


def search_space(trial):
    return {
        **common_space(trial),
        "head.bits": trial.suggest_categorical("head.bits", [16, 32, 48, 64]),
        "head.gamma": trial.suggest_float("head.gamma", 0.1, 2.0, log=True),
        "loss.alpha": trial.suggest_float("loss.alpha", 0.05, 1.0, log=True),
    }


@hookimpl
def register_methods(register):
    register(
        "hashnet",
        lambda: Method("HashNet: small CNN, hash head, HashNet loss, Hamming search", DEFAULTS, search_space),
        description="HashNet binary codes searched by Hamming distance",
    )
