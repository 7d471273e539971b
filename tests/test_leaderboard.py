"""The leaderboard file: header once, no silent drops, concurrent appends, ranking and shake-up."""

from __future__ import annotations

import csv
import multiprocessing

import pytest

from harness.errors import LeaderboardError
from harness.scoring.leaderboard import COLUMNS, LINE, PROBLEM, append_row, rank_of, ranked, read_rows, shake_label

REQUIRED = [
    "submission_id",
    "time",
    "name",
    "method",
    "backbone",
    "loss",
    "sampler",
    "indexer",
    "code_kind",
    "bytes_per_item",
    "metric",
    "public",
    "public_low",
    "public_high",
    "private",
    "private_low",
    "private_high",
    "train_seconds",
    "search_ms_per_query",
    "seed",
    "config_hash",
    "manifest_sha256",
    "git_commit",
    "submission_path",
    "study",
    "trial",
]


def test_columns_in_the_agreed_order():
    assert list(COLUMNS[: len(REQUIRED)]) == REQUIRED


def test_header_written_once_and_values_formatted(tmp_path):
    path = tmp_path / "boards" / "toy.csv"
    append_row(path, {"submission_id": "a", "public": 0.123456789, "seed": 3, "trial": None})
    append_row(path, {"submission_id": "b", "public": float("nan")})
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    rows = read_rows(path)
    assert [r["submission_id"] for r in rows] == ["a", "b"]
    assert rows[0]["public"] == "0.123457" and rows[0]["seed"] == "3" and rows[0]["trial"] == ""
    assert rows[1]["public"] == ""


def test_unknown_column_is_an_error_not_a_drop(tmp_path):
    path = tmp_path / "toy.csv"
    with pytest.raises(LeaderboardError, match="no column.*colour"):
        append_row(path, {"submission_id": "a", "colour": "red"})
    path.write_text("submission_id,public\nold,0.5\n")  # an older file with fewer columns
    append_row(path, {"submission_id": "c", "public": 0.25})
    assert path.read_text() == "submission_id,public\nold,0.5\nc,0.25\n"
    append_row(path, {"submission_id": "b", "method": "x"})  # a newer column: the header gains bench's columns
    lines = path.read_text().splitlines()
    assert lines[0] == "submission_id,public," + ",".join(c for c in COLUMNS if c not in ("submission_id", "public"))
    assert lines[1:3] == ["old,0.5", "c,0.25"] and [r["method"] for r in read_rows(path)] == ["", "", "x"]


def test_not_a_leaderboard(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(LeaderboardError, match="not a leaderboard"):
        append_row(path, {"submission_id": "a"})
    with pytest.raises(LeaderboardError, match="not a leaderboard"):
        read_rows(path)
    assert read_rows(tmp_path / "absent.csv") == []


def _append_many(path, worker, count):
    for i in range(count):
        append_row(path, {"submission_id": f"w{worker}-{i}", "name": "x" * 200, "public": i / count})


def test_concurrent_appends_lose_nothing(tmp_path):
    path = tmp_path / "toy.csv"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, w, 50)) for w in range(8)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMNS)
    body = rows[1:]
    assert len(body) == 400 and all(len(r) == len(COLUMNS) for r in body)
    assert len({r[0] for r in body}) == 400
    assert all(r[2] == "x" * 200 for r in body)


def board():
    return [
        {"submission_id": "a", "time": "2026-01-01T00:00:03", "public": "0.5", "private": "0.9"},
        {"submission_id": "b", "time": "2026-01-01T00:00:01", "public": "0.7", "private": "0.4"},
        {"submission_id": "c", "time": "2026-01-01T00:00:02", "public": "0.5", "private": "0.6"},
        {"submission_id": "d", "time": "2026-01-01T00:00:02", "public": "0.5", "private": ""},
        {"submission_id": "e", "time": "2026-01-01T00:00:00", "public": "", "private": "0.1"},
    ]


def test_ranked_by_public_then_time_then_file_order():
    order = [(r["rank"], r["submission_id"]) for r in ranked(board())]
    assert order == [(1, "b"), (2, "c"), (3, "d"), (4, "a"), (5, "e")]
    assert rank_of(board(), "a") == 4
    with pytest.raises(LeaderboardError):
        rank_of(board(), "zz")


def test_private_order_with_shake_up():
    rows = ranked(board(), private=True)
    assert [(r["submission_id"], r["public_rank"], r["shake"]) for r in rows] == [
        ("a", 4, 3), ("c", 2, 0), ("b", 1, -2), ("e", 5, 1), ("d", 3, -2),
    ]  # fmt: skip
    assert [shake_label(s) for s in (3, 0, -2)] == ["▲3", "–", "▼2"]


def test_hand_edited_files_last_line_bom_and_short_rows(tmp_path):
    # review regressions: a last line without "\n" got the new row glued on; a spreadsheet's BOM made the
    # file "not a leaderboard"; a short row read as None cells
    path = tmp_path / "toy.csv"
    path.write_text("\ufeffsubmission_id,name,public\nold,x,0.5\nshort", encoding="utf-8")
    append_row(path, {"submission_id": "new", "name": 'a,b\nc "d"', "public": 0.25})
    rows = read_rows(path)
    assert [r["submission_id"] for r in rows] == ["old", "short", "new"]
    assert rows[1]["public"] == "" and rows[2]["name"] == 'a,b\nc "d"'  # quoted and round-tripped
    assert rows[1][PROBLEM] == "no public score" and [r[LINE] for r in rows] == [2, 3, 4]
    path.write_bytes(b"submission_id,public\n\xff\xfe,0.5\nok,0.5\n")
    rows = read_rows(path)  # a row that is not UTF-8 is shown invalid; the rows after it stay
    assert "not UTF-8" in rows[0][PROBLEM] and rows[1]["submission_id"] == "ok" and not rows[1][PROBLEM]


def test_rewrite_rows_changes_only_what_it_is_told_and_refuses_a_malformed_board(tmp_path):
    from harness.scoring.leaderboard import rewrite_rows

    path = tmp_path / "board.csv"
    append_row(path, {"submission_id": "a", "public": 0.5, "name": "carriage\rreturn"})
    append_row(path, {"submission_id": "b", "public": 0.25, "name": "plain"})
    before = path.read_bytes()
    assert rewrite_rows(path, lambda row: False) == 0 and path.read_bytes() == before  # the writer's own bytes

    def mark_b(row):
        if row["submission_id"] != "b":
            return False
        row["differs"] = "defaults"
        return True

    assert rewrite_rows(path, mark_b) == 1
    rows = read_rows(path)
    assert [(r["name"], r["differs"]) for r in rows] == [("carriage\rreturn", ""), ("plain", "defaults")]
    assert not any(r[PROBLEM] for r in rows)
    with path.open("a") as handle:
        handle.write('c,"unclosed\n')
    broken = path.read_bytes()
    with pytest.raises(LeaderboardError, match="malformed line"):
        rewrite_rows(path, mark_b)
    assert path.read_bytes() == broken
