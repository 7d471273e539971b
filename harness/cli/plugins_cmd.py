"""``bench plugins`` and ``bench list KIND``."""

from __future__ import annotations

import inspect
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import app, fail, print_listing


@app.command("plugins")
def plugins_command(
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 if any plugin failed to load.")] = False,
) -> None:
    """List every plugin: where it came from, what it registers, and why it broke if it did."""
    from harness.plugins import PluginHost, strict_from_env

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
        if strict or strict_from_env():
            raise typer.Exit(1)


@app.command("list")
def list_command(
    kind: Annotated[
        str,
        typer.Argument(
            help="backbones, poolings, heads, losses, samplers, indexers, metrics, datasets, competitions or methods."
        ),
    ],
) -> None:
    """List the registered components of one kind, with their settings."""
    from harness.components import registry

    reg = registry(kind)
    table = Table(title=f"{kind} ({len(reg)})")
    for column in ("name", "plugin", "settings", "description"):
        table.add_column(column, overflow="fold")
    for entry in reg.entries():
        settings = ", ".join(k if v is inspect.Parameter.empty else f"{k}={v!r}" for k, v in entry.settings().items())
        table.add_row(entry.name, entry.plugin, escape(settings) or "-", escape(entry.description))
    print_listing(table)
