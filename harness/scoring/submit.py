"""The one door both ``bench submit`` and ``bench run`` go through: validate, score, record."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_writer, copy_atomic
from harness.errors import BenchError, SubmissionError
from harness.fingerprint import environment, git_commit
from harness.scoring.answers import Answers, load_answers
from harness.scoring.groups import group_id
from harness.scoring.leaderboard import append_row, rank_of, read_rows
from harness.scoring.scorer import ScoreReport, score
from harness.scoring.submission import read_submission, validate_submission
from harness.workspace import Workspace, check_name, new_submission_id

CALLER_FIELDS = (
    "method", "backbone", "loss", "sampler", "indexer", "code_kind", "bytes_per_item", "train_seconds",
    "search_ms_per_query", "seed", "config_hash", "study", "trial", "env",
)  # fmt: skip


@dataclass(frozen=True)
class SubmitResult:
    row: dict[str, str]
    rank: int
    run_dir: Path
    report: ScoreReport
    missing_queries: int = 0  # queries the file left out; each scored 0


def submit(
    workspace: Workspace,
    competition: str,
    file: str | os.PathLike,
    name: str = "",
    fields: dict[str, Any] | None = None,
    submission_id: str | None = None,
    answers: Answers | None = None,
) -> SubmitResult:
    """Validate and score ``file``, keep a copy, write the run's scores and append a leaderboard row."""
    fields = dict(fields or {})
    unexpected = [key for key in fields if key not in CALLER_FIELDS]
    if unexpected:
        raise BenchError(f"submit() got unknown field(s) {', '.join(unexpected)}; allowed: {', '.join(CALLER_FIELDS)}")
    submission_id = check_name(submission_id or new_submission_id(), "submission id")
    source = Path(file)
    if not source.is_file():
        raise SubmissionError(f"submission file {source} " + ("is not a file" if source.exists() else "does not exist"))
    answers = answers or load_answers(workspace, competition)
    board = workspace.leaderboard_path(competition)
    if any(row.get("submission_id") == submission_id for row in read_rows(board)):
        raise BenchError(f"submission id {submission_id!r} is already on the {competition} leaderboard")
    checked = validate_submission(source, answers)
    if not checked.scorable:
        error = SubmissionError(
            f"{source}: {checked.problem_count} problem(s) found", checked.problems, checked.problem_count
        )
        raise error
    report = score(answers, checked.ranked)

    destination = workspace.submission_path(competition, submission_id, kept_suffix(source))
    copied = not (destination.exists() and destination.samefile(source))
    run_dir = workspace.run_dir(submission_id)
    env = fields.pop("env", None) or environment()
    written_files = [run_dir / "per_query.csv", run_dir / "scores.json", run_dir / "env.json"]
    written_files += [destination] if copied else []
    # Files first, the leaderboard row last: a failure before the row is in leaves neither behind.
    try:
        if copied:
            copy_atomic(source, destination)
        write_per_query(run_dir / "per_query.csv", answers, report.per_query)
        with atomic_writer(run_dir / "scores.json") as handle:
            json.dump(
                {"submission_id": submission_id, "competition": competition, **report.to_dict()}, handle, indent=2
            )
        with atomic_writer(run_dir / "env.json") as handle:
            json.dump(env, handle, indent=2)
        row = _row(fields, submission_id, name, report, answers, destination, workspace)
        row["env"] = json.dumps(env, sort_keys=True)
        written = append_row(board, row)
    except BaseException:
        if not _on_board(board, submission_id):
            for path in written_files:
                path.unlink(missing_ok=True)
            try:
                run_dir.rmdir()  # only if empty: a pipeline's run folder holds more and stays
            except OSError:
                pass
        raise
    return SubmitResult(written, rank_of(read_rows(board), submission_id), run_dir, report, checked.missing)


def kept_suffix(source: Path) -> str:
    """The kept copy is read the way the source was: Parquet stays Parquet, anything else is CSV."""
    return ".parquet" if source.suffix.lower() == ".parquet" else ".csv"


def _on_board(board: Path, submission_id: str) -> bool:
    try:
        return any(row.get("submission_id") == submission_id for row in read_rows(board))
    except Exception:  # an unreadable board cannot hold the row
        return False


def _row(fields, submission_id, name, report, answers, destination, workspace) -> dict[str, Any]:
    return {
        **fields,
        "submission_id": submission_id,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "name": name,
        "metric": report.metric_label,
        "public": report.public,
        "public_low": report.public_ci[0],
        "public_high": report.public_ci[1],
        "private": report.private,
        "private_low": report.private_ci[0],
        "private_high": report.private_ci[1],
        "manifest_sha256": answers.manifest_sha256,
        "git_commit": git_commit(),
        "submission_path": _relative(destination, workspace.root),
        "group": group_id(str(fields.get("config_hash") or ""), git_commit()),
        "metrics": json.dumps(report.panel, sort_keys=True),
    }


def write_per_query(path: Path, answers: Answers, per_query: np.ndarray) -> None:
    with atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["query_id", "public", "score"])
        for query_id, public, value in zip(answers.query_ids, answers.public, per_query):
            writer.writerow([query_id, int(bool(public)), f"{value:.6g}"])


def read_per_query(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(query ids, public mask, scores) from a run's per_query.csv."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ids = [r["query_id"] for r in rows]
    return ids, np.array([r["public"] == "1" for r in rows], dtype=bool), np.array([float(r["score"]) for r in rows])


def per_query_for(workspace: Workspace, competition: str, reference: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Per-query scores of a submission id (its run folder) or of a submission file (scored now)."""
    path = Path(reference)
    if path.is_file():
        answers = load_answers(workspace, competition)
        report = score(answers, read_submission(path, answers))
        return [str(q) for q in answers.query_ids], np.asarray(answers.public, dtype=bool), report.per_query
    stored = workspace.root / "runs" / check_name(reference, "submission id") / "per_query.csv"
    if stored.is_file():
        return read_per_query(stored)
    for suffix in (".csv", ".parquet"):
        kept = workspace.root / "submissions" / competition / f"{reference}{suffix}"
        if kept.is_file():
            return per_query_for(workspace, competition, str(kept))
    raise BenchError(f"no submission {reference!r}: neither a file nor a scored submission id of {competition}")


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)
