"""The report's sections, built from plain data (leaderboard rows, arrays, an image-loading callable).

Each function writes its figures into ``out_dir`` and returns an ``html.Section`` naming them.
Nothing here reads the workspace; ``gather`` does that.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from harness import metrics
from harness.errors import BenchError
from harness.report import analysis, figures, grid
from harness.report.html import Section, Table

ImageLoader = Callable[[list[str]], np.ndarray]  # ids -> float32 (n, 3, H, W) in [0, 1]
MAX_TABLE_ROWS = 100


@dataclass
class SubmissionData:
    """One scored submission, with the answers it is judged against (after scoring only)."""

    submission_id: str
    metric_label: str
    k: int
    ranked: np.ndarray  # (Q, k) gallery positions, -1 padded
    query_ids: list[str]
    query_labels: np.ndarray  # (Q,)
    gallery_ids: list[str]
    gallery_labels: np.ndarray  # (G,)
    public: np.ndarray  # (Q,) bool
    scores: np.ndarray  # (Q,) per-query score under the competition metric
    class_names: list[str] | None = None


@dataclass
class StudyData:
    """The complete trials of one Optuna study, and its parameter importances when computable."""

    name: str
    numbers: list[int]
    values: list[float]
    maximize: bool = True
    importances: dict[str, float] | None = None
    note: str = ""  # why something is missing
    importance_note: str = ""  # how the importances were computed (the same evaluator as bench tune)
    objectives: list[str] = field(default_factory=list)  # a multi-objective study: "score", "bytes", "ms", ...
    all_values: list[list[float]] = field(default_factory=list)  # its complete trials' values, one list each
    on_front: list[bool] = field(default_factory=list)  # whether each complete trial is on the Pareto front


def number(text: object) -> float:
    """A leaderboard cell as a float; NaN when empty or not a number."""
    try:
        value = float(str(text).strip())
    except ValueError:
        return math.nan
    return value


def best_public(rows: list[dict]) -> dict:
    """The row ranked first by public score (``harness.scoring.leaderboard.ranked``'s tie rules)."""
    from harness.scoring.leaderboard import ranked

    ordered = ranked(rows)
    return next((row for row in ordered if row["rank"] is not None), ordered[0])  # invalid rows rank last


def leaderboard_section(rows: list[dict], private: bool = False, chosen: str | None = None) -> Section:
    """The leaderboard as ``bench leaderboard`` ranks it: by public score, or with ``private`` by
    private score with each row's shake-up (places gained from public to private)."""
    from harness.scoring.groups import banded
    from harness.scoring.leaderboard import ranked, shake_label

    headers = ["#", "band", "submission", "name", "method", "code", "metric", "public [95% CI]"]
    if private:
        headers += ["private [95% CI]", "shake-up"]
    headers += ["search ms/query", "train s", "study", "time"]
    extra = 2 if private else 0
    table = Table(headers, [], numeric={0, 1, 7, 8 + extra, 9 + extra} | ({8} if private else set()))
    ordered = banded(ranked(rows, private), private)
    for i, row in enumerate(ordered[:MAX_TABLE_ROWS]):
        cells = [
            "invalid" if row["rank"] is None else str(row["rank"]),  # shown, never ranked (leaderboard.py)
            "-" if row["band"] is None else str(row["band"]),
            row.get("submission_id", ""),
            row.get("name", ""),
            row.get("method", ""),
            _code(row),
            row.get("metric", ""),
            _interval(row, "public"),
        ]
        if private:
            cells += [_interval(row, "private"), shake_label(row["shake"])]
            if row["shake"]:
                table.classes[(i, 9)] = "up" if row["shake"] > 0 else "down"
        study = row.get("study", "")
        cells += [
            _fmt(row.get("search_ms_per_query"), 3),
            _fmt(row.get("train_seconds"), 1),
            f"{study} #{row.get('trial', '')}" if study else "",
            row.get("time", ""),
        ]
        if row.get("submission_id") == chosen:
            table.highlight.add(i)
        table.rows.append(cells)
    section = Section("Leaderboard", table=table)
    section.paragraphs.append(
        f"{len(rows)} submission(s). "
        + (
            "Ranked by private score; shake-up: places gained from the public ranking."
            if private
            else "Ranked by public score; private scores stay hidden (pass --private to show them)."
        )
    )
    if len(rows) > MAX_TABLE_ROWS:
        section.notes.append(f"Showing the top {MAX_TABLE_ROWS} of {len(rows)} submissions.")
    return section


def point_label(row: dict) -> str:
    """What a point on a plot stands for: method and seed (a name only when it says more than the method)."""
    method = row.get("method") or row.get("submission_id", "")
    seed = f" s{row['seed']}" if str(row.get("seed", "")).strip() else ""
    name = row.get("name", "")
    extra = f" ({name})" if name and name not in (method, "reference") else ""
    return f"{method}{seed}{extra}"


def cost_section(rows: list[dict], out_dir: Path, name: str = "cost.png") -> Section:
    """Public score against memory (bytes per item) and speed (search ms per query)."""
    labels = [point_label(r) for r in rows]
    metric = next((r.get("metric") for r in rows if r.get("metric")), "score")
    figures.cost_figure(
        Path(out_dir) / name,
        labels,
        np.array([number(r.get("public")) for r in rows]),
        np.array([number(r.get("bytes_per_item")) for r in rows]),
        np.array([number(r.get("search_ms_per_query")) for r in rows]),
        [r.get("code_kind", "") or "unknown" for r in rows],
        metric=metric,
    )
    caption = (
        "Public score against cost, one point per submission (circles: float vectors, squares: "
        "binary codes); the black staircase is the Pareto front: nothing cheaper scores higher."
    )
    return Section("Score against cost", figures=[(name, caption)])


def submission_sections(
    data: SubmissionData, load_images: ImageLoader | None, out_dir: Path, private: bool = False, prefix: str = ""
) -> list[Section]:
    """Worst queries with their neighbours, precision/recall curves and per-class AP of one submission.

    Without ``private`` only public queries are shown, so the page leaks nothing the leaderboard hides.
    """
    out_dir = Path(out_dir)
    sel = _shown_queries(data, private)
    subset = "all queries" if private else "public queries only"
    if len(sel) == 0:
        return [Section(f"Submission {data.submission_id}", notes=[f"No queries to show ({subset})."])]
    ranked = np.asarray(data.ranked, dtype=np.int64)[sel]
    labels = np.asarray(data.query_labels)[sel]
    rel = metrics.relevance(ranked, labels, data.gallery_labels, ranked.shape[1])
    m = metrics.relevant_counts(labels, data.gallery_labels)
    scores = np.asarray(data.scores, dtype=np.float64)[sel]

    worst = Section(f"Worst queries of {data.submission_id}")
    worst.paragraphs.append(
        f"Each row: a query (blue frame) and its top neighbours, green when the label matches, red when not; "
        f"lowest {data.metric_label} first ({subset}, {len(sel)} queries, mean {scores.mean():.4f})."
    )
    if load_images is None:
        worst.notes.append("Images were not loaded, so the grid is left out (see bench report).")
    else:
        try:
            name = f"{prefix}grid.png"
            worst_queries_grid(data, load_images, out_dir / name, private)
            worst.figures.append((name, f"Worst {min(len(sel), grid.MAX_ROWS)} queries and their neighbours."))
        except (BenchError, ImportError, OSError, KeyError, ValueError) as exc:
            worst.notes.append(f"The grid could not be drawn: {exc}")

    ks, precision, recall = analysis.precision_recall_curves(rel, m)
    curves_name = f"{prefix}curves.png"
    figures.curves_figure(out_dir / curves_name, ks, precision, recall, title=f"{data.submission_id} ({subset})")
    ap = metrics.per_query_scores(ranked, labels, data.gallery_labels, "map@k", data.k)
    classes, class_ap, counts = analysis.per_class_mean(labels, ap)
    ap_name = f"{prefix}class_ap.png"
    figures.class_ap_figure(
        out_dir / ap_name, classes, class_ap, counts, data.class_names, title=f"AP@{data.k} per query class"
    )
    curves = Section(
        "Precision and recall",
        figures=[
            (curves_name, "Mean precision@k and recall@k over queries (recall counts all relevant gallery items)."),
            (ap_name, f"Mean AP@{data.k} of the queries of each class, worst class first; dashed: mean over queries."),
        ],
    )
    return [worst, curves]


def training_section(submission_id: str, history: list[dict], out_dir: Path, prefix: str = "") -> Section | None:
    """The training diagnostics of one run (harness/train/diagnostics.py), or None when it recorded none."""
    keys = ("easy_triplets", "zero_loss_samples", "val_neighbour_overlap", "train_loss", "val_score")
    if not any(key in record for record in history for key in keys):
        return None
    name = f"{prefix}training.png"
    figures.training_figure(Path(out_dir) / name, history, title=submission_id)
    caption = (
        "Top: the training loss (mean over the epoch's batches) and the val score of each evaluated epoch; the "
        "marked epoch is the one whose weights were kept. "
        "Bottom left: of all (anchor, positive, negative) triplets in each epoch's training batches, the share that is "
        "easy (no loss), semi-hard (inside the margin) or hard (negative nearer than positive); black: the share "
        "of samples whose loss was zero. Bottom right: how many of each val item's top-10 neighbours it kept since the "
        "previous evaluation (1: the ranking has settled). From the run's metrics.json history."
    )
    return Section(f"Training of {submission_id}", figures=[(name, caption)])


def front_section(study: StudyData, out_dir: Path, prefix: str) -> Section:
    """A multi-objective study's Pareto front, drawn like the score-against-cost plot it stands beside."""
    section = Section(f"Pareto front of study {study.name}")
    if study.note:
        section.notes.append(study.note)
    if not study.all_values:
        section.notes.append("No complete trial yet: no front to draw.")
        return section
    name = f"{prefix}front.png"
    figures.front_figure(
        out_dir / name, study.numbers, np.asarray(study.all_values), study.objectives,
        np.asarray(study.on_front), title=f"{study.name}: {', '.join(study.objectives)}",
    )  # fmt: skip
    section.paragraphs.append(
        f"{len(study.numbers)} complete trials, {sum(study.on_front)} on the Pareto front "
        "(nothing else is at least as good on every objective and better on one); scored on val, "
        "costs measured on val searched against itself."
    )
    section.figures.append((name, "Val score against each cost, one point per trial; stars: the Pareto trials."))
    return section


def study_section(study: StudyData, out_dir: Path, prefix: str, submitted: list[int] | None = None) -> Section:
    """Optimisation history and parameter importances of one study, or a note saying why not.

    ``submitted``: numbers of the study's trials that reached the leaderboard (starred)."""
    section = Section(f"Study {study.name}")
    if study.note:
        section.notes.append(study.note)
    if len(study.values) < 2:
        if not study.note:
            section.notes.append(f"Study {study.name!r} has {len(study.values)} complete trial(s); plots need 2.")
        return section
    direction = "maximised" if study.maximize else "minimised"
    section.paragraphs.append(f"{len(study.values)} complete trials; objective {direction}.")
    name = f"{prefix}history.png"
    figures.history_figure(out_dir / name, study.numbers, study.values, study.maximize, study.name, submitted)
    section.figures.append(
        (
            name,
            "Objective value (val score) of each complete trial and the best so far; "
            "stars: trials submitted to the leaderboard.",
        )
    )
    if study.importances:
        name = f"{prefix}importance.png"
        figures.importance_figure(out_dir / name, study.importances, title=f"{study.name}: parameter importances")
        section.figures.append((name, f"Parameter importances: {study.importance_note} (as `bench tune` prints)."))
    return section


def worst_queries_grid(
    data: SubmissionData, load_images: ImageLoader, path: Path, private: bool = False
) -> grid.GridResult:
    """The grid of the (at most 8) lowest-scoring shown queries, each with its top 10 neighbours."""
    sel = _shown_queries(data, private)
    ranked = np.asarray(data.ranked, dtype=np.int64)[sel]
    labels = np.asarray(data.query_labels)[sel]
    scores = np.asarray(data.scores, dtype=np.float64)[sel]
    rows = analysis.worst_first(scores, grid.MAX_ROWS)
    cols = min(ranked.shape[1], grid.MAX_COLS)
    shown = ranked[rows, :cols]
    correct = analysis.neighbour_correct(shown, labels[rows], data.gallery_labels)
    ids = [data.query_ids[sel[r]] for r in rows]
    ids += sorted({data.gallery_ids[p] for p in shown.ravel() if p >= 0})
    images = np.asarray(load_images(ids), dtype=np.float32)
    at = {item: i for i, item in enumerate(ids)}
    blank = np.zeros_like(images[0])
    neighbours = np.stack([[images[at[data.gallery_ids[p]]] if p >= 0 else blank for p in row] for row in shown])
    names = data.class_names or []
    row_labels = []
    for r in rows:
        label = int(labels[r])
        shown_label = names[label] if 0 <= label < len(names) else str(label)
        row_labels.append(f"{data.query_ids[sel[r]]}\nclass {shown_label}\n{data.metric_label} {scores[r]:.3f}")
    return grid.neighbour_grid(path, images[: len(rows)], neighbours, correct, shown >= 0, row_labels)


def _shown_queries(data: SubmissionData, private: bool) -> np.ndarray:
    """Positions of the queries a page may show: all with ``private``, else the public ones."""
    return np.flatnonzero(np.ones(len(data.query_ids), bool) if private else np.asarray(data.public, bool))


def _fmt(text: object, digits: int) -> str:
    value = number(text)
    return f"{value:.{digits}f}" if math.isfinite(value) else str(text or "")


def _interval(row: dict, key: str) -> str:
    value, low, high = (number(row.get(k)) for k in (key, f"{key}_low", f"{key}_high"))
    if not math.isfinite(value):
        return str(row.get(key, "") or "")
    ci = f" [{low:.4f}, {high:.4f}]" if math.isfinite(low) and math.isfinite(high) else ""
    return f"{value:.4f}{ci}"


def _code(row: dict) -> str:
    kind, size = row.get("code_kind", ""), row.get("bytes_per_item", "")
    return f"{kind} {size} B".strip() if size else kind
