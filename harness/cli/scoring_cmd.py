"""``bench validate``, ``bench submit`` and ``bench leaderboard`` (``bench compare`` is in compare_cmd).

None of these imports torch, faiss or pandas: they read CSV files and score with NumPy.
"""

from __future__ import annotations

import csv
import io
import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness import settings
from harness.cli.app import app, console, err_console, fail, fmt_number, spreadsheet_safe, terminal_safe, workspace
from harness.cli.board_views import print_group_board, print_metric_board
from harness.cli.report_cmd import print_run_report
from harness.cli.tables import emit
from harness.data.competition import competition_spec, migrate_answers, prepare_answers
from harness.data.spec import DEFAULT_COMPETITION
from harness.errors import BenchError, ConfigError, SubmissionError
from harness.scoring.answers import competition_terms, load_answers
from harness.scoring.budget import budget_text, read_budget
from harness.scoring.groups import banded, row_env, row_metrics
from harness.scoring.leaderboard import LINE, PROBLEM, check_rows, ranked, read_rows, shake_label
from harness.scoring.submission import validate_submission
from harness.scoring.submit import submit
from harness.scoring.trusted import verify_trusted
from harness.serve.client import submit_remote
from harness.workspace import Workspace

SHOW_PROBLEMS = 50
RUN_REPORT_MAX_BYTES = 16 << 20  # larger submissions get their run report from `bench report` on request

CompetitionOption = Annotated[str, typer.Option("--competition", "-c", help="Competition name.")]


class Format(StrEnum):
    table = "table"
    csv = "csv"
    markdown = "markdown"
    json = "json"


class By(StrEnum):
    run = "run"
    group = "group"


class Subset(StrEnum):
    public = "public"
    private = "private"
    all = "all"


@app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="Submission CSV to check.")],
    competition: CompetitionOption = DEFAULT_COMPETITION,
) -> None:
    """Check a submission file and report every problem at once, with line numbers."""
    prepare_answers(workspace(), competition)  # splits a competition on first use
    answers = load_answers(workspace(), competition)
    result = validate_submission(file, answers)
    if not result.ok:
        _print_problems(file, result.problems, result.problem_count)
        raise typer.Exit(1)
    console.print(
        f"[green]valid:[/] {escape(str(file))}: {result.rows} queries of {len(answers.query_ids)}, "
        f"at most {answers.k} neighbours each ({answers.competition}, {answers.metric_label})"
    )


@app.command("submit")
def submit_command(
    file: Annotated[Path, typer.Argument(help="Submission CSV to score.")],
    competition: CompetitionOption = DEFAULT_COMPETITION,
    name: Annotated[str, typer.Option("--name", help="A label shown on the leaderboard.")] = "",
    server: Annotated[
        str | None,
        typer.Option("--server", help="Submit to a `bench serve` host at this URL (token from $BENCH_TOKEN)."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="The seed that trained this file.")] = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="A seed group to join or start (needs --seed): one recipe, several seeds."),
    ] = None,
) -> None:
    """Validate and score a submission made by any tool, and add it to the leaderboard."""
    try:
        if server:
            if seed is not None or group:
                raise BenchError("--seed and --group cannot be used with --server: the server groups its own rows")
            _submit_remote(file, competition, server, name)
            return
        fields = {key: value for key, value in (("seed", seed), ("group", group)) if value not in (None, "")}
        result = submit(workspace(), competition, file, name=name, fields=fields)
    except SubmissionError as exc:
        if not exc.problems:
            raise
        _print_problems(file, exc.problems, exc.problem_count)
        raise typer.Exit(1) from None
    row = result.row
    console.print(
        f"[bold]{row['submission_id']}[/]: {row['metric']} public {fmt_number(row['public'], missing=None)} "
        f"\\[{fmt_number(row['public_low'], 3, missing=None)}, {fmt_number(row['public_high'], 3, missing=None)}], "
        f"rank [bold]{result.rank}[/] on {escape(competition)}",
        emoji=False,
    )
    if result.missing_queries:
        err_console.print(
            f"[yellow]warning:[/] {result.missing_queries} query id(s) missing from the file; each scored 0"
        )
    if file.stat().st_size > RUN_REPORT_MAX_BYTES:
        # re-reading the file and drawing per-class figures would take longer than scoring it
        console.print(
            f"  no run report for a submission this large; make one with "
            f"bench report -c {escape(competition)} --submission {row['submission_id']}",
            soft_wrap=True,
        )
        return
    # No neighbour grid here: its images need the dataset plugins, and `bench submit` stays torch-free.
    print_run_report(competition, row["submission_id"], images=False)


def _submit_remote(file: Path, competition: str, server: str, name: str) -> None:
    if name:
        raise ConfigError("--name cannot be used with --server: the server labels rows with the token's participant")
    answer = submit_remote(server, competition, file, settings.token())
    row = answer.get("row", {})
    public, low, high = (
        fmt_number(row.get(k), d, missing=None) for k, d in (("public", 4), ("public_low", 3), ("public_high", 3))
    )
    console.print(
        f"[bold]{escape(str(answer.get('submission_id')))}[/]: {escape(str(row.get('metric', '')))} public {public} "
        f"\\[{low}, {high}], rank [bold]{answer.get('rank')}[/] on {escape(competition)} at {escape(server)}",
        emoji=False,
    )
    if answer.get("recorded_earlier"):
        console.print(f"  {escape(answer['note'])}")
    if answer.get("held"):
        console.print("  Ladder: not significantly better than your best, so your best public score is shown")
    if answer.get("late"):
        err_console.print(f"[yellow]warning:[/] {escape(answer['late'])}")
    if answer.get("missing_queries"):
        err_console.print(
            f"[yellow]warning:[/] {answer['missing_queries']} query id(s) missing from the file; each scored 0"
        )
    quota = answer.get("quota") or {}
    if quota.get("daily_limit"):
        console.print(f"  {quota['remaining_today']} of {quota['daily_limit']} submissions left today")


@app.command("leaderboard")
def leaderboard_command(
    competition: CompetitionOption = DEFAULT_COMPETITION,
    private: Annotated[bool, typer.Option("--private", help="Show private scores and the shake-up.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv, markdown or json.")] = Format.table,
    by: Annotated[By, typer.Option("--by", help="run: one line per submission; group: one per seed group.")] = By.run,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Rank by another metric, e.g. map@r, hit@1 (`bench list metrics`).")
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Rescore every row from its stored submission; exit 1 on any mismatch.")
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column and value whole, however wide the table.")] = False,
) -> None:
    """Rank submissions by public score (private scores hidden unless --private), with rank bands.

    Invalid rows (malformed, another metric or manifest, impossible scores) are shown unranked, with why.
    """
    ws = workspace()
    if verify or by is By.group or metric:  # these rescore the kept files: the answers must be there
        prepare_answers(ws, competition)
    else:
        migrate_answers(ws, competition)  # a workspace from before the answers store: no split for a listing
    if verify:
        _verify(ws, competition)
        return
    rows = read_rows(ws.leaderboard_path(competition))
    if not rows:
        _known_competition(ws, competition)
        if fmt is Format.json:
            typer.echo("[]")
        else:
            console.print(f"no submissions yet for {escape(competition)}")
        return
    terms = competition_terms(ws, competition)
    if terms is not None:
        check_rows(rows, *terms)
    if by is By.group or metric:
        if private:
            raise ConfigError("--private shows the primary metric by run; leave out --by group and --metric")

        valid = [row for row in rows if not row[PROBLEM]]
        if len(valid) < len(rows):
            err_console.print(f"[yellow]warning:[/] {len(rows) - len(valid)} invalid row(s) left out; see --by run")
        if by is By.group:
            print_group_board(ws, competition, valid, metric, fmt.value, wide)
        else:
            print_metric_board(ws, competition, valid, metric, fmt.value, wide)
        return
    metric_label = terms[0] if terms else rows[0].get("metric", "")
    table = [_display(row, private, fmt is Format.json) for row in banded(ranked(rows, private), private)]
    unchecked = "" if terms else " (not checked against the competition: it is not split in this workspace yet)"
    _print_board(table, fmt, f"{competition} leaderboard ({metric_label}){unchecked}", wide)


def _print_board(table: list[dict], fmt: Format, title: str, wide: bool) -> None:
    """The ranked rows in ``fmt``; a table warns about the invalid rows it shows unranked."""
    if fmt is Format.json:
        console.print_json(json.dumps([_json_row(row) for row in table]))
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in table)
        typer.echo(buffer.getvalue(), nl=False)
    elif fmt is Format.markdown:
        typer.echo(_markdown(_human(table)))
    else:
        emit([], "table", title, _human(table), wide)
    invalid = sum(1 for row in table if row["rank"] is None)
    if invalid and fmt is Format.table:
        err_console.print(f"[yellow]warning:[/] {invalid} invalid row(s) shown unranked; see the reason column")


def _known_competition(ws: Workspace, competition: str) -> None:
    """An empty board is fine for a known competition; a misspelt name is an error with suggestions."""
    if not ws.competition_dir(competition).exists():
        competition_spec(ws, competition)


def _verify(ws: Workspace, competition: str) -> None:
    rows, findings = verify_trusted(ws.root, competition)  # never with this process's (plugin-touched) code
    for finding in findings:
        err_console.print(terminal_safe(finding), markup=False, highlight=False)
    if findings:
        fail(f"{len(findings)} of {rows} row(s) of {escape(competition)} do not verify")
        raise typer.Exit(1)
    console.print(f"[green]verified:[/] all {rows} row(s) of {escape(competition)} rescore to their recorded values")


def _print_problems(file: Path, problems: list[str], count: int) -> None:
    for problem in problems[:SHOW_PROBLEMS]:
        err_console.print(f"{file}: {problem}", markup=False, emoji=False, highlight=False)
    if count > SHOW_PROBLEMS:
        err_console.print(f"... and {count - SHOW_PROBLEMS} more")
    fail(f"{escape(str(file))} is not a valid submission: {count} problem(s)")


def _display(row: dict, private: bool, everything: bool = False) -> dict:
    """The shown fields of a ranked row, values as stored (formatting is the table's job).

    ``everything`` (JSON) adds the row's group, seed, metric panel and environment fingerprint.
    """
    shown = {
        "rank": row["rank"],
        "band": row.get("band"),
        "submission_id": row.get("submission_id", ""),
        "name": row.get("name", ""),
        "method": row.get("method", ""),
        "loss": row.get("loss", ""),
        "sampler": row.get("sampler", ""),
        "pooling": row.get("pooling", ""),
        "indexer": row.get("indexer", ""),
        "code": f"{row.get('code_kind', '')} {row.get('bytes_per_item', '')}B" if row.get("code_kind") else "",
        "public": row.get("public", ""),
        "public_low": row.get("public_low", ""),
        "public_high": row.get("public_high", ""),
    }
    if private:
        shown.update(private=row.get("private", ""), private_low=row.get("private_low", ""),
                     private_high=row.get("private_high", ""), public_rank=row["public_rank"],
                     shake=shake_label(row["shake"]))  # fmt: skip
    shown.update(search_ms_per_query=row.get("search_ms_per_query", ""), time=row.get("time", ""))
    shown.update(differs=row.get("differs", ""), budget=row.get("budget", ""))  # "" on rows older than them
    if everything:
        shown.update(group=row.get("group", ""), seed=row.get("seed", ""), metrics=row_metrics(row), env=row_env(row))
    shown.update(line=row.get(LINE, ""), valid=not row.get(PROBLEM), reason=row.get(PROBLEM, ""))
    return shown


def _csv_cell(value: object) -> object:
    """Text without control characters or formulas; no rank (None) is an empty cell."""
    return "" if value is None else spreadsheet_safe(terminal_safe(value)) if isinstance(value, str) else value


def _json_row(row: dict) -> dict:
    """A shown row for JSON: scores as numbers; ``valid`` and ``reason`` always; no rank for invalid rows."""
    out = {k: _number(k, v) for k, v in row.items() if k != "reason" or not row["valid"]}
    if "budget" in out:
        out["budget"] = read_budget(out["budget"])
    return out


def _number(column: str, value: object) -> object:
    """Scores and timings as JSON numbers (null when empty); other fields, and impossible numbers, unchanged."""
    if column.startswith(("public", "private", "search_ms")) and column != "public_rank" and isinstance(value, str):
        try:
            number = float(value) if value else None
        except ValueError:
            return value
        return number if number is None or math.isfinite(number) else value
    return value


def _human(rows: list[dict]) -> list[dict]:
    """Rows for people: scores with their interval in one cell (public alone beside private), empty columns dropped."""
    private = "private" in rows[0]
    out = []
    for row in rows:
        cells = {k: v for k, v in row.items() if not k.endswith(("_low", "_high")) and k not in ("line", "valid")}
        cells["rank"] = "-" if row["rank"] is None else row["rank"]
        cells["band"] = "-" if row.get("band") is None else row["band"]
        cells["reason"] = f"line {row['line']}: {row['reason']}" if row["reason"] else ""
        for column in ("public", "private"):
            if column == "public" and private:
                cells[column] = fmt_number(row[column], missing=None) if row[column] != "" else ""
            elif column in row and row[column] != "":
                low, high = row[f"{column}_low"], row[f"{column}_high"]
                cells[column] = (
                    f"{fmt_number(row[column], missing=None)} [{fmt_number(low, 3, missing=None)}, "
                    f"{fmt_number(high, 3, missing=None)}]"
                )
        cells["time"] = str(row.get("time", ""))[:16].replace("T", " ")
        if private:
            del cells["time"]
        search_ms = cells.pop("search_ms_per_query", "")
        cells["ms/query"] = fmt_number(search_ms, 3, missing=None) if search_ms else ""
        cells["budget"] = budget_text(cells.get("budget"))
        out.append(cells)
    for cells in out:
        cells["reason"] = cells.pop("reason")  # last column
    keep = [c for c in out[0] if c in ("rank", "submission_id", "public") or any(str(r[c]) for r in out)]
    return [{c: r[c] for c in keep} for r in out]


def _markdown(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _md_cell(value: object) -> str:
    """One table cell: pipes escaped, line breaks (e.g. in a --name) kept off the table's lines, no control
    characters, and a would-be spreadsheet formula made text."""
    return spreadsheet_safe(terminal_safe(" ".join(str(value).replace("|", "\\|").splitlines())))
