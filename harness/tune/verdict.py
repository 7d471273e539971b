"""Is the tuned configuration better than the method's defaults? Judged over seeds, with ``bench compare``.

The tuned group (the best trial's config on seeds 0..N-1) is compared with the default group: the
method's defaults under the same fixed settings (``--set`` and ``--config``: what the search was not
allowed to change), on the same seeds. Default seeds missing from the board are trained first. The
verdict and its interval are stored on the study (user attribute ``comparison:<trial>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.fingerprint import git_commit
from harness.pipeline import RunHooks, RunRequest, resolve_run_config, run
from harness.scoring.comparison import CompareOptions, compare
from harness.scoring.groups import group_id, row_group
from harness.scoring.leaderboard import read_rows
from harness.tune.request import FinalRuns
from harness.tune.storage import quietly

if TYPE_CHECKING:
    from optuna import Study

    from harness.scoring.comparison import Comparison
    from harness.workspace import Workspace

WORDS = {"A is better": "better", "B is better": "worse", "no detectable difference": "no detectable difference"}


@dataclass
class TuneVerdict:
    tuned_group: str
    default_group: str
    seeds: list[int]
    verdict: str  # better | no detectable difference | worse
    comparison: Comparison | None  # scoring.comparison.Comparison, or None when the best config is the defaults
    trained_defaults: list[str]  # submission ids of default seeds trained for this comparison

    def to_dict(self) -> dict[str, Any]:
        return {
            "tuned_group": self.tuned_group,
            "default_group": self.default_group,
            "seeds": self.seeds,
            "verdict": self.verdict,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
            "trained_defaults": self.trained_defaults,
        }


def judge(workspace: Workspace, study: Study, trial: int, tuned: list[dict[str, Any]], runs: FinalRuns) -> TuneVerdict:
    """Compare the ``tuned`` rows (one per final seed) with the default group on the same seeds."""
    method, competition, hooks = runs.method, runs.competition, runs.hooks
    seeds = sorted(int(row["seed"]) for row in tuned)
    tuned_group = tuned[0]["group"]
    default_cfg = resolve_run_config(
        method, competition=competition, config_file=runs.config_file, sets=runs.fixed, seed=0, device=runs.device
    )
    default_group = group_id(default_cfg.hash, git_commit())
    trained: list[str] = []
    if default_group == tuned_group:  # the search's best is the defaults
        outcome = TuneVerdict(tuned_group, default_group, seeds, WORDS["no detectable difference"], None, trained)
    else:
        rows = read_rows(workspace.leaderboard_path(competition))
        have = {int(r["seed"]) for r in rows if row_group(r) == default_group and str(r.get("seed", "")).isdigit()}
        for seed in (s for s in seeds if s not in have):
            if hooks.on_message:
                hooks.on_message(f"training the default configuration on seed {seed} for the comparison")
            request = RunRequest(default_cfg.with_seed(seed), name=f"{method} defaults")
            result = run(workspace, request, RunHooks(progress=hooks.progress))
            trained.append(result.submission_id)
        comparison = compare(workspace, competition, tuned_group, default_group, CompareOptions(seeds=frozenset(seeds)))
        outcome = TuneVerdict(tuned_group, default_group, seeds, WORDS[comparison.verdict], comparison, trained)
    quietly(study.set_user_attr, f"comparison:{trial}", outcome.to_dict())
    return outcome


def submitted_rows(workspace: Workspace, competition: str, ids: str) -> list[dict[str, Any]]:
    """The board rows of a study's ``submission:<trial>`` attribute (ids separated by spaces)."""

    wanted = set(str(ids).split())
    return [r for r in read_rows(workspace.leaderboard_path(competition)) if r.get("submission_id") in wanted]
