"""The two reports: the competition page (``bench report``) and the small per-run page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import BenchError, WorkspaceError
from harness.report import gather
from harness.report.html import Section, figure_files, write_page
from harness.report.sections import (
    best_public,
    cost_section,
    front_section,
    leaderboard_section,
    study_section,
    submission_sections,
    training_section,
)
from harness.workspace import Workspace, check_name

MAX_STUDIES = 5


@dataclass
class ReportResult:
    """The page written, the figures it shows, the submission it looks at, and notes on what is missing."""

    path: Path
    figures: list[Path]
    submission_id: str
    notes: list[str] = field(default_factory=list)


def write_report(
    workspace: Workspace,
    competition: str,
    out: Path | None = None,
    submission_id: str | None = None,
    private: bool = False,
) -> ReportResult:
    """Write ``index.html`` and its PNG figures (default folder ``reports/<competition>/``).

    Shows the leaderboard, score against cost, the chosen submission (default: best public score)
    and the studies of tuned submissions. Private scores and private queries only with ``private``.
    """
    check_name(competition, "competition name")
    out_dir = Path(out) if out is not None else workspace.root / "reports" / competition
    rows = gather.leaderboard_rows(workspace, competition)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkspaceError(f"cannot write the report into {out_dir}: {exc.strerror or exc}") from None
    row = gather.find_row(rows, submission_id, competition) if submission_id else best_public(rows)
    chosen = row["submission_id"]

    sections: list[Section] = [leaderboard_section(rows, private, chosen), cost_section(rows, out_dir)]
    try:
        data = gather.submission_data(workspace, competition, chosen, row)
    except BenchError as exc:  # e.g. the file was deleted or the manifest changed since it was scored
        sections.append(Section(f"Submission {chosen}", notes=[f"Its details cannot be shown: {exc}"]))
    else:
        data.class_names = gather.class_names(workspace, competition)
        sections += submission_sections(data, gather.image_loader(workspace, competition), out_dir, private)
    training = training_section(chosen, gather.training_history(workspace, chosen), out_dir)
    if training is not None:
        sections.append(training)
    studies = list(dict.fromkeys(r.get("study", "") for r in reversed(rows) if r.get("study")))
    for i, name in enumerate(studies[:MAX_STUDIES]):
        submitted = [int(r["trial"]) for r in rows if r.get("study") == name and str(r.get("trial", "")).isdigit()]
        study = gather.study_data(workspace, name)
        if study.objectives:  # a Pareto front goes beside the board's score-against-cost plot
            sections.insert(2, front_section(study, out_dir, f"study{i + 1}_"))
        sections.append(study_section(study, out_dir, f"study{i + 1}_", submitted))
    if len(studies) > MAX_STUDIES:
        sections[-1].notes.append(f"Only the {MAX_STUDIES} most recent of {len(studies)} studies are shown.")

    visibility = "public and private scores" if private else "public scores only"
    subtitle = f"{len(rows)} submission(s); details of {chosen}; {visibility}."
    path = write_page(out_dir / "index.html", f"bench report: {competition}", subtitle, sections)
    return ReportResult(path, [out_dir / f for f in figure_files(sections)], chosen, _notes(sections))


def write_run_report(
    workspace: Workspace, competition: str, submission_id: str, *, private: bool = False, images: bool = True
) -> Path:
    """Write ``runs/<submission_id>/report/index.html`` (neighbour grid, curves, per-class AP); return its path.

    Works before or after the leaderboard row exists: the submission file is found at the row's
    ``submission_path`` or at ``submissions/<competition>/<submission_id>.csv``. Loading images opens
    the competition (plugins, so possibly torch); ``images=False`` leaves the grid out and stays
    torch-free. Raises BenchError when the submission or the answers cannot be read.
    """
    out_dir = workspace.run_dir(submission_id) / "report"
    row = None
    board = workspace.leaderboard_path(competition)
    if board.exists():
        try:
            row = gather.find_row(gather.leaderboard_rows(workspace, competition), submission_id, competition)
        except (BenchError, ImportError):  # the row is optional here
            row = None
    data = gather.submission_data(workspace, competition, submission_id, row)
    data.class_names = gather.class_names(workspace, competition)
    load = gather.image_loader(workspace, competition) if images else None
    sections = submission_sections(data, load, out_dir, private)
    training = training_section(submission_id, gather.training_history(workspace, submission_id), out_dir)
    if training is not None:
        sections.append(training)
    subset = data.scores if private else data.scores[data.public]
    score = f"{subset.mean():.4f}" if len(subset) else "n/a"
    subtitle = f"{competition}: {'all' if private else 'public'} {data.metric_label} {score}"
    return write_page(out_dir / "index.html", f"run report: {submission_id}", subtitle, sections)


def _notes(sections: list[Section]) -> list[str]:
    return [note for s in sections for note in s.notes]
