"""Submission files (DESIGN section 5): written atomically, validated with every problem placed.

```
query_id,neighbors
digits-0042,digits-1187 digits-0977 digits-1630
```
A ``.parquet`` file with columns ``query_id`` (string) and ``neighbors`` (list of strings) is
accepted too, for large k. CSV is read column-wise with pyarrow (the line-by-line reader takes
over for files pyarrow cannot split into one row per line), so memory holds a batch and the
(Q, k) ranked positions; every problem is reported at once with its line (or Parquet row) number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from harness.atomic import atomic_writer
from harness.data.arrow import integers, pyarrow, strings
from harness.errors import SubmissionError
from harness.scoring import submission_columnar, submission_lines
from harness.scoring.answers import Answers
from harness.scoring.submission_checks import HEADER, KEEP_PROBLEMS, Validation

__all__ = [
    "HEADER", "KEEP_PROBLEMS", "PARQUET_ABOVE_IDS", "Validation", "read_submission", "submission_suffix",
    "validate_submission", "write_ranked", "write_submission",
]  # fmt: skip

PARQUET_ABOVE_IDS = 10_000_000  # bench run writes Parquet when a submission would hold more ids
_ROWS_PER_CHUNK_IDS = 2_000_000  # neighbour ids converted to strings at once while writing


def submission_suffix(n_queries: int, k: int, preferred: str = "auto") -> str:
    """``.parquet`` when the file would hold more than PARQUET_ABOVE_IDS ids, else ``.csv``;
    a competition's ``submission_format`` ("csv" or "parquet") decides instead when it names one."""
    if preferred in ("csv", "parquet"):
        return f".{preferred}"
    return ".parquet" if n_queries * k > PARQUET_ABOVE_IDS else ".csv"


def write_submission(path: str | os.PathLike, query_ids: Sequence[str], neighbor_ids: Iterable[Sequence[str]]) -> Path:
    """Write a CSV submission atomically: a crash never leaves a half-written file under ``path``."""
    with atomic_writer(path) as handle:
        handle.write(HEADER + "\n")
        for query_id, neighbors in zip(query_ids, neighbor_ids, strict=True):
            handle.write(f"{query_id},{' '.join(neighbors)}\n")
    return Path(path)


def write_ranked(
    path: str | os.PathLike,
    query_ids: np.ndarray | Sequence[str],
    gallery_ids: np.ndarray | Sequence[str],
    ranked: np.ndarray,
) -> Path:
    """Write ranked gallery positions (Q, k; -1 = none) as a CSV or Parquet submission, by suffix, atomically."""

    pa = pyarrow()
    import pyarrow.compute as pc

    path = Path(path)
    ranked = np.asarray(ranked, dtype=np.int64)
    queries, gallery = strings(query_ids), strings(gallery_ids)
    if len(queries) != len(ranked):
        raise ValueError(f"{len(queries)} query ids but {len(ranked)} ranked rows")
    step = max(1, _ROWS_PER_CHUNK_IDS // max(1, ranked.shape[1]))

    def chunks(encoded: bool):
        for start in range(0, len(ranked), step):
            rows = ranked[start : start + step]
            valid = rows >= 0
            offsets = np.zeros(len(rows) + 1, dtype=np.int32)
            np.cumsum(valid.sum(axis=1), out=offsets[1:])
            positions = integers(rows[valid].astype(np.int32))
            # Parquet stores the ids dictionary-encoded anyway: hand it the dictionary, not copies
            ids = pa.DictionaryArray.from_arrays(positions, gallery) if encoded else pc.take(gallery, positions)
            yield queries[start : start + step], pa.ListArray.from_arrays(integers(offsets), ids)

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        schema = pa.schema([("query_id", pa.string()), ("neighbors", pa.list_(pa.dictionary(pa.int32(), pa.string())))])
        # store_schema=False: readers see the Parquet types, a list of strings, not Arrow's dictionary
        with atomic_writer(path, "wb") as handle, pq.ParquetWriter(handle, schema, store_schema=False) as writer:
            for query_chunk, lists in chunks(encoded=True):
                writer.write_table(pa.Table.from_arrays([query_chunk, lists], schema=schema))
        return path
    space, comma, newline, nothing = (pa.scalar(c, pa.string()) for c in (" ", ",", "\n", ""))
    with atomic_writer(path, "wb") as handle:
        handle.write((HEADER + "\n").encode())
        for query_chunk, lists in chunks(encoded=False):
            lines = pc.binary_join_element_wise(query_chunk, pc.binary_join(lists, space), comma)
            lines = pc.binary_join_element_wise(lines, nothing, newline)  # "line" + "\n" + ""
            _, offsets, data = lines.buffers()
            ends = np.frombuffer(offsets, np.int32)[[lines.offset, lines.offset + len(lines)]]
            handle.write(memoryview(data)[ends[0] : ends[1]])
    return path


def validate_submission(path: str | os.PathLike, answers: Answers) -> Validation:
    """Check every row of a submission against the answers' ids and k; never raises on bad content."""

    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"submission file {path} " + ("is not a file" if path.exists() else "does not exist"))
    try:
        if path.suffix.lower() == ".parquet":
            return submission_columnar.validate_parquet(path, answers)
        result = submission_columnar.validate_csv(path, answers)
    except OSError as exc:
        raise SubmissionError(f"cannot read submission file {path}: {exc.strerror or exc}") from None
    if result is not None:
        return result
    queries = dict(zip(map(str, np.asarray(answers.query_ids).tolist()), range(len(answers.query_ids))))
    gallery = dict(zip(map(str, np.asarray(answers.gallery_ids).tolist()), range(len(answers.gallery_ids))))
    return submission_lines.validate_lines(path, answers, queries, gallery)


def read_submission(path: str | os.PathLike, answers: Answers) -> np.ndarray:
    """Ranked gallery positions (Q, k), -1 padded (missing queries too, which then score 0).

    Any problem other than missing queries raises SubmissionError listing every problem.
    """
    result = validate_submission(path, answers)
    if not result.scorable:
        raise SubmissionError(f"{path}: {result.problem_count} problem(s) found", result.problems, result.problem_count)
    return result.ranked
