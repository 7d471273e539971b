"""After the search: a study's summary, and its best trial (or, with ``--submit-front``, its Pareto front)
retrained on the final seeds, submitted as a seed group and judged against the method's defaults.

Which worker submits is decided in ``tune.rerun``; the comparison with the defaults is ``tune.verdict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.tune.folds import trial_interval
from harness.tune.importance import importances
from harness.tune.objectives import Objective
from harness.tune.request import FinalRuns, TuneRequest, TuneResult
from harness.tune.rerun import final_seeds_group, should_submit
from harness.tune.storage import StorageInfo
from harness.tune.verdict import judge, submitted_rows
from harness.tune.workers import outcome_of

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

    from harness.pipeline import RunResult
    from harness.tune.verdict import TuneVerdict
    from harness.workspace import Workspace


@dataclass(frozen=True)
class Conclusion:
    """What concluding a study needs to know of the worker that concludes it."""

    workspace: Workspace
    request: TuneRequest
    runs: FinalRuns
    worker: str  # this worker's id on the trials
    storage: StorageInfo
    objectives: list[Objective]  # several: a Pareto front rather than a best trial
    messages: list[str]  # what the search said on the way

    def result(self, study: Study, study_name: str, metric: str, ran: int, stale: list[int]) -> TuneResult:
        """The study's summary; this worker's trials (``ran``) decide whether it is the one that submits."""
        from optuna.trial import TrialState

        counts = {s.name: 0 for s in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)}
        for t in study.get_trials(deepcopy=False):
            if t.state.name in counts and not t.user_attrs.get("surplus"):
                counts[t.state.name] += 1
        best = best_trial(study)
        if self.objectives:
            first = self.objectives[0]
            top, note = importances(study, target=lambda t: t.values[0], target_name=first.name)
        else:
            top, note = importances(study)
        result = TuneResult(
            study=study_name,
            competition=self.runs.competition,
            method=self.request.method,
            storage=self.storage.display,
            dashboard=self.storage.dashboard_command,
            n_trials=self.request.n_trials,
            counts=counts,
            ran_here=ran,
            stale_failed=stale,
            best_number=best.number if best else None,
            best_value=best.value if best else None,
            best_params=dict(best.params) if best else {},
            best_interval=trial_interval(best) if best else None,
            importances=top,
            importance_note=note,
            metric=metric,
            messages=self.messages,
            objectives=[o.name for o in self.objectives],
        )
        if self.objectives:
            return self._finish_front(study, result, ran)
        if best is None:
            result.submit_note = "no trial completed: nothing to submit"
        elif not self.request.submit:
            result.submit_note = "not submitted (--no-submit)"
        else:
            self._finish_best(study, best, result, ran)
        return result

    def _finish_best(self, study: Study, best: FrozenTrial, result: TuneResult, ran: int) -> None:
        go, why = should_submit(study, best, ran, self.worker, self.request.grace_period)
        result.submit_note = why
        if go:
            result.runs = self.submit(study, best)
            result.run = result.runs[0]
            result.submit_note = f"submitted seeds 0-{len(result.runs) - 1} as group {result.run.row.get('group', '')}"
            result.verdict = self.judge(study, best, [run.row for run in result.runs])
        elif self._unjudged(study, best):  # submitted, but stopped before the comparison: finish it
            rows = submitted_rows(self.workspace, self.runs.competition, study.user_attrs[f"submission:{best.number}"])
            if rows:
                result.verdict = self.judge(study, best, rows)

    def _unjudged(self, study: Study, best: FrozenTrial) -> bool:
        attrs = study.user_attrs
        return bool(attrs.get(f"submission:{best.number}")) and attrs.get(f"comparison:{best.number}") is None

    def _finish_front(self, study: Study, result: TuneResult, ran: int) -> TuneResult:
        """A multi-objective study: its Pareto front, and with ``--submit-front`` each front trial as a group."""
        front = sorted(study.best_trials, key=lambda t: t.number)
        result.front = [outcome_of(t, 0) for t in front]
        if not front:
            result.submit_note = "no trial completed: no Pareto front"
        elif not self.request.submit:
            result.submit_note = "not submitted (--no-submit)"
        elif not self.request.submit_front:
            result.submit_note = "the front is not submitted; --submit-front submits each of its trials as a group"
        else:
            notes = []
            for trial in front:
                go, why = should_submit(study, trial, ran, self.worker, self.request.grace_period)
                if not go:
                    notes.append(why)
                    continue
                runs = self.submit(study, trial)
                result.runs += runs
                result.verdicts.append(self.judge(study, trial, [run.row for run in runs]))
            result.run = result.runs[0] if result.runs else None
            result.verdict = result.verdicts[0] if result.verdicts else None
            result.submit_note = "; ".join(notes)
        return result

    def submit(self, study: Study, best: FrozenTrial) -> list[RunResult]:
        """The trial's configuration on seeds 0..final_seeds-1, submitted as one seed group."""
        return final_seeds_group(self.workspace, study, best, self.runs, self.request.final_seeds, self.worker)

    def judge(self, study: Study, best: FrozenTrial, rows: list[dict[str, Any]]) -> TuneVerdict:
        """``bench compare`` of the tuned group against the default group on the same seeds."""
        return judge(self.workspace, study, best.number, rows, self.runs)


def best_trial(study: Study) -> FrozenTrial | None:
    if len(study.directions) > 1:
        return None  # several objectives: no single best, a front (study.best_trials)
    try:
        return study.best_trial
    except ValueError:  # no complete trial
        return None
