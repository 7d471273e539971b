"""Submission files (DESIGN section 5): written atomically, validated line by line.

```
query_id,neighbors
digits-0042,digits-1187 digits-0977 digits-1630
```
Validation streams the file, so memory holds the (Q, k) ranked positions and little else, and it
reports every problem at once with its line number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness.atomic import atomic_writer
from harness.errors import SubmissionError
from harness.scoring.answers import Answers

HEADER = "query_id,neighbors"
KEEP_PROBLEMS = 1000  # beyond this only the count grows, so a garbage file cannot exhaust memory


def write_submission(path: str | os.PathLike, query_ids: Sequence[str], neighbor_ids: Iterable[Sequence[str]]) -> Path:
    """Write a submission atomically: a crash never leaves a half-written file under ``path``."""
    with atomic_writer(path) as handle:
        handle.write(HEADER + "\n")
        for query_id, neighbors in zip(query_ids, neighbor_ids, strict=True):
            handle.write(f"{query_id},{' '.join(neighbors)}\n")
    return Path(path)


@dataclass
class Validation:
    """What validating one file found. ``problems`` keeps the first KEEP_PROBLEMS of ``problem_count``.

    Missing query ids are a problem for ``bench validate``, but a file that only misses queries
    can still be scored (each missing query scores 0): ``missing`` counts them separately.
    """

    ranked: np.ndarray
    rows: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    missing: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def scorable(self) -> bool:
        return self.problem_count == (1 if self.missing else 0)

    def add(self, problem: str) -> None:
        self.problem_count += 1
        if len(self.problems) < KEEP_PROBLEMS:
            self.problems.append(problem)


def validate_submission(path: str | os.PathLike, answers: Answers) -> Validation:
    """Check every line of a submission against the answers' ids and k; never raises on bad content."""
    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission file {path} " + ("is not a file" if path.exists() else "does not exist"))
    k = answers.k
    queries = _positions(answers.query_ids)
    gallery = _positions(answers.gallery_ids)
    result = Validation(ranked=np.full((len(queries), k), -1, dtype=np.int64))
    first_line = np.zeros(len(queries), dtype=np.int64)  # 0: not seen yet
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by the with below; only open's error is caught)
    except OSError as exc:
        raise SubmissionError(f"cannot read submission file {path}: {exc.strerror or exc}") from None
    with handle:
        line_no = 0
        for line_no, raw in enumerate(handle, start=1):
            text = _decode(raw, line_no, result)
            if text is None:
                continue
            if line_no == 1:
                text = text.removeprefix("\ufeff")  # spreadsheet byte-order mark: harmless
                if text != HEADER:
                    result.add(f"line 1: header must be exactly {HEADER!r} but is {_short(text)!r}")
                continue
            _check_row(text, line_no, queries, gallery, k, first_line, result)
        if line_no == 0:
            result.add(f"line 1: file is empty; expected the header {HEADER!r}")
    missing = [str(answers.query_ids[i]) for i in np.flatnonzero(first_line == 0)]
    if missing and line_no > 0:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        result.add(f"{len(missing)} query id(s) missing from the file: {shown}")
        result.missing = len(missing)
    return result


def read_submission(path: str | os.PathLike, answers: Answers) -> np.ndarray:
    """Ranked gallery positions (Q, k), -1 padded (missing queries too, which then score 0).

    Any problem other than missing queries raises SubmissionError listing every problem.
    """
    result = validate_submission(path, answers)
    if not result.scorable:
        raise SubmissionError(f"{path}: {result.problem_count} problem(s) found", result.problems, result.problem_count)
    return result.ranked


def _positions(ids) -> dict[str, int]:
    return dict(zip(map(str, np.asarray(ids).tolist()), range(len(ids))))


def _decode(raw: bytes, line_no: int, result: Validation) -> str | None:
    body = raw.rstrip(b"\n").removesuffix(b"\r")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.add(f"line {line_no}: not UTF-8 (byte 0x{body[exc.start]:02x} at column {exc.start + 1})")
        return None


def _check_row(text, line_no, queries, gallery, k, first_line, result) -> None:
    if text.strip() == "":
        result.add(f"line {line_no}: empty line")
        return
    fields = text.split(",")
    if len(fields) != 2:
        result.add(f"line {line_no}: expected 2 fields (query_id,neighbors) but found {len(fields)}")
        return
    query_id, neighbors = fields
    position = queries.get(query_id)
    if position is None:
        result.add(f"line {line_no}: unknown query id {_short(query_id)!r}")
    elif first_line[position]:
        result.add(f"line {line_no}: duplicate query id {query_id!r} (first on line {first_line[position]})")
        position = None
    else:
        first_line[position] = line_no
    tokens = neighbors.split(" ") if neighbors else []
    if "" in tokens:
        result.add(f"line {line_no}: empty neighbour id (use single spaces, none leading or trailing)")
        tokens = [t for t in tokens if t]
    if len(tokens) > k:
        result.add(f"line {line_no}: {len(tokens)} neighbours, more than k={k}")
    found = list(map(gallery.get, tokens))
    if None in found:
        unknown = [t for t, g in zip(tokens, found) if g is None]
        shown = ", ".join(repr(_short(t)) for t in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        result.add(f"line {line_no}: {len(unknown)} unknown gallery id(s): {shown}")
        found = [-1 if g is None else g for g in found]
    if len(set(tokens)) != len(tokens):
        seen: set[str] = set()
        repeated = [t for t in tokens if t in seen or seen.add(t)]
        result.add(f"line {line_no}: repeated neighbour(s): {', '.join(repr(_short(t)) for t in repeated[:3])}")
    if position is not None and found:
        row = found[:k]
        result.ranked[position, : len(row)] = row
    if position is not None:
        result.rows += 1


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
