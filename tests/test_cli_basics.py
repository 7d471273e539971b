"""The command line's error contract: one clear line on stderr, exit code 1, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "tune", "validate", "submit", "leaderboard", "compare", "plugins", "list", "competitions"):
        assert command in result.stdout, command


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bogus"], "No such option"),
        (["list", "lossez"], "Did you mean 'losses'"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_user_errors_exit_1_with_one_line(cli, args, message):
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_list_shows_settings_of_each_component(cli):
    result = cli("list", "losses")
    assert result.exit_code == 0


def test_console_script_exit_code_in_a_real_process(tmp_path):
    env = {"BENCH_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-c", "from harness.cli import main; main()", "list", "nope"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: unknown component kind 'nope'")
    assert "Traceback" not in proc.stderr
