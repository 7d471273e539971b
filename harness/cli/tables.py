"""One way to print a list of records: a rich table, CSV, Markdown or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import console

FOLDABLE = ("group", "submission_id", "method", "seeds", "differs")  # long names fold; numbers and intervals stay whole


def emit(records: list[dict[str, Any]], fmt: str, title: str, human: list[dict[str, Any]] | None = None) -> None:
    """``records`` as JSON (values as they are) or CSV; ``human`` (formatted cells) as a table or Markdown."""
    if fmt == "json":
        console.print_json(json.dumps(records, default=str))
        return
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in records)
        typer.echo(buffer.getvalue(), nl=False)
        return
    rows = human if human is not None else records
    columns = list(rows[0])
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(" ".join(str(r[c]).replace("|", "\\|").splitlines()) for c in columns) + " |"
                  for r in rows]  # fmt: skip
        typer.echo("\n".join(lines))
        return
    table = Table(title=escape(title))
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right" if column in ("rank", "band") else "left",
                         overflow="fold", no_wrap=column not in FOLDABLE)  # fmt: skip
    for row in rows:
        table.add_row(*(escape(str(row[c])) for c in columns))
    console.print(table)


def number(value: Any, digits: int = 4) -> str:
    """A score for people: fixed point, or "-" when there is none."""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def interval(value: Any, low: Any, high: Any) -> str:
    text = number(value)
    return text if low is None or high is None else f"{text} [{number(low, 3)}, {number(high, 3)}]"


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value
