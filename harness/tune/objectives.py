"""``bench tune --objectives map@100,bytes,ms``: several objectives, one Pareto front.

Every objective is measured on the training side only: the val score (the competition's metric,
as single-objective trials are scored), ``bytes`` (bytes per gallery item of the indexed code),
``ms`` (search milliseconds per query, val searched against itself) and ``seconds`` (training time).
The score is maximised, costs minimised. Optuna does not prune multi-objective trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.data.cutoff import metric_label
from harness.errors import ConfigError

if TYPE_CHECKING:
    import torch

    from harness.config import RunConfig
    from harness.data.competition import Competition, Images
    from harness.train.model import RetrievalModel
    from harness.tune.folds import FoldCompetition

COSTS = {"bytes": "bytes per item", "ms": "search ms per query", "seconds": "training seconds"}
SCORE_ALIASES = ("val", "score")


@dataclass(frozen=True)
class Objective:
    name: str  # as the user wrote it
    key: str  # "score" | "bytes" | "ms" | "seconds"

    @property
    def direction(self) -> str:
        return "maximize" if self.key == "score" else "minimize"


def parse_objectives(names: list[str], metric: str, k: int) -> list[Objective]:
    """Objectives from ``--objectives``; the score must be the competition's metric (``map@100``, ``map@k``)."""
    label = metric_label(metric, k)
    out = []
    for name in names:
        text = name.strip().lower()
        if text in COSTS:
            out.append(Objective(name.strip(), text))
        elif text in (label, metric, *SCORE_ALIASES):
            out.append(Objective(name.strip(), "score"))
        else:
            raise ConfigError(
                f"unknown objective {name.strip()!r}: use the competition's metric ({label}), "
                f"{', '.join(COSTS)}, e.g. --objectives {label},bytes,ms"
            )
    keys = [o.key for o in out]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"--objectives names an objective twice: {','.join(names)}")
    if len(out) < 2:
        raise ConfigError("--objectives needs at least two objectives (one is the ordinary study)")
    return out


def needs_search(objectives: list[Objective]) -> bool:
    return any(o.key in ("bytes", "ms") for o in objectives)


class ValAsSearch:
    """A competition whose query and gallery are its val items: ``train.search.embed_and_search`` on val alone."""

    def __init__(self, part: Competition | FoldCompetition):
        self.spec, self._val = part.spec, part.val()

    def query(self) -> Images:
        return self._val

    def gallery(self) -> Images:
        return self._val


def costs(
    model: RetrievalModel, part: Competition | FoldCompetition, cfg: RunConfig, device: torch.device
) -> dict[str, float]:
    """``bytes`` and ``ms`` of ``model``'s code with ``cfg``'s indexer, measured on ``part``'s val items."""
    from harness.train.search import embed_and_search

    search = embed_and_search(model, ValAsSearch(part), cfg, device)
    return {"bytes": float(search.bytes_per_item), "ms": float(search.ms_per_query)}
