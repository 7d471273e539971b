"""The command line's error contract: one clear line on stderr, exit code 1, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def test_help_lists_the_commands(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "tune", "validate", "submit", "leaderboard", "compare", "plugins", "list", "competitions"):
        assert command in result.stdout, command


def test_help_lists_every_command_without_importing_a_command_module():
    code = (
        "import sys\nfrom harness.cli import main\nsys.argv = ['bench', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "loaded = sorted(m for m in sys.modules if m.endswith('_cmd') or m in ('torch', 'harness.pipeline'))\n"
        "sys.stderr.write(f'LOADED={loaded}')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert done.returncode == 0 and "LOADED=[]" in done.stderr, done.stderr
    from harness.cli.app import COMMANDS

    for name, (_, line) in COMMANDS.items():
        assert f" {name} " in done.stdout and line in done.stdout, name


def test_no_command_imports_torch_optuna_matplotlib_or_starlette_to_show_its_help():
    """Command modules import at the top, so what they import at the top must stay light."""
    code = (
        "import sys\nfrom harness.cli import main\nfrom harness.cli.app import COMMANDS\n"
        "for name in COMMANDS:\n"
        "    sys.argv = ['bench', name, '--help']\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('torch', 'optuna', 'matplotlib', 'starlette', 'uvicorn') if m in sys.modules]\n"
        "sys.stderr.write(f'HEAVY={heavy}')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "HEAVY=[]" in done.stderr, done.stderr[-2000:]


def test_each_help_line_is_the_first_paragraph_of_its_commands_own_help():
    import importlib
    import inspect

    import typer

    from harness.cli.app import COMMANDS, app

    for module in {module for module, _ in COMMANDS.values()}:
        importlib.import_module(f"harness.cli.{module}")
    group = typer.main.get_command(app)
    registered = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert sorted(registered) == sorted(COMMANDS)
    for name, (module, line) in COMMANDS.items():
        command = group.get_command(None, name)
        assert command.callback.__module__ == f"harness.cli.{module}", name
        assert inspect.cleandoc(command.short_help or command.help).split("\n\n")[0] == line, name


def test_a_command_loads_its_module_when_it_runs_or_shows_its_own_help(cli):
    result = cli("competitions", "--help")
    assert result.exit_code == 0 and "show" in result.stdout and "export" in result.stdout


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
