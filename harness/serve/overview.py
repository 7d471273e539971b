"""A competition as a newcomer reads it: the list, the overview (metric in words, rules, sizes, a warning
when its public scores are noisy) and the participant's data, exported once and served as a zip."""

from __future__ import annotations

import math
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from harness.data.export import export_competition
from harness.data.manifest import competition_folder, read_info
from harness.data.spec import DEFAULT_COMPETITION, CompetitionSpec
from harness.errors import BenchError
from harness.serve import board, ladder, rules
from harness.serve.tokens import serve_dir
from harness.workspace import Workspace

METRIC_WORDS = {
    "map@k": "mean average precision over the first {k} neighbours: for each query, the precision at every rank "
    "where an item of the query's class appears, summed and divided by min(k, the class's gallery items); "
    "then the mean over queries. Order matters: right answers first score highest.",
    "map@r": "mean average precision at R, where R is the number of gallery items of the query's class: "
    "precision at each correct rank within the first R, divided by R, averaged over queries.",
    "precision@k": "the share of the first {k} neighbours that are of the query's class, averaged over queries.",
    "recall@k": "the share of the query's class's gallery items found among the first {k} neighbours, averaged.",
    "hit@k": "the share of queries with at least one item of their class among the first {k} neighbours.",
}
WIDE_RATIO = 1.4  # public intervals this many times as wide as the default competition's get a warning
SHIPPED_DEFAULT_PUBLIC_QUERIES = 200  # digits as shipped: 400 queries, half of them public


def metric_in_words(spec: CompetitionSpec) -> str:
    words = METRIC_WORDS.get(spec.metric, "the metric {metric}, averaged over queries.")
    return words.format(k=spec.k, metric=spec.metric)


def listing(workspace: Workspace) -> list[dict[str, Any]]:
    """Every competition with what its row in the list shows; one that cannot be read says why."""
    out = []
    for name in board.competitions(workspace):
        try:
            spec = board.known_competition(workspace, name)
            info = board.competition_info(workspace, spec)
            entries = [r for r in board.rows(workspace, name) if not r.get(board.PROBLEM)]
            entries = ladder.apply(entries) if spec.public_board == "ladder" else entries  # released scores only
        except BenchError as exc:
            out.append({"name": name, "problem": str(exc)})
            continue
        best = max((board.number(r.get("public")) or -math.inf for r in entries), default=None)
        info.update(
            submissions=len(entries),
            teams=len({r.get("name") or r.get("submission_id") for r in entries}),
            best_public=best if best is not None and math.isfinite(best) else None,
        )
        out.append(info)
    return out


def describe(workspace: Workspace, spec: CompetitionSpec) -> dict[str, Any]:
    """The overview page's facts."""
    info = board.competition_info(workspace, spec)
    deadline = rules.Rules.of(spec).deadline
    return {
        "competition": info,
        "metric_words": metric_in_words(spec),
        "deadline": deadline.isoformat() if deadline else None,
        "public_board": spec.public_board,
        "warning": interval_warning(workspace, spec),
    }


def interval_warning(workspace: Workspace, spec: CompetitionSpec) -> str:
    """A sentence when this competition's public intervals are much wider than the default's, else ""."""
    mine = (read_info(competition_folder(workspace, spec.name)) or {}).get("public_queries")
    reference = (read_info(competition_folder(workspace, DEFAULT_COMPETITION)) or {}).get("public_queries")
    reference = reference or SHIPPED_DEFAULT_PUBLIC_QUERIES
    if not mine or spec.name == DEFAULT_COMPETITION:
        return ""
    ratio = math.sqrt(reference / mine)  # an interval's width goes as one over the root of the query count
    if ratio < WIDE_RATIO:
        return ""
    return (
        f"The public board scores {mine} queries ({DEFAULT_COMPETITION} scores {reference}), so its 95% intervals "
        f"are about {ratio:.1f}× as wide: differences between public scores smaller than the intervals mean little."
    )


def export_zip(workspace: Workspace, spec: CompetitionSpec) -> Path:
    """The participant's data as one zip (made once per manifest, then served from ``serve/exports``)."""
    from harness.data.competition import open_competition

    if read_info(competition_folder(workspace, spec.name)) is None:
        open_competition(workspace, spec.name)  # splits it on first use, as every other door does
    digest = str((read_info(competition_folder(workspace, spec.name)) or {}).get("manifest_sha256", ""))[:16]
    target = serve_dir(workspace) / "exports" / f"{spec.name}-{digest}.zip"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        folder = Path(scratch) / spec.name
        export_competition(workspace, spec.name, folder)
        partial = Path(scratch) / "data.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder.parent).as_posix())
        shutil.move(partial, target)
    return target
