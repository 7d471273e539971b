"""``bench leaderboard --verify``: every row rescored from its stored submission.

A row passes when it is well formed and belongs to the competition (see
:func:`harness.scoring.leaderboard.check_rows`), its submission file is where the row says, still has
the SHA-256 the row recorded, and scores now exactly what the row says: the primary metric, its
intervals, and the metric panel.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

from harness.errors import BenchError, SubmissionError
from harness.scoring.answers import load_answers
from harness.scoring.leaderboard import LINE, PROBLEM, check_rows, read_rows
from harness.scoring.scorer import score
from harness.scoring.submission import validate_submission
from harness.scoring.trusted import answer
from harness.workspace import Workspace, check_name


def stored_submission(workspace: Workspace, competition: str, row: dict) -> Path:
    """The row's kept submission file (``submission_path``, inside the workspace), or SubmissionError."""
    submission_id = check_name(row.get("submission_id", ""), "submission id")
    recorded = row.get("submission_path") or ""
    if recorded:
        path = Path(recorded)
        path = path if path.is_absolute() else workspace.root / path
        try:
            path.resolve().relative_to(workspace.root.resolve())
        except ValueError:
            raise SubmissionError(f"submission_path {recorded!r} lies outside the workspace") from None
    else:
        path = workspace.submission_path(competition, submission_id)
    if not path.is_file():
        raise SubmissionError(f"submission file {recorded or path} is missing")
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_board(workspace: Workspace, competition: str) -> tuple[list[dict], list[str]]:
    """(rows, findings): one finding per row that does not verify, naming its line and submission id."""
    answers = load_answers(workspace, competition)
    rows = check_rows(read_rows(workspace.leaderboard_path(competition)), answers.metric_label, answers.manifest_sha256)
    findings = []
    kept = _kept_files(workspace, competition, rows)
    for row in rows:
        where = f"line {row[LINE]} ({row.get('submission_id') or 'no submission id'})"
        if row[PROBLEM]:
            findings.append(f"{where}: {row[PROBLEM]}")
            continue
        try:
            path = stored_submission(workspace, competition, row)
        except BenchError as exc:
            findings.append(f"{where}: {exc}")
            continue
        sharing = [line for line in kept.get(path.resolve(), []) if line != row[LINE]]
        if sharing:
            findings.append(
                f"{where}: its kept file {path.name} is also the kept file of line(s) "
                f"{', '.join(map(str, sharing))}; each submission keeps its own copy"
            )
            continue
        recorded, actual = row.get("submission_sha256", ""), sha256_file(path)
        if not recorded:
            findings.append(f"{where}: no submission_sha256 recorded, so {path.name} cannot be bound to the row")
            continue
        if actual != recorded:
            findings.append(
                f"{where}: {path.name} changed since it was scored (sha256 {recorded[:12]}, now {actual[:12]})"
            )
            continue
        checked = validate_submission(path, answers)
        if not checked.scorable:
            findings.append(f"{where}: {path.name} no longer validates ({checked.problem_count} problem(s))")
            continue
        differences = _differences(row, score(answers, checked.ranked).to_dict())
        if differences:
            findings.append(f"{where}: {'; '.join(differences)}")
    return rows, findings


def _kept_files(workspace: Workspace, competition: str, rows: list[dict]) -> dict[Path, list[int]]:
    """Each kept file of a well-formed row, with the lines of every row that points at it."""
    lines: dict[Path, list[int]] = {}
    for row in rows:
        if row[PROBLEM]:
            continue
        try:
            path = stored_submission(workspace, competition, row).resolve()
        except BenchError:
            continue
        lines.setdefault(path, []).append(row[LINE])
    return lines


def _differences(row: dict, rescored: dict) -> list[str]:
    expected = {
        "public": rescored["public"],
        "public_low": rescored["public_ci"][0],
        "public_high": rescored["public_ci"][1],
        "private": rescored["private"],
        "private_low": rescored["private_ci"][0],
        "private_high": rescored["private_ci"][1],
    }
    out = []
    for column, value in expected.items():
        cell = row.get(column, "")
        if not _same(cell, value):
            out.append(f"{column} is {cell or 'empty'} but the stored submission scores {value:.6g}")
    return out + _panel_differences(row.get("metrics") or "", rescored["panel"]["public"])


def _panel_differences(cell: str, rescored: dict) -> list[str]:
    """The metric panel (public means, rounded to 6 decimals when recorded): what ``--metric`` ranks by.

    A row recorded before the panel existed has none, and nothing to rank by it: only a panel that
    is there must match."""
    if not cell:
        return []
    try:
        recorded = json.loads(cell)
    except ValueError:
        return ["metrics is not valid JSON"]
    if not isinstance(recorded, dict):
        return ["metrics is not a JSON object of metric: value"]
    out = []
    for label in sorted(set(recorded) | set(rescored)):
        value, now = recorded.get(label, "absent"), rescored.get(label)
        if value is None and now is None:
            continue
        if now is None or value is None or not _same(value, now, abs_tol=1e-6):
            shown = "unscorable" if now is None else f"{now:.6g}"
            out.append(f"metrics {label} is {value} but the stored submission scores {shown}")
    return out


def _same(cell: str | float | None, value: float, abs_tol: float = 1e-9) -> bool:
    try:
        return math.isclose(float(cell), value, rel_tol=1e-5, abs_tol=abs_tol)
    except (TypeError, ValueError):
        return False


def _trusted_main() -> int:
    """The trusted process's side of ``--verify`` (see :func:`harness.scoring.trusted.verify_trusted`)."""
    request = json.load(sys.stdin)

    def work() -> dict:
        rows, findings = verify_board(Workspace(Path(request["root"])), request["competition"])
        return {"rows": len(rows), "findings": findings}

    return answer(work)
