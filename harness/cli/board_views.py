"""The leaderboard by seed group (``--by group``) and under any panel metric (``--metric NAME``)."""

from __future__ import annotations

from typing import Any

from harness.cli.tables import emit, interval, mean_sd, number
from harness.scoring.budget import budget_text, read_budget
from harness.scoring.groups import Scores, ranked_groups, ranked_rows, row_metrics
from harness.workspace import Workspace

GROUP_KEYS = ("group", "method", "n_seeds", "mean", "sd", "low", "high", "band")


def print_group_board(
    ws: Workspace, competition: str, rows: list[dict[str, Any]], metric: str | None, fmt: str, wide: bool = False
) -> None:
    """One line per group: method, seeds, mean ± sd over seeds, two-level bootstrap interval, band."""
    scores = Scores.open(ws, competition, metric)
    groups = ranked_groups(rows, scores)
    records = [{**{k: g[k] for k in ("rank", *GROUP_KEYS)}, "metric": scores.label, "seeds": g["seeds"],
                "submissions": g["submissions"], "one_seed": g["one_seed"], "differs": g["differs"],
                "budget": read_budget(g["budget"])} for g in groups]  # fmt: skip
    human = [
        {
            "rank": g["rank"],
            "band": _band(g["band"]) + ("*" if g["one_seed"] else ""),  # the band column is never left out
            "group": g["group"],
            "method": g["method"],
            "n": f"{g['n_seeds']} (one seed)" if g["one_seed"] else g["n_seeds"],
            "mean ± sd": mean_sd(g["mean"], g["sd"]),
            "95% interval": f"[{number(g['low'], 3)}, {number(g['high'], 3)}]" if g["low"] is not None else "-",
            "seeds": g["seeds"],
            "differs": g["differs"],
            "budget": budget_text(g["budget"]),
        }
        for g in groups
    ]
    marked = (
        " (band*: a group of one seed, no seed spread in its interval)" if any(g["one_seed"] for g in groups) else ""
    )
    emit(records, fmt, f"{competition} leaderboard by seed group ({scores.label}, public){marked}", human, wide)


def print_metric_board(
    ws: Workspace, competition: str, rows: list[dict[str, Any]], metric: str, fmt: str, wide: bool = False
) -> None:
    """Rows ranked by a panel metric (or any registered one), with its public interval and band."""
    scores = Scores.open(ws, competition, metric)
    ranked = ranked_rows(rows, scores)
    records = [
        {"rank": r["rank"], "band": r["band"], "submission_id": r.get("submission_id", ""), "name": r.get("name", ""),
         "method": r.get("method", ""), "group": r["group"], "seed": r.get("seed", ""), "metric": scores.label,
         "score": None if r["score"] == float("-inf") else r["score"], "low": r["low"], "high": r["high"],
         "metrics": row_metrics(r)}
        for r in ranked
    ]  # fmt: skip
    human = [
        {"rank": r["rank"], "band": _band(r["band"]), "submission_id": r["submission_id"], "method": r["method"],
         "seed": r["seed"], scores.label: interval(r["score"], r["low"], r["high"])}
        for r in records
    ]  # fmt: skip
    emit(records, fmt, f"{competition} leaderboard by {scores.label} (public)", human, wide)


def _band(band: int | None) -> str:
    return "-" if band is None else str(band)
