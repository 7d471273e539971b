"""A minus B on the same queries: two submissions, two seed groups, or one of each (``bench compare``).

The library side of ``bench compare``: ``bench tune --final-seeds`` asks the same question of the
tuned group and the method's default group, with the same statistics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import BenchError
from harness.scoring.groups import Scores, group_rows
from harness.scoring.leaderboard import read_rows
from harness.scoring.statistics import (
    paired_difference_over_seeds,
    verdict,  # one vocabulary: `bench reproduce` says these words too
)
from harness.workspace import Workspace

SUBSETS = ("public", "private", "all")


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    competition: str
    metric: str
    subset: str
    queries: int
    a_what: str  # "group of 5 seed(s)", "submission", "submission file"
    b_what: str
    a_mean: float
    b_mean: float
    difference: float  # mean of A minus mean of B
    low: float  # 95% interval of A - B
    high: float
    a_wins: float  # share of bootstrap resamples in which A scores higher
    a_sd: float | None = None  # sd over A's seeds of their mean scores (None: one seed)
    b_sd: float | None = None

    @property
    def verdict(self) -> str:
        return verdict(self.low, self.high)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass(frozen=True)
class CompareOptions:
    """How A and B are compared (``bench compare``'s options)."""

    subset: str = "public"  # which queries: public, private or all
    metric: str | None = None  # default: the competition's
    seed: int = 0  # the bootstrap's
    seeds: frozenset[int] | None = None  # only the members of a group trained on these seeds


def compare(
    workspace: Workspace, competition: str, a: str, b: str, options: CompareOptions = CompareOptions()
) -> Comparison:
    """Bootstrap A minus B over the same queries (and over seeds, for groups)."""
    subset, metric, seed, seeds = options.subset, options.metric, options.seed, options.seeds
    if subset not in SUBSETS:
        raise BenchError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    scores = Scores.open(workspace, competition, metric)
    rows = read_rows(workspace.leaderboard_path(competition))
    what_a, seeds_a = side(scores, rows, a, seeds)
    what_b, seeds_b = side(scores, rows, b, seeds)
    public = np.asarray(scores.answers.public, dtype=bool)
    keep = {"public": public, "private": ~public, "all": np.ones_like(public)}[subset]
    seeds_a = [values[keep] for values in seeds_a]
    seeds_b = [values[keep] for values in seeds_b]
    difference, (low, high), share = paired_difference_over_seeds(seeds_a, seeds_b, seed=seed)
    return Comparison(
        a, b, competition, scores.label, subset, int(keep.sum()), what_a, what_b,
        float(np.mean(seeds_a)), float(np.mean(seeds_b)), difference, low, high, share,
        seed_sd(seeds_a), seed_sd(seeds_b),
    )  # fmt: skip


def seed_sd(per_seed: list[np.ndarray]) -> float | None:
    """The spread of a group's score over its seeds (the board's ``mean ± sd``); None for one seed."""
    if len(per_seed) < 2:
        return None
    return float(np.std([values.mean() for values in per_seed], ddof=1))


def side(
    scores: Scores, rows: list[dict], reference: str, seeds: frozenset[int] | None = None
) -> tuple[str, list[np.ndarray]]:
    """(description, per-query scores per seed) of a submission file, a group id or a submission id."""

    path = Path(reference)
    if path.is_file():
        return "submission file", [scores.score_file(path)]
    groups = group_rows(rows)
    members = groups.get(reference)
    if members is None:
        members = [row for row in rows if row.get("submission_id") == reference]
        if not members:
            raise BenchError(
                f"no submission or group {reference!r} on the {scores.competition} leaderboard, and no such file"
            )
        what = "submission"
    else:
        if seeds is not None:
            members = [row for row in members if str(row.get("seed", "")) in {str(s) for s in seeds}]
            if not members:
                raise BenchError(f"group {reference!r} has no row trained on seed(s) {sorted(seeds)}")
        what = f"group of {len(members)} seed(s)"
    per_seed = [scores.per_query(row) for row in members]
    missing = [row.get("submission_id", "") for row, values in zip(members, per_seed) if values is None]
    if missing:
        raise BenchError(f"the submission file of {', '.join(missing)} is missing; cannot rescore it")
    return what, per_seed
