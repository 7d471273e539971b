"""The one door both ``bench submit`` and ``bench run`` go through: copy, validate, score, record.

The file scored is the file kept: the submission is copied into ``submissions/<competition>/``
first, and only the copy is read: validated and scored, and hashed meanwhile on another thread.
All that happens in a staging folder (``.staging/<pid>-<id>``) before the leaderboard's lock is
taken; the lock is held only to move the files into place and append the row, so a slow or invalid
upload never makes anyone else wait. A failure removes the files it wrote and leaves the board as it
was; a process killed before it holds the lock leaves only its staging folder, which the next
submission removes.

Scoring is trusted code: in a process that has loaded plugins (``bench run``, ``bench tune``) it
runs in a fresh Python process that loads none (:mod:`harness.scoring.trusted`), so no plugin can
change a recorded score.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harness.atomic import atomic_writer, copy_atomic
from harness.data.competition import prepare_answers
from harness.errors import BenchError, LeaderboardError, SubmissionError
from harness.fingerprint import environment, git_commit
from harness.scoring.answers import Answers, load_answers
from harness.scoring.groups import check_declared_group, group_id
from harness.scoring.leaderboard import PROBLEM, append_locked, board_lock, check_rows, rank_of, read_rows
from harness.scoring.scorer import ScoreReport, score
from harness.scoring.submission import validate_submission
from harness.scoring.trusted import answer, run_trusted
from harness.scoring.verify import sha256_file, stored_submission
from harness.workspace import Workspace, check_name, display_path, new_submission_id

STAGING = ".staging"  # <workspace>/.staging/<pid>-<id>: submissions being scored, not yet on the board
CALLER_FIELDS = (
    "method", "backbone", "loss", "sampler", "indexer", "code_kind", "bytes_per_item", "train_seconds",
    "search_ms_per_query", "seed", "config_hash", "study", "trial", "env", "pooling", "differs", "budget", "group",
)  # fmt: skip


@dataclass(frozen=True)
class SubmitResult:
    row: dict[str, str]
    rank: int
    run_dir: Path
    scores: dict  # ScoreReport.to_dict() and "all", the mean over every query: no per-query values leave the scorer
    missing_queries: int = 0  # queries the file left out; each scored 0


def submit_isolated(
    workspace: Workspace,
    competition: str,
    file: str | os.PathLike,
    name: str = "",
    fields: dict[str, Any] | None = None,
    submission_id: str | None = None,
) -> SubmitResult:
    """:func:`submit` done by the trusted scorer process: for a caller that has run plugin code."""
    request = {"competition": competition, "file": str(Path(file).resolve()), "name": name}
    request.update(fields=fields or {}, submission_id=submission_id, root=str(workspace.root))
    reply = run_trusted(request)
    return SubmitResult(reply["row"], reply["rank"], Path(reply["run_dir"]), reply["scores"], reply["missing"])


def submit(
    workspace: Workspace,
    competition: str,
    file: str | os.PathLike,
    name: str = "",
    fields: dict[str, Any] | None = None,
    submission_id: str | None = None,
) -> SubmitResult:
    """Copy ``file`` into the workspace, score the copy and append its leaderboard row, in this process
    (a process that has run plugin code calls :func:`submit_isolated`)."""
    fields = dict(fields or {})
    unexpected = [key for key in fields if key not in CALLER_FIELDS]
    if unexpected:
        raise TypeError(f"submit() got unknown field(s) {', '.join(unexpected)}; allowed: {', '.join(CALLER_FIELDS)}")
    submission_id = check_name(submission_id or new_submission_id(), "submission id")
    source = Path(file)
    if not source.is_file():
        raise SubmissionError(f"submission file {source} " + ("is not a file" if source.exists() else "does not exist"))
    prepare_answers(workspace, competition)  # the write step (split or migrate), before the lock
    answers = load_answers(workspace, competition)
    board = workspace.leaderboard_path(competition)
    destination = workspace.submission_path(competition, submission_id, kept_suffix(source))
    env = fields.pop("env", None) or environment()
    _check_new(board, submission_id)
    if fields.get("group") and fields.get("config_hash"):
        raise BenchError("a run with a config hash is grouped by it; only submitted files declare a group")
    _check_declared_group(board, fields)  # before scoring, for a quick answer; again under the lock
    in_place = destination.exists() and destination.samefile(source)  # bench run wrote it there
    stage = staging_dir(workspace, submission_id)
    kept = destination if in_place else stage / destination.name
    try:  # scored in a staging folder, before the board's lock: a slow or invalid file holds up no one
        with ThreadPoolExecutor(1) as hashing:
            if not in_place:
                copy_kept(source, kept)
            digest = hashing.submit(sha256_file, kept)  # the bytes scored, hashed beside validation
            checked = validate_submission(kept, answers)
            if not checked.scorable:
                raise SubmissionError(
                    f"{source}: {checked.problem_count} problem(s) found", checked.problems, checked.problem_count
                )
            report = score(answers, checked.ranked)
            write_run_files(stage / "run", submission_id, competition, answers, report, env)
            row = _row(fields, submission_id, name, report, answers, display_path(destination, workspace.root))
            row.update(env=json.dumps(env, sort_keys=True), submission_sha256=digest.result())
        with board_lock(board):  # held only to move the staged files into place and append
            written, rows = _publish(board, row, kept, destination, stage / "run", workspace.run_dir(submission_id))
            rows = check_rows(rows, answers.metric_label, answers.manifest_sha256)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    scores = {**report.to_dict(), "all": float(report.per_query.mean()) if len(report.per_query) else 0.0}
    return SubmitResult(written, _rank(rows, submission_id), workspace.run_dir(submission_id), scores, checked.missing)


def staging_dir(workspace: Workspace, submission_id: str) -> Path:
    """A private folder for one submission being scored (``.staging/<pid>-<id>``); folders of processes
    that are gone (killed while scoring or waiting for the lock) are removed first."""
    root = workspace.root / STAGING
    for entry in root.glob("*-*") if root.is_dir() else []:
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
    folder = root / f"{os.getpid()}-{submission_id}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish(board: Path, row: dict, kept: Path, destination: Path, staged_run: Path, run_dir: Path):
    """Under the board's lock: the staged kept copy and run files into place, then the row; on failure
    the files moved are removed again. Returns the row as written and the board's rows."""
    _check_new(board, row["submission_id"])
    _check_declared_group(board, row)
    moved: list[Path] = []
    run_dir_existed = run_dir.exists()
    try:
        if kept != destination:
            if destination.exists():
                raise BenchError(f"submission id {row['submission_id']!r} already has a kept file; use a new id")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(kept, destination)  # a rename: .staging lies in the same workspace
            moved.append(destination)
        run_dir.mkdir(parents=True, exist_ok=True)
        for staged in sorted(staged_run.iterdir()):
            shutil.move(staged, run_dir / staged.name)
            moved.append(run_dir / staged.name)
        written = append_locked(board, row)
    except BaseException:
        for path in moved:
            path.unlink(missing_ok=True)
        if not run_dir_existed:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    return written, read_rows(board)


def _check_new(board: Path, submission_id: str) -> None:
    if any(existing.get("submission_id") == submission_id for existing in read_rows(board)):
        raise LeaderboardError(f"submission id {submission_id!r} is already on the {board.stem} leaderboard")


def _check_declared_group(board: Path, fields: dict) -> None:
    """A group that a submitted file declares (``bench submit --group``) may be joined: see check_declared_group."""
    if fields.get("group") and not fields.get("config_hash"):
        check_declared_group(read_rows(board), fields["group"], fields.get("seed"))


def write_run_files(
    run_dir: Path, submission_id: str, competition: str, answers: Answers, report: ScoreReport, env: dict[str, Any]
) -> None:
    """``runs/<id>/``: the public per-query scores, the scores and the environment."""
    write_public_per_query(run_dir / "per_query.csv", answers, report.per_query)
    with atomic_writer(run_dir / "scores.json") as handle:
        json.dump({"submission_id": submission_id, "competition": competition, **report.to_dict()}, handle, indent=2)
    with atomic_writer(run_dir / "env.json") as handle:
        json.dump(env, handle, indent=2)


def kept_suffix(source: Path) -> str:
    """The kept copy is read the way the source was: Parquet stays Parquet, anything else is CSV."""
    return ".parquet" if source.suffix.lower() == ".parquet" else ".csv"


def _rank(rows: list[dict], submission_id: str) -> int:
    """The new row's rank; a row that reads back invalid (a forged twin of its id appeared) is an error."""
    mine = [row for row in rows if row.get("submission_id") == submission_id]
    if mine and mine[-1].get(PROBLEM):
        raise LeaderboardError(f"submission {submission_id} was recorded, but its row is invalid: {mine[-1][PROBLEM]}")
    return rank_of(rows, submission_id)


def copy_kept(source: Path, destination: Path) -> None:
    """Copy ``source`` atomically to where it is kept (and then read, hashed and scored)."""
    try:
        copy_atomic(source, destination)
    except OSError as exc:
        raise SubmissionError(f"cannot copy {source} to {destination}: {exc.strerror or exc}") from None


def _row(
    fields: dict[str, Any], submission_id: str, name: str, report: ScoreReport, answers: Answers, submission_path: str
) -> dict[str, Any]:
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
        "submission_path": submission_path,
        "group": fields.get("group") or group_id(str(fields.get("config_hash") or ""), git_commit()),
        "metrics": json.dumps(report.panel, sort_keys=True),
    }


def write_public_per_query(path: Path, answers: Answers, per_query: np.ndarray) -> None:
    """``runs/<id>/per_query.csv``: the public queries' scores only (the private ones are the hidden half)."""
    public = np.asarray(answers.public, dtype=bool)
    with atomic_writer(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["query_id", "score"])
        writer.writerows(zip(answers.query_ids[public].tolist(), [f"{v:.6g}" for v in per_query[public].tolist()]))


def per_query_for(workspace: Workspace, competition: str, reference: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(query ids, public mask, per-query scores) of a submission file, or of a submission id's stored
    file: always scored now, never read back from a run folder (which anyone can edit)."""
    path = Path(reference)
    if not path.is_file():
        rows = [r for r in read_rows(workspace.leaderboard_path(competition)) if r.get("submission_id") == reference]
        check_name(reference, "submission id")
        if not rows:
            raise SubmissionError(
                f"no submission {reference!r}: neither a file nor a scored submission id of {competition}"
            )
        path = stored_submission(workspace, competition, rows[-1])
    answers = load_answers(workspace, competition)
    checked = validate_submission(path, answers)
    if not checked.scorable:
        raise SubmissionError(
            f"{path}: {checked.problem_count} problem(s) found", checked.problems, checked.problem_count
        )
    report = score(answers, checked.ranked)
    return [str(q) for q in answers.query_ids], np.asarray(answers.public, dtype=bool), report.per_query


def _trusted_main() -> int:
    """The trusted scorer process's side: one request on stdin, one JSON answer on stdout."""
    request = json.load(sys.stdin)

    def work() -> dict:
        result = submit(
            Workspace(Path(request["root"])),
            request["competition"],
            request["file"],
            name=request["name"],
            fields=request["fields"],
            submission_id=request["submission_id"],
        )
        return {
            "row": result.row,
            "rank": result.rank,
            "run_dir": str(result.run_dir),
            "scores": result.scores,
            "missing": result.missing_queries,
        }

    return answer(work)


if __name__ == "__main__":
    sys.exit(_trusted_main())
