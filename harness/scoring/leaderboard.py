"""``leaderboards/<competition>.csv``: append-only, one row per scored submission, under a file lock."""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Any

from harness.errors import LeaderboardError

COLUMNS = (
    "submission_id", "time", "name", "method", "backbone", "loss", "sampler", "indexer",
    "code_kind", "bytes_per_item", "metric", "public", "public_low", "public_high",
    "private", "private_low", "private_high", "train_seconds", "search_ms_per_query",
    "seed", "config_hash", "manifest_sha256", "git_commit", "submission_path", "study", "trial",
    "group", "metrics", "env",
)  # fmt: skip
LOCK_TIMEOUT_S = 60


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> dict[str, str]:
    """Append one row under the lock; the header is written only by the first writer.

    A key the file has no column for is an error (never dropped); absent columns stay empty.
    Returns the row as written (strings).
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            columns = _header(path)
            new_file = columns is None
            columns = columns or list(COLUMNS)
            unknown = [key for key in row if key not in columns]
            if unknown:
                raise LeaderboardError(
                    f"{path} has no column(s) {', '.join(unknown)}; its columns: {', '.join(columns)}"
                )
            written = {c: _cell(row.get(c)) for c in columns}
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if new_file:
                writer.writerow(columns)
            elif not _ends_with_newline(path):
                buffer.write("\n")  # a hand-edited file: never glue the new row onto its last line
            writer.writerow([written[c] for c in columns])
            with open(path, "a", encoding="utf-8", newline="") as handle:
                handle.write(buffer.getvalue())  # one write: a reader never sees half a row
                handle.flush()
                os.fsync(handle.fileno())
    except Timeout:
        raise LeaderboardError(f"could not lock {path} within {LOCK_TIMEOUT_S} s; is another bench stuck?") from None
    return written


def read_rows(path: str | os.PathLike) -> list[dict[str, str]]:
    """Every row in file order; [] when the leaderboard does not exist yet."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle, restval="")  # a short (hand-edited) row: empty cells, not None
            if reader.fieldnames is None:
                return []
            if "submission_id" not in reader.fieldnames:
                raise LeaderboardError(f"{path} is not a leaderboard (no submission_id column)")
            return [dict(row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise LeaderboardError(f"{path} is not a readable leaderboard CSV: {exc}") from None


def ranked(rows: list[dict[str, str]], private: bool = False) -> list[dict[str, Any]]:
    """Rows best first, each with ``rank`` (by public score, ties to the earlier submission).

    With ``private`` the rows are ordered by private score and also carry ``public_rank`` and
    ``shake`` (places gained from public to private: positive is up).
    """
    public_order = _order(rows, "public")
    public_rank = {index: place for place, index in enumerate(public_order, start=1)}
    if not private:
        return [{**rows[i], "rank": public_rank[i]} for i in public_order]
    out = []
    for place, index in enumerate(_order(rows, "private"), start=1):
        out.append(
            {**rows[index], "rank": place, "public_rank": public_rank[index], "shake": public_rank[index] - place}
        )
    return out


def rank_of(rows: list[dict[str, str]], submission_id: str, private: bool = False) -> int:
    for row in ranked(rows, private):
        if row.get("submission_id") == submission_id:
            return row["rank"]
    raise LeaderboardError(f"submission {submission_id!r} is not on the leaderboard")


def shake_label(shake: int) -> str:
    return f"▲{shake}" if shake > 0 else f"▼{-shake}" if shake < 0 else "–"


def _order(rows: list[dict[str, str]], column: str) -> list[int]:
    """Indices by score descending (unscored last), then time, then file order."""
    return sorted(range(len(rows)), key=lambda i: (-_number(rows[i].get(column)), rows[i].get("time") or "", i))


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else -math.inf
    except ValueError:
        return -math.inf
    return -math.inf if math.isnan(value) else value


def _header(path: Path) -> list[str] | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError as exc:
        raise LeaderboardError(f"{path} is not a readable leaderboard CSV: {exc}") from None
    columns = next(csv.reader([first]), [])
    if "submission_id" not in columns:
        raise LeaderboardError(f"{path} is not a leaderboard (no submission_id column)")
    return columns


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".6g")
    return str(value)
