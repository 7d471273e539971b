"""Reads what a report shows from the workspace: leaderboard rows, a scored submission, images, studies.

Everything here runs after scoring, so reading the answers (labels) is allowed.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from harness.data.competition import open_competition
from harness.data.manifest import competition_folder, read_info
from harness.errors import BenchError, CompetitionError, SubmissionError
from harness.metrics import per_query_scores
from harness.report.sections import ImageLoader, StudyData, SubmissionData
from harness.scoring.answers import load_answers
from harness.scoring.leaderboard import read_rows
from harness.scoring.submission import read_submission
from harness.tune.importance import importances
from harness.tune.storage import JOURNAL_SUFFIX
from harness.workspace import Workspace, check_name

if TYPE_CHECKING:
    from optuna import Study


def leaderboard_rows(workspace: Workspace, competition: str) -> list[dict]:
    """Every row of the competition's leaderboard; CompetitionError when there is none yet."""

    path = workspace.leaderboard_path(competition)
    rows = read_rows(path) if path.exists() else []
    if not rows:
        raise CompetitionError(f"no submissions on leaderboard {competition} yet (expected {path})")
    return rows


def find_row(rows: list[dict], submission_id: str, competition: str) -> dict:
    """The leaderboard row of ``submission_id``, or a SubmissionError naming close matches."""
    for row in rows:
        if row.get("submission_id") == submission_id:
            return row
    known = [r.get("submission_id", "") for r in rows]
    close = difflib.get_close_matches(submission_id, known, n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise SubmissionError(f"no submission {submission_id!r} on leaderboard {competition}.{hint}")


def training_history(workspace: Workspace, submission_id: str) -> list[dict]:
    """The per-epoch history a ``bench run`` stored in ``runs/<id>/metrics.json`` ([] when absent or unreadable)."""
    import json

    path = workspace.run_dir(check_name(submission_id, "submission id")) / "metrics.json"
    try:
        history = json.loads(path.read_text(encoding="utf-8")).get("history", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [r for r in history if isinstance(r, dict) and "epoch" in r] if isinstance(history, list) else []


def submission_file(workspace: Workspace, competition: str, submission_id: str, row: dict | None = None) -> Path:
    """Where the submission's CSV lives: the leaderboard's ``submission_path`` or the default place."""
    candidates = []
    recorded = (row or {}).get("submission_path") or ""
    if recorded:
        path = Path(recorded)
        candidates.append(path if path.is_absolute() else workspace.root / path)
    for suffix in (".csv", ".parquet"):
        candidates.append(
            workspace.submissions_dir(competition) / f"{check_name(submission_id, 'submission id')}{suffix}"
        )
    for path in candidates:
        if path.is_file():
            return path
    looked = ", ".join(map(str, candidates))
    raise SubmissionError(f"submission file of {submission_id!r} not found (looked at {looked})")


def submission_data(
    workspace: Workspace, competition: str, submission_id: str, row: dict | None = None
) -> SubmissionData:
    """A scored submission with its answers and per-query scores under the competition metric."""

    path = submission_file(workspace, competition, submission_id, row)
    answers = load_answers(workspace, competition)
    ranked = np.asarray(read_submission(path, answers))
    scores = per_query_scores(ranked, answers.query_labels, answers.gallery_labels, answers.metric, answers.k)
    return SubmissionData(
        submission_id=submission_id,
        metric_label=answers.metric_label,
        k=int(answers.k),
        ranked=ranked,
        query_ids=[str(q) for q in answers.query_ids],
        query_labels=np.asarray(answers.query_labels),
        gallery_ids=[str(g) for g in answers.gallery_ids],
        gallery_labels=np.asarray(answers.gallery_labels),
        public=np.asarray(answers.public, dtype=bool),
        scores=np.asarray(scores, dtype=np.float64),
    )


def image_loader(workspace: Workspace, competition: str) -> ImageLoader:
    """A callable loading images by item id. The competition opens on first call (plugins, maybe
    torch); if it cannot, the callable raises that error and the grid becomes a note."""
    opened = []

    def load(ids: list[str]) -> np.ndarray:
        if not opened:
            opened.append(open_competition(workspace, competition))
        return opened[0].images_by_id(list(ids))

    return load


def class_names(workspace: Workspace, competition: str) -> list[str] | None:
    """The dataset's class names recorded in ``competition.json``, indexed by manifest label."""

    try:
        info = read_info(competition_folder(workspace, competition)) or {}
    except (BenchError, OSError, ValueError):
        return None
    names = info.get("class_names")
    return [str(n) for n in names] if isinstance(names, list) and names else None


def study_data(workspace: Workspace, name: str) -> StudyData:
    """The complete trials of study ``name`` from the journal files under ``studies/``.

    Never raises for a study that cannot be read: the returned StudyData carries a note instead.
    """
    try:
        import optuna
    except ImportError:
        return StudyData(name, [], [], note="optuna is not installed, so studies are left out.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _load_study(optuna, workspace.root / "studies", name)
    if study is None:
        return StudyData(
            name,
            [],
            [],
            note=f"Study {name!r} was not found in {workspace.root / 'studies'} "
            "(a study in another storage, e.g. PostgreSQL, is not shown).",
        )
    if len(study.directions) > 1:
        return _front_data(optuna, study, name)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    data = StudyData(
        name,
        [t.number for t in complete],
        [float(t.value) for t in complete],
        maximize=study.direction == optuna.study.StudyDirection.MAXIMIZE,
    )
    if len(complete) < 2:
        data.note = f"Study {name!r} has {len(complete)} complete trial(s); plots need at least 2."
        return data

    data.importances, why = importances(study)
    if data.importances is None:
        data.note = f"Parameter importances: {why}."
    else:
        data.importance_note = why
    return data


def _front_data(optuna: ModuleType, study: Study, name: str) -> StudyData:
    """A multi-objective study: every complete trial's values, which of them form the front, importances."""

    objectives = str(study.user_attrs.get("objectives", "")).split(",")
    if len(objectives) != len(study.directions) or "score" not in objectives:
        return StudyData(name, [], [], note=f"Study {name!r} has several objectives that bench tune did not name.")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and t.values]
    front = {t.number for t in study.best_trials}
    score = objectives.index("score")
    data = StudyData(
        name,
        [t.number for t in complete],
        [float(t.values[score]) for t in complete],
        objectives=objectives,
        all_values=[[float(v) for v in t.values] for t in complete],
        on_front=[t.number in front for t in complete],
    )
    data.importances, why = importances(study, target=lambda t: t.values[score], target_name="the val score")
    if data.importances is None:
        data.note = f"Parameter importances: {why}."
    else:
        data.importance_note = why
    return data


def _load_study(optuna: ModuleType, folder: Path, name: str) -> Study | None:
    """The study named ``name`` from ``folder/<name>.journal`` or else any journal file under
    ``folder`` that holds it (``bench tune --storage other.journal``), or None."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith((".lock", ".tmp")))
    files.sort(key=lambda p: p.name != f"{name}{JOURNAL_SUFFIX}")  # the default file first, then any other
    logger = logging.getLogger("optuna")
    for path in files:
        try:
            storage = JournalStorage(JournalFileBackend(str(path)))
            if name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
                return optuna.load_study(study_name=name, storage=storage)
        except Exception:  # not a journal file, or a corrupt one: try the next
            logger.debug("skipping %s", path)
    return None
