"""Submission files: atomic writes, and validation that reports every problem with its line number."""

from __future__ import annotations

import os

import numpy as np
import pytest

from harness.errors import SubmissionError
from harness.scoring.answers import Answers
from harness.scoring.submission import HEADER, read_submission, validate_submission, write_submission


@pytest.fixture
def answers():
    return Answers(
        competition="toy", metric="map@k", k=3,
        query_ids=np.array(["q1", "q2", "q3"]), query_labels=np.array([0, 1, 0]),
        public=np.array([True, False, True]),
        gallery_ids=np.array(["g1", "g2", "g3", "g4"]), gallery_labels=np.array([0, 1, 0, 1]),
        manifest_sha256="sha",
    )  # fmt: skip


def write(tmp_path, text, name="sub.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_write_then_read_round_trip(tmp_path, answers):
    path = write_submission(tmp_path / "out" / "s.csv", ["q1", "q2", "q3"], [["g1", "g3"], ["g2"], []])
    assert path.read_text().splitlines() == [HEADER, "q1,g1 g3", "q2,g2", "q3,"]
    ranked = read_submission(path, answers)
    np.testing.assert_array_equal(ranked, [[0, 2, -1], [1, -1, -1], [-1, -1, -1]])


def test_crash_while_writing_leaves_no_file(tmp_path):
    def rows():
        yield ["g1"]
        raise RuntimeError("disk on fire")

    folder = tmp_path / "subs"
    with pytest.raises(RuntimeError):
        write_submission(folder / "s.csv", ["q1", "q2"], rows())
    assert os.listdir(folder) == []


def test_crash_keeps_the_previous_file_whole(tmp_path):
    target = write_submission(tmp_path / "subs" / "s.csv", ["q1"], [["g1"]])
    with pytest.raises(ValueError):
        write_submission(target, ["q1", "q2"], [["g2"]])  # lengths differ: zip(strict=True) raises late
    assert target.read_text() == f"{HEADER}\nq1,g1\n"
    assert os.listdir(target.parent) == ["s.csv"]


def test_valid_file_with_crlf_and_bom(tmp_path, answers):
    path = write(tmp_path, "\ufeffquery_id,neighbors\r\nq2,g2 g4\r\nq1,g1\r\nq3,g3 g1 g2\r\n")
    result = validate_submission(path, answers)
    assert result.ok, result.problems
    assert result.rows == 3
    np.testing.assert_array_equal(result.ranked, [[0, -1, -1], [1, 3, -1], [2, 0, 1]])


def test_every_problem_reported_with_its_line_number(tmp_path, answers):
    text = (
        "query_id,neighbours\n"  # 1 bad header
        "q1,g1 g9\n"  # 2 unknown gallery id
        "q1,g2\n"  # 3 duplicate query
        "qX,g1\n"  # 4 unknown query
        "\n"  # 5 empty line
        "q2,g1,g2\n"  # 6 wrong number of fields
        "q3,g1  g2\n"  # 7 double space
    )
    problems = validate_submission(write(tmp_path, text), answers).problems
    expected = [
        "line 1: header must be exactly",
        "line 2: 1 unknown gallery id(s): 'g9'",
        "line 3: duplicate query id 'q1' (first on line 2)",
        "line 4: unknown query id 'qX'",
        "line 5: empty line",
        "line 6: expected 2 fields",
        "line 7: empty neighbour id",
        "1 query id(s) missing from the file: q2",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected):
        assert problem.startswith(start), problem


def test_repeats_too_many_and_encoding(tmp_path, answers):
    text = b"query_id,neighbors\nq1,g1 g2 g1\nq2,g1 g2 g3 g4\nq3,g\xff1\n"
    problems = validate_submission(write(tmp_path, text), answers).problems
    assert problems[0] == "line 2: repeated neighbour(s): 'g1'"
    assert problems[1] == "line 3: 4 neighbours, more than k=3"
    assert problems[2].startswith("line 4: not UTF-8 (byte 0xff at column 5)")
    assert problems[3].startswith("1 query id(s) missing")


def test_leading_trailing_spaces_and_empty_file(tmp_path, answers):
    problems = validate_submission(write(tmp_path, "query_id,neighbors\nq1, g1\nq2,g2 \nq3,g3\n"), answers).problems
    assert [p[:7] for p in problems] == ["line 2:", "line 3:"]
    empty = validate_submission(write(tmp_path, "", "empty.csv"), answers).problems
    assert empty == ["line 1: file is empty; expected the header 'query_id,neighbors'"]


def test_missing_queries_are_a_problem_but_still_scorable(tmp_path, answers):
    path = write(tmp_path, "query_id,neighbors\nq1,g1\n")
    result = validate_submission(path, answers)
    assert result.problems == ["2 query id(s) missing from the file: q2, q3"]
    assert not result.ok and result.scorable and result.missing == 2
    ranked = read_submission(path, answers)  # missing queries: -1 rows, scored 0
    np.testing.assert_array_equal(ranked, [[0, -1, -1], [-1, -1, -1], [-1, -1, -1]])
    bad = write(tmp_path, "query_id,neighbors\nq1,g1 g1\n", "bad.csv")
    with pytest.raises(SubmissionError) as info:
        read_submission(bad, answers)
    assert len(info.value.problems) == 2


def test_missing_file(tmp_path, answers):
    with pytest.raises(SubmissionError, match="does not exist"):
        read_submission(tmp_path / "nope.csv", answers)


def test_problem_list_is_capped_but_counted(tmp_path, answers, monkeypatch):
    import harness.scoring.submission_checks as submission

    monkeypatch.setattr(submission, "KEEP_PROBLEMS", 5)
    text = "query_id,neighbors\n" + "".join(f"x{i},g1\n" for i in range(20))
    result = validate_submission(write(tmp_path, text), answers)
    assert len(result.problems) == 5 and result.problem_count == 21


def test_a_directory_is_not_a_file(tmp_path, answers):
    # review regression: a folder passed as FILE said "does not exist"
    with pytest.raises(SubmissionError, match="is not a file"):
        validate_submission(tmp_path, answers)


# -- the columnar readers (pyarrow CSV and Parquet) and their fall-back ----------------------
def test_rfc4180_quoted_fields_are_accepted(tmp_path, answers):
    path = write(tmp_path, 'query_id,neighbors\n"q1","g1 g3"\nq2,"g2"\n"q3",\n')
    result = validate_submission(path, answers)
    assert result.ok, result.problems
    np.testing.assert_array_equal(result.ranked, [[0, 2, -1], [1, -1, -1], [-1, -1, -1]])


def test_quoted_field_with_a_comma_is_one_field_on_the_line_reader_too(tmp_path, answers):
    # the empty line sends the file to the line reader, which must honour quotes as well
    path = write(tmp_path, 'query_id,neighbors\n"q1","g1,g3"\n\nq2,g2\nq3,g3\n')
    problems = validate_submission(path, answers).problems
    assert problems == ["line 2: 1 unknown gallery id(s): 'g1,g3'", "line 3: empty line"]


def test_problems_found_column_wise_keep_their_line_numbers(tmp_path, answers):
    text = "query_id,neighbors\nq1,g1 g9\nq1,g2\nqX,g1\nq2,g1 g1\nq3,g1 g2 g3 g4\n"
    problems = validate_submission(write(tmp_path, text), answers).problems
    assert problems == [
        "line 2: 1 unknown gallery id(s): 'g9'",
        "line 3: duplicate query id 'q1' (first on line 2)",
        "line 4: unknown query id 'qX'",
        "line 5: repeated neighbour(s): 'g1'",
        "line 6: 4 neighbours, more than k=3",
    ]


def test_header_only_file_cannot_be_scored(tmp_path, answers):
    result = validate_submission(write(tmp_path, "query_id,neighbors\n"), answers)
    assert not result.scorable
    assert result.problems[0] == "the file has a header but no rows: nothing to score"
    with pytest.raises(SubmissionError):
        read_submission(write(tmp_path, "query_id,neighbors\n", "h.csv"), answers)


def test_a_huge_line_is_counted_not_split(tmp_path, answers):
    line = " ".join(["g1", "g2", "g3"] * 100_000)  # far longer than k: only its first k ids are looked at
    path = write(tmp_path, f"query_id,neighbors\nq1,{line}\nq2,g2\nq3,g3\n")
    expected = "line 2: 300000 neighbours, more than k=3 (only the first 3 checked)"
    assert validate_submission(path, answers).problems == [expected]  # column-wise
    from harness.scoring import submission_lines

    result = submission_lines.validate_lines(path, answers, {"q1": 0, "q2": 1, "q3": 2}, {"g1": 0, "g2": 1, "g3": 2})
    assert result.problems == [expected]  # line by line (a line longer than pyarrow's block)


def test_write_ranked_csv_and_parquet_round_trip(tmp_path, answers):
    from harness.scoring.submission import write_ranked

    ranked = np.array([[0, 2, -1], [1, -1, -1], [-1, -1, -1]])
    for name in ("r.csv", "r.parquet"):
        path = write_ranked(tmp_path / name, answers.query_ids, answers.gallery_ids, ranked)
        result = validate_submission(path, answers)
        assert result.ok, result.problems
        np.testing.assert_array_equal(result.ranked, ranked)
    assert (tmp_path / "r.csv").read_text() == "query_id,neighbors\nq1,g1 g3\nq2,g2\nq3,\n"


def test_parquet_problems_name_their_rows(tmp_path, answers):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"query_id": ["q1", "q1", "qX", "q2"], "neighbors": [["g1", "g9"], ["g2"], ["g1"], None]},
        schema=pa.schema([("query_id", pa.string()), ("neighbors", pa.list_(pa.string()))]),
    )
    pq.write_table(table, tmp_path / "s.parquet")
    problems = validate_submission(tmp_path / "s.parquet", answers).problems
    assert problems == [
        "row 1: 1 unknown gallery id(s): 'g9'",
        "row 2: duplicate query id 'q1' (first on row 1)",
        "row 3: unknown query id 'qX'",
        "row 4: neighbors is null (use an empty list for no neighbours)",
        "1 query id(s) missing from the file: q3",
    ]
    pq.write_table(pa.table({"query_id": ["q1"], "neighbors": ["g1"]}), tmp_path / "bad.parquet")
    assert (
        "needs the columns query_id (string) and neighbors (list of strings)"
        in (validate_submission(tmp_path / "bad.parquet", answers).problems[0])
    )
    table = pa.table({"query_id": ["q1", "q2", "q3"], "neighbors": [["g1", None], ["g2"], []]})
    pq.write_table(table, tmp_path / "null-id.parquet", row_group_size=1)  # three row groups
    assert validate_submission(tmp_path / "null-id.parquet", answers).problems == [
        "row 1: empty neighbour id (use single spaces, none leading or trailing)"
    ]
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    assert validate_submission(tmp_path / "junk.parquet", answers).problems[0].startswith("not a readable Parquet")


def test_many_blocks_on_many_threads_report_what_the_line_reader_reports(tmp_path, monkeypatch):
    """Small blocks checked on worker threads: the same problems, in file order, and the same ranking."""
    from harness.scoring import submission_columnar, submission_lines

    rng = np.random.default_rng(7)
    queries, gallery, k = [f"q{i}" for i in range(400)], [f"g{i}" for i in range(300)], 5
    answers = Answers(
        competition="toy", metric="map@k", k=k, query_ids=np.array(queries), query_labels=rng.integers(0, 3, 400),
        public=rng.random(400) < 0.5, gallery_ids=np.array(gallery), gallery_labels=rng.integers(0, 3, 300),
        manifest_sha256="sha",
    )  # fmt: skip
    lines = ["query_id,neighbors"]
    for i in rng.permutation(400)[:390]:  # ten queries left out
        ids = [gallery[j] for j in rng.choice(300, int(rng.integers(0, k + 1)), replace=False)]
        kind = rng.integers(0, 12)
        if kind == 0:
            ids.append("nope")  # an unknown gallery id
        elif kind == 1 and ids:
            ids.append(ids[0])  # a repeat
        elif kind == 2:
            ids += gallery[:k]  # too many
        lines.append(f"{'qX' if kind == 3 else queries[i]},{' '.join(ids)}")
        if kind == 4:
            lines.append(f"{queries[i]},{gallery[0]}")  # a duplicate query, maybe in the next block
    path = write(tmp_path, "\n".join(lines) + "\n")
    monkeypatch.setattr(submission_columnar, "BLOCK_BYTES", 1024)
    monkeypatch.setattr(submission_columnar, "WORKERS", 3)
    columnar = submission_columnar.validate_csv(path, answers)
    assert columnar is not None  # read column-wise, not handed to the line reader
    lookup = {name: i for i, name in enumerate(gallery)}
    by_line = submission_lines.validate_lines(path, answers, {q: i for i, q in enumerate(queries)}, lookup)
    assert columnar.problem_count > 20
    assert columnar.problems == by_line.problems
    np.testing.assert_array_equal(columnar.ranked, by_line.ranked)
    assert columnar.rows == by_line.rows
