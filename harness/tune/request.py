"""What ``bench tune`` is asked (TuneRequest), what it tells its caller as it goes (TuneHooks, TrialOutcome)
and what it returns (TuneResult)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ConfigError
from harness.tune.search import PRUNERS, SAMPLERS

MAX_FAILURES_IN_A_ROW = 3
HEARTBEAT_INTERVAL_S = 20.0
GRACE_PERIOD_S = 120.0


@dataclass
class TuneRequest:
    method: str
    n_trials: int
    competition: str | None = None
    timeout: float | None = None  # seconds; no new trial starts after it
    storage: str | None = None  # Optuna storage URL or journal path; None = studies/<study>.journal
    study: str | None = None  # default "<competition>-<method>"
    sets: Sequence[str] | dict[str, Any] = ()  # fixed parameters: left out of the search
    config_file: str | None = None
    seed: int | None = None
    pruner: str = "median"
    sampler: str = "tpe"
    submit: bool = True
    device: str | None = None
    final_seeds: int = 5  # the best config is retrained on seeds 0..final_seeds-1 and compared with the defaults
    folds: int = 1  # > 1: each trial is the mean over this many folds of train+val
    objectives: Sequence[str] = ()  # several: a multi-objective study (e.g. map@100, bytes, ms)
    submit_front: bool = False  # multi-objective: submit every Pareto trial as its own group
    heartbeat_interval: float = HEARTBEAT_INTERVAL_S
    grace_period: float = GRACE_PERIOD_S  # a RUNNING trial silent this long belonged to a dead worker

    def check(self) -> None:
        """Refuse, before anything trains, what no study can be run with."""
        if self.n_trials < 1:
            raise ConfigError(f"--trials must be at least 1 but got {self.n_trials}")
        if self.timeout is not None and self.timeout <= 0:
            raise ConfigError(f"--timeout must be positive but got {self.timeout}")
        if self.submit_front and not self.objectives:
            raise ConfigError("--submit-front submits a Pareto front: give --objectives too")
        if self.folds < 1:
            raise ConfigError(f"--folds must be at least 1 but got {self.folds}")
        if self.final_seeds < 1:
            raise ConfigError(f"--final-seeds must be at least 1 but got {self.final_seeds}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {self.pruner!r}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if not self.heartbeat_interval > 0:
            raise ConfigError(f"the heartbeat interval must be positive but got {self.heartbeat_interval}")
        if not self.grace_period > self.heartbeat_interval:
            # A shorter grace would let one worker fail another's live trials between two heartbeats.
            raise ConfigError(
                f"--grace-period must be longer than the heartbeat interval "
                f"({self.heartbeat_interval:g} s) but got {self.grace_period:g}"
            )


@dataclass
class TrialOutcome:
    number: int
    state: str  # "COMPLETE" | "PRUNED" | "FAIL"
    value: float | None
    params: dict[str, Any]
    seconds: float
    message: str = ""
    finished: int = 0  # complete + pruned trials in the whole study after this one
    interval: tuple[float, float] | None = None  # --folds: mean ± t·sd/√K over the folds
    values: list[float] | None = None  # --objectives: one value per objective


@dataclass
class TuneHooks:
    """What the CLI shows. Every field is optional."""

    on_start: Callable[[dict[str, Any]], None] | None = None
    on_trial_start: Callable[[int, dict[str, Any]], None] | None = None
    on_trial_end: Callable[[TrialOutcome], None] | None = None
    on_message: Callable[[str], None] | None = None
    on_final_start: Callable[[int, dict[str, Any]], None] | None = None
    progress: Any = None  # a rich Progress handed to fit / pipeline.run, or None


@dataclass(frozen=True)
class FinalRuns:
    """How a study's final runs, and the default runs they are judged against, are configured: the method on
    its competition under the settings the search could not change (``--config``, ``--set``)."""

    method: str
    competition: str
    config_file: str | None
    fixed: dict[str, Any]
    device: str | None
    hooks: TuneHooks


@dataclass
class TuneResult:
    study: str
    competition: str
    method: str
    storage: str  # password masked
    dashboard: str  # the command that opens the study in optuna-dashboard
    n_trials: int  # the target
    counts: dict[str, int]  # COMPLETE / PRUNED / FAIL / RUNNING over the whole study
    ran_here: int
    stale_failed: list[int]
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any]
    importances: dict[str, float] | None
    importance_note: str
    metric: str
    run: Any = None  # pipeline.RunResult of the first final seed, if submitted
    runs: list[Any] = field(default_factory=list)  # every final seed's RunResult
    verdict: Any = None  # tune.verdict.TuneVerdict: the tuned group against the default group
    verdicts: list[Any] = field(default_factory=list)  # --submit-front: one per submitted Pareto trial
    best_interval: tuple[float, float] | None = None  # --folds: the best trial's interval over folds
    objectives: list[str] = field(default_factory=list)  # multi-objective study: its objectives
    front: list[Any] = field(default_factory=list)  # multi-objective study: its Pareto trials (TrialOutcome)
    submit_note: str = ""
    messages: list[str] = field(default_factory=list)
