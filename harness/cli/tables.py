"""One way to print a list of records: a rich table, CSV, Markdown or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from harness.cli.app import console, terminal_safe

SHORTENABLE = {
    "submission_id": 14,
    "group": 10,
    "name": 10,
    "method": 12,
    "seeds": 9,
    "reason": 24,
    "differs": 16,
    "budget": 16,
}
OPTIONAL = ("time", "ms/query", "public_rank", "indexer", "name", "code", "seeds", "budget", "differs", "n")
CELL_OVERHEAD = 3  # a rich cell's padding and its border
WIDE = 10_000  # --wide and piped output: the table's own width, never wrapped


def emit(
    records: list[dict[str, Any]],
    fmt: str,
    title: str,
    human: list[dict[str, Any]] | None = None,
    wide: bool = False,
) -> None:
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
    wide = wide or not console.is_terminal  # piped or redirected: every value whole
    table = fitted_table(rows, title, 0 if wide else console.width)
    if not wide:
        console.print(table)
        return
    natural = console.width  # print(width=...) is capped at the console's width: widen the console itself
    console.width = WIDE
    try:
        console.print(table)
    finally:
        console.width = natural


def fitted_table(rows: list[dict[str, Any]], title: str, width: int) -> Table:
    """A table that fits ``width`` without breaking a word, an id or a number.

    Long ids and names are shortened with an ellipsis (never below a readable prefix) and, while that is
    not enough, optional columns are left out; ``width=0`` keeps every column and value whole.
    """
    columns = list(rows[0])
    natural = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    widths = _shortened(natural, columns, width)
    for column in OPTIONAL:
        if not width or _total(widths, columns) <= width:
            break
        if column in columns and len(columns) > 2:
            columns.remove(column)
            widths = _shortened(natural, columns, width)
    table = Table(title=escape(title))
    for column in columns:
        justify = "right" if column in ("rank", "band") else "left"
        width_of = widths[column]
        table.add_column(column.replace("_", " "), justify=justify, no_wrap=True, overflow="ellipsis",
                         min_width=width_of, max_width=width_of)  # fmt: skip
    for row in rows:
        table.add_row(*(escape(terminal_safe(str(row[c]))) for c in columns))
    return table


def _shortened(natural: dict[str, int], columns: list[str], width: int) -> dict[str, int]:
    widths = dict(natural)
    for column, least in SHORTENABLE.items():
        excess = _total(widths, columns) - width
        if width and excess > 0 and column in columns:
            widths[column] = max(min(least, natural[column]), natural[column] - excess)
    return widths


def _total(widths: dict[str, int], columns: list[str]) -> int:
    return sum(widths[c] + CELL_OVERHEAD for c in columns) + 1


def number(value: Any, digits: int = 4) -> str:
    """A score for people: fixed point, or "-" when there is none."""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def mean_sd(mean: float | None, sd: float | None) -> str:
    """``0.9591 ± 0.0244`` for a group of seeds, ``0.9591`` for one submission (``sd`` None)."""
    return number(mean) if sd is None else f"{number(mean)} ± {number(sd)}"


def interval(value: Any, low: float | None, high: float | None) -> str:
    text = number(value)
    return text if low is None or high is None else f"{text} [{number(low, 3)}, {number(high, 3)}]"


def _csv_cell(value: object) -> object:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value
