"""After the search: which worker submits, and the best trial's configuration on the final seeds.

Exactly one worker of a shared study submits: once no trial is running, the worker that finished
the study's last trial. A claim (study attribute ``submitting:<trial>``) and the record of the
submission (``submission:<trial>``) stop a later worker from submitting the same trial twice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from harness.pipeline import RunHooks, RunRequest, RunResult, resolve_run_config, run
from harness.tune.request import FinalRuns
from harness.tune.storage import is_stale, quietly

FINAL_SEEDS = 5  # the best configuration is retrained on seeds 0..FINAL_SEEDS-1: one seed group

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

    from harness.workspace import Workspace


def should_submit(study: Study, best: FrozenTrial, ran: int, worker: str, grace: float) -> tuple[bool, str]:
    """(submit?, why not). ``ran``: trials this worker ran; ``worker``: its id on the trials."""
    from optuna.trial import TrialState

    attrs = study.user_attrs
    done, claim = attrs.get(f"submission:{best.number}"), attrs.get(f"submitting:{best.number}")
    if done:
        return False, f"trial {best.number} was already submitted as {done}"
    if isinstance(claim, dict) and claim.get("worker") != worker:
        return False, (
            f"trial {best.number} is being submitted by worker {claim.get('worker')} since "
            f"{claim.get('time')}; to submit it again use `bench run` with its parameters"
        )
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.RUNNING and not is_stale(t, grace) for t in trials):
        return False, "other workers are still running trials; the last one to finish submits"
    if ran == 0:
        return True, ""
    ended = [
        t
        for t in trials
        if t.state.is_finished() and t.datetime_complete is not None and "failed_because" not in t.user_attrs
    ]
    last = max(ended, key=lambda t: (t.datetime_complete, t.number), default=None)
    if last is not None and last.user_attrs.get("worker") != worker:
        return False, f"another worker ({last.user_attrs.get('worker')}) finished the study and submits"
    return True, ""


def final_seeds_group(
    workspace: Workspace, study: Study, best: FrozenTrial, runs: FinalRuns, seeds: int, worker: str
) -> list[RunResult]:
    """``pipeline.run`` of the best trial's overrides + the fixed ``--set`` values on seeds 0..``seeds``-1.

    One config, one commit: the rows form one seed group, comparable with any other seeds-0..N-1
    group. Each row records the study and the trial, and its budget (the study's trials and their
    training seconds); the study records the submission ids.
    """
    overrides = best.user_attrs.get("overrides")
    overrides = dict(best.params) if overrides is None else dict(overrides)
    sets, hooks = {**overrides, **runs.fixed}, runs.hooks
    tuning = study_budget(study)
    claim = f"submitting:{best.number}"
    study.set_user_attr(claim, {"worker": worker, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    results = []
    try:
        for seed in range(seeds):
            if hooks.on_final_start:
                hooks.on_final_start(best.number, {**sets, "seed": seed, "of": seeds})
            cfg = resolve_run_config(
                runs.method,
                competition=runs.competition,
                config_file=runs.config_file,
                sets=sets,
                seed=seed,
                device=runs.device,
            )
            name = f"{study.study_name} best (trial {best.number})"
            request = RunRequest(cfg, name=name, study=study.study_name, trial=best.number, tuning=tuning)
            results.append(run(workspace, request, RunHooks(progress=hooks.progress)))
    except BaseException:
        quietly(study.set_user_attr, claim, None)  # let a later worker try again
        raise
    ids = [result.submission_id for result in results]
    quietly(study.set_user_attr, f"submission:{best.number}", " ".join(ids))
    return results


def study_budget(study: Study) -> tuple[int, float]:
    """(trials that finished, seconds they ran): what the search spent before the final runs."""
    trials = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state.is_finished() and not t.user_attrs.get("surplus") and t.datetime_start and t.datetime_complete
    ]
    seconds = sum((t.datetime_complete - t.datetime_start).total_seconds() for t in trials)
    return len(trials), round(seconds, 3)
