"""What a submission row must satisfy, and the wording of every problem (shared by all readers)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

HEADER = "query_id,neighbors"
KEEP_PROBLEMS = 1000  # beyond this only the count grows, so a garbage file cannot exhaust memory
EXTRA_ROWS = 1000  # rows read beyond one per query: wrong rows still worded, a flood of them refused
LONG_ROW = 1000  # a row of more than 4 k + this many ids is wrong whatever they are: only k are checked


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


@dataclass(frozen=True)
class RowChecker:
    """The per-row rules of every reader against one answer key: ``gallery`` maps an id to its position
    (None: unknown), ``k`` is the most neighbours a row may list, problems and positions go to ``result``."""

    gallery: Callable[[str], int | None]
    k: int
    result: Validation

    def check(
        self,
        place: str,
        query_id: str | None,
        tokens: Sequence[str | None],
        count: int,
        position: int | None,
        first_place: str,
    ) -> None:
        """Report the problems of one row and record its ranked positions.

        ``place`` is "line 7" or "row 7"; ``position`` the query's row in the answers (None: unknown
        id); ``first_place`` where the same query came first ("" if this is its first row);
        ``tokens`` the neighbour ids (the first ones only when ``count``, their number, is huge).
        """
        gallery, k, result = self.gallery, self.k, self.result
        if position is None:
            result.add(f"{place}: unknown query id {short(query_id or '')!r}")
        elif first_place:
            result.add(f"{place}: duplicate query id {query_id!r} (first on {first_place})")
            position = None
        if any(not t for t in tokens):
            result.add(f"{place}: empty neighbour id (use single spaces, none leading or trailing)")
            kept = [t for t in tokens if t]
            count -= len(tokens) - len(kept)  # the empty ones were not neighbours
            tokens = kept
        if count > k:
            checked = "" if count == len(tokens) else f" (only the first {len(tokens)} checked)"
            result.add(f"{place}: {count} neighbours, more than k={k}{checked}")
        found = [gallery(t) for t in tokens]
        if None in found:
            unknown = [t for t, g in zip(tokens, found) if g is None]
            shown = ", ".join(repr(short(t)) for t in unknown[:3]) + (", ..." if len(unknown) > 3 else "")
            result.add(f"{place}: {len(unknown)} unknown gallery id(s): {shown}")
            found = [-1 if g is None else g for g in found]
        if len(set(tokens)) != len(tokens):
            seen: set[str] = set()
            repeated = [t for t in tokens if t in seen or seen.add(t)]
            result.add(f"{place}: repeated neighbour(s): {', '.join(repr(short(t)) for t in repeated[:3])}")
        if position is not None and found:
            row = found[:k]
            result.ranked[position, : len(row)] = row
        if position is not None:
            result.rows += 1


def finish(result: Validation, seen: np.ndarray, query_ids: np.ndarray, rows_read: int) -> Validation:
    """Add the file-level problems: no rows at all, and query ids the file left out."""
    if rows_read == 0:
        result.add("the file has a header but no rows: nothing to score")
    missing = np.flatnonzero(seen == 0)
    if len(missing):
        shown = ", ".join(str(query_ids[i]) for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        result.add(f"{len(missing)} query id(s) missing from the file: {shown}")
        result.missing = len(missing)
    return result


def row_limit(queries: int) -> int:
    """The most rows read: one per query, and as many wrong rows as are worded. A file with more is refused
    there, so a tiny upload of millions of rows costs neither time nor memory."""
    return queries + EXTRA_ROWS


def too_many_rows(queries: int, what: str = "lines after the header") -> str:
    """The refusal of a file with more rows than :func:`row_limit` (``what``: how its rows are counted)."""
    return (
        f"more than {row_limit(queries):,} {what}: the competition has {queries:,} queries (one row each); "
        f"the rest of the file was not read"
    )


def short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
