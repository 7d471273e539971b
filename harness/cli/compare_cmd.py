"""``bench compare A B``: is A better than B? Two submissions, two seed groups, or one of each."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from harness.cli.app import app, console, workspace
from harness.cli.tables import mean_sd
from harness.data.competition import prepare_answers
from harness.data.spec import DEFAULT_COMPETITION
from harness.scoring.comparison import CompareOptions, compare


class Subset(StrEnum):
    public = "public"
    private = "private"
    all = "all"


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="A submission id, a submission file or a group id.")],
    b: Annotated[str, typer.Argument(help="A submission id, a submission file or a group id.")],
    competition: Annotated[
        str | None, typer.Option("--competition", "-c", help="Competition (default: from the path, else digits).")
    ] = None,
    subset: Annotated[
        Subset, typer.Option("--subset", help="Queries compared: public, private or all.")
    ] = Subset.public,
    metric: Annotated[str | None, typer.Option("--metric", help="Metric (default: the competition's).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
) -> None:
    """Bootstrap A minus B over the same queries (and over seeds, for groups) and give a verdict."""
    competition = competition or _infer_competition(a, b) or DEFAULT_COMPETITION
    prepare_answers(workspace(), competition)  # the write step before the answers are read
    result = compare(workspace(), competition, a, b, CompareOptions(subset.value, metric, seed))
    console.print(
        f"{escape(a)} vs {escape(b)} on {result.queries} {subset.value} queries of {escape(competition)} "
        f"({result.metric})\n"
        f"  A: {result.a_what}, mean {mean_sd(result.a_mean, result.a_sd)}\n"
        f"  B: {result.b_what}, mean {mean_sd(result.b_mean, result.b_sd)}\n"
        f"  A - B = {result.difference:+.4f}, 95% interval [{result.low:+.4f}, {result.high:+.4f}]\n"
        f"  A beats B in {result.a_wins:.1%} of bootstrap resamples\n"
        f"  verdict: [bold]{result.verdict}[/]"
    )


def _infer_competition(*references: str) -> str | None:
    for reference in references:
        path = Path(reference)
        if path.is_file() and path.parent.parent.name == "submissions":
            return path.parent.name
    return None
