"""``bench validate / submit / leaderboard / compare`` on a tiny competition written into the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import write_toy_competition

from harness.errors import BenchError
from harness.scoring.submission import write_submission

GALLERY = [(f"g{i:02d}", i % 3) for i in range(12)]
QUERIES = [(f"q{i}", i % 3, i % 2) for i in range(8)]


@pytest.fixture
def toy(workspace):
    """competitions/toy: 8 queries (half public) and 12 gallery items in 3 classes; metric map@4."""
    return write_toy_competition(workspace, GALLERY, QUERIES)


def make_submission(path, quality):
    """quality 1: perfect lists; 0: every list starts with the wrong class."""
    by_label = {c: [g for g, label in GALLERY if label == c] for c in range(3)}
    rows = []
    for _, label, _ in QUERIES:
        right, wrong = by_label[label], by_label[(label + 1) % 3]
        rows.append(right[:4] if quality == 1 else [*wrong[:2], *right[:2]])
    return write_submission(path, [q for q, _, _ in QUERIES], rows)


def test_validate_ok_and_bad(cli, toy, tmp_path):
    good = make_submission(tmp_path / "good.csv", 1)
    result = cli("validate", good, "--competition", "toy")
    assert result.exit_code == 0 and "valid" in result.stdout and "8 queries" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,neighbors\nq0,g00 g00\nq9,g01\n")
    result = cli("validate", bad, "--competition", "toy")
    assert result.exit_code == 1
    assert "line 2: repeated neighbour" in result.stderr and "line 3: unknown query id 'q9'" in result.stderr
    assert "7 query id(s) missing" in result.stderr and "3 problem(s)" in result.stderr


def test_validate_caps_the_list(cli, toy, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,neighbors\n" + "".join(f"x{i},g00\n" for i in range(70)))
    result = cli("validate", bad, "--competition", "toy")
    assert result.exit_code == 1 and "... and 21 more" in result.stderr


def test_submit_scores_records_and_ranks(cli, toy, tmp_path):
    result = cli("submit", make_submission(tmp_path / "a.csv", 0), "--competition", "toy", "--name", "weak")
    assert result.exit_code == 0, result.stderr
    assert "rank 1" in result.stdout
    result = cli("submit", make_submission(tmp_path / "b.csv", 1), "--competition", "toy", "--name", "strong")
    assert result.exit_code == 0 and "rank 1" in result.stdout and "public 1.0000" in result.stdout
    from harness.scoring.leaderboard import read_rows

    rows = read_rows(toy.root / "leaderboards" / "toy.csv")
    assert [r["name"] for r in rows] == ["weak", "strong"]
    strong = rows[1]
    assert strong["metric"] == "map@4" and float(strong["public"]) == 1.0
    assert (toy.root / strong["submission_path"]).read_text() == (tmp_path / "b.csv").read_text()
    run = toy.root / "runs" / strong["submission_id"]
    assert json.loads((run / "scores.json").read_text())["public"] == 1.0
    assert (run / "per_query.csv").read_text().splitlines() == ["query_id,score", "q1,1", "q3,1", "q5,1", "q7,1"]


def test_submit_refuses_a_bad_file(cli, toy, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,neighbors\nq0,nope\n")
    result = cli("submit", bad, "--competition", "toy")
    assert result.exit_code == 1 and "line 2: 1 unknown gallery id(s): 'nope'" in result.stderr
    assert not (toy.root / "leaderboards" / "toy.csv").exists()


def test_submit_scores_missing_queries_as_zero_with_a_warning(cli, toy, tmp_path):
    partial = tmp_path / "partial.csv"
    full = make_submission(tmp_path / "full.csv", 1).read_text().splitlines()
    partial.write_text("\n".join(full[:5]) + "\n")  # header + q0..q3
    assert cli("validate", partial, "-c", "toy").exit_code == 1
    result = cli("submit", partial, "-c", "toy")
    assert result.exit_code == 0 and "4 query id(s) missing" in result.stderr
    from harness.scoring.leaderboard import read_rows

    row = read_rows(toy.root / "leaderboards" / "toy.csv")[0]
    assert float(row["public"]) == 0.5 and float(row["private"]) == 0.5  # q0..q3 perfect, q4..q7 zero


def test_submit_function_fields_and_ids(toy, tmp_path):
    from harness.scoring.submit import submit

    path = make_submission(tmp_path / "a.csv", 1)
    result = submit(
        toy, "toy", path, name="n", fields={"method": "m", "seed": 7, "code_kind": "binary"}, submission_id="run-1"
    )
    assert result.rank == 1 and result.row["method"] == "m" and result.row["seed"] == "7"
    assert result.run_dir == toy.root / "runs" / "run-1"
    with pytest.raises(BenchError, match="already on the toy leaderboard"):
        submit(toy, "toy", path, submission_id="run-1")
    with pytest.raises(TypeError, match="unknown field"):
        submit(toy, "toy", path, fields={"colour": "red"})
    with pytest.raises(BenchError, match="invalid submission id"):
        submit(toy, "toy", path, submission_id="../x")
    # the pipeline writes straight into submissions/<c>/<id>.csv: no copy needed
    own = make_submission(toy.submission_path("toy", "run-2"), 0)
    assert submit(toy, "toy", own, submission_id="run-2").rank == 2


def test_leaderboard_formats_and_shake_up(cli, toy, tmp_path):
    assert cli("leaderboard", "--competition", "toy").stdout.startswith("no submissions yet")
    assert cli("leaderboard", "--competition", "nothing-here").exit_code == 1  # unknown, not "empty"
    for name, quality in (("weak", 0), ("strong", 1)):
        cli("submit", make_submission(tmp_path / f"{name}.csv", quality), "--competition", "toy", "--name", name)
    table = cli("leaderboard", "--competition", "toy")
    assert table.exit_code == 0 and "strong" in table.stdout and "private" not in table.stdout
    rows = json.loads(cli("leaderboard", "-c", "toy", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["strong", "weak"] and "private" not in rows[0]
    csv_out = cli("leaderboard", "-c", "toy", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("rank,band,submission_id,name") and len(csv_out) == 3
    markdown = cli("leaderboard", "-c", "toy", "--format", "markdown").stdout
    assert markdown.startswith("| rank | band | submission_id") and "|---|" in markdown
    private = json.loads(cli("leaderboard", "-c", "toy", "--private", "--format", "json").stdout)
    assert private[0]["shake"] == "–" and "private" in private[0]
    assert "shake" in cli("leaderboard", "-c", "toy", "--private").stdout


def test_compare_by_id_and_path(cli, toy, tmp_path):
    from harness.scoring.submit import submit

    submit(toy, "toy", make_submission(tmp_path / "a.csv", 1), submission_id="strong")
    submit(toy, "toy", make_submission(tmp_path / "b.csv", 0), submission_id="weak")
    result = cli("compare", "strong", "weak", "--competition", "toy")
    assert result.exit_code == 0, result.stderr
    assert "A beats B in 100.0%" in result.stdout and "on 4 public queries" in result.stdout
    path = toy.root / "submissions" / "toy" / "weak.csv"
    result = cli("compare", path, "strong", "--subset", "all")  # competition inferred from the path
    assert result.exit_code == 0 and "A beats B in 0.0%" in result.stdout and "8 all queries" in result.stdout
    assert cli("compare", "strong", "ghost", "-c", "toy").exit_code == 1


SCRIPT = """
import sys
from harness.cli import main
for argv in {argvs!r}:
    sys.argv = ["bench", *argv]
    try:
        main()
    except SystemExit as exc:
        print("exit", argv[0], exc.code)
heavy = [m for m in ("torch", "faiss", "pandas") if m in sys.modules]
print("heavy", heavy)
"""


def test_scoring_commands_do_not_import_torch(toy, tmp_path):
    sub = make_submission(tmp_path / "s.csv", 1)
    argvs = [
        ["--help"],
        ["validate", str(sub), "-c", "toy"],
        ["submit", str(sub), "-c", "toy"],
        ["leaderboard", "-c", "toy"],
    ]
    env = {**os.environ, "BENCH_ROOT": str(toy.root)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(argvs=argvs)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "heavy []" in done.stdout, done.stdout + done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("exit")] == [
        "exit --help 0", "exit validate 0", "exit submit 0", "exit leaderboard 0",
    ]  # fmt: skip


def test_submission_ids_and_git_commit(monkeypatch):
    import re

    from harness.scoring import submit as submit_module
    from harness.workspace import check_name

    new_id = submit_module.new_submission_id()
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", new_id) and check_name(new_id) == new_id
    assert isinstance(submit_module.git_commit(), str)
    submit_module.git_commit.cache_clear()
    monkeypatch.setenv("PATH", "/nonexistent")  # no git at all: "" rather than an error
    assert submit_module.git_commit() == ""
    submit_module.git_commit.cache_clear()


def test_a_failed_leaderboard_append_leaves_no_files(toy, tmp_path, monkeypatch):
    # review regression: the copy and runs/<id>/ files were kept when the leaderboard row could not be written
    import harness.scoring.submit as submit_module
    from harness.errors import LeaderboardError

    def refuse(path, row):
        raise LeaderboardError("locked")

    monkeypatch.setattr(submit_module, "append_locked", refuse)
    with pytest.raises(LeaderboardError):
        submit_module.submit(toy, "toy", make_submission(tmp_path / "a.csv", 1), submission_id="lost")
    assert not toy.submission_path("toy", "lost").exists()
    assert not (toy.root / "runs" / "lost").exists()


def test_leaderboard_mixes_rows_with_and_without_search_times(cli, toy, tmp_path):
    # review regression: KeyError 'search_ms_per_query' when the top row had no search time and another had one
    from harness.scoring.leaderboard import append_row

    cli("submit", make_submission(tmp_path / "a.csv", 1), "-c", "toy", "--name", "two\nlines, and a comma")
    append_row(
        toy.root / "leaderboards" / "toy.csv", {"submission_id": "run", "public": 0.5, "search_ms_per_query": 1.5}
    )
    for fmt in ("table", "markdown", "csv", "json"):
        result = cli("leaderboard", "-c", "toy", "--format", fmt)
        assert result.exit_code == 0, (fmt, result.stderr)
    markdown = cli("leaderboard", "-c", "toy", "--format", "markdown").stdout.splitlines()
    assert len(markdown) == 4 and "two lines, and a comma" in markdown[2] and "1.500" in markdown[3]
    assert cli("submit", tmp_path, "-c", "toy").stderr.count("is not a file") == 1


def test_submit_counts_every_problem_not_just_the_kept_ones(cli, toy, tmp_path, monkeypatch):
    # review regression: `bench submit` reported len(kept problems) instead of the full count
    import harness.scoring.submission as submission

    monkeypatch.setattr(submission, "KEEP_PROBLEMS", 5)
    bad = tmp_path / "bad.csv"
    bad.write_text("query_id,neighbors\n" + "".join(f"x{i},g00\n" for i in range(20)))
    result = cli("submit", bad, "-c", "toy")
    assert result.exit_code == 1 and "21 problem(s)" in result.stderr


def test_submit_refuses_a_header_only_file_as_validate_does(cli, toy, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("query_id,neighbors\n")
    assert cli("validate", empty, "-c", "toy").exit_code == 1
    result = cli("submit", empty, "-c", "toy")
    assert result.exit_code == 1 and "header but no rows" in result.stderr
    assert not (toy.root / "leaderboards" / "toy.csv").exists()


def test_parquet_submission_is_kept_as_parquet_and_scores_like_its_csv(cli, toy, tmp_path):
    import numpy as np

    from harness.data.competition import prepare_answers
    from harness.scoring.answers import load_answers
    from harness.scoring.submission import read_submission, write_ranked

    csv_file = make_submission(tmp_path / "s.csv", 0)
    prepare_answers(toy, "toy")  # the toy workspace predates the answers store: the explicit write step
    answers = load_answers(toy, "toy")
    ranked = read_submission(csv_file, answers)
    parquet = write_ranked(tmp_path / "s.parquet", answers.query_ids, answers.gallery_ids, ranked)
    assert cli("validate", parquet, "-c", "toy").exit_code == 0
    assert cli("submit", csv_file, "-c", "toy").exit_code == 0
    assert cli("submit", parquet, "-c", "toy").exit_code == 0
    from harness.scoring.leaderboard import read_rows

    by_csv, by_parquet = read_rows(toy.root / "leaderboards" / "toy.csv")
    assert by_parquet["submission_path"].endswith(".parquet") and by_csv["submission_path"].endswith(".csv")
    assert by_parquet["public"] == by_csv["public"] and by_parquet["private"] == by_csv["private"]
    np.testing.assert_array_equal(read_submission(toy.root / by_parquet["submission_path"], answers), ranked)


def test_bench_run_writes_parquet_above_ten_million_ids():
    from harness.scoring.submission import PARQUET_ABOVE_IDS, submission_suffix

    assert PARQUET_ABOVE_IDS == 10_000_000
    assert submission_suffix(100_000, 100) == ".csv"
    assert submission_suffix(1_000, 54_000) == ".parquet"


def test_submit_of_a_large_file_points_to_bench_report_instead_of_drawing(cli, toy, tmp_path, monkeypatch):
    from harness.cli import scoring_cmd

    monkeypatch.setattr(scoring_cmd, "RUN_REPORT_MAX_BYTES", 10)
    result = cli("submit", make_submission(tmp_path / "s.csv", 1), "-c", "toy")
    assert result.exit_code == 0 and "no run report for a submission this large" in result.stdout
    assert "bench report -c toy --submission" in result.stdout


def test_submitted_files_declare_their_seed_and_group(cli, toy, tmp_path):
    for seed, quality in ((0, 1), (1, 1)):
        path = make_submission(tmp_path / f"peer{seed}.csv", quality)
        result = cli("submit", path, "-c", "toy", "--seed", seed, "--group", "peer")
        assert result.exit_code == 0, result.stderr
    for seed in (0, 1):
        cli("submit", make_submission(tmp_path / f"weak{seed}.csv", 0), "-c", "toy", "--seed", seed, "--group", "weak")
    groups = json.loads(cli("leaderboard", "-c", "toy", "--by", "group", "--format", "json").stdout)
    by_name = {g["group"]: g for g in groups}
    assert by_name["peer"]["n_seeds"] == 2 and by_name["peer"]["seeds"] == "0,1"
    assert by_name["weak"]["n_seeds"] == 2 and len(groups) == 2
    compared = cli("compare", "peer", "weak", "-c", "toy")
    assert compared.exit_code == 0 and "group of 2 seed(s)" in compared.stdout


def test_a_declared_group_never_joins_or_shadows_another(cli, toy, tmp_path):
    def submit(*options):
        return cli("submit", make_submission(tmp_path / "s.csv", 1), "-c", "toy", *options)

    assert submit("--seed", 0, "--group", "peer").exit_code == 0
    twice = submit("--seed", 0, "--group", "peer")
    assert twice.exit_code == 1 and "already has seed 0" in twice.stderr
    unseeded = submit("--group", "other")
    assert unseeded.exit_code == 1 and "need their seed" in unseeded.stderr
    shaped = submit("--seed", 0, "--group", "0123456789abcdef-nogit")
    assert shaped.exit_code == 1 and "shape of a group bench makes" in shaped.stderr
    assert submit("--seed", 3).exit_code == 0  # a seed alone: the row is a group of its own
    rows = json.loads(cli("leaderboard", "-c", "toy", "--format", "json").stdout)
    lone = next(r["submission_id"] for r in rows if r["group"] != "peer")
    taken = submit("--seed", 1, "--group", lone)
    assert taken.exit_code == 1 and "did not declare it" in taken.stderr
    remote = submit("--seed", 1, "--group", "peer", "--server", "http://localhost:1")
    assert remote.exit_code == 1 and "--server" in remote.stderr
    assert len(json.loads(cli("leaderboard", "-c", "toy", "--format", "json").stdout)) == 2


def test_a_run_with_a_config_hash_cannot_declare_a_group(toy, tmp_path):
    from harness.scoring.submit import submit

    with pytest.raises(BenchError, match="only submitted files declare a group"):
        submit(toy, "toy", make_submission(tmp_path / "a.csv", 1), fields={"config_hash": "ab" * 8, "group": "g"})
