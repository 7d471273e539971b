"""``bench reproduce SUBMISSION_ID``: rerun a row here; identical, within the group's spread, or not."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.app import app, console, progress_bars, workspace

VERDICTS = {
    "identical": "[green]identical[/]: the rerun's submission file is byte for byte the kept one",
    "within": "[green]within the group's seed spread[/]: not identical, but no further off than another seed",
    "outside": "[red]outside the group's seed spread[/]: this machine or this code gives a different result",
}


@app.command("reproduce")
def reproduce_command(
    submission_id: Annotated[str, typer.Argument(help="A submission id from the leaderboard.")],
    competition: Annotated[
        str | None, typer.Option("--competition", "-c", help="Its competition (default: search every board).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Retrain a row's recorded config and seed here (no new row) and compare with the kept submission."""
    from harness.reproduce import reproduce

    with progress_bars(quiet) as progress:
        result = reproduce(workspace(), submission_id, competition, progress)
    console.print(f"{escape(result.submission_id)} on {escape(result.competition)}: {VERDICTS[result.verdict]}")
    console.print(
        f"  public: recorded {result.recorded:.4f}, rerun {result.rerun:.4f}; spread "
        f"[{result.spread[0]:.4f}, {result.spread[1]:.4f}] ({escape(result.spread_source)})"
    )
    if result.differing:
        console.print("  fingerprint fields that differ (recorded -> here):")
        for line in result.differing:
            console.print(f"    {escape(line)}")
    else:
        console.print("  fingerprint: the same on every field")
    if not result.ok:
        raise typer.Exit(1)
