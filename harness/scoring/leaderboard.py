"""``leaderboards/<competition>.csv``: append-only, one row per scored submission, under a file lock.

Reading never hides a row: a row the CSV parser cannot make sense of, or whose values cannot be
right (a score outside [0, 1], a repeated submission id, another metric or manifest than the
competition's), is returned with its line number and the reason in ``row[PROBLEM]``, and is left
out of the ranking only. Appending is all-or-nothing: on any failure the file is cut back to its
previous length.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.atomic import atomic_writer
from harness.errors import LeaderboardError

# The one column list: a new column goes at the end; older files gain it on their next append.
COLUMNS = (
    "submission_id", "time", "name", "method", "backbone", "loss", "sampler", "indexer",
    "code_kind", "bytes_per_item", "metric", "public", "public_low", "public_high",
    "private", "private_low", "private_high", "train_seconds", "search_ms_per_query",
    "seed", "config_hash", "manifest_sha256", "git_commit", "submission_path", "study", "trial",
    "group", "metrics", "env", "submission_sha256", "pooling", "differs", "budget",
)  # fmt: skip
SCORE_COLUMNS = ("public", "public_low", "public_high", "private", "private_low", "private_high")
LINE = "_line"  # keys read_rows adds to each row: its line number in the file, and why it is invalid ("" if valid)
PROBLEM = "_problem"
LOCK_TIMEOUT_S = 60


@contextmanager
def board_lock(path: str | os.PathLike) -> Iterator[None]:
    """The leaderboard's file lock (``<board>.lock``), held by whoever checks ids and appends."""
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(path) + ".lock", timeout=LOCK_TIMEOUT_S):
            yield
    except Timeout:
        raise LeaderboardError(f"could not lock {path} within {LOCK_TIMEOUT_S} s; is another bench stuck?") from None


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> dict[str, str]:
    """Append one row under the lock (see :func:`append_locked`)."""
    with board_lock(path):
        return append_locked(path, row)


def append_locked(path: str | os.PathLike, row: dict[str, Any]) -> dict[str, str]:
    """Append one row; the caller holds :func:`board_lock`. Returns the row as written (strings).

    A key bench has no column for is an error (never dropped); absent columns stay empty. A file
    from an older bench gains the newer columns in its header (its rows read them as empty).
    On any failure, the disk full included, the file is left exactly as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {key: value for key, value in row.items() if key not in (LINE, PROBLEM)}  # a row read back: no meta
    columns = _header(path)
    new_file = columns is None
    columns = columns or list(COLUMNS)
    unknown = [key for key in row if key not in columns and key not in COLUMNS]
    if unknown:
        raise LeaderboardError(f"{path} has no column(s) {', '.join(unknown)}; its columns: {', '.join(columns)}")
    upgraded = [key for key in COLUMNS if key not in columns] if any(k not in columns for k in row) else []
    columns += upgraded
    written = {c: _cell(row.get(c)) for c in columns}
    buffer = io.StringIO()
    if new_file or upgraded:
        _write_record(buffer, columns)
    if upgraded:
        old = path.read_bytes()
        buffer.write(old.split(b"\n", 1)[1].decode("utf-8") if b"\n" in old else "")
    if not new_file and not _ends_with_newline(path):
        buffer.write("\n")  # a hand-edited file: never glue the new row onto its last line
    _write_record(buffer, [written[c] for c in columns])
    if new_file or upgraded:
        with atomic_writer(path) as handle:  # a new header: the whole file replaced in one step
            handle.write(buffer.getvalue())
    else:
        _append_or_restore(path, buffer.getvalue().encode("utf-8"))
    return written


def rewrite_rows(path: str | os.PathLike, change: Callable[[dict[str, Any]], bool]) -> int:
    """Let ``change`` edit each row's cells in place (it returns whether it changed the row), then replace
    the board in one step, under the lock. Rows are written as :func:`append_locked` writes them (an
    older row short of the newer columns gains their empty cells). Returns the number of rows changed.

    A board with a malformed row is refused: that row could not be written back as it stands.
    """
    path = Path(path)
    with board_lock(path):
        rows = read_rows(path)
        broken = [str(row[LINE]) for row in rows if row[PROBLEM]]
        if broken:
            raise LeaderboardError(f"{path} has malformed line(s) {', '.join(broken)}; mend them before a rewrite")
        columns = _header(path) or list(COLUMNS)
        changed = sum(bool(change(row)) for row in rows)
        buffer = io.StringIO()
        _write_record(buffer, columns)
        for row in rows:
            _write_record(buffer, [_cell(row.get(column)) for column in columns])
        with atomic_writer(path) as handle:
            handle.write(buffer.getvalue())
    return changed


def _write_record(buffer: io.StringIO, cells: list[str]) -> None:
    """One CSV record. The csv module quotes a newline but not a bare carriage return, which its own
    reader then refuses: a record holding any ``\\r`` is written fully quoted, so every cell round-trips."""
    quoting = csv.QUOTE_ALL if any("\r" in cell for cell in cells) else csv.QUOTE_MINIMAL
    csv.writer(buffer, lineterminator="\n", quoting=quoting).writerow(cells)


def _append_or_restore(path: Path, data: bytes) -> None:
    """One write, synced; on any failure (a full disk, an interrupt) the file is cut back to its old length."""
    size = path.stat().st_size
    try:
        with open(path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        os.truncate(path, size)
        raise


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every row in file order; [] when the leaderboard does not exist yet.

    Each row holds the file's cells plus ``row[LINE]`` (its first line in the file) and
    ``row[PROBLEM]`` ("" or why the row is invalid). Nothing after a malformed row is lost.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        text = path.read_bytes().decode("utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise LeaderboardError(f"cannot read {path}: {exc.strerror or exc}") from None
    pieces = text.split("\n")
    lines = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    if not lines:
        return []
    mark = _absent_char(text) if "\r" in text else ""
    if mark:
        lines = [_bare_returns_marked(line, mark) for line in lines]
    header = next(csv.reader([lines[0]]), [])
    if "submission_id" not in header or _has_surrogates(lines[0]):
        raise LeaderboardError(f"{path} is not a leaderboard (no submission_id column)")
    rows, index = [], 1
    while index < len(lines):
        if lines[index].strip() == "":
            index += 1
            continue
        cells, used, problem = _record(lines, index, header)
        if mark:
            cells = {key: value.replace(mark, "\r") for key, value in cells.items()}
        rows.append({**cells, LINE: index + 1, PROBLEM: problem})
        index += used
    _check_values(rows)
    return rows


def _absent_char(text: str) -> str:
    """A private-use character the file does not hold: it stands for a carriage return while parsing."""
    return next(chr(code) for code in range(0xE000, 0xF900) if chr(code) not in text)


def _bare_returns_marked(line: str, mark: str) -> str:
    """The line with every carriage return but a final ``\\r\\n``'s replaced by ``mark``: an older bench wrote
    a name's ``\\r`` unquoted, and the csv reader refuses one outside quotes (it is data, never a line end)."""
    body, end = (line[:-2], "\r\n") if line.endswith("\r\n") else (line, "")
    return body.replace("\r", mark) + end


def check_rows(rows: list[dict[str, Any]], metric_label: str, manifest_sha256: str) -> list[dict[str, Any]]:
    """Mark valid rows that belong to another metric, k or manifest than the competition's as invalid."""
    for row in rows:
        if row.get(PROBLEM):
            continue
        if row.get("metric") != metric_label:
            row[PROBLEM] = f"metric {row.get('metric')!r} is not the competition's {metric_label!r}"
        elif row.get("manifest_sha256") != manifest_sha256:
            row[PROBLEM] = (
                f"manifest_sha256 {str(row.get('manifest_sha256'))[:12]!r} is not the competition's "
                f"{manifest_sha256[:12]!r}"
            )
    return rows


def _record(lines: list[str], index: int, header: list[str]) -> tuple[dict[str, str], int, str]:
    """(cells, lines used, problem) of the record starting at ``lines[index]``.

    A record may span lines only through a quoted field with the right number of fields; anything
    else is reported as a malformed single line, and reading goes on with the next line.
    """
    reader = csv.reader(iter(lines[index:]), strict=True)
    problem = ""
    try:
        fields, used = next(reader), reader.line_num
    except (csv.Error, StopIteration) as exc:
        fields, used, problem = [], 0, str(exc) or "unexpected end of file"
    if not problem and _has_surrogates("".join(fields)):
        problem = "not UTF-8"
    elif not problem and (len(fields) > len(header) or (used > 1 and len(fields) != len(header))):
        problem = f"{len(fields)} fields where the header has {len(header)}"
    if problem:
        try:
            fields = next(csv.reader([lines[index].rstrip("\n")]), [])
        except csv.Error:  # shown as it is: the row is invalid anyway
            fields = lines[index].rstrip("\n").split(",")
        fields = [field.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for field in fields]
        cells = dict(zip(header, fields + [""] * (len(header) - len(fields))))
        return cells, 1, f"line {index + 1} is not a well-formed CSV row ({problem})"
    return dict(zip(header, fields + [""] * (len(header) - len(fields)))), used, ""


def _check_values(rows: list[dict[str, Any]]) -> None:
    lines_of = defaultdict(list)
    for row in rows:
        if not row[PROBLEM]:
            lines_of[row.get("submission_id", "")].append(row[LINE])
    for row in rows:
        if row[PROBLEM]:
            continue
        submission_id = row.get("submission_id", "")
        if not submission_id:
            row[PROBLEM] = "no submission_id"
        elif len(lines_of[submission_id]) > 1:
            row[PROBLEM] = (
                f"submission id {submission_id!r} repeats (lines {', '.join(map(str, lines_of[submission_id]))})"
            )
        elif row.get("public", "") == "":
            row[PROBLEM] = "no public score"
        else:
            bad = [c for c in SCORE_COLUMNS if row.get(c, "") != "" and not _is_score(row[c])]
            if bad:
                row[PROBLEM] = f"{bad[0]} {row[bad[0]]!r} is not a score in [0, 1]"


def _is_score(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return 0.0 <= value <= 1.0


def _has_surrogates(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def ranked(rows: list[dict[str, Any]], private: bool = False) -> list[dict[str, Any]]:
    """Valid rows best first, each with ``rank`` (by public score, ties to the earlier submission), then
    the invalid rows (``rows[PROBLEM]`` set) in file order with ``rank`` None: shown, never ranked.

    With ``private`` the rows are ordered by private score and also carry ``public_rank`` and
    ``shake`` (places gained from public to private: positive is up).
    """
    valid = [i for i, row in enumerate(rows) if not row.get(PROBLEM)]
    invalid = [{**rows[i], "rank": None} for i in range(len(rows)) if rows[i].get(PROBLEM)]
    public_order = _order(rows, valid, "public")
    public_rank = {index: place for place, index in enumerate(public_order, start=1)}
    if not private:
        return [{**rows[i], "rank": public_rank[i]} for i in public_order] + invalid
    out = []
    for place, index in enumerate(_order(rows, valid, "private"), start=1):
        out.append(
            {**rows[index], "rank": place, "public_rank": public_rank[index], "shake": public_rank[index] - place}
        )
    return out + [{**row, "public_rank": None, "shake": None} for row in invalid]


def rank_of(rows: list[dict[str, Any]], submission_id: str, private: bool = False) -> int:
    for row in ranked(rows, private):
        if row.get("submission_id") == submission_id and row["rank"] is not None:
            return row["rank"]
    raise LeaderboardError(f"submission {submission_id!r} is not on the leaderboard")


def shake_label(shake: int | None) -> str:
    if shake is None:
        return ""
    return f"▲{shake}" if shake > 0 else f"▼{-shake}" if shake < 0 else "–"


def _order(rows: list[dict[str, Any]], indices: list[int], column: str) -> list[int]:
    """Indices by score descending (unscored last), then time, then file order."""
    return sorted(indices, key=lambda i: (-_number(rows[i].get(column)), rows[i].get("time") or "", i))


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else -math.inf
    except ValueError:
        return -math.inf
    return -math.inf if math.isnan(value) else value


def _header(path: Path) -> list[str] | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    with open(path, "rb") as handle:
        first = handle.readline()
    try:
        columns = next(csv.reader([first.decode("utf-8-sig")]), [])
    except UnicodeDecodeError as exc:
        raise LeaderboardError(f"{path} is not a readable leaderboard CSV: {exc}") from None
    if "submission_id" not in columns:
        raise LeaderboardError(f"{path} is not a leaderboard (no submission_id column)")
    return columns


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".6g")
    return str(value)
