"""``bench report``: an HTML page with pictures of a competition's leaderboard and submissions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.app import app, console, workspace
from harness.data.competition import prepare_answers
from harness.data.spec import DEFAULT_COMPETITION
from harness.errors import BenchError
from harness.workspace import display_path


@app.command("report")
def report_command(
    competition: Annotated[
        str, typer.Option("--competition", "-c", help="Competition to report on.")
    ] = DEFAULT_COMPETITION,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for index.html and its PNGs (default: reports/<competition>/).")
    ] = None,
    submission: Annotated[
        str | None, typer.Option("--submission", help="Submission to look at closely (default: best public score).")
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Also show private scores and private queries.")] = False,
) -> None:
    """Write a self-contained HTML report: leaderboard, score against cost, worst queries, curves, studies."""
    from harness.report import write_report

    prepare_answers(workspace(), competition)  # the write step before the answers are read
    result = write_report(workspace(), competition, out=out, submission_id=submission, private=private)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    console.print(f"{len(result.figures)} figure(s) for {escape(result.submission_id)}")
    console.print(f"report: {escape(str(result.path))}", soft_wrap=True)


def print_run_report(competition: str, submission_id: str, images: bool = True) -> None:
    """Write a run's own small report and print its path; a report that fails is a note, not an error."""
    from harness.report import write_run_report

    ws = workspace()
    try:
        path = write_run_report(ws, competition, submission_id, images=images)
    except BenchError as exc:
        console.print(f"[yellow]note:[/] no run report: {escape(str(exc))}")
        return
    console.print(f"  report {escape(display_path(path, ws.root))}", soft_wrap=True)
