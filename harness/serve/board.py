"""What the server shows and writes, through the same functions the command line uses.

The one adapter between ``bench serve`` and ``harness.scoring``: leaderboard rows (read with
``read_rows``, ranked with ``ranked``), the competition's rules (daily limit, final selection,
deadline) and uploads (scored by ``harness.scoring.submit.submit``). Everything a response may
show passes through :func:`public_view`, which drops private scores unless the viewer may see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness.data.competition import competition_names, competition_spec
from harness.data.manifest import competition_folder, read_info
from harness.data.spec import CompetitionSpec
from harness.errors import BenchError, CompetitionError, QuotaError, SubmissionError
from harness.scoring.groups import Scores, ranked_groups, row_group
from harness.scoring.leaderboard import ranked, read_rows
from harness.scoring.statistics import rank_bands
from harness.scoring.submit import SubmitResult, submit_isolated
from harness.scoring.verify import sha256_file
from harness.serve import ladder, rules
from harness.serve.tokens import Participant, serve_dir
from harness.workspace import Workspace, new_submission_id

PRIVATE_COLUMNS = ("private", "private_low", "private_high")
HIDDEN_COLUMNS = ("submission_path",)  # a host path tells a participant nothing they need
SCORE_COLUMNS = ("public", "public_low", "public_high", *PRIVATE_COLUMNS, "search_ms_per_query", "train_seconds")
JSON_COLUMNS = ("env",)  # cells holding a JSON object (the environment fingerprint)
PROBLEM = "_problem"  # read_rows marks an invalid row with its reason here
UPLOAD_SUFFIXES = (".csv", ".parquet")
NO_SCORE_FIGURES = ("training.png", "history.png")  # the run's own training: no query in them
NO_LABEL_FIGURES = (*NO_SCORE_FIGURES, "curves.png")  # means over the public queries: no label, no relevance
log = logging.getLogger("bench.serve")


def competitions(workspace: Workspace) -> list[str]:

    return competition_names(workspace)


def known_competition(workspace: Workspace, name: str) -> CompetitionSpec:
    """The spec of a competition the workspace knows; a name from a request is looked up, never used as a path."""

    if name not in competitions(workspace):
        raise CompetitionError(f"unknown competition {name!r}")
    return competition_spec(workspace, name)


def competition_info(workspace: Workspace, spec: CompetitionSpec) -> dict[str, Any]:
    """Public facts of a competition: definition, sizes (once its manifest exists) and rules."""

    info = read_info(competition_folder(workspace, spec.name)) or {}
    return {
        "name": spec.name,
        "description": spec.description,
        "dataset": spec.dataset,
        "metric": spec.metric_label,
        "k": spec.k,
        "public_fraction": spec.public_fraction,
        "sizes": info.get("sizes"),
        "rules": rules.Rules.of(spec).to_dict(),
    }


def upload_suffixes() -> tuple[str, ...]:
    """The submission formats harness.scoring reads: CSV, and Parquet for large k."""
    return UPLOAD_SUFFIXES


def rows(workspace: Workspace, competition: str) -> list[dict[str, str]]:

    return read_rows(workspace.leaderboard_path(competition))


def quota(workspace: Workspace, spec: CompetitionSpec, participant: str) -> dict[str, Any]:
    """Today's uploads against the daily limit: scored rows and uploads refused as invalid count alike."""
    limit = spec.daily_submissions
    refused = rules.refused_today(workspace, spec.name, participant)
    used = rules.used_today(rows(workspace, spec.name), participant) + refused
    return {
        "used_today": used,
        "refused_today": refused,
        "daily_limit": limit or None,
        "remaining_today": max(0, limit - used) if limit else None,
    }


def leaderboard(
    workspace: Workspace, spec: CompetitionSpec, *, private: bool, participants: set[str]
) -> list[dict[str, Any]]:
    """Ranked rows as shown: public board (all rows; under the Ladder, released scores only), or
    private board (the submissions that count only).

    Each row carries ``final`` (its owner marked it final) and ``counts`` (it counts for the private
    board: marked, or among the owner's best when they marked none, or a host's run).
    """

    board = rows(workspace, spec.name)
    counted = rules.final_ids(workspace, spec, board, participants)
    marked = {s for ids in rules.read_finals(workspace, spec.name).values() for s in ids}
    if private:
        board = [row for row in board if row.get("submission_id") in counted]
    elif spec.public_board == "ladder":
        board = ladder.apply(board, PROBLEM)
    out = []
    for row in ranked(board, private):
        sid = row.get("submission_id")
        out.append({**row, "final": sid in marked, "counts": sid in counted, "metrics": panel(row)})
    add_bands(out, "private" if private else "public")
    return out


def best_per_participant(ranked_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Kaggle's default view: each participant's best ranked row (rows without a name all stay), ranked
    again 1, 2, 3... among themselves; invalid rows stay, unranked, so a broken row is never hidden."""
    seen: set[str] = set()
    out = []
    for row in ranked_rows:
        owner = row.get("name") or ""
        if row.get("rank") is None:
            out.append(row)
        elif not (owner and owner in seen):
            seen.add(owner)
            out.append({**row, "rank": sum(1 for r in out if r.get("rank") is not None) + 1})
    return out


def add_bands(ranked_rows: list[dict[str, Any]], column: str) -> None:
    """Give each ranked row its seed ``group`` and its rank ``band`` under ``column``'s 95% intervals.

    Rows whose intervals overlap the band leader's share its band (harness.scoring.statistics).
    """

    valid = [row for row in ranked_rows if row.get("rank") is not None]
    entries = [
        (number(row.get(column)) or -math.inf, number(row.get(f"{column}_low")), number(row.get(f"{column}_high")))
        for row in valid
    ]
    for row, band in zip(valid, rank_bands(entries)):
        row["band"] = band
    for row in ranked_rows:
        row["group"] = row_group(row)


def group_board(workspace: Workspace, spec: CompetitionSpec) -> list[dict[str, Any]]:
    """One entry per seed group, best mean public score first (two-level bootstrap intervals, bands)."""

    valid = [row for row in rows(workspace, spec.name) if not row.get(PROBLEM)]
    return ranked_groups(valid, Scores.open(workspace, spec.name)) if valid else []


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

    def value(row: dict[str, Any]) -> tuple[int, float | str]:
        cell = row.get("metrics", {}).get(key) if key not in row else row.get(key)
        found = number(cell)
        return (0, found) if found is not None else (1, str(cell or ""))

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
        mine_only = key in ("final", "counts") and row.get("name") != viewer
        if not see_private and (key in ("public_rank", "shake") or mine_only):
            continue
        if key in JSON_COLUMNS and isinstance(value, str):
            value = _json_object(value)
        out[key.lstrip("_")] = number(value) if key in SCORE_COLUMNS else value  # _line, _problem: line, problem
    return out


def _json_object(text: str) -> dict[str, Any] | str:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def mark_final(workspace: Workspace, spec: CompetitionSpec, who: Participant, submission_id: str, final: bool) -> list:
    """Mark (or unmark) one of ``who``'s submissions as final; returns their marked submissions."""
    return rules.mark_final(workspace, spec, rows(workspace, spec.name), who, submission_id, final)


def accept_upload(
    workspace: Workspace, spec: CompetitionSpec, who: Participant, file: Path, participants: set[str]
) -> dict[str, Any]:
    """Score an uploaded file as ``who``'s submission, within today's limit; returns what the response shows.

    A lock per participant and competition makes "count today's uploads, then submit" one step, so
    parallel uploads can never exceed the limit; different participants still score in parallel.
    An upload refused as invalid uses one of today's submissions too: validating it cost the host as
    much as scoring, so a flood of invalid files stops at the daily limit like valid ones.

    An upload is identified by its participant and the SHA-256 of its bytes. The server cannot make
    "row appended" and "response delivered" one step (a server killed between them records the row
    and answers nothing), so bytes ``who`` already has a valid row for are not scored again: the
    answer is that row, marked ``recorded_earlier``, and today's count is unchanged. Identical bytes
    score identically, so a deliberate resubmission learns the same. The answer shows the public
    board's view of the row (under the Ladder: the released score).
    """
    digest = sha256_file(file)
    with FileLock(str(_participant_lock(workspace, spec, who)), timeout=120):
        earlier = recorded_upload(rows(workspace, spec.name), who.name, digest)
        if earlier is None:
            result = _submit_within_limit(workspace, spec, who, file)
    if earlier is not None:
        if not figures(workspace, spec, earlier["submission_id"], reveal=True):  # a server killed before drawing them
            write_figures(workspace, spec.name, earlier["submission_id"])
        answer = upload_answer(workspace, spec, who, earlier["submission_id"], participants)
        return {**answer, "recorded_earlier": True, "note": earlier_note(earlier), "missing_queries": None}
    write_figures(workspace, spec.name, result.row["submission_id"])
    answer = upload_answer(workspace, spec, who, result.row["submission_id"], participants)
    return {**answer, "recorded_earlier": False, "note": "", "missing_queries": result.missing_queries}


def recorded_upload(board: list[dict[str, str]], participant: str, digest: str) -> dict[str, str] | None:
    """``participant``'s latest valid row whose kept file has SHA-256 ``digest``, if any."""
    mine = [
        row
        for row in rules.owned_rows(board, participant)
        if row.get("submission_sha256") == digest and not row.get(PROBLEM) and row.get("submission_id")
    ]
    return mine[-1] if mine else None


def earlier_note(row: dict[str, str]) -> str:
    """The line that tells a participant their upload is a row recorded before (a retry, or the same file)."""
    return (
        f"This file was recorded earlier, at {row.get('time', '?')}, as submission {row.get('submission_id')}; "
        "the same bytes score the same, so it was not scored again and today's count is unchanged."
    )


def upload_answer(
    workspace: Workspace, spec: CompetitionSpec, who: Participant, submission_id: str, participants: set[str]
) -> dict[str, Any]:
    """What an upload's response shows of its row: rank and band on the public board, the row as
    ``who`` sees it, whether it is held back by the Ladder or late, and today's quota."""
    board = leaderboard(workspace, spec, private=False, participants=participants)
    shown = next(r for r in board if r.get("submission_id") == submission_id)
    return {
        "submission_id": submission_id,
        "rank": shown.get("rank"),
        "band": shown.get("band"),
        "held": bool(shown.get(ladder.HELD)),
        "late": rules.late_note(spec, shown.get("time", "")),
        "row": public_view(shown, False, who.name),
        "quota": quota(workspace, spec, who.name),
    }


def _participant_lock(workspace: Workspace, spec: CompetitionSpec, who: Participant) -> Path:
    key = hashlib.sha256(f"{spec.name}\n{who.name}".encode()).hexdigest()[:32]
    lock = serve_dir(workspace) / "locks" / f"{key}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    return lock


def _submit_within_limit(workspace: Workspace, spec: CompetitionSpec, who: Participant, file: Path) -> SubmitResult:
    """Under ``who``'s lock: refuse when closed or over today's limit, else score and record ``file``."""
    rules.check_open(spec)
    if spec.daily_submissions:
        used = quota(workspace, spec, who.name)
        if used["used_today"] >= spec.daily_submissions:
            invalid = f" ({used['refused_today']} refused as invalid)" if used["refused_today"] else ""
            raise QuotaError(
                f"{who.name} has used all {spec.daily_submissions} submissions for today on {spec.name}"
                f"{invalid}; the count resets at 00:00 UTC"
            )
    try:
        return submit_isolated(workspace, spec.name, file, name=who.name, submission_id=new_submission_id(who.name))
    except SubmissionError:
        rules.record_refused(workspace, spec.name, who.name)  # validating it cost as much as scoring
        raise


def write_figures(workspace: Workspace, competition: str, submission_id: str) -> str:
    """The run report's figures, as ``bench submit`` writes them (public queries only, no images).

    Returns "" or a note saying there are none (the reason goes to the host's log: it may name host
    paths); a report that fails never fails the upload.
    """
    from harness.report import write_run_report

    try:
        write_run_report(workspace, competition, submission_id, private=False, images=False)
    except BenchError as exc:
        log.warning("no figures for %s: %s", submission_id, exc)
        return "no figures could be drawn for this submission (the host's log says why)"
    return ""


def figures(workspace: Workspace, spec: CompetitionSpec, submission_id: str, *, reveal: bool) -> dict[str, Path]:
    """The report's PNGs a viewer may see, by file name.

    ``reveal`` (the host, or anyone after the deadline) shows them all. Before the deadline a
    participant sees only figures that hold no query's label or relevance (no neighbour grid, no
    per-class AP), and under the Ladder none that shows a score.
    """
    folder = workspace.run_dir(submission_id) / "report"
    found = {p.name: p for p in folder.glob("*.png") if p.is_file()} if folder.is_dir() else {}
    if reveal:
        return found
    allowed = NO_SCORE_FIGURES if spec.public_board == "ladder" else NO_LABEL_FIGURES
    return {name: path for name, path in found.items() if name in allowed}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number(value: object) -> float | None:
    """A finite number from a cell (a number or its text), else None."""
    if _is_number(value):
        return value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
