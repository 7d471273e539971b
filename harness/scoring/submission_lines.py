"""The line-by-line CSV reader: slow, but it places every problem on its line, whatever the file.

The columnar reader hands a file here when pyarrow cannot parse it into rows (a wrong number of
fields, an empty line, bytes that are not UTF-8, a line longer than its block). Memory stays
bounded by one line: a huge line is counted, not split, beyond what validation needs.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from harness.errors import SubmissionError
from harness.scoring.answers import Answers
from harness.scoring.submission_checks import (
    HEADER,
    LONG_ROW,
    RowChecker,
    Validation,
    finish,
    row_limit,
    short,
    too_many_rows,
)


def validate_lines(path: Path, answers: Answers, queries: dict[str, int], gallery: dict[str, int]) -> Validation:
    k = answers.k
    result = Validation(ranked=np.full((len(queries), k), -1, dtype=np.int64))
    first_line = np.zeros(len(queries), dtype=np.int64)  # 0: not seen yet
    checker = RowChecker(gallery.get, k, result)
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by the with below; only open's error is caught)
    except OSError as exc:
        raise SubmissionError(f"cannot read submission file {path}: {exc.strerror or exc}") from None
    line_no = 0
    with handle:
        for line_no, raw in enumerate(handle, start=1):
            if line_no > row_limit(len(queries)) + 1:
                result.add(too_many_rows(len(queries)))
                line_no -= 1
                break
            text = _decode(raw, line_no, result)
            if text is None:
                continue
            if line_no == 1:
                text = text.removeprefix("\ufeff")  # spreadsheet byte-order mark: harmless
                if text != HEADER:
                    result.add(f"line 1: header must be exactly {HEADER!r} but is {short(text)!r}")
                continue
            _check_line(text, line_no, queries, first_line, checker)
    if line_no == 0:
        result.add(f"line 1: file is empty; expected the header {HEADER!r}")
        return result
    return finish(result, first_line, answers.query_ids, line_no - 1)


def _decode(raw: bytes, line_no: int, result: Validation) -> str | None:
    body = raw.rstrip(b"\n").removesuffix(b"\r")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.add(f"line {line_no}: not UTF-8 (byte 0x{body[exc.start]:02x} at column {exc.start + 1})")
        return None


def split_fields(text: str) -> list[str]:
    """The fields of one CSV line; RFC-4180 quoting (a field in double quotes) is honoured when present."""
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error:
        return text.split(",")


def _check_line(text: str, line_no: int, queries: dict[str, int], first_line: np.ndarray, checker: RowChecker) -> None:
    result, k = checker.result, checker.k
    if text.strip() == "":
        result.add(f"line {line_no}: empty line")
        return
    fields = split_fields(text)
    if len(fields) != 2:
        result.add(f"line {line_no}: expected 2 fields (query_id,neighbors) but found {len(fields)}")
        return
    query_id, neighbors = fields
    position = queries.get(query_id)
    first_place = ""
    if position is not None:
        if first_line[position]:
            first_place = f"line {first_line[position]}"
        else:
            first_line[position] = line_no
    count = neighbors.count(" ") + 1 if neighbors else 0
    # a line far longer than k is wrong whatever its ids: check k + 1 of them, not millions
    if not neighbors:
        tokens = []  # a query with no neighbours (it scores 0), as the columnar reader reads it
    elif count <= 4 * k + LONG_ROW:
        tokens = neighbors.split(" ")
    else:
        tokens = neighbors.split(" ", k)[:k]
    checker.check(f"line {line_no}", query_id, tokens, count, position, first_place)
