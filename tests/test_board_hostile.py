"""Issue 22: what a participant with write access to a name, the workspace or the board tried next. Each
test is one defect the second hostile round found: a carriage return in a name, answers forged through
the migration path, a row repointed to another row's kept file, and the one-line errors that were
tracebacks."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import test_scoring_cli
from test_scoring_cli import make_submission

from harness.scoring.leaderboard import PROBLEM, append_row, read_rows

toy = test_scoring_cli.toy  # 8 queries, 12 gallery items, map@4


def board_path(ws):
    return ws.root / "leaderboards" / "toy.csv"


def board_path_of(_cli):
    import os
    from pathlib import Path

    return Path(os.environ["BENCH_ROOT"]) / "leaderboards" / "toy.csv"


def submit_ok(cli, path, *extra):
    result = cli("submit", path, "-c", "toy", *extra)
    assert result.exit_code == 0, result.stderr
    return result


def one_line_error(result, *words):
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


# -- a carriage return in any free text -----------------------------------------------------------------


def every_board_command_works(cli, tmp_path, names):
    table = cli("leaderboard", "-c", "toy")
    assert table.exit_code == 0 and "Traceback" not in table.stderr, table.stderr
    verify = cli("leaderboard", "-c", "toy", "--verify")
    assert verify.exit_code == 0, verify.stderr
    submit_ok(cli, make_submission(tmp_path / "later.csv", 0), "--name", "later")
    rows = json.loads(cli("leaderboard", "-c", "toy", "-f", "json").stdout)
    assert sorted(r["name"] for r in rows if r["valid"]) == sorted(names)
    ids = [r["submission_id"] for r in read_rows(board_path_of(cli))]
    compare = cli("compare", ids[0], ids[-1], "-c", "toy")
    assert compare.exit_code == 0 and "verdict" in compare.stdout, compare.stderr


@pytest.mark.parametrize("name", ["x\r", "a\rb", "\r\n", "tab\tnul\x00vt\x0bff\x0c\x1c\x85\u2028end"])
def test_a_carriage_return_or_any_control_character_in_a_name_round_trips(cli, toy, tmp_path, name):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1), "--name", name)
    assert read_rows(board_path(toy))[0]["name"] == name and not read_rows(board_path(toy))[0][PROBLEM]
    every_board_command_works(cli, tmp_path, [name, "later"])


def test_every_free_text_column_round_trips(tmp_path):
    path = tmp_path / "board.csv"
    texts = {"name": "n\r", "method": "m\rx", "study": "\rs", "env": '{"a": "\\r"}\r', "group": "g\r\n"}
    append_row(path, {"submission_id": "a", "public": 0.5, **texts})
    append_row(path, {"submission_id": "b", "public": 0.25, "name": "plain"})
    rows = read_rows(path)
    assert [{k: r[k] for k in texts} for r in rows[:1]] == [texts]
    assert [r["submission_id"] for r in rows] == ["a", "b"] and not any(r[PROBLEM] for r in rows)


def test_a_board_that_already_holds_a_bare_carriage_return_still_reads(cli, toy, tmp_path):
    submit_ok(cli, make_submission(tmp_path / "a.csv", 1), "--name", "honest")
    board = board_path(toy)
    board.write_bytes(board.read_bytes().replace(b",honest,", b",x\r,"))  # what the old writer left
    assert read_rows(board)[0]["name"] == "x\r"
    every_board_command_works(cli, tmp_path, ["x\r", "later"])
    assert [r["name"] for r in read_rows(board)] == ["x\r", "later"]


def test_json_of_an_empty_board_is_an_empty_list(cli, toy):
    result = cli("leaderboard", "-c", "toy", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


# -- the migration path installs no answers the split does not give -------------------------------------


def forge_old_workspace(workspace):
    """What a participant with write access to the workspace only can do: an old-layout full manifest
    whose query and gallery labels are all 0, with its SHA-256 in competition.json."""
    from harness.data.answer_store import answers_dir
    from harness.data.competition import open_competition

    honest = open_competition(workspace, "digits").manifest_sha256
    folder = workspace.root / "competitions" / "digits"
    full = (answers_dir() / "digits" / honest / "manifest.csv").read_text().splitlines()
    forged = [full[0]]
    for line in full[1:]:
        item, label, role, public = line.split(",")
        forged.append(f"{item},{0 if role in ('query', 'gallery') else label},{role},{public}")
    data = ("\n".join(forged) + "\n").encode()
    (folder / "manifest.csv").write_bytes(data)
    info = json.loads((folder / "competition.json").read_text())
    info["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    del info["participant_manifest_sha256"]
    (folder / "competition.json").write_text(json.dumps(info))
    return info["manifest_sha256"]


def test_forged_answers_never_enter_the_store_through_the_migration_path(cli, workspace, tmp_path):
    from harness.data.answer_store import answers_dir
    from harness.data.competition import open_competition

    comp = open_competition(workspace, "digits")
    ids = comp.query().ids
    gallery = comp.gallery().ids
    random_file = tmp_path / "random.csv"
    random_file.write_text("query_id,neighbors\n" + "".join(f"{q},{' '.join(gallery[:10])}\n" for q in ids))
    forged_sha = forge_old_workspace(workspace)
    for command in (
        ("submit", random_file, "-c", "digits"),
        ("leaderboard", "-c", "digits", "--verify"),
    ):
        one_line_error(cli(*command), "is not the split")
    assert not (answers_dir() / "digits" / forged_sha).exists()
    assert read_rows(workspace.leaderboard_path("digits")) == []


def test_a_forger_who_drops_the_dataset_from_competition_json_is_still_refused(cli, workspace, tmp_path):
    from harness.data.answer_store import answers_dir

    forged_sha = forge_old_workspace(workspace)
    path = workspace.root / "competitions" / "digits" / "competition.json"
    info = json.loads(path.read_text())
    del info["dataset"]  # the honest answers in the store still name the dataset they were split from
    path.write_text(json.dumps(info))
    one_line_error(cli("leaderboard", "-c", "digits", "--verify"), "is not the split")
    assert not (answers_dir() / "digits" / forged_sha).exists()


# -- a row repointed to another row's kept file -----------------------------------------------------------


def test_verify_fails_rows_that_share_one_kept_file(cli, toy, tmp_path):
    import csv
    import io

    submit_ok(cli, make_submission(tmp_path / "strong.csv", 1), "--name", "strong")
    submit_ok(cli, make_submission(tmp_path / "weak.csv", 0), "--name", "weak")
    board = board_path(toy)
    rows = list(csv.DictReader(io.StringIO(board.read_text())))
    copied = ("submission_path", "submission_sha256", "public", "public_low", "public_high", "private")
    copied += ("private_low", "private_high", "metrics")
    rows[1].update({key: rows[0][key] for key in copied})  # the weak row now claims the strong file
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    board.write_text(buffer.getvalue())
    result = cli("leaderboard", "-c", "toy", "--verify")
    assert result.exit_code == 1
    assert "line 3" in result.stderr and "also the kept file of line(s) 2" in result.stderr
    assert "line 2" in result.stderr and "2 of 2 row(s)" in result.stderr


# -- the trusted scorer starts clean and loads only shipped code; --verify runs there too ------------------


MARKS = """
import os
from pathlib import Path

Path({folder!r}, f"{{os.getpid()}}.{name}").write_text("")
{extra}
"""


def marks(folder):
    return sorted(path.name for path in folder.iterdir())


def test_a_planted_pythonpath_or_sitecustomize_never_reaches_the_trusted_scorer(
    cli, toy, tmp_path, plugins_dir, monkeypatch
):
    from harness.plugins import get_host
    from harness.scoring.submit import submit

    seen = tmp_path / "seen"
    seen.mkdir()
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "sitecustomize.py").write_text(MARKS.format(folder=str(seen), name="sitecustomize", extra=""))
    extra = f"os.environ['PYTHONPATH'] = {str(planted)!r}"
    (plugins_dir / "pather.py").write_text(MARKS.format(folder=str(seen), name="plugin", extra=extra))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # restored after the plugin sets it
    get_host()  # bench run loads every plugin before it submits
    assert os.environ["PYTHONPATH"] == str(planted)
    submit(toy, "toy", make_submission(tmp_path / "a.csv", 0), submission_id="weak")
    assert cli("leaderboard", "-c", "toy", "--verify").exit_code == 0
    # this process and its import probe ran the plugin; nothing ran in the trusted scorer or --verify
    assert f"{os.getpid()}.plugin" in marks(seen) and len(marks(seen)) == 2, marks(seen)


# Run in a child from a copy of the source tree: a file dropped into the checkout's own plugins/ is imported by
# every bench process started from it meanwhile (another xdist worker's), which breaks their tests and this count.
DROPPED_METRIC = """
import json, os, sys
from pathlib import Path
from typer.testing import CliRunner
import harness
from harness.cli import app
from harness.plugins import get_host
from harness.scoring.leaderboard import read_rows
from harness.scoring.submit import submit
from harness.workspace import Workspace

ws = Workspace(Path(os.environ["BENCH_ROOT"]))
get_host()
submit(ws, "toy", Path(sys.argv[1]), submission_id="weak")
public = float(read_rows(ws.root / "leaderboards" / "toy.csv")[0]["public"])
verify = CliRunner().invoke(app, ["leaderboard", "-c", "toy", "--verify"], catch_exceptions=False)
print(json.dumps({"pid": os.getpid(), "public": public, "verify": verify.exit_code, "harness": harness.__file__}))
"""


def test_a_metric_file_dropped_into_plugins_is_not_loaded_by_scoring_or_verify(toy, tmp_path):
    import shutil
    import subprocess
    import sys

    from harness.data.shipped_plugins import builtin_root

    source = tmp_path / "source"
    for package in ("harness", "plugins"):
        shutil.copytree(builtin_root().parent / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    seen = tmp_path / "seen"
    seen.mkdir()
    (source / "plugins" / "metrics" / "zz_boost.py").write_text(MARKS.format(folder=str(seen), name="boost", extra=""))
    done = subprocess.run(
        [sys.executable, "-c", DROPPED_METRIC, str(make_submission(tmp_path / "a.csv", 0))],
        env={**os.environ, "PYTHONPATH": str(source)}, cwd=source, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["harness"].startswith(str(source)) and result["public"] < 1.0 and result["verify"] == 0, result
    # the child and its import probe imported it; the scorer and --verify never did
    assert f"{result['pid']}.boost" in marks(seen) and len(marks(seen)) == 2, marks(seen)


# -- one-line errors that were tracebacks ------------------------------------------------------------------


TOML = 'dataset = "folder"\n[dataset_config]\nroot = "pics"\n[protocol_config]\nquery = 1\nval = 1\ntrain = 1\n'


@pytest.mark.parametrize(
    "extra, words",
    [("k = 100000000\n", ("k must be at most 100,000",)), ('name = "pets\\n"\n', ("invalid competition name",))],
    ids=["huge-k", "newline-name"],
)
def test_a_toml_competition_with_a_huge_k_or_a_newline_in_its_name_is_refused(cli, tmp_path, extra, words):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pets.toml").write_text(extra + TOML)
    one_line_error(cli("competitions", "add", tmp_path / "pets.toml"), *words)
    assert not (tmp_path / "workspace" / "competitions").exists() or not any(
        "\n" in p.name for p in (tmp_path / "workspace" / "competitions").iterdir()
    )


def test_names_with_a_final_newline_are_refused():
    from harness.errors import WorkspaceError
    from harness.workspace import check_name

    for name in ("hank\n", "x\r", "a\nb"):
        with pytest.raises(WorkspaceError):
            check_name(name)


def entry_of(workspace):
    from harness.data.answer_store import answers_dir
    from harness.data.competition import open_competition

    return answers_dir() / "digits" / open_competition(workspace, "digits").manifest_sha256


def test_a_deleted_answers_store_names_the_command_that_rebuilds_it(cli, workspace, tmp_path):
    import shutil

    entry = entry_of(workspace)
    shutil.rmtree(entry.parent.parent)
    result = cli("leaderboard", "-c", "digits", "--verify")
    one_line_error(result, "bench competitions show digits")
    assert cli("competitions", "show", "digits").exit_code == 0
    assert (entry / "manifest.csv").is_file()
    assert cli("leaderboard", "-c", "digits", "--verify").exit_code == 0


def test_a_definition_that_is_a_json_list_is_one_line(cli, workspace):
    entry = entry_of(workspace)
    (entry / "definition.json").write_text("[1, 2]")
    one_line_error(cli("leaderboard", "-c", "digits", "--verify"), "definition.json holds a JSON list")


def test_loosened_permissions_on_the_answers_store_are_noticed(cli, workspace):
    entry = entry_of(workspace)
    (entry / "manifest.csv").chmod(0o644)
    one_line_error(cli("leaderboard", "-c", "digits", "--verify"), "open to other users", "chmod")


def test_a_row_whose_seed_is_not_a_number_is_one_line_in_reproduce(cli, toy, tmp_path):
    append_row(board_path(toy), {"submission_id": "odd", "public": 0.5, "method": "hashnet", "seed": "abc"})
    one_line_error(cli("reproduce", "odd", "-c", "toy"), "seed 'abc', not an integer")


# -- kill -9 of the trusted scorer between its copy and its row ---------------------------------------------


KILLED_BEFORE_THE_ROW = """
import os, signal, sys
from pathlib import Path
import harness.scoring.submit as submit
from harness.workspace import Workspace

submit.score = lambda *args: os.kill(os.getpid(), signal.SIGKILL)  # the copy made, no row yet
submit.submit(Workspace(Path(sys.argv[1])), "toy", sys.argv[2], submission_id="killed")
"""


def test_kill_9_of_the_scorer_before_its_row_leaves_no_kept_copy_for_long(cli, toy, tmp_path):
    import subprocess
    import sys

    source = make_submission(tmp_path / "a.csv", 1)
    done = subprocess.run([sys.executable, "-c", KILLED_BEFORE_THE_ROW, str(toy.root), str(source)], check=False)
    assert done.returncode == -9
    left = [p for p in toy.root.rglob("*") if p.is_file() and "killed" in str(p)]
    assert left  # what kill -9 left: the copy being scored
    submit_ok(cli, make_submission(tmp_path / "b.csv", 0), "--name", "next")
    assert [p for p in toy.root.rglob("*") if "killed" in str(p)] == []
    assert len(list((toy.root / "submissions" / "toy").iterdir())) == 1  # the next row's copy only
    assert cli("leaderboard", "-c", "toy", "--verify").exit_code == 0


# -- a full disk while bench run writes its submission -----------------------------------------------------

PARQUET_DIGITS = 'dataset = "digits"\nsubmission_format = "parquet"\n'


def assert_run_kept(result, root):
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]  # after training's log
    assert "No space left on device" in error and "trained" in error
    (run_dir,) = list((root / "runs").iterdir())
    assert {"weights.safetensors", "config.json"} <= {p.name for p in run_dir.iterdir()}
    assert str(run_dir) in error and str(root / "submissions" / "big") in error
    assert not (root / "leaderboards" / "big.csv").exists()
    assert not [p for p in (root / "submissions").rglob("*") if p.is_file()]  # no partial file


def test_a_full_disk_while_writing_the_submission_keeps_the_trained_run(cli, isolated_workspace, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    (isolated_workspace / "competitions" / "big").mkdir(parents=True)
    (isolated_workspace / "competitions" / "big" / "competition.toml").write_text(PARQUET_DIGITS)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    result = cli("run", "--plugin", "softmax", "-c", "big", "--set", "train.epochs=1", "--quiet")
    assert_run_kept(result, isolated_workspace)


def test_a_real_full_disk_after_training_keeps_the_trained_run(cli, tmp_path, monkeypatch):
    import shutil
    import subprocess

    from harness.train import search

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        root = mount / "ws"
        (root / "competitions" / "big").mkdir(parents=True)
        (root / "competitions" / "big" / "competition.toml").write_text(PARQUET_DIGITS)
        monkeypatch.setenv("BENCH_ROOT", str(root))
        searched = search.embed_and_search

        def search_then_fill_the_disk(*args, **kwargs):
            found = searched(*args, **kwargs)
            with open(mount / "filler", "wb", buffering=0) as filler:  # the weights are written: fill the disk
                try:
                    while filler.write(b"\0" * 4096):
                        pass
                except OSError:
                    pass
            return found

        monkeypatch.setattr(search, "embed_and_search", search_then_fill_the_disk)
        result = cli("run", "--plugin", "softmax", "-c", "big", "--set", "train.epochs=1", "--quiet")
        assert_run_kept(result, root)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
