"""The Ladder (Blum & Hardt, 2015): a public board that releases a score only when it is a real improvement.

On a Kaggle board every upload shows its exact public score, so a participant who submits many
small variations can climb by fitting the public queries' noise (the shake-up on the private board
is the bill). Under ``public_board = "ladder"`` a participant's public score is released only when it
beats their best released score by a significant margin; any other upload shows their previous best.
The margin is half the upload's 95% public interval (a bootstrap over the public queries), and at
least :data:`MIN_STEP`, so climbing by noise gives a participant no new information.
"""

from __future__ import annotations

import math
from typing import Any

from harness.scoring.groups import score_value

SHOWN = ("public", "public_low", "public_high", "metrics")  # a held row shows its best's, panel included
MIN_STEP = 0.001
HELD = "held"  # key set on a row whose own public score is withheld


def step(row: dict[str, Any]) -> float:
    """The margin by which ``row`` must beat the best released score: half its 95% public interval."""
    low, high = score_value(row.get("public_low")), score_value(row.get("public_high"))
    half_width = (high - low) / 2 if math.isfinite(low) and math.isfinite(high) else 0.0
    return max(MIN_STEP, half_width)


def apply(rows: list[dict[str, Any]], problem_key: str = "_problem") -> list[dict[str, Any]]:
    """``rows`` (in the order they were submitted) with each participant's public scores as the Ladder
    releases them; a withheld row carries its participant's best released scores and ``held`` True."""
    best: dict[str, dict[str, Any]] = {}
    out = []
    for row in rows:
        if row.get(problem_key):
            out.append(row)
            continue
        owner = row.get("name") or row.get("submission_id", "")
        leader = best.get(owner)
        if leader is None or score_value(row.get("public")) > score_value(leader.get("public")) + step(row):
            best[owner] = row
            out.append({**row, HELD: False})
        else:
            out.append({**row, **{key: leader.get(key) for key in SHOWN}, HELD: True})
    return out
