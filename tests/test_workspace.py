"""The workspace folder and names that must not escape it."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import settings
from harness.errors import ConfigError, WorkspaceError
from harness.workspace import Workspace, check_name, display_path


@pytest.mark.parametrize("name", ["../x", "..", "/etc/passwd", "a/b", "a b", "", ".hidden", "a\\b", "x" * 200, "a..b"])
def test_escaping_names_are_rejected(name):
    with pytest.raises(WorkspaceError, match="invalid"):
        check_name(name, "submission id")


@pytest.mark.parametrize("name", ["digits", "digits-unseen", "hashnet-20261125-101010-abc123", "run_1.v2"])
def test_ordinary_names_pass(name):
    assert check_name(name) == name


def test_paths_are_pure_folders_come_with_the_first_write(tmp_path):
    ws = Workspace(tmp_path / "ws")
    path = ws.submission_path("digits", "abc")
    assert path == tmp_path / "ws" / "submissions" / "digits" / "abc.csv"
    assert ws.leaderboard_path("digits") == tmp_path / "ws" / "leaderboards" / "digits.csv"
    assert ws.run_dir("abc") == tmp_path / "ws" / "runs" / "abc" and ws.studies == tmp_path / "ws" / "studies"
    assert not (tmp_path / "ws").exists()  # reading a path creates nothing
    with pytest.raises(WorkspaceError):
        ws.run_dir("../../etc")


def test_root_from_environment_then_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_ROOT", str(tmp_path / "env"))
    assert Workspace.from_env().root == (tmp_path / "env").resolve()
    assert Workspace.from_env(tmp_path / "arg").root == (tmp_path / "arg").resolve()
    monkeypatch.delenv("BENCH_ROOT")
    monkeypatch.chdir(tmp_path)
    assert Workspace.from_env().root == tmp_path.resolve()


def test_root_that_is_a_file_is_refused(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(WorkspaceError, match="not a folder"):
        Workspace.from_env(file)


def test_display_path_is_relative_inside_the_workspace_only(tmp_path):
    inside = tmp_path / "runs" / "r1"
    assert display_path(inside, tmp_path) == str(Path("runs") / "r1")
    assert display_path("/elsewhere/x.csv", tmp_path) == "/elsewhere/x.csv"


def test_bench_settings_are_read_in_one_place(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.DATA_DIR, raising=False)
    monkeypatch.setenv(settings.ROOT, str(tmp_path))
    assert settings.data_folders() == [tmp_path / "data"]
    assert Workspace.from_env().root == tmp_path.resolve()
    monkeypatch.setenv(settings.DATA_DIR, str(tmp_path / "cache"))
    assert settings.data_folders() == [tmp_path / "cache", tmp_path / "data"]
    monkeypatch.setenv(settings.LAUNCHER_PID, "not-a-pid")
    assert settings.launcher_pid() is None
    monkeypatch.setenv(settings.COLLECTIVE_TIMEOUT, "-1")
    with pytest.raises(ConfigError, match="BENCH_COLLECTIVE_TIMEOUT must be a positive number"):
        settings.collective_timeout_seconds(90.0)
