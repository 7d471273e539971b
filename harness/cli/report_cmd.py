"""``bench report``: an HTML page with pictures of a competition's leaderboard and submissions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import app, console, workspace


@app.command("report")
def report_command(
    competition: Annotated[str, typer.Option("--competition", "-c", help="Competition to report on.")] = "digits",
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

    result = write_report(workspace(), competition, out=out, submission_id=submission, private=private)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {_escape(note)}")
    console.print(f"{len(result.figures)} figure(s) for {_escape(result.submission_id)}")
    console.print(f"report: {_escape(str(result.path))}", soft_wrap=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
