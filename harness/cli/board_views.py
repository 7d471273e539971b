"""The leaderboard by seed group (``--by group``) and under any panel metric (``--metric NAME``)."""

from __future__ import annotations

from typing import Any

from harness.cli.tables import emit, interval, number

GROUP_KEYS = ("group", "method", "n_seeds", "mean", "sd", "low", "high", "band")


def print_group_board(
    ws, competition: str, rows: list[dict[str, Any]], metric: str | None, fmt: str, wide: bool = False
) -> None:
    """One line per group: method, seeds, mean ± sd over seeds, two-level bootstrap interval, band."""
    from harness.scoring.groups import Scores, ranked_groups

    scores = Scores.open(ws, competition, metric)
    groups = ranked_groups(rows, scores)
    records = [{**{k: g[k] for k in ("rank", *GROUP_KEYS)}, "metric": scores.label, "seeds": g["seeds"],
                "submissions": g["submissions"]} for g in groups]  # fmt: skip
    human = [
        {
            "rank": g["rank"],
            "band": _band(g["band"]),
            "group": g["group"],
            "method": g["method"],
            "n": g["n_seeds"],
            "mean ± sd": f"{number(g['mean'])} ± {number(g['sd'])}" if g["sd"] is not None else number(g["mean"]),
            "95% interval": f"[{number(g['low'], 3)}, {number(g['high'], 3)}]" if g["low"] is not None else "-",
            "seeds": g["seeds"],
        }
        for g in groups
    ]
    emit(records, fmt, f"{competition} leaderboard by seed group ({scores.label}, public)", human, wide)


def print_metric_board(
    ws, competition: str, rows: list[dict[str, Any]], metric: str, fmt: str, wide: bool = False
) -> None:
    """Rows ranked by a panel metric (or any registered one), with its public interval and band."""
    from harness.scoring.groups import Scores, ranked_rows, row_metrics

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
