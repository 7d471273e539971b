"""Issue 11: a leaderboard nobody can silently break. Each test is one class of failure a hostile or
careless user found: hidden rows, half rows, forged rows, a file changed while scored, a plugin that
changes the score, an edited competition.json, answers in the workspace, a kill -9, a git merge."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
import test_scoring_cli
from test_scoring_cli import make_submission

from harness.errors import CompetitionError, LeaderboardError
from harness.scoring.leaderboard import COLUMNS, LINE, PROBLEM, append_row, ranked, read_rows

toy = test_scoring_cli.toy  # the toy competition fixture: 8 queries, 12 gallery items, map@4


def board_path(ws):
    return ws.root / "leaderboards" / "toy.csv"


def submit_ok(cli, path, *extra):
    result = cli("submit", path, "-c", "toy", *extra)
    assert result.exit_code == 0, result.stderr
    return result


def json_board(cli, *extra):
    result = cli("leaderboard", "-c", "toy", "--format", "json", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- reading never hides a row ------------------------------------------------------------------------


def test_a_stray_quote_hides_no_later_row_and_the_next_submit_ranks(cli, toy, tmp_path):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0), "--name", "first")
    with open(board_path(toy), "a") as handle:
        handle.write('"broken,row,0.5\n')  # an unclosed quote used to swallow every line after it
    submit_ok(cli, make_submission(tmp_path / "b.csv", 1), "--name", "after")
    rows = json_board(cli)
    assert [r["name"] for r in rows if r["valid"]] == ["after", "first"]
    broken = [r for r in rows if not r["valid"]]
    assert len(broken) == 1 and broken[0]["line"] == 3 and "well-formed" in broken[0]["reason"]
    assert broken[0]["rank"] is None
    table = cli("leaderboard", "-c", "toy")
    assert "line 3" in table.stdout and "invalid row" in table.stderr


def test_malformed_rows_keep_their_line_numbers(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text(
        "submission_id,name,public\n"
        'a,"two\nlines",0.5\n'  # a legal multi-line name: one row
        "b,x,0.5,extra\n"  # too many fields
        "c,y,0.25\n"
    )
    rows = read_rows(path)
    assert [(r["submission_id"], r[LINE], bool(r[PROBLEM])) for r in rows] == [
        ("a", 2, False), ("b", 4, True), ("c", 5, False),
    ]  # fmt: skip
    assert [r["submission_id"] for r in ranked(rows)] == ["a", "c", "b"]


@pytest.mark.parametrize(
    "cells, reason",
    [
        ({"public": "7.5"}, "public '7.5' is not a score"),
        ({"public": "inf"}, "public 'inf' is not a score"),
        ({"public": "nan"}, "public 'nan' is not a score"),
        ({"private": "-1"}, "private '-1' is not a score"),
        ({"metric": "map@10"}, "metric 'map@10'"),
        ({"manifest_sha256": "0" * 64}, "manifest_sha256"),
    ],
)
def test_forged_rows_are_shown_invalid_and_unranked(cli, toy, tmp_path, cells, reason):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0), "--name", "honest")
    honest = read_rows(board_path(toy))[0]
    forged = {k: v for k, v in honest.items() if k in COLUMNS} | {"submission_id": "forged", "name": "forged"} | cells
    append_row(board_path(toy), forged)
    rows = json_board(cli)
    assert rows[0]["name"] == "honest" and rows[0]["rank"] == 1 and rows[0]["valid"] is True
    assert rows[1]["name"] == "forged" and rows[1]["valid"] is False and reason in rows[1]["reason"]


def test_a_repeated_submission_id_makes_every_copy_invalid(cli, toy, tmp_path):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1))
    row = {k: v for k, v in read_rows(board_path(toy))[0].items() if k in COLUMNS}
    append_row(board_path(toy), row)
    rows = json_board(cli)
    assert [r["valid"] for r in rows] == [False, False] and "repeats (lines 2, 3)" in rows[0]["reason"]


# -- appends are all-or-nothing -----------------------------------------------------------------------


def test_a_failed_append_cuts_the_file_back(cli, toy, tmp_path, monkeypatch):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0))
    before = board_path(toy).read_bytes()
    files_before = sorted(p.relative_to(toy.root) for p in toy.root.rglob("*") if p.is_file())

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    better = make_submission(tmp_path / "b.csv", 1)
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", disk_full)  # the files are written, then the disk turns out to be full
    result = cli("submit", better, "-c", "toy")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert result.exit_code == 1 and "No space left on device" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert board_path(toy).read_bytes() == before
    assert sorted(p.relative_to(toy.root) for p in toy.root.rglob("*") if p.is_file()) == files_before


@pytest.fixture
def tmpfs(tmp_path):
    """A real 512 KiB tmpfs (needs root and mount); skipped where the machine does not allow it."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _toy_in(folder, toy_ws):
    """A workspace on ``folder`` holding the toy competition."""
    shutil.copytree(toy_ws.root / "competitions", folder / "competitions")
    return folder


def test_a_real_full_disk_leaves_the_board_as_it_was(cli, toy, tmp_path, tmpfs, monkeypatch):
    root = _toy_in(tmpfs / "ws", toy)
    monkeypatch.setenv("BENCH_ROOT", str(root))
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0))
    before = (root / "leaderboards" / "toy.csv").read_bytes()
    better = make_submission(tmp_path / "b.csv", 1)
    fd = os.open(tmpfs / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last byte
        while os.write(fd, b"\0" * 512):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    result = cli("submit", better, "-c", "toy")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert (root / "leaderboards" / "toy.csv").read_bytes() == before
    assert len(list((root / "submissions" / "toy").iterdir())) == 1 and len(list((root / "runs").iterdir())) == 1


def test_a_read_only_workspace_is_one_line(cli, toy, tmp_path, tmpfs, monkeypatch):
    root = _toy_in(tmpfs / "ws", toy)
    monkeypatch.setenv("BENCH_ROOT", str(root))
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0))  # migrates and records while writable
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        result = cli("submit", make_submission(tmp_path / "b.csv", 1), "-c", "toy")
        assert result.exit_code == 1 and "Read-only file system" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
        assert cli("leaderboard", "-c", "toy").exit_code == 0  # reading still works
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)


# -- every row is bound to the file it scores ---------------------------------------------------------


def test_verify_rescores_every_row_and_names_what_does_not_match(cli, toy, tmp_path):
    from harness.scoring.submission import write_submission

    public_only = write_submission(tmp_path / "a.csv", ["q1"], [["g01", "g04", "g07", "g10"]])
    submit_ok(cli, public_only, "--name", "a")  # public and private scores differ: a swap shows
    submit_ok(cli, make_submission(tmp_path / "b.csv", 1), "--name", "b")
    submit_ok(cli, make_submission(tmp_path / "c.csv", 1), "--name", "c")
    verified = cli("leaderboard", "-c", "toy", "--verify")
    assert verified.exit_code == 0 and "all 3 row(s)" in verified.stdout
    rows = read_rows(board_path(toy))
    (toy.root / rows[1]["submission_path"]).unlink()  # b: missing file
    changed = toy.root / rows[2]["submission_path"]
    make_submission(changed, 0)  # c: a changed file
    text = board_path(toy).read_text().splitlines()
    header = text[0].split(",")
    swapped = [{"public": "private", "private": "public"}.get(c, c) for c in header]
    board_path(toy).write_text("\n".join([",".join(swapped), *text[1:]]) + "\n")  # a: public/private swapped
    result = cli("leaderboard", "-c", "toy", "--verify")
    assert result.exit_code == 1
    assert "line 3 (" in result.stderr and "is missing" in result.stderr
    assert "line 4 (" in result.stderr and "changed since it was scored" in result.stderr
    assert "line 2 (" in result.stderr and "the stored submission scores" in result.stderr
    assert "3 of 3 row(s)" in result.stderr


def test_verify_checks_the_metric_panel_too(cli, toy, tmp_path):
    """``--metric hit@1`` ranks by the panel: a forged panel value is named like a forged score."""
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1), "--name", "a")
    rows = read_rows(board_path(toy))
    panel = json.loads(rows[0]["metrics"])
    assert panel and "hit@1" in panel
    text = board_path(toy).read_text()
    forged = json.dumps({**panel, "hit@1": 0.0 if panel["hit@1"] else 1.0}, sort_keys=True)
    board_path(toy).write_text(text.replace(rows[0]["metrics"].replace('"', '""'), forged.replace('"', '""')))
    result = cli("leaderboard", "-c", "toy", "--verify")
    assert result.exit_code == 1
    assert "metrics hit@1 is" in result.stderr and "the stored submission scores" in result.stderr


def test_the_file_kept_is_the_file_scored(toy, tmp_path, monkeypatch):
    import harness.scoring.submit as submit_module

    source = make_submission(tmp_path / "a.csv", 1)
    real_validate = submit_module.validate_submission

    def change_source_then_validate(path, answers):
        make_submission(source, 0)  # the participant's file changes while bench works on it
        return real_validate(path, answers)

    monkeypatch.setattr(submit_module, "validate_submission", change_source_then_validate)
    result = submit_module.submit(toy, "toy", source, submission_id="moving")
    row = read_rows(board_path(toy))[0]
    kept = toy.root / row["submission_path"]
    assert row["submission_sha256"] == submit_module.sha256_file(kept) and float(row["public"]) == 1.0
    assert result.rank == 1
    monkeypatch.setattr(submit_module, "validate_submission", real_validate)
    from harness.scoring.verify import verify_board

    assert verify_board(toy, "toy")[1] == []


def test_compare_rescores_instead_of_trusting_run_folders(cli, toy, tmp_path):
    from harness.scoring.submit import submit

    submit(toy, "toy", make_submission(tmp_path / "a.csv", 1), submission_id="strong")
    submit(toy, "toy", make_submission(tmp_path / "b.csv", 0), submission_id="weak")
    before = cli("compare", "strong", "weak", "-c", "toy").stdout
    per_query = toy.root / "runs" / "weak" / "per_query.csv"
    per_query.write_text(per_query.read_text().replace(",0.", ",1.").replace(",0\n", ",1\n"))
    assert cli("compare", "strong", "weak", "-c", "toy").stdout == before


def test_run_folders_keep_public_per_query_scores_only(toy, tmp_path):
    from harness.scoring.submit import submit

    submit(toy, "toy", make_submission(tmp_path / "a.csv", 1), submission_id="s")
    with open(toy.root / "runs" / "s" / "per_query.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["query_id"] for r in rows] == ["q1", "q3", "q5", "q7"] and set(rows[0]) == {"query_id", "score"}


# -- no plugin can change a recorded score --------------------------------------------------------------

SCORE_FAKER = """
import harness.scoring.scorer as scorer, harness.metrics as metrics
import numpy as np

def fake(ranked, query_labels, gallery_labels, metric, k):
    return np.full(len(query_labels), 1.0)

metrics.per_query_scores = fake
scorer.per_query_scores = fake
"""


def test_a_plugin_that_replaces_the_scorer_at_import_changes_no_recorded_score(cli, toy, tmp_path, plugins_dir):
    import harness.metrics as metrics
    import harness.scoring.scorer as scorer
    from harness.plugins import get_host
    from harness.scoring.submit import submit_isolated

    real = metrics.per_query_scores
    (plugins_dir / "faker.py").write_text(SCORE_FAKER)  # no hooks at all: only an import side effect
    try:
        get_host()  # bench run loads every plugin before it submits, so it submits isolated
        assert scorer.per_query_scores is not real  # the plugin did replace the scorer in this process
        result = submit_isolated(toy, "toy", make_submission(tmp_path / "weak.csv", 0), submission_id="weak")
    finally:
        metrics.per_query_scores = scorer.per_query_scores = real
    row = read_rows(board_path(toy))[0]
    assert float(row["public"]) < 1.0 and result.row["public"] == row["public"]
    assert cli("leaderboard", "-c", "toy", "--verify").exit_code == 0


# -- competition.json is checked; the answers live outside the workspace ----------------------------------


@pytest.mark.parametrize("key, value", [("metric", "hit@k"), ("k", 100), ("metric", "rce"), ("k", -5)])
def test_an_edited_competition_json_is_refused(cli, toy, tmp_path, key, value):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 0))  # the first use moves the answers to the store
    info_path = toy.root / "competitions" / "toy" / "competition.json"
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, key: value}))
    for command in (("submit", make_submission(tmp_path / "b.csv", 1), "-c", "toy"), ("leaderboard", "-c", "toy")):
        result = cli(*command)
        assert result.exit_code == 1 and "competition.json was edited" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_label_edited_together_with_its_sha_is_refused(workspace, tmp_path):
    import hashlib

    from harness.data.competition import open_competition
    from harness.scoring.answers import load_answers

    open_competition(workspace, "digits")
    folder = workspace.root / "competitions" / "digits"
    path, info_path = folder / "manifest.csv", folder / "competition.json"
    lines = path.read_text().splitlines()
    original = list(lines)
    row = next(i for i, line in enumerate(lines) if line.endswith(",train"))
    item, label, role = lines[row].split(",")
    lines[row] = f"{item},{(int(label) + 1) % 10},{role}"
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "participant_manifest_sha256": hashlib.sha256(data).hexdigest()}))
    with pytest.raises(CompetitionError, match="was edited"):
        open_competition(workspace, "digits")
    path.write_text("\n".join(original) + "\n")
    info_path.write_text(json.dumps({**info, "manifest_sha256": "f" * 64}))  # pointing at other answers
    with pytest.raises(CompetitionError, match="holds no answers"):
        load_answers(workspace, "digits")


def test_the_workspace_holds_no_answers_and_the_store_is_owner_only(workspace, tmp_path):
    from harness.data.answer_store import answers_dir
    from harness.data.competition import open_competition
    from harness.scoring.answers import load_answers

    comp = open_competition(workspace, "digits")
    manifest = (workspace.root / "competitions" / "digits" / "manifest.csv").read_text().splitlines()
    assert manifest[0] == "item_id,label,role"
    assert all(line.endswith(",,query") or line.endswith(",,gallery") for line in manifest if "query" in line)
    every_file = b"".join(p.read_bytes() for p in workspace.root.rglob("*") if p.is_file())
    assert b"public" not in every_file.replace(b'"public_fraction"', b"").replace(b'"public_queries"', b"")
    entry = answers_dir() / "digits" / comp.manifest_sha256
    assert answers_dir() == tmp_path / "answers" and not entry.is_relative_to(workspace.root)
    for path in (answers_dir(), answers_dir() / "digits", entry):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
    for path in entry.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    answers = load_answers(workspace, "digits")
    assert len(answers.query_labels) == comp.sizes["query"] and answers.manifest_sha256 == comp.manifest_sha256
    import harness

    assert not any("answer" in name.lower() for name in dir(harness))  # no door on the plugins' public face


def test_a_workspace_from_before_the_store_migrates_on_first_use(cli, toy, tmp_path):
    from harness.scoring.answers import load_answers

    manifest = toy.root / "competitions" / "toy" / "manifest.csv"
    assert manifest.read_text().startswith("item_id,label,role,public")  # the toy fixture is the old layout
    with pytest.raises(CompetitionError, match="before the answers store"):
        load_answers(toy, "toy")  # a read path never migrates
    assert manifest.read_text().startswith("item_id,label,role,public")
    sha = json.loads((toy.root / "competitions" / "toy" / "competition.json").read_text())["manifest_sha256"]
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1))
    assert manifest.read_text().startswith("item_id,label,role\n") and ",query," not in manifest.read_text()
    assert "g00,,gallery" in manifest.read_text()
    assert read_rows(board_path(toy))[0]["manifest_sha256"] == sha  # rows keep the same manifest hash
    assert (tmp_path / "answers" / "toy" / sha / "manifest.csv").is_file()
    assert cli("leaderboard", "-c", "toy", "--verify").exit_code == 0


def test_a_hand_made_competition_with_earlier_answers_in_the_store_migrates_without_plugins(toy, monkeypatch):
    from harness.data import competition
    from harness.data.answer_store import answers_dir, store_answers

    earlier = {"dataset": None, "metric": "map@k", "k": 4}  # what an earlier migration of a hand-made one kept
    store_answers("toy", "0" * 64, b"item_id,label,role,public\n", earlier)

    def no_plugins(kind):
        raise AssertionError(f"the migration loaded the {kind} plugins")

    monkeypatch.setattr(competition, "registry", no_plugins)  # torch alone is 650 MB under a big migration
    assert competition.migrate_answers(toy, "toy")
    sha = json.loads((toy.root / "competitions" / "toy" / "competition.json").read_text())["manifest_sha256"]
    assert (answers_dir() / "toy" / sha / "manifest.csv").is_file()


# -- names, locks, git ---------------------------------------------------------------------------------


def test_control_characters_and_formulas_in_names_are_neutralised(cli, toy, tmp_path):
    name = '=HYPERLINK("http://evil","x")\x1b[2J\x07'
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1), "--name", name)
    table = cli("leaderboard", "-c", "toy")
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout and "\\x1b" in table.stdout
    csv_rows = list(csv.DictReader(io.StringIO(cli("leaderboard", "-c", "toy", "-f", "csv").stdout)))
    assert csv_rows[0]["name"].startswith("'=HYPERLINK(") and "\x1b" not in csv_rows[0]["name"]
    markdown = cli("leaderboard", "-c", "toy", "-f", "markdown").stdout
    assert "| '=HYPERLINK(" in markdown and "\x1b" not in markdown
    assert read_rows(board_path(toy))[0]["name"] == name  # the data itself is kept as given


def _holds_open(pid: int, target) -> bool:
    try:
        return any(os.path.realpath(f"/proc/{pid}/fd/{fd}") == str(target) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see the waiting process")
def test_kill_9_while_waiting_for_the_lock_leaves_no_files(toy, tmp_path):
    from filelock import FileLock

    submission = make_submission(tmp_path / "a.csv", 1)
    board = board_path(toy)
    board.parent.mkdir(parents=True, exist_ok=True)
    lock_path = (board.parent / "toy.csv.lock").resolve()
    env = {**os.environ, "BENCH_ROOT": str(toy.root)}
    with FileLock(str(lock_path)):
        child = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "submit", str(submission), "-c", "toy"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while child.poll() is None and not _holds_open(child.pid, lock_path):
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
    leftovers = [p for p in toy.root.rglob("*") if p.is_file() and p.parent.name != "competitions"]
    assert [p.name for p in leftovers if "submissions" in p.parts or "runs" in p.parts] == []


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_two_branches_that_each_appended_rows_merge_cleanly(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args):
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    shutil.copy(os.path.join(os.path.dirname(__file__), "..", ".gitattributes"), repo / ".gitattributes")
    board = repo / "leaderboards" / "digits.csv"
    append_row(board, {"submission_id": "base", "public": 0.5})
    git("add", "-A")
    git("commit", "-qm", "base")
    git("checkout", "-qb", "alice")
    append_row(board, {"submission_id": "alice", "public": 0.6})
    git("commit", "-qam", "alice")
    git("checkout", "-q", "main")
    append_row(board, {"submission_id": "bob", "public": 0.7})
    git("commit", "-qam", "bob")
    git("merge", "-q", "--no-edit", "alice")  # asserts exit 0: no conflict
    rows = read_rows(board)
    assert sorted(r["submission_id"] for r in rows) == ["alice", "base", "bob"]
    assert not any(r[PROBLEM] for r in rows) and "<<<<" not in board.read_text()


def test_an_upgraded_old_board_keeps_its_rows(tmp_path):
    path = tmp_path / "old.csv"
    old_columns = [c for c in COLUMNS if c != "submission_sha256"]
    path.write_text(
        ",".join(old_columns) + "\n" + ",".join("x" if c == "submission_id" else "" for c in old_columns) + "\n"
    )
    append_row(path, {"submission_id": "new", "public": 0.5, "submission_sha256": "ab"})
    rows = read_rows(path)
    assert [r["submission_id"] for r in rows] == ["x", "new"] and rows[1]["submission_sha256"] == "ab"
    with pytest.raises(LeaderboardError, match="no column"):
        append_row(path, {"submission_id": "z", "colour": "red"})


def test_only_the_data_layer_and_the_scorer_open_the_answers_store():
    from test_architecture import import_graph

    openers = sorted(m for m, imports in import_graph().items() if "harness.data.answer_store" in imports)
    assert openers == ["harness.data.competition", "harness.data.manifest", "harness.scoring.answers"]
