"""The rules of a served competition, set in its definition: deadline, daily limit, final selection.

Counting works on leaderboard rows (the record), so the command line and the server agree; only the
participants' marks of their final submissions live apart, in ``serve/finals/``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.data.spec import CompetitionSpec
from harness.errors import BenchError, ClosedError, SubmissionError
from harness.scoring.leaderboard import ranked
from harness.serve.tokens import Participant, serve_dir
from harness.workspace import Workspace


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


def owned_rows(board: list[dict[str, str]], participant: str) -> list[dict[str, str]]:
    """A participant's rows: those whose ``name`` is the participant's name."""
    return [row for row in board if row.get("name") == participant]


def used_today(board: list[dict[str, str]], participant: str, now: datetime | None = None) -> int:
    today = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    return sum(1 for row in owned_rows(board, participant) if _utc_day(row.get("time", "")) == today)


def final_ids(workspace: Workspace, spec: CompetitionSpec, board: list[dict[str, str]], participants: set[str]) -> set:
    """Submissions that count for the private board.

    Rows of registered participants follow the rule: those they marked final, or else (as on Kaggle)
    their best ``final_submissions`` by public score; a participant's row made after the deadline never
    counts. Rows of anyone else (the host's own runs) all count.
    """

    limit = spec.final_submissions
    deadline = Rules.of(spec).deadline
    chosen = read_finals(workspace, spec.name)
    counted: set[str] = set()
    by_public = [row for row in ranked(board) if row.get("rank") is not None]  # invalid rows never count
    for row in by_public:
        owner = row.get("name", "")
        if owner not in participants:
            counted.add(row.get("submission_id", ""))
    for owner in participants:
        mine = [
            r.get("submission_id", "")
            for r in by_public
            if r.get("name") == owner and (deadline is None or _time(r.get("time", "")) <= deadline)
        ]
        if not limit:
            counted.update(mine)
        else:
            marked = [s for s in chosen.get(owner, []) if s in mine]
            counted.update(marked[:limit] if marked else mine[:limit])
    return counted


def record_refused(workspace: Workspace, competition: str, participant: str, now: datetime | None = None) -> None:
    """Count an upload that was refused as invalid: it cost the server the same work as a valid one, so it
    uses one of today's submissions too (see :func:`refused_today`). One JSON line per refusal, appended."""
    path = _refused_path(workspace, competition)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"participant": participant, "time": stamp}) + "\n")


def refused_today(workspace: Workspace, competition: str, participant: str, now: datetime | None = None) -> int:
    """Invalid uploads ``participant`` made today (UTC); add to :func:`used_today` for the daily limit."""
    path = _refused_path(workspace, competition)
    today = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    count = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("participant") == participant:
            count += _utc_day(str(entry.get("time", ""))) == today
    return count


def _refused_path(workspace: Workspace, competition: str) -> Path:
    digest = hashlib.sha256(competition.encode("utf-8")).hexdigest()[:32]
    return serve_dir(workspace) / "refused" / f"{digest}.jsonl"


def check_open(spec: CompetitionSpec, now: datetime | None = None) -> None:
    """Refuse an upload once the deadline has passed: late submissions would not count, so none is taken."""
    rules = Rules.of(spec)
    if rules.after_deadline(now):
        raise ClosedError(f"{spec.name} closed at {rules.deadline.isoformat()}; it takes no more submissions")


def late_note(spec: CompetitionSpec, stamp: str) -> str:
    """ "" for a row recorded before the deadline; else why it does not count (it arrived before the
    deadline, so it was taken, but scoring ended after it)."""
    deadline = Rules.of(spec).deadline
    if deadline is None or _time(stamp) <= deadline:
        return ""
    return (
        f"this submission was received before the deadline ({deadline.isoformat()}) but finished scoring after it, "
        f"at {stamp}; it is on the public board but does not count for the private board"
    )


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


def mark_final(
    workspace: Workspace,
    spec: CompetitionSpec,
    board: list[dict[str, str]],
    who: Participant,
    submission_id: str,
    final: bool,
) -> list:
    """Mark (or unmark) one of ``who``'s submissions as final; returns their marked submissions."""
    from filelock import FileLock

    if not spec.final_submissions:
        raise BenchError(f"competition {spec.name!r} has no final-selection rule: every submission counts")
    if Rules.of(spec).after_deadline():
        raise BenchError(f"the deadline of {spec.name!r} has passed; final submissions can no longer change")
    mine = {r.get("submission_id") for r in owned_rows(board, who.name)}
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


def _time(stamp: str) -> datetime:
    """A row's time (UTC when it has no zone); the far future when it cannot be read."""
    try:
        when = datetime.fromisoformat(stamp)
    except (TypeError, ValueError):
        return datetime.max.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _utc_day(stamp: str) -> str:
    when = _time(stamp)
    return "" if when.year == datetime.max.year else when.astimezone(UTC).date().isoformat()
