"""The columnar readers: CSV through pyarrow's streaming reader, and Parquet, one batch at a time.

Each batch is checked with vectorised pyarrow/NumPy operations (neighbour lists split with
``split_pattern``, ids mapped to positions by :class:`IdIndex`); only rows found wrong go through the
per-row checker (``submission_checks.RowChecker``, which the line reader uses too): no row problem is
worded here. Memory is bounded by a batch plus the (Q, k) ranked positions. A CSV that pyarrow cannot
parse into one row per line (a wrong header, an empty line, a wrong number of fields, bytes that are not
UTF-8) returns None: the line reader, which owns the wording of those, reads it and places every problem
on its line. Only Parquet's own problems (schema, footer sizes, a null list) are worded here.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.data.arrow import nulls, pyarrow, strings, to_numpy
from harness.scoring.answers import Answers
from harness.scoring.id_index import IdIndex
from harness.scoring.submission_checks import (
    HEADER,
    LONG_ROW,
    RowChecker,
    Validation,
    finish,
    row_limit,
    too_many_rows,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pyarrow import Array, ListArray, RecordBatch
    from pyarrow.csv import CSVStreamingReader
    from pyarrow.parquet import FileMetaData, ParquetFile

pa = pyarrow()
import pyarrow.compute as pc  # noqa: E402  (after pyarrow's pandas probe, answered above)

# pyarrow's CSV block: a row longer than this goes to the line reader, which counts a huge line
# instead of splitting it (a 50 MB line split column-wise would cost over 600 MB).
BLOCK_BYTES = 32 << 20
# Neighbour ids of a Parquet batch: a row group of any size is read this many at a time.
PARQUET_BATCH_IDS = 2_000_000
# Blocks worked on at once (one per core, a few at most): each holds a parsed block and its lookups.
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


class Columns:
    """The answers' ids as Arrow arrays and lookup tables (built once a file); dicts for the per-row
    checker, built on demand."""

    def __init__(self, answers: Answers):
        self.answers = answers
        self.query_ids = strings(answers.query_ids)
        self.gallery_ids = strings(answers.gallery_ids)
        self.queries = IdIndex(self.query_ids)
        self.gallery = IdIndex(self.gallery_ids)
        self._gallery: dict[str, int] | None = None

    def query_positions(self, values: Array) -> np.ndarray:
        """Row of each query id in the answers; -1 if unknown (or null)."""
        return self.queries.positions(values)

    def gallery_positions(self, values: Array) -> np.ndarray:
        """Gallery position of each id in ``values`` (plain or dictionary-encoded strings); -1 if unknown."""
        if not pa.types.is_dictionary(values.type):
            return self.gallery.positions(values)
        lookup = self.gallery.positions(values.dictionary)
        codes = to_numpy(values.indices)  # a null id: -1
        if len(lookup) == 0:
            return np.full(len(codes), -1, dtype=np.int64)
        return np.where(codes >= 0, lookup[codes], -1)

    def gallery_lookup(self) -> Callable[[str], int | None]:
        if self._gallery is None:
            self._gallery = dict(zip(self.gallery_ids.to_pylist(), range(len(self.gallery_ids))))
        return self._gallery.get


def validate_csv(path: Path, answers: Answers) -> Validation | None:
    """Validate a CSV submission column-wise; None if it needs the line-by-line reader.

    Blocks are parsed and looked up on every core (pyarrow's kernels release the GIL), a few at a
    time so memory stays bounded, and checked in file order.
    """
    import pyarrow.csv as pv

    with open(path, "rb") as handle:
        first = handle.readline(len(HEADER) + 8)
    if first.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n") != HEADER.encode() or not first.endswith(b"\n"):
        return None  # a wrong header (or an empty file) is worded by the line reader
    options = {
        "read_options": pv.ReadOptions(
            skip_rows=1, column_names=["query_id", "neighbors"], block_size=block_bytes(path.stat().st_size)
        ),
        "parse_options": pv.ParseOptions(newlines_in_values=False, ignore_empty_lines=False),
        "convert_options": pv.ConvertOptions(
            column_types={"query_id": pa.string(), "neighbors": pa.string()}, strings_can_be_null=False
        ),
    }

    def prepare(batch: RecordBatch, columns: Future) -> Batch | None:
        query_ids, neighbors = batch.column(0), batch.column(1)
        is_empty = to_numpy(pc.binary_length(neighbors)) == 0
        if (is_empty & (to_numpy(pc.binary_length(query_ids)) == 0)).any():
            return None  # an empty line (or ","): pyarrow cannot tell them apart, the line reader can
        lists = pc.split_pattern(neighbors, pattern=" ")
        return Batch.of(columns.result(), query_ids, lists, is_empty)

    checker: BatchChecker | None = None

    def started(columns: Future) -> BatchChecker:
        nonlocal checker
        checker = checker or BatchChecker(answers, columns.result(), unit="line", first_row_place=2)
        return checker

    def take(future: Future, columns: Future) -> bool:
        """Check the oldest block, in file order; False if the line reader must read the file."""
        return started(columns).check(future.result())

    limit = row_limit(len(answers.query_ids))
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            columns = pool.submit(Columns, answers)  # lookup tables built while the first blocks are read
            reader = pv.open_csv(path, **options)
            rows = in_file_order(
                reader, limit, lambda batch: pool.submit(prepare, batch, columns), lambda future: take(future, columns)
            )
            if rows is None:
                return None
            if rows > limit:
                started(columns).rows_read = rows  # read, if not checked: the file has rows
            result = started(columns).finish()  # a file of no rows has started no checker yet
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if rows > limit:
        result.add(too_many_rows(len(answers.query_ids)))
    return result


def in_file_order(
    reader: CSVStreamingReader, limit: int, submit: Callable, take: Callable[[Future], bool]
) -> int | None:
    """Hand the reader's blocks to ``submit`` (up to WORKERS ahead) and check the results with ``take`` in file
    order. The rows read (more than ``limit``: reading stopped there), or None if ``take`` gave up on the file."""
    pending: deque[Future] = deque()
    rows = 0
    with reader:
        for batch in reader:
            rows += batch.num_rows
            if rows > limit:  # counted before its lists are split: the block is dropped unexpanded
                break
            pending.append(submit(batch))
            if len(pending) > WORKERS and not take(pending.popleft()):
                return None
    while pending:
        if not take(pending.popleft()):
            return None
    return rows


def block_bytes(size: int) -> int:
    """About BLOCK_BYTES at most, for a multiple of WORKERS blocks of equal size: no core idles at the end.

    Each block also ends at its last whole line, hence the slack (more than a row of k ids).
    """
    if size == 0:
        return BLOCK_BYTES
    rounds = -(-size // (BLOCK_BYTES * WORKERS))  # ceil
    slack = min(64 << 10, BLOCK_BYTES // 16)
    # at least 1 MB: a small file with long rows (k in the tens of thousands) stays column-wise
    return min(BLOCK_BYTES, max(min(1 << 20, BLOCK_BYTES), -(-size // (rounds * WORKERS)))) + slack


def validate_parquet(path: Path, answers: Answers) -> Validation:
    """Validate a Parquet submission: columns query_id (string) and neighbors (list of strings)."""
    import pyarrow.parquet as pq

    result = Validation(ranked=np.full((len(answers.query_ids), answers.k), -1, dtype=np.int64))
    try:
        file = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        result.add(f"not a readable Parquet file: {exc}")
        return result
    schema = file.schema_arrow
    problem = _schema_problem(schema)
    if problem:
        result.add(problem)
        return result
    problem = _size_problem(file.metadata, answers)
    if problem:
        result.add(problem)
        return result
    # neighbour ids read dictionary-encoded: each distinct id is looked up once, not once per row
    leaf = [c.path for c in (file.schema.column(j) for j in range(len(file.schema))) if c.path != "query_id"]
    file = pq.ParquetFile(path, read_dictionary=leaf)
    checker = BatchChecker(answers, Columns(answers), unit="row", first_row_place=1)
    rows_per_batch = max(1, PARQUET_BATCH_IDS // answers.k)  # memory bounded by a batch, whatever the row groups
    for group in range(file.num_row_groups):
        for query_ids, lists in _row_group_batches(file, group, rows_per_batch):
            is_null = nulls(lists)
            checker.check(Batch.of(checker.columns, pc.cast(query_ids, pa.string()), lists, is_null, is_null))
    return checker.finish()


def _row_group_batches(file: ParquetFile, group: int, rows_per_batch: int) -> Iterator[tuple[Array, Array]]:
    """(query ids, lists) arrays of one row group, ``rows_per_batch`` rows at a time. A dictionary that
    changes within the group cannot be streamed (pyarrow): that group is read whole, its size already
    bounded by the footer checks."""
    columns = ["query_id", "neighbors"]
    done = 0
    try:
        for batch in file.iter_batches(batch_size=rows_per_batch, row_groups=[group], columns=columns):
            done += batch.num_rows
            yield batch.column(0), batch.column(1)
    except pa.ArrowNotImplementedError:
        table = file.read_row_group(group, columns=columns).slice(done)
        yield from zip(table.column("query_id").chunks, table.column("neighbors").chunks)


def _size_problem(metadata: FileMetaData, answers: Answers) -> str:
    """Why the file's footer alone refuses it ("" if it does not): more rows than queries, more neighbour
    ids than every query's k, or more bytes once decompressed than such content needs. A few hundred
    bytes of Parquet (dictionary pages, zstd) can stand for gigabytes of rows."""
    queries, k = len(answers.query_ids), answers.k
    if metadata.num_rows > row_limit(queries):
        return too_many_rows(queries, f"rows (it has {metadata.num_rows:,})")
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    chunks = [group.column(c) for group in groups for c in range(group.num_columns)]
    ids = sum(chunk.num_values for chunk in chunks if chunk.path_in_schema != "query_id")
    if ids > row_limit(queries) * (k + 1):
        return f"{ids:,} neighbour values: at most k={k} for each of the {queries:,} queries are read"
    longest = max(len(str(i)) for i in (answers.gallery_ids[:1000].tolist() + answers.query_ids[:1000].tolist()))
    needed = row_limit(queries) * (k + 1) * (max(longest, 64) + 16) + (1 << 20)
    unpacked = sum(chunk.total_uncompressed_size for chunk in chunks)
    if unpacked > needed:
        return f"{unpacked:,} bytes once decompressed: far more than {queries:,} rows of k={k} ids need"
    return ""


def _schema_problem(schema: pa.Schema) -> str:
    names = set(schema.names)
    wanted = "columns query_id (string) and neighbors (list of strings)"
    if names != {"query_id", "neighbors"}:
        return f"a Parquet submission needs exactly the {wanted}; found {', '.join(schema.names) or 'none'}"
    query_type, list_type = schema.field("query_id").type, schema.field("neighbors").type
    strings = (pa.types.is_string(query_type) or pa.types.is_large_string(query_type)) and (
        (pa.types.is_list(list_type) or pa.types.is_large_list(list_type))
        and (pa.types.is_string(list_type.value_type) or pa.types.is_large_string(list_type.value_type))
    )
    return "" if strings else f"a Parquet submission needs the {wanted}; found {query_type} and {list_type}"


@dataclass
class Batch:
    """One batch of rows with everything that can be worked out without the rows before it.

    Made on any thread (:meth:`of`); ``bad`` marks rows the per-row checker must word (duplicates
    of earlier rows are found later, in file order); ``entries`` holds (row, column, gallery position)
    of the first k neighbours of every row not already known bad.
    """

    query_ids: Array
    lists: ListArray
    skip: np.ndarray
    is_null: np.ndarray | None
    position: np.ndarray
    bad: np.ndarray
    entries: tuple[np.ndarray, np.ndarray, np.ndarray]

    @classmethod
    def of(
        cls, columns: Columns, query_ids: Array, lists: ListArray, skip: np.ndarray, is_null: np.ndarray | None = None
    ) -> Batch:
        """``lists`` a list array of neighbour ids; ``skip`` rows whose values do not count (an empty
        CSV field splits into one empty string; a null Parquet list)."""
        n, k = len(query_ids), columns.answers.k
        position = columns.query_positions(query_ids)
        offsets = to_numpy(lists.offsets).astype(np.int64)
        offsets -= offsets[0]
        lengths = np.where(skip, 0, np.diff(offsets))
        found = columns.gallery_positions(pc.list_flatten(lists))  # null lists: no values, or ignored
        row_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(offsets))
        index = np.int32 if len(found) < 2**31 else np.int64
        column = np.arange(len(found), dtype=index) - np.repeat(offsets[:-1].astype(index), np.diff(offsets))
        unknown = np.bincount(row_of, weights=found < 0, minlength=n) > 0
        bad = (position < 0) | (lengths > k) | (unknown & ~skip)
        if is_null is not None:
            bad |= is_null
        # Each row's first k positions, kept sparse: memory follows the ids the block holds, never
        # (rows x k), which a block of millions of empty or unknown rows would make gigabytes.
        keep = (column < k) & ~skip[row_of] & ~bad[row_of]
        entries = (row_of[keep], column[keep], found[keep])
        bad |= _has_repeats(entries[0], entries[2], n)
        return cls(query_ids, lists, skip, is_null, position, bad, entries)


class BatchChecker:
    """Checks batches of (query id, neighbour list) rows in file order, filling one Validation."""

    def __init__(self, answers: Answers, columns: Columns, unit: str, first_row_place: int):
        self.answers, self.columns, self.unit, self.k = answers, columns, unit, answers.k
        self.result = Validation(ranked=np.full((len(answers.query_ids), self.k), -1, dtype=np.int64))
        self.first_place = np.zeros(len(answers.query_ids), dtype=np.int64)  # 0: not seen yet
        self.next_place = first_row_place
        self.rows_read = 0

    def check(self, batch: Batch | None) -> bool:
        """Take the next batch in file order; False (nothing taken) for None, a batch the reader gave up on."""
        if batch is None:
            return False
        n = len(batch.position)
        places = self.next_place + np.arange(n)
        self.next_place += n
        self.rows_read += n
        bad = batch.bad | self._duplicates(batch.position, places)
        fill = (batch.position >= 0) & ~bad
        rows, columns, found = batch.entries
        taken = fill[rows]
        self.result.ranked[batch.position[rows[taken]], columns[taken]] = found[taken]
        self.result.rows += int(fill.sum())
        for i in np.flatnonzero(bad):
            self._check_one(i, batch, places)
        return True

    def _duplicates(self, position: np.ndarray, places: np.ndarray) -> np.ndarray:
        """Rows repeating a query id seen earlier (in this batch or before); records first places."""
        known = np.flatnonzero(position >= 0)
        unique, first = np.unique(position[known], return_index=True)
        duplicate = np.zeros(len(position), dtype=bool)
        duplicate[known] = True
        fresh = known[first][self.first_place[unique] == 0]
        duplicate[fresh] = False
        self.first_place[position[fresh]] = places[fresh]
        return duplicate

    def _check_one(self, i: int, batch: Batch, places: np.ndarray) -> None:
        query_ids, lists, skip, position, is_null = (
            batch.query_ids,
            batch.lists,
            batch.skip,
            batch.position,
            batch.is_null,
        )
        place = f"{self.unit} {places[i]}"
        if is_null is not None and is_null[i]:
            self.result.add(f"{place}: neighbors is null (use an empty list for no neighbours)")
            return
        query_id = query_ids[i].as_py()
        values = None if skip[i] else lists[i].values
        count = 0 if values is None else len(values)
        long_row = count > 4 * self.k + LONG_ROW  # wrong whatever its ids: do not make millions of str
        tokens = [] if values is None else (values[: self.k] if long_row else values).to_pylist()
        pos = int(position[i]) if position[i] >= 0 else None
        first = self.first_place[pos] if pos is not None else 0
        first_place = f"{self.unit} {first}" if pos is not None and first != places[i] else ""
        tokens = ["" if t is None else t for t in tokens]
        RowChecker(self.columns.gallery_lookup(), self.k, self.result).check(
            place, query_id, tokens, count, pos, first_place
        )

    def finish(self) -> Validation:
        return finish(self.result, self.first_place, self.answers.query_ids, self.rows_read)


def _has_repeats(rows: np.ndarray, found: np.ndarray, n: int) -> np.ndarray:
    """Which of ``n`` rows list a gallery position twice, from their (row, position) entries."""
    known = found >= 0
    keys = np.sort((rows[known].astype(np.int64) << 32) | found[known].astype(np.int64))
    repeated = np.zeros(n, dtype=bool)
    repeated[(keys[1:][keys[1:] == keys[:-1]] >> 32).astype(np.int64)] = True
    return repeated
