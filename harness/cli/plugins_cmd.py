"""``bench plugins`` and ``bench list KIND``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import app, fail, print_listing
from harness.components import registry
from harness.hookspecs import KINDS
from harness.plugins import PluginHost

if TYPE_CHECKING:
    from harness.registry import Registry


@app.command("plugins")
def plugins_command(
    strict: Annotated[
        bool, typer.Option("--strict", help="Kept for scripts: a plugin that failed to load always exits 1.")
    ] = False,
) -> None:
    """List every plugin: where it came from, what it registers, and why it broke if it did."""
    host = PluginHost().load()
    table = Table(title="bench plugins", show_lines=False)
    for column in ("plugin", "source", "registers", "status"):
        table.add_column(column)
    for record in host.records:
        registers = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in record.registered.items())
        status = "[green]ok[/]" if record.ok else f"[red]{escape(record.error or '')}[/]"
        table.add_row(escape(record.name), record.source, escape(registers) or "-", status)
    print_listing(table)
    broken = [r for r in host.records if not r.ok]
    if broken:
        fail(f"{len(broken)} plugin(s) failed to load: {', '.join(r.name for r in broken)}")
        raise typer.Exit(1)


@app.command("list")
def list_command(
    kind: Annotated[
        str | None,
        typer.Argument(
            help="backbones, poolings, heads, losses, samplers, indexers, metrics, datasets, competitions or methods."
        ),
    ] = None,
) -> None:
    """List the registered components of one kind, with their settings; without a kind, list the kinds."""
    if kind is None:
        _list_kinds(KINDS, registry)
        return
    reg = registry(kind)
    table = Table(title=f"{kind} ({len(reg)})")
    # Names, module paths and settings never break inside a word: one setting a line, long paths shortened.
    table.add_column("name", no_wrap=True)
    table.add_column("plugin", no_wrap=True, overflow="ellipsis", max_width=22)
    table.add_column("settings", no_wrap=True)
    table.add_column("description", ratio=1)
    for entry in reg.entries():
        settings = "\n".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in entry.settings().items())
        table.add_row(entry.name, entry.plugin, escape(settings) or "-", escape(entry.description))
    print_listing(table)


def _list_kinds(kinds: Sequence[str], registry: Callable[[str], Registry]) -> None:
    table = Table(title="component kinds (`bench list KIND`)")
    for column in ("kind", "registered"):
        table.add_column(column)
    for kind in kinds:
        table.add_row(kind, escape(", ".join(registry(kind).names())))
    print_listing(table)
