"""Seed groups and per-metric views of a leaderboard.

Rows with the same competition (one board per competition), config hash (the seed is not part of
it) and code commit are one method trained on several seeds: a group. Its id is
``<config_hash>-<commit>``. A row without a config hash (a file given to ``bench submit``) is a
group of its own, named by its submission id, unless it declared one (``bench submit --seed N --group
NAME``): then the files declared with that name are one group, one row per seed.

Every number here is recomputed from the kept submission files and the answers, so a fresh clone
with ``submissions/`` gets the same table as the machine that trained.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import BenchError, ConfigError, LeaderboardError
from harness.metrics import MetricRef, parse_metric, per_query_scores
from harness.scoring.answers import Answers, load_answers
from harness.scoring.budget import group_budget
from harness.scoring.scorer import bootstrap_ci
from harness.scoring.statistics import SeedSummary, rank_bands, summarise_seeds
from harness.scoring.submission import read_submission
from harness.workspace import Workspace, check_name


def group_id(config_hash: str, git_commit: str) -> str:
    """The group a run belongs to on its competition's board ("" without a config hash)."""
    return f"{config_hash}-{git_commit or 'nogit'}" if config_hash else ""


_MADE_BY_BENCH = re.compile(r"^[0-9a-f]{16}-([0-9a-f]+|nogit)$")  # group_id's shape


def check_declared_group(rows: list[dict[str, Any]], name: str, seed: int | str | None) -> str:
    """``name`` if a submitted file may join or start that group on a board of ``rows``; raises otherwise.

    A declared group never mixes with runs bench made (their ids have group_id's shape) nor with a row
    that did not declare it (a lone submission's group is its id), and holds each seed once.
    """
    check_name(name, "group name")
    if _MADE_BY_BENCH.match(name):
        raise LeaderboardError(f"group name {name!r} has the shape of a group bench makes (<config hash>-<commit>)")
    if seed in (None, ""):
        raise LeaderboardError(f"group {name!r}: a group's files each need their seed (--seed N)")
    for row in rows:
        if row_group(row) != name:
            continue
        if row.get("group") != name or row.get("config_hash"):
            raise LeaderboardError(
                f"group name {name!r} is taken by submission {row.get('submission_id', '')}, which did not declare it"
            )
        if str(row.get("seed", "")) == str(seed):
            raise LeaderboardError(f"group {name!r} already has seed {seed} (submission {row.get('submission_id')})")
    return name


def row_group(row: dict[str, Any]) -> str:
    """A row's group: its ``group`` cell, else derived from its config hash and commit, else its id."""
    return (
        row.get("group")
        or group_id(row.get("config_hash", ""), row.get("git_commit", ""))
        or row.get("submission_id", "")
    )


def score_value(text: str | float | None) -> float:
    """A stored score as a float; missing, malformed or non-finite values rank last (-inf)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return -np.inf
    return value if np.isfinite(value) else -np.inf


def _bound(text: str | float | None) -> float | None:
    value = score_value(text)
    return None if value == -np.inf else value


def banded(rows: list[dict[str, Any]], private: bool = False) -> list[dict[str, Any]]:
    """Ranked rows (``leaderboard.ranked``) with their rank band and group: rows whose interval reaches the
    band leader's share its band; invalid rows are never banded."""
    column = "private" if private else "public"
    valid = [r for r in rows if r["rank"] is not None]
    entries = [
        (score_value(r.get(column)), _bound(r.get(f"{column}_low")), _bound(r.get(f"{column}_high"))) for r in valid
    ]
    bands: list[int | None] = list(rank_bands(entries))
    bands += [None] * (len(rows) - len(valid))
    return [{**row, "band": band, "group": row_group(row)} for row, band in zip(rows, bands)]


def row_metrics(row: dict[str, Any]) -> dict[str, float | None]:
    """The public metric panel stored on a row (``{}`` for rows from before the panel)."""
    return _json_cell(row.get("metrics"))


def row_env(row: dict[str, Any]) -> dict[str, Any]:
    """The environment fingerprint stored on a row (``{}`` for rows from before it)."""
    return _json_cell(row.get("env"))


def _json_cell(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Scores:
    """Per-query scores of kept submissions under one metric, computed once per row."""

    workspace: Workspace
    competition: str
    answers: Answers
    metric: MetricRef

    def __post_init__(self) -> None:
        self._cache: dict[str, np.ndarray | None] = {}

    @classmethod
    def open(cls, workspace: Workspace, competition: str, metric: str | None = None) -> Scores:

        answers = load_answers(workspace, competition)
        ref = parse_metric(metric or answers.metric, answers.k)
        if ref.k > answers.k:
            raise ConfigError(f"metric {ref.label}: submissions to {competition} list at most {answers.k} neighbours")
        return cls(workspace, competition, answers, ref)

    @property
    def label(self) -> str:
        return self.metric.label

    def submission_file(self, row: dict[str, Any]) -> Path:
        stored = row.get("submission_path") or ""
        path = self.workspace.root / stored if stored else None
        if path is None or not path.is_file():
            path = self.workspace.submission_path(self.competition, row.get("submission_id", ""))
        return path

    def per_query(self, row: dict[str, Any]) -> np.ndarray | None:
        """(Q,) scores of every query, or None when the row's submission file is gone or unreadable."""
        key = row.get("submission_id", "")
        if key not in self._cache:
            self._cache[key] = self._score(row)
        return self._cache[key]

    def public(self, row: dict[str, Any]) -> np.ndarray | None:
        scores = self.per_query(row)
        return None if scores is None else scores[np.asarray(self.answers.public, dtype=bool)]

    def value(self, row: dict[str, Any]) -> float:
        """The row's public score under the metric: stored when it is stored, else recomputed."""
        if self.label == row.get("metric"):
            return score_value(row.get("public"))
        stored = row_metrics(row).get(self.label)
        if stored is not None:
            return float(stored)
        scores = self.public(row)
        return float(scores.mean()) if scores is not None and len(scores) else -np.inf

    def interval(self, row: dict[str, Any]) -> tuple[float | None, float | None]:
        if self.label == row.get("metric") and row.get("public_low") not in (None, ""):
            return score_value(row.get("public_low")), score_value(row.get("public_high"))
        scores = self.public(row)
        if scores is None:
            return None, None
        return bootstrap_ci(scores, np.random.default_rng(0))

    def score_file(self, path: Path) -> np.ndarray:
        """(Q,) scores of a submission file (raises SubmissionError for an unreadable one)."""

        ranked = read_submission(path, self.answers)
        return per_query_scores(
            ranked, self.answers.query_labels, self.answers.gallery_labels, self.metric.name, self.metric.k
        )

    def _score(self, row: dict[str, Any]) -> np.ndarray | None:
        path = self.submission_file(row)
        if not path.is_file():
            return None
        try:
            return self.score_file(path)
        except BenchError:
            return None


def ranked_rows(rows: list[dict[str, Any]], scores: Scores) -> list[dict[str, Any]]:
    """Rows best first under ``scores``' metric, each with ``score``, ``low``, ``high``, ``band``, ``group``."""
    order = sorted(range(len(rows)), key=lambda i: (-scores.value(rows[i]), rows[i].get("time") or "", i))
    out = []
    for place, index in enumerate(order, start=1):
        low, high = scores.interval(rows[index])
        out.append(
            {**rows[index], "rank": place, "score": scores.value(rows[index]), "low": low, "high": high,
             "group": row_group(rows[index])}
        )  # fmt: skip
    for row, band in zip(out, rank_bands([(r["score"], r["low"], r["high"]) for r in out])):
        row["band"] = band
    return out


def group_rows(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by group, groups in the order of their first row."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row_group(row), []).append(row)
    return groups


def summarise_group(members: list[dict[str, Any]], scores: Scores) -> SeedSummary:
    per_seed = [scores.public(row) for row in members]
    known = None if any(values is None for values in per_seed) else per_seed
    return summarise_seeds([scores.value(row) for row in members], known)


def ranked_groups(rows: list[dict[str, Any]], scores: Scores) -> list[dict[str, Any]]:
    """One entry per group, best mean first: group, method, n_seeds, mean, sd, low, high, band, rank."""
    entries = []
    for name, members in group_rows(rows).items():
        summary = summarise_group(members, scores)
        entries.append(
            {
                "group": name,
                "method": members[0].get("method", "") or members[0].get("name", ""),
                "n_seeds": summary.n_seeds,
                "mean": summary.mean,
                "sd": summary.sd,
                "low": summary.low,
                "high": summary.high,
                "seeds": ",".join(str(row.get("seed", "")) for row in members),
                "submissions": [row.get("submission_id", "") for row in members],
                "one_seed": summary.n_seeds == 1,  # its interval holds no seed spread: shown marked
                "differs": members[0].get("differs", ""),  # one config hash: the same for every member
                "budget": group_budget([row.get("budget") for row in members]),
            }
        )
    entries.sort(key=lambda e: -e["mean"])
    bands = rank_bands([(e["mean"], e["low"], e["high"]) for e in entries])
    return [{"rank": place, **e, "band": band} for place, (e, band) in enumerate(zip(entries, bands), start=1)]


def find_group(rows: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    members = group_rows(rows).get(name)
    if not members:
        raise LeaderboardError(f"no group {name!r} on this leaderboard; `bench leaderboard --by group` lists them")
    return members
