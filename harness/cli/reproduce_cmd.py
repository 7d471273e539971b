"""``bench reproduce SUBMISSION_ID``: rerun a row here; identical, or what `bench compare` says of the two."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.app import app, console, progress_bars, workspace
from harness.reproduce import RECORDED, RERUN, reproduce

VERDICTS = {
    "identical": "[green]identical[/]: the rerun's submission file is byte for byte the kept one",
    "same": "[green]not identical, no detectable difference[/] from the recorded group (as `bench compare` says)",
    "different": "[red]different[/]: {words} (as `bench compare` says); this machine or this code gives another result",
}


@app.command("reproduce")
def reproduce_command(
    submission_id: Annotated[str, typer.Argument(help="A submission id from the leaderboard.")],
    competition: Annotated[
        str | None, typer.Option("--competition", "-c", help="Its competition (default: search every board).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep the rerun's submission file here (for `bench compare`).")
    ] = None,
) -> None:
    """Retrain a row's recorded config and seed here (no new row) and compare with the kept submission."""
    with progress_bars(quiet) as progress:
        result = reproduce(workspace(), submission_id, competition, progress, keep)
    headline = VERDICTS[result.verdict].format(words=escape(result.words))
    console.print(f"{escape(result.submission_id)} on {escape(result.competition)}: {headline}")
    low, high = result.interval
    console.print(
        f"  public: recorded {result.recorded:.4f}, rerun {result.rerun:.4f}; seed spread "
        f"[{result.spread[0]:.4f}, {result.spread[1]:.4f}] ({escape(result.spread_source)})\n"
        f"  {RERUN} - {RECORDED} = {result.difference:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}]; "
        f"{RERUN} wins {result.share:.1%} of bootstrap resamples: {escape(result.words)}"
    )
    if result.kept is not None:
        kept, group = escape(str(result.kept)), escape(result.group)
        console.print(f"  rerun kept: `bench compare {kept} {group}` gives the same numbers")
    if result.differing:
        console.print("  fingerprint fields that differ (recorded -> here):")
        for line in result.differing:
            console.print(f"    {escape(line)}")
    else:
        console.print("  fingerprint: the same on every field")
    if not result.ok:
        raise typer.Exit(1)
