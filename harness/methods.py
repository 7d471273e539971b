"""A method: a named training recipe with defaults and an Optuna search space."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna import Trial


def _no_search_space(trial: Trial) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Method:
    """What ``register_methods`` factories return.

    ``defaults`` is a nested config (sections ``backbone``, ``head``, ``loss``, ``sampler``,
    ``indexer``, ``optim``, ``train``). ``search_space(trial)`` returns overrides keyed by dotted
    names, e.g. ``{"loss.margin": trial.suggest_float("loss.margin", 0.05, 0.5)}``.
    """

    description: str
    defaults: dict[str, Any]
    search_space: Callable[[Trial], dict[str, Any]] = field(default=_no_search_space)
