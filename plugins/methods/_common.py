"""What the built-in methods share (a helper module: it registers nothing).

Defaults are tuned for the ``digits`` competition on a laptop CPU: a small CNN, a few epochs,
batches large enough to keep the two cores busy.
"""

from __future__ import annotations

from typing import Any

BACKBONE = {"name": "small-cnn", "width": 32, "out_dim": 128}
OPTIM = {"name": "adamw", "lr": 3e-3, "weight_decay": 1e-4}
TRAIN = {"epochs": 30, "batch_size": 32, "threads": 1}  # one thread: tiny model, shared CPUs


def recipe(**sections: dict[str, Any]) -> dict[str, Any]:
    """A full default config: the shared backbone, optimiser and schedule, overridden per method."""
    cfg: dict[str, Any] = {"backbone": dict(BACKBONE), "optim": dict(OPTIM), "train": dict(TRAIN)}
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    return cfg


def common_space(trial: Any) -> dict[str, Any]:
    """Learning rate, weight decay, width and epochs: worth tuning for every method."""
    return {
        "optim.lr": trial.suggest_float("optim.lr", 3e-4, 1e-2, log=True),
        "optim.weight_decay": trial.suggest_float("optim.weight_decay", 1e-6, 1e-2, log=True),
        "backbone.width": trial.suggest_categorical("backbone.width", [16, 32, 48]),
        "train.epochs": trial.suggest_int("train.epochs", 5, 20),
    }
