"""``bench reproduce``: rerun a leaderboard row's config and seed here and say how close it came.

Verdicts: ``identical`` (the new submission file is byte-identical to the kept one), else the words
``bench compare RERUN GROUP`` would say about the same numbers: the paired bootstrap of the rerun
minus the row's seed group on the same public queries (seeds resampled for the group, queries
jointly), so "no detectable difference" (``same``), or one side is better (``different``). The two
commands cannot disagree: they call the same statistics with the same bootstrap seed. Under the
portable pin (``train.deterministic``, harness.train.isa) a row reruns identically on any x86 machine with
AVX2; the fingerprint fields that differ name what else changed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig, resolve_run_config
from harness.data.competition import prepare_answers
from harness.errors import ConfigError, LeaderboardError, WorkspaceError
from harness.fingerprint import differences
from harness.pipeline import RunHooks, RunRequest, rerun_submission
from harness.scoring.comparison import compare
from harness.scoring.groups import Scores, find_group, row_env, row_group, summarise_group
from harness.scoring.leaderboard import read_rows
from harness.scoring.statistics import clip_interval, verdict
from harness.workspace import Workspace

if TYPE_CHECKING:
    from rich.progress import Progress

SPREAD_SDS = 2.0
RERUN, RECORDED = "the rerun", "the recorded group"


@dataclass
class Reproduction:
    submission_id: str
    competition: str
    verdict: str  # identical | same | different
    recorded: float
    rerun: float
    spread: tuple[float, float]  # where another seed lands: group mean ± 2 sd, clipped to the metric's range
    spread_source: str
    differing: list[str] = field(default_factory=list)
    difference: float = 0.0  # rerun minus the group's mean, on the same queries
    interval: tuple[float, float] = (0.0, 0.0)  # its 95% paired bootstrap interval
    share: float = 0.0  # share of resamples where the rerun beats the group
    words: str = ""  # compare's verdict about the same numbers
    group: str = ""
    kept: Path | None = None

    @property
    def ok(self) -> bool:
        return self.verdict in ("identical", "same")


def find_row(
    workspace: Workspace, submission_id: str, competition: str | None = None
) -> tuple[str, dict[str, Any], list]:
    """(competition, row, all rows of its board) of a submission id, searching every board if needed."""

    boards = [workspace.leaderboard_path(competition)] if competition else sorted(workspace.leaderboards.glob("*.csv"))
    for board in boards:
        rows = read_rows(board)
        for row in rows:
            if row.get("submission_id") == submission_id:
                return board.stem, row, rows
    raise LeaderboardError(f"submission {submission_id!r} is on no leaderboard in {workspace.root}")


def recorded_config(workspace: Workspace, row: dict[str, Any], competition: str) -> RunConfig:
    """The resolved config of a row: its run folder's config.json, else the method's defaults with its
    seed, accepted only when they hash to the row's config hash."""
    method, seed = row.get("method", ""), row.get("seed", "")
    if not method or seed in ("", None):
        raise LeaderboardError(f"row {row.get('submission_id')!r} was not made by `bench run` (no method or seed)")
    if not str(seed).strip().lstrip("-").isdigit():
        raise LeaderboardError(
            f"row {row.get('submission_id')!r} has seed {seed!r}, not an integer: it cannot be rerun"
        )
    stored = workspace.run_dir(row["submission_id"]) / "config.json"
    if stored.is_file():
        recorded = json.loads(stored.read_text(encoding="utf-8"))["config"]
        cfg = resolve_run_config(method, competition=competition, sets=recorded, seed=int(seed))
    else:
        cfg = resolve_run_config(method, competition=competition, seed=int(seed))
    if cfg.hash != row.get("config_hash"):
        raise ConfigError(
            f"cannot rebuild the config of {row['submission_id']}: {stored} is missing and the defaults of "
            f"{method!r} hash to {cfg.hash}, not the row's {row.get('config_hash')}"
        )
    return cfg


def reproduce(
    workspace: Workspace,
    submission_id: str,
    competition: str | None = None,
    progress: Progress | None = None,
    keep: Path | None = None,
) -> Reproduction:
    """Rerun a row; ``keep`` copies the rerun's submission file there (for ``bench compare``)."""
    competition, row, rows = find_row(workspace, submission_id, competition)
    prepare_answers(workspace, competition)  # a write path: it trains; the answers are read after
    cfg = recorded_config(workspace, row, competition)
    scores = Scores.open(workspace, competition)
    kept = scores.submission_file(row)
    if not kept.is_file():
        raise WorkspaceError(f"the submission file of {submission_id} ({kept}) is missing")
    group = row_group(row)
    with tempfile.TemporaryDirectory() as folder:
        path, env = rerun_submission(
            workspace, RunRequest(cfg), Path(folder) / f"rerun{kept.suffix}", RunHooks(progress=progress)
        )
        identical = path.read_bytes() == kept.read_bytes()
        comparison = compare(workspace, competition, str(path), group)  # exactly `bench compare RERUN GROUP`
        if keep is not None:
            keep.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, keep)
    summary = summarise_group(find_group(rows, group), scores)
    if summary.sd is not None:
        spread = clip_interval(summary.mean - SPREAD_SDS * summary.sd, summary.mean + SPREAD_SDS * summary.sd)
        source = f"group mean ± {SPREAD_SDS:g} sd over {summary.n_seeds} seeds"
    else:
        spread, source = clip_interval(*scores.interval(row)), "the row's 95% interval (a group of one seed)"
    interval = (comparison.low, comparison.high)
    words = verdict(*interval, a=RERUN, b=RECORDED)
    outcome = "identical" if identical else "same" if interval[0] <= 0 <= interval[1] else "different"
    recorded_env = row_env(row) or {}
    return Reproduction(
        submission_id, competition, outcome, scores.value(row), comparison.a_mean, spread, source,
        differences(recorded_env, env) if recorded_env else ["the row records no environment"],
        comparison.difference, interval, comparison.a_wins, words, group, keep,
    )  # fmt: skip
