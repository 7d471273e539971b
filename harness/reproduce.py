"""``bench reproduce``: rerun a leaderboard row's config and seed here and say how close it came.

Verdicts: ``identical`` (the new submission file is byte-identical to the kept one), ``within``
(its public score lies within the group's seed spread: mean ± 2 sd over the group's seeds, or the
row's own 95% interval for a group of one), or ``outside``. The fingerprint fields that differ
between the row's machine and this one explain most differences: runs repeat bit for bit on one
machine, not across CPUs, thread counts or library versions.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import BenchError
from harness.fingerprint import differences

SPREAD_SDS = 2.0


@dataclass
class Reproduction:
    submission_id: str
    competition: str
    verdict: str  # identical | within | outside
    recorded: float
    rerun: float
    spread: tuple[float, float]
    spread_source: str
    differing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict in ("identical", "within")


def find_row(workspace, submission_id: str, competition: str | None = None) -> tuple[str, dict[str, Any], list]:
    """(competition, row, all rows of its board) of a submission id, searching every board if needed."""
    from harness.scoring.leaderboard import read_rows

    boards = [workspace.leaderboard_path(competition)] if competition else sorted(workspace.leaderboards.glob("*.csv"))
    for board in boards:
        rows = read_rows(board)
        for row in rows:
            if row.get("submission_id") == submission_id:
                return board.stem, row, rows
    raise BenchError(f"submission {submission_id!r} is on no leaderboard in {workspace.root}")


def recorded_config(workspace, row: dict[str, Any], competition: str) -> tuple[str, dict[str, Any]]:
    """(method, resolved config) of a row: its run folder's config.json, else the method's defaults with its
    seed, accepted only when they hash to the row's config hash."""
    from harness.config import config_hash
    from harness.pipeline import resolve_run_config

    method, seed = row.get("method", ""), row.get("seed", "")
    if not method or seed in ("", None):
        raise BenchError(f"row {row.get('submission_id')!r} was not made by `bench run` (no method or seed)")
    if not str(seed).strip().lstrip("-").isdigit():
        raise BenchError(f"row {row.get('submission_id')!r} has seed {seed!r}, not an integer: it cannot be rerun")
    stored = workspace.run_dir(row["submission_id"]) / "config.json"
    if stored.is_file():
        cfg = json.loads(stored.read_text(encoding="utf-8"))["config"]
        cfg = resolve_run_config(method, competition, None, cfg, int(seed))
    else:
        cfg = resolve_run_config(method, competition, None, {}, int(seed))
    if config_hash(cfg) != row.get("config_hash"):
        raise BenchError(
            f"cannot rebuild the config of {row['submission_id']}: {stored} is missing and the defaults of "
            f"{method!r} hash to {config_hash(cfg)}, not the row's {row.get('config_hash')}"
        )
    return method, cfg


def reproduce(workspace, submission_id: str, competition: str | None = None, progress: Any = None) -> Reproduction:
    from harness.pipeline import rerun_submission
    from harness.scoring.groups import Scores, find_group, row_env, row_group, summarise_group

    competition, row, rows = find_row(workspace, submission_id, competition)
    method, cfg = recorded_config(workspace, row, competition)
    scores = Scores.open(workspace, competition)
    kept = scores.submission_file(row)
    if not kept.is_file():
        raise BenchError(f"the submission file of {submission_id} ({kept}) is missing")
    with tempfile.TemporaryDirectory() as folder:
        path, env = rerun_submission(workspace, method, cfg, Path(folder) / f"rerun{kept.suffix}", progress)
        identical = path.read_bytes() == kept.read_bytes()
        public = scores.score_file(path)[scores.answers.public.astype(bool)]
    rerun = float(public.mean()) if len(public) else 0.0
    summary = summarise_group(find_group(rows, row_group(row)), scores)
    if summary.sd is not None:
        spread = (summary.mean - SPREAD_SDS * summary.sd, summary.mean + SPREAD_SDS * summary.sd)
        source = f"group mean ± {SPREAD_SDS:g} sd over {summary.n_seeds} seeds"
    else:
        low, high = scores.interval(row)
        spread, source = (float(low), float(high)), "the row's 95% interval (a group of one seed)"
    verdict = "identical" if identical else "within" if spread[0] <= rerun <= spread[1] else "outside"
    recorded_env = row_env(row) or {}
    return Reproduction(
        submission_id, competition, verdict, scores.value(row), rerun, spread, source,
        differences(recorded_env, env) if recorded_env else ["the row records no environment"],
    )  # fmt: skip
