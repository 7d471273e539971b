"""Parameter importances of a study: one evaluator for ``bench tune`` and ``bench report``.

Both show the same numbers: Optuna's fANOVA evaluator (a random forest over the complete trials)
with a fixed seed. Below ``MIN_COMPLETE_TRIALS`` complete trials neither ranks anything: a forest
fit to a handful of points, each a single noisy val score, ranks parameters by luck (two trials
gave 0.40 to one parameter in one evaluator and 0 in another); ten trials are about two per
searched parameter of a typical method, the least at which a ranking starts to hold.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

MIN_COMPLETE_TRIALS = 10
EVALUATOR_SEED = 0


if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial


def complete_trials(study: Study) -> int:
    from optuna.trial import TrialState

    return sum(t.state == TrialState.COMPLETE for t in study.get_trials(deepcopy=False))


def importances(
    study: Study, target: Callable[[FrozenTrial], float] | None = None, target_name: str = ""
) -> tuple[dict[str, float] | None, str]:
    """(importance of each searched parameter, largest first; or None, and why not).

    ``target``: for a multi-objective study, the function of a trial that is ranked (e.g. its first value).
    """
    import optuna

    complete = complete_trials(study)
    if complete < MIN_COMPLETE_TRIALS:
        return None, (
            f"too few complete trials to rank importances ({complete}; needs at least {MIN_COMPLETE_TRIALS}: "
            f"with fewer, a val score's seed-to-seed noise decides the ranking)"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=EVALUATOR_SEED)
            values = optuna.importance.get_param_importances(study, evaluator=evaluator, target=target)
    except Exception as exc:  # e.g. every complete trial has the same parameters
        return None, f"not available: {exc}"
    ranked = {str(k): float(v) for k, v in sorted(values.items(), key=lambda kv: -kv[1])}
    if not ranked:
        return None, "no searched parameters"
    what = f" (of {target_name})" if target_name else ""
    return ranked, f"fANOVA, seed {EVALUATOR_SEED}, over {complete} complete trials{what}"
