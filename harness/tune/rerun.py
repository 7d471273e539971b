"""After the search: which worker submits, and the rerun of the best trial that it submits.

Exactly one worker of a shared study submits: once no trial is running, the worker that finished
the study's last trial. A claim (study attribute ``submitting:<trial>``) and the record of the
submission (``submission:<trial>``) stop a later worker from submitting the same trial twice.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig
from harness.pipeline import RunHooks, RunRequest, run
from harness.tune.storage import is_stale, quietly

FINAL_SEED_OFFSET = 100_000  # final run's seed = base seed + this + best trial number (no trial used it)

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial


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


def best_overrides(best: FrozenTrial) -> dict[str, Any]:
    """The search-space values the best trial trained with (its parameters, for a trial that did not record them)."""
    overrides = best.user_attrs.get("overrides")
    return dict(best.params) if overrides is None else dict(overrides)


def final_seed(base_seed: int, best: FrozenTrial) -> int:
    return base_seed + FINAL_SEED_OFFSET + best.number


def rerun_best(
    workspace: Any,
    study: Study,
    best: FrozenTrial,
    cfg: RunConfig,
    *,
    worker: str,
    progress: Any = None,
) -> Any:
    """``pipeline.run`` of ``cfg``: the best trial's overrides (:func:`best_overrides`) with a fresh seed.

    The leaderboard row records the study and the trial; the study records the submission id.
    """
    claim = f"submitting:{best.number}"
    study.set_user_attr(claim, {"worker": worker, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    try:
        request = RunRequest(
            cfg, name=f"{study.study_name} best (trial {best.number})", study=study.study_name, trial=best.number
        )
        result = run(workspace, request, RunHooks(progress=progress))
    except BaseException:
        quietly(study.set_user_attr, claim, None)  # let a later worker try again
        raise
    quietly(study.set_user_attr, f"submission:{best.number}", result.submission_id)
    return result
