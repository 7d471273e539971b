"""``bench compare A B``: is A better than B? Two submissions, two seed groups, or one of each."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.markup import escape

from harness.cli.app import app, console, workspace
from harness.data.spec import DEFAULT_COMPETITION


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
    from harness.scoring.groups import Scores
    from harness.scoring.leaderboard import read_rows
    from harness.scoring.statistics import paired_difference_over_seeds, verdict  # `bench reproduce`'s words too

    competition = competition or _infer_competition(a, b) or DEFAULT_COMPETITION
    ws = workspace()
    scores = Scores.open(ws, competition, metric)
    rows = read_rows(ws.leaderboard_path(competition))
    side_a, side_b = _side(scores, rows, a), _side(scores, rows, b)
    public = np.asarray(scores.answers.public, dtype=bool)
    keep = {Subset.public: public, Subset.private: ~public, Subset.all: np.ones_like(public)}[subset]
    seeds_a = [values[keep] for values in side_a[1]]
    seeds_b = [values[keep] for values in side_b[1]]
    difference, (low, high), share = paired_difference_over_seeds(seeds_a, seeds_b, seed=seed)
    console.print(
        f"{escape(a)} vs {escape(b)} on {int(keep.sum())} {subset.value} queries of {escape(competition)} "
        f"({scores.label})\n"
        f"  A: {side_a[0]}, mean {np.mean(seeds_a):.4f}\n"
        f"  B: {side_b[0]}, mean {np.mean(seeds_b):.4f}\n"
        f"  A - B = {difference:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}]\n"
        f"  A beats B in {share:.1%} of bootstrap resamples\n"
        f"  verdict: [bold]{verdict(low, high)}[/]"
    )


def _side(scores, rows: list[dict], reference: str) -> tuple[str, list[np.ndarray]]:
    """(description, per-query scores per seed) of a submission file, a group id or a submission id."""
    from harness.errors import BenchError
    from harness.scoring.groups import group_rows

    path = Path(reference)
    if path.is_file():
        return "submission file", [scores.score_file(path)]
    groups = group_rows(rows)
    members = groups.get(reference)
    if members is None:
        members = [row for row in rows if row.get("submission_id") == reference]
        if not members:
            raise BenchError(
                f"no submission or group {reference!r} on the {scores.competition} leaderboard, and no such file"
            )
        what = "submission"
    else:
        what = f"group of {len(members)} seed(s)"
    per_seed = [scores.per_query(row) for row in members]
    missing = [row.get("submission_id", "") for row, values in zip(members, per_seed) if values is None]
    if missing:
        raise BenchError(f"the submission file of {', '.join(missing)} is missing; cannot rescore it")
    return what, per_seed


def _infer_competition(*references: str) -> str | None:
    for reference in references:
        path = Path(reference)
        if path.is_file() and path.parent.parent.name == "submissions":
            return path.parent.name
    return None
