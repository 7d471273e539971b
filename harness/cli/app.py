"""The Typer app, its global options, and the one place errors become messages and exit codes."""

from __future__ import annotations

import importlib
import sys
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from harness import settings
from harness.errors import BenchError
from harness.train.launch import CRASH, STOPPED, USER_ERROR, RankStopped, record_rank_error
from harness.workspace import Workspace

if TYPE_CHECKING:
    from click import HelpFormatter
    from rich.progress import Progress
    from rich.table import Table

err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)


class _State:
    root: str | None = None


state = _State()


def fail(message: str) -> None:
    """Print one red line on stderr."""
    err_console.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)


# Every command, the module that defines it and the line `bench --help` shows for it: listing the commands
# imports none of their modules (tests/test_cli_basics.py holds each line to the command's own help).
COMMANDS = {
    "compare": (
        "compare_cmd",
        "Bootstrap A minus B over the same queries (and over seeds, for groups) and give a verdict.",
    ),
    "plugins": ("plugins_cmd", "List every plugin: where it came from, what it registers, and why it broke if it did."),
    "list": (
        "plugins_cmd",
        "List the registered components of one kind, with their settings; without a kind, list the kinds.",
    ),
    "report": (
        "report_cmd",
        "Write a self-contained HTML report: leaderboard, score against cost, worst queries, curves, studies.",
    ),
    "reproduce": (
        "reproduce_cmd",
        "Retrain a row's recorded config and seed here (no new row) and compare with the kept submission.",
    ),
    "run": ("run_cmd", "Train METHOD on a competition's train split, submit its top-k neighbours and score them."),
    "validate": ("scoring_cmd", "Check a submission file and report every problem at once, with line numbers."),
    "submit": ("scoring_cmd", "Validate and score a submission made by any tool, and add it to the leaderboard."),
    "leaderboard": (
        "scoring_cmd",
        "Rank submissions by public score (private scores hidden unless --private), with rank bands.",
    ),
    "tune": (
        "tune_cmd",
        "Search METHOD's hyperparameters on the val split with Optuna, then rerun and submit the best.",
    ),
    "competitions": (
        "competitions_cmd",
        "List competitions; `show NAME` for details; `add FILE` to declare one from TOML.",
    ),
    "serve": ("serve_cmd", "Serve the workspace's competitions in a browser; participants upload with a token."),
}


class UnloadedCommand(TyperCommand):
    """A command known by its name and help line only, until it runs or shows its own help."""


def load_command(name: str) -> TyperCommand | TyperGroup:
    """Import the module that defines command ``name`` and build its click command as typer does."""
    module = f"harness.cli.{COMMANDS[name][0]}"
    importlib.import_module(module)
    built = {"pretty_exceptions_short": app.pretty_exceptions_short, "rich_markup_mode": app.rich_markup_mode}
    for info in app.registered_commands:
        if info.name == name:
            return typer.main.get_command_from_info(info, **built)
    for group in app.registered_groups:
        if group.name == name:
            return typer.main.get_group_from_info(group, suggest_commands=app.suggest_commands, **built)
    raise LookupError(f"{module} registers no command {name!r}")


class BenchGroup(TyperGroup):
    """Loads a command's module only when that command is used, and turns every user error (BenchError or a
    bad option) into one line on stderr and exit 1."""

    def __init__(self, *, commands: dict[str, Any] | None = None, **attrs: Any) -> None:
        loaded = dict(commands or {})  # commands whose modules were already imported
        listed = {
            name: loaded.pop(name, None) or UnloadedCommand(name=name, help=line)
            for name, (_, line) in COMMANDS.items()
        }
        super().__init__(commands={**listed, **loaded}, **attrs)
        self.listing = False

    def format_help(self, ctx: typer.Context, formatter: HelpFormatter) -> None:
        self.listing = True  # the command list needs names and help lines only
        try:
            super().format_help(ctx, formatter)
        finally:
            self.listing = False

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if isinstance(command, UnloadedCommand) and not self.listing:
            command = self.commands[cmd_name] = load_command(cmd_name)
        return command

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except typer.Abort:
            fail("aborted")
            sys.exit(1)
        except BenchError as exc:
            if not record_rank_error(str(exc), STOPPED if isinstance(exc, RankStopped) else USER_ERROR):
                fail(escape(str(exc)))
            sys.exit(1)
        except KeyboardInterrupt:
            if not record_rank_error("interrupted", STOPPED):
                fail("interrupted")
            sys.exit(130)
        except OSError as exc:  # a read-only folder, a full disk, a permission: what the user can fix
            fail(escape(os_error_line(exc)))
            sys.exit(1)
        except Exception as exc:
            # Usage errors (bad option, missing argument): click's or typer's vendored copy.
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                # A rank of `bench run --nproc`: the launcher prints the first rank's reason, once.
                if record_rank_error(f"{type(exc).__name__}: {exc}", CRASH):
                    sys.exit(1)
                raise
            if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
                console.print(exc.ctx.get_help())
                sys.exit(0)
            fail(escape(exc.format_message()))
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


app = typer.Typer(
    cls=BenchGroup,
    name="bench",
    help="A Kaggle-style competition harness for deep image retrieval.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("bench-retrieval")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "unknown (not installed)"
        console.print(f"bench {number}")
        raise typer.Exit(0)


@app.callback()
def _global_options(
    root: Annotated[
        str | None,
        typer.Option("--root", envvar=settings.ROOT, help="Workspace folder (default: current directory)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print bench's version and exit."),
    ] = False,
) -> None:
    state.root = root


def workspace() -> Workspace:
    """The workspace chosen by ``--root`` / ``$BENCH_ROOT`` / the current directory."""

    return Workspace.from_env(state.root)


def progress_bars(quiet: bool) -> AbstractContextManager[Progress | None]:
    """Rich progress bars on stderr for long work, or a no-op context (``None``) with ``--quiet``."""
    from contextlib import nullcontext

    if quiet:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )


def fmt_number(value: Any, digits: int = 4, missing: str | None = "-") -> str:
    """``value`` as a fixed-point number; ``missing`` (or the value itself when None) if it is not one."""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value) if missing is None else missing


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def os_error_line(exc: OSError) -> str:
    """``No space left on device: leaderboards/digits.csv`` rather than a traceback."""
    where = f": {exc.filename}" if exc.filename else ""
    also = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    return f"{exc.strerror or exc}{where}{also}"


def terminal_safe(text: str) -> str:
    """``text`` with control characters (escape sequences, carriage returns, bells) shown as ``\\xNN``."""
    return str(text).translate(_CONTROL)


def spreadsheet_safe(value: object) -> object:
    """A cell a spreadsheet would run as a formula (``=HYPERLINK(...)``) made text with a leading quote.

    Numbers (``-0.5``) stay numbers; anything else that starts like a formula is neutralised (OWASP).
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def print_listing(table: Table) -> None:
    """A rich table on a terminal; piped or redirected, tab-separated lines with every value whole."""
    if console.is_terminal:
        console.print(table)
        return
    from rich.text import Text

    def plain(cell: object) -> str:
        text = Text.from_markup(cell).plain if isinstance(cell, str) else getattr(cell, "plain", str(cell))
        return terminal_safe(text.replace("\n", ", ")).replace("\t", " ")

    columns = table.columns
    print("\t".join(plain(column.header) for column in columns))
    for row in zip(*(column._cells for column in columns)):
        print("\t".join(plain(cell) for cell in row))
