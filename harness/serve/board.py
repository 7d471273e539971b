"""What the server shows and writes, through the same functions the command line uses.

The one adapter between ``bench serve`` and ``harness.scoring``: leaderboard rows (read with
``read_rows``, ranked with ``ranked``), the competition's rules (daily limit, final selection,
deadline) and uploads (scored by ``harness.scoring.submit.submit``). Everything a response may
show passes through :func:`public_view`, which drops private scores unless the viewer may see them.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.data.spec import CompetitionSpec
from harness.errors import BenchError, CompetitionError, SubmissionError
from harness.serve.tokens import Participant, serve_dir
from harness.workspace import Workspace, new_submission_id

PRIVATE_COLUMNS = ("private", "private_low", "private_high")
HIDDEN_COLUMNS = ("submission_path",)  # a host path tells a participant nothing they need
SCORE_COLUMNS = ("public", "public_low", "public_high", *PRIVATE_COLUMNS, "search_ms_per_query", "train_seconds")
UPLOAD_SUFFIXES = (".csv",)  # what harness.scoring.submission reads today


class QuotaError(BenchError):
    """A participant has used up today's submissions."""


@dataclass(frozen=True)
class Rules:
    """A competition's serving rules, from its definition."""

    deadline: datetime | None
    daily_submissions: int
    final_submissions: int

    @classmethod
    def of(cls, spec: CompetitionSpec) -> Rules:
        return cls(spec.deadline_at(), spec.daily_submissions, spec.final_submissions)

    def after_deadline(self, now: datetime | None = None) -> bool:
        return self.deadline is not None and (now or datetime.now(UTC)) >= self.deadline

    def to_dict(self) -> dict[str, Any]:
        return {
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "daily_submissions": self.daily_submissions or None,
            "final_submissions": self.final_submissions or None,
        }


def competitions(workspace: Workspace) -> list[str]:
    from harness.data.competition import competition_names

    return competition_names(workspace)


def known_competition(workspace: Workspace, name: str) -> CompetitionSpec:
    """The spec of a competition the workspace knows; a name from a request is looked up, never used as a path."""
    from harness.data.competition import competition_spec

    if name not in competitions(workspace):
        raise CompetitionError(f"unknown competition {name!r}")
    return competition_spec(workspace, name)


def competition_info(workspace: Workspace, spec: CompetitionSpec) -> dict[str, Any]:
    """Public facts of a competition: definition, sizes (once its manifest exists) and rules."""
    from harness.data.manifest import competition_folder, read_info

    info = read_info(competition_folder(workspace, spec.name)) or {}
    return {
        "name": spec.name,
        "description": spec.description,
        "dataset": spec.dataset,
        "metric": spec.metric.replace("@k", f"@{spec.k}"),
        "k": spec.k,
        "public_fraction": spec.public_fraction,
        "sizes": info.get("sizes"),
        "rules": Rules.of(spec).to_dict(),
    }


def rows(workspace: Workspace, competition: str) -> list[dict[str, str]]:
    from harness.scoring.leaderboard import read_rows

    return read_rows(workspace.leaderboard_path(competition))


def owned_rows(board: list[dict[str, str]], participant: str) -> list[dict[str, str]]:
    """A participant's rows: those whose ``name`` is the participant's name."""
    return [row for row in board if row.get("name") == participant]


def used_today(board: list[dict[str, str]], participant: str, now: datetime | None = None) -> int:
    today = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    return sum(1 for row in owned_rows(board, participant) if _utc_day(row.get("time", "")) == today)


def quota(workspace: Workspace, spec: CompetitionSpec, participant: str) -> dict[str, Any]:
    limit = spec.daily_submissions
    used = used_today(rows(workspace, spec.name), participant)
    return {
        "used_today": used,
        "daily_limit": limit or None,
        "remaining_today": max(0, limit - used) if limit else None,
    }


def leaderboard(
    workspace: Workspace, spec: CompetitionSpec, *, private: bool, participants: set[str]
) -> list[dict[str, Any]]:
    """Ranked rows as shown: public board (all rows), or private board (the final submissions only)."""
    from harness.scoring.leaderboard import ranked

    board = rows(workspace, spec.name)
    finals = final_ids(workspace, spec, board, participants)
    shown = [row for row in board if row.get("submission_id") in finals] if private else board
    out = []
    for row in ranked(shown, private):
        row = {**row, "final": row.get("submission_id") in finals, "metrics": panel(row)}
        out.append(row)
    return out


def panel(row: dict[str, Any]) -> dict[str, float]:
    """The metric panel of a row (a JSON object in its ``metrics`` cell), {} when it has none."""
    text = row.get("metrics")
    if isinstance(text, dict):
        return text
    try:
        values = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in values.items() if _is_number(v)} if isinstance(values, dict) else {}


def sort_rows(board: list[dict[str, Any]], column: str) -> list[dict[str, Any]]:
    """Rows by ``column`` (``-column`` descending); numbers numerically, empty cells last, ties by rank.

    Sort only rows already passed through :func:`public_view`, so a hidden column cannot order them.
    """
    descending = column.startswith("-")
    key = column.lstrip("-")
    if board and not any(key in row or key in row.get("metrics", {}) for row in board):
        raise BenchError(f"cannot sort by {key!r}: no such column on this board")

    def value(row: dict[str, Any]):
        cell = row.get("metrics", {}).get(key) if key not in row else row.get(key)
        number = _number(cell)
        return (0, number) if number is not None else (1, str(cell or ""))

    present = [r for r in board if value(r)[0] == 0 or str(r.get(key, "")) != ""]
    missing = [r for r in board if r not in present]
    present.sort(key=value, reverse=descending)
    return present + missing


def public_view(row: dict[str, Any], see_private: bool, viewer: str | None = None) -> dict[str, Any]:
    """A row as a response may carry it: no private scores unless allowed, no host paths, numbers as numbers.

    Whether a submission is marked final is shown only to its owner (and to whoever sees private scores).
    """
    out = {}
    for key, value in row.items():
        if key in HIDDEN_COLUMNS or (key in PRIVATE_COLUMNS and not see_private):
            continue
        if not see_private and (key in ("public_rank", "shake") or (key == "final" and row.get("name") != viewer)):
            continue
        out[key] = _number(value) if key in SCORE_COLUMNS else value
    return out


def final_ids(workspace: Workspace, spec: CompetitionSpec, board: list[dict[str, str]], participants: set[str]) -> set:
    """Submissions that count for the private board.

    Rows of registered participants follow the rule: those they marked final, or else (as on Kaggle)
    their best ``final_submissions`` by public score. Rows of anyone else (the host's own runs) all count.
    """
    from harness.scoring.leaderboard import ranked

    limit = spec.final_submissions
    chosen = read_finals(workspace, spec.name)
    counted: set[str] = set()
    by_public = ranked(board)
    for row in by_public:
        owner = row.get("name", "")
        if owner not in participants or not limit:
            counted.add(row.get("submission_id", ""))
    if limit:
        for owner in participants:
            mine = [r.get("submission_id", "") for r in by_public if r.get("name") == owner]
            marked = [s for s in chosen.get(owner, []) if s in mine]
            counted.update(marked[:limit] if marked else mine[:limit])
    return counted


def _finals_path(workspace: Workspace, competition: str) -> Path:
    digest = hashlib.sha256(competition.encode("utf-8")).hexdigest()[:32]
    return serve_dir(workspace) / "finals" / f"{digest}.json"


def read_finals(workspace: Workspace, competition: str) -> dict[str, list[str]]:
    path = _finals_path(workspace, competition)
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        return {}
    return data.get("finals", {}) if isinstance(data, dict) else {}


def mark_final(workspace: Workspace, spec: CompetitionSpec, who: Participant, submission_id: str, final: bool) -> list:
    """Mark (or unmark) one of ``who``'s submissions as final; returns their marked submissions."""
    from filelock import FileLock

    from harness.atomic import write_atomic

    if not spec.final_submissions:
        raise BenchError(f"competition {spec.name!r} has no final-selection rule: every submission counts")
    if Rules.of(spec).after_deadline():
        raise BenchError(f"the deadline of {spec.name!r} has passed; final submissions can no longer change")
    mine = {r.get("submission_id") for r in owned_rows(rows(workspace, spec.name), who.name)}
    if submission_id not in mine:
        raise SubmissionError(f"{who.name} has no submission {submission_id!r} on {spec.name}")
    path = _finals_path(workspace, spec.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=30):
        finals = read_finals(workspace, spec.name)
        marked = [s for s in finals.get(who.name, []) if s != submission_id]
        if final:
            if len(marked) >= spec.final_submissions:
                raise BenchError(
                    f"{who.name} already marked {len(marked)} final submission(s), the most {spec.name!r} allows; "
                    "unmark one first"
                )
            marked.append(submission_id)
        finals[who.name] = marked
        write_atomic(path, json.dumps({"competition": spec.name, "finals": finals}, indent=2).encode("utf-8"))
    return marked


def accept_upload(workspace: Workspace, spec: CompetitionSpec, who: Participant, file: Path) -> dict[str, Any]:
    """Score an uploaded file as ``who``'s submission, within today's limit; returns what the response shows.

    A lock per participant and competition makes "count today's rows, then submit" one step, so
    parallel uploads can never exceed the limit; different participants still score in parallel.
    """
    from filelock import FileLock

    from harness.scoring.submit import submit

    key = hashlib.sha256(f"{spec.name}\n{who.name}".encode()).hexdigest()[:32]
    lock = serve_dir(workspace) / "locks" / f"{key}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(lock), timeout=120):
        if spec.daily_submissions:
            used = used_today(rows(workspace, spec.name), who.name)
            if used >= spec.daily_submissions:
                raise QuotaError(
                    f"{who.name} has used all {spec.daily_submissions} submissions for today on {spec.name}; "
                    "the count resets at 00:00 UTC"
                )
        result = submit(workspace, spec.name, file, name=who.name, submission_id=new_submission_id(who.name))
    write_figures(workspace, spec.name, result.row["submission_id"])
    return {
        "submission_id": result.row["submission_id"],
        "rank": result.rank,
        "missing_queries": result.missing_queries,
        "row": result.row,
        "quota": quota(workspace, spec, who.name),
    }


def write_figures(workspace: Workspace, competition: str, submission_id: str) -> str:
    """The run report's figures, as ``bench submit`` writes them (public queries only, no images).

    Returns "" or a note saying why there are none; a report that fails never fails the upload.
    """
    from harness.report import write_run_report

    try:
        write_run_report(workspace, competition, submission_id, private=False, images=False)
    except BenchError as exc:
        return f"no figures: {exc}"
    return ""


def _utc_day(stamp: str) -> str:
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return ""
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
