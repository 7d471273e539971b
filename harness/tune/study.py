"""``bench tune``: search a method's hyperparameters with Optuna on the **val** split, then submit the best.

Reads top to bottom: check the request (config, search space, storage) before anything trains,
open or resume the study, run trials until the study holds ``n_trials`` finished (complete +
pruned) trials in total — counting every worker on the same study — and finally retrain the best
trial's configuration on seeds 0..N-1 through ``pipeline.run`` (train → query/gallery → submit), one
seed group, and compare that group with the method's default group (``tune.verdict``).

A trial trains with ``train.fit`` and is scored on val only: its value is ``fit(...).best_val`` and
each epoch's val score is reported to the pruner. Query, gallery and answers are touched only by
the final ``pipeline.run``. Library code: nothing here prints; the CLI passes ``TuneHooks``.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from harness.components import get_method
from harness.config import RunConfig, parse_sets, resolve_run_config
from harness.data.competition import open_competition
from harness.data.cutoff import val_label
from harness.errors import BenchError, ConfigError, TrainingError, TuneError
from harness.tune.conclusion import Conclusion
from harness.tune.folds import fold_interval, make_folds, trial_interval
from harness.tune.objectives import Objective, costs, needs_search, parse_objectives
from harness.tune.request import (
    MAX_FAILURES_IN_A_ROW,
    FinalRuns,
    TrialOutcome,
    TuneHooks,
    TuneRequest,
    TuneResult,
)
from harness.tune.search import FixedParamsTrial, jsonable, make_pruner, make_sampler
from harness.tune.storage import Heartbeat, StorageInfo, fail_stale_trials, is_stale, open_storage, quietly
from harness.workspace import check_name

if TYPE_CHECKING:
    import torch
    from optuna import Study, Trial
    from optuna.trial import TrialState

    from harness.data.competition import Competition
    from harness.tune.folds import FoldCompetition
    from harness.workspace import Workspace


class Tuner:
    """One worker on one study. ``Tuner(workspace, request).run(hooks)``."""

    def __init__(self, workspace: Workspace, request: TuneRequest):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.workspace, self.request = workspace, request
        self.hooks = TuneHooks()
        request.check()

        self.method = get_method(request.method)  # unknown method: UnknownNameError
        self.fixed = parse_sets(list(request.sets)) if not isinstance(request.sets, dict) else dict(request.sets)
        base = self.config(self.fixed, request.seed)  # bad --set / config: ConfigError
        self.competition_name = base.competition
        # A component replaced by --set/--config (backbone.name=timm) starts from its own defaults, so
        # the method's search-space keys for that section (backbone.width) do not apply to it.
        defaults = self.method.defaults
        self.replaced = {
            s for s, values in base.components.items() if values["name"] != (defaults.get(s) or {}).get("name")
        }
        self.base_seed = base.seed
        self.device = base.train.device
        from harness.train.devices import pick_device

        self.torch_device = pick_device(self.device)  # --device cuda without CUDA: ConfigError, no study yet
        self._check_search_space()
        self.study_name = check_name(request.study or self._default_study_name(), "study name")
        self.info: StorageInfo = open_storage(workspace, request.storage, self.study_name)
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.messages: list[str] = []
        self._competition: Competition | None = None
        self._folds: list[FoldCompetition] = []  # --folds K: the K folds of train+val, the same for every trial
        self.objectives: list[Objective] = []  # --objectives: set once the competition is open

    def _default_study_name(self) -> str:
        """``<competition>-<method>``; fold and multi-objective studies score trials otherwise: their own names."""
        r = self.request
        name = f"{self.competition_name}-{r.method}"
        name += f"-folds{r.folds}" if r.folds > 1 else ""
        return name + ("-pareto" if r.objectives else "")

    def _open_competition(self) -> Competition:
        """The competition, and what depends on it: the objectives (checked against its metric)."""

        competition = self._competition = open_competition(self.workspace, self.competition_name)
        if self.request.objectives:
            spec = competition.spec
            self.objectives = parse_objectives(list(self.request.objectives), spec.metric, int(spec.k))
        return competition

    # -- checks before anything trains ----------------------------------------------------
    def _check_search_space(self) -> None:
        """Draw one point of the search space in memory and resolve it: bad keys fail now."""
        import optuna

        probe = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0)).ask()
        self.trial_config(probe)

    # -- one trial ------------------------------------------------------------------------
    def config(self, sets: dict[str, Any], seed: int | None) -> RunConfig:
        """The request's config with ``sets`` (search-space values and the fixed ``--set`` values) and ``seed``."""
        r = self.request
        return resolve_run_config(
            r.method, competition=r.competition, config_file=r.config_file, sets=sets, seed=seed, device=r.device
        )

    def trial_config(self, trial: Trial) -> tuple[RunConfig, dict[str, Any]]:
        """(resolved config, search-space overrides) of ``trial``; ``--set`` values win."""
        try:
            overrides = dict(self.method.search_space(FixedParamsTrial(trial, self.fixed, self.replaced)) or {})
        except BenchError:
            raise
        except Exception as exc:
            raise ConfigError(f"method {self.request.method!r}: its search space failed: {exc}") from None
        overrides = {
            k: v for k, v in overrides.items() if k not in self.fixed and k.split(".", 1)[0] not in self.replaced
        }
        return self.config({**overrides, **self.fixed}, self.base_seed + trial.number), overrides

    def objective(self, trial: Trial, competition: Competition, device: torch.device) -> float | list[float]:
        """Train on train (each fold's), score on val; report each epoch's val score and prune when told."""
        cfg, overrides = self.trial_config(trial)
        trial.set_user_attr("overrides", jsonable(overrides))
        trial.set_user_attr("seed", cfg.seed)
        trial.set_user_attr("config_hash", cfg.hash)
        if self.hooks.on_trial_start:
            self.hooks.on_trial_start(trial.number, dict(trial.params))

        scores, seconds, spent = self._train_folds(trial, cfg, competition, device)
        return self._trial_value(trial, scores, seconds, spent)

    def _train_folds(self, trial: Trial, cfg: RunConfig, competition: Competition, device: torch.device) -> tuple:
        """(best val score per fold, training seconds, costs per fold): one fold without ``--folds``."""
        import optuna

        from harness.train.loop import fit

        folds = self._folds or [competition]
        epochs = cfg.train.epochs
        scores, seconds, spent = [], 0.0, []
        multi = len(self.objectives) > 1
        for index, part in enumerate(folds):

            def on_epoch(epoch: int, score: float, index: int = index) -> None:
                # Fold f's epoch e is step f·epochs + e: the pruner compares it with the same fold and
                # epoch of other trials, so pruning works per fold.
                if not math.isfinite(score):
                    raise TrainingError(f"val score is {score} at epoch {epoch}")
                if multi:  # Optuna prunes single-objective trials only
                    return
                trial.report(float(score), index * epochs + epoch)
                if trial.should_prune():
                    where = f"fold {index + 1}, epoch {epoch}" if self._folds else f"epoch {epoch}"
                    raise optuna.TrialPruned(f"pruned at {where} (val {score:.4f})")

            result = fit(cfg, part, device, on_epoch=on_epoch, progress=self.hooks.progress)
            if result.best_val is None or not math.isfinite(result.best_val):
                raise TrainingError(f"competition {part.name!r} gave no val score; tuning needs a val split")
            scores.append(float(result.best_val))
            seconds += result.train_seconds
            if needs_search(self.objectives):
                spent.append(costs(result.model, part, cfg, device))
            if len(folds) == 1:
                trial.set_user_attr("best_epoch", result.best_epoch)
        return scores, seconds, spent

    def _trial_value(self, trial: Trial, scores: list[float], seconds: float, spent: list[dict]) -> float | list[float]:
        """The score (the folds' mean, its interval stored), or one value per objective."""
        trial.set_user_attr("train_seconds", round(seconds, 3))
        value = scores[0]
        if self._folds:
            value, low, high = fold_interval(scores)
            trial.set_user_attr("fold_values", scores)
            trial.set_user_attr("interval", [low, high])
        if len(self.objectives) < 2:
            return value
        measured = {"score": value, "seconds": seconds}
        for key in ("bytes", "ms"):
            if spent:
                measured[key] = sum(c[key] for c in spent) / len(spent)
                trial.set_user_attr(key, measured[key])
        return [float(measured[o.key]) for o in self.objectives]

    # -- the search -----------------------------------------------------------------------
    def open_study(self) -> Study:
        import optuna

        if self.request.objectives and not self.objectives:
            self._open_competition()  # the directions depend on the objectives

        try:
            study = optuna.create_study(
                storage=self.info.storage,
                study_name=self.study_name,
                directions=[o.direction for o in self.objectives] or ["maximize"],
                load_if_exists=True,
                sampler=make_sampler(self.request.sampler, self.base_seed),
                pruner=make_pruner(self.request.pruner, self.request.n_trials),
            )
        except BenchError:
            raise
        except Exception as exc:
            raise TuneError(f"cannot open study {self.study_name!r} in {self.info.display}: {exc}") from None
        wanted = [o.direction for o in self.objectives] or ["maximize"]
        if [d.name.lower() for d in study.directions] != wanted:
            raise TuneError(
                f"study {self.study_name!r} in {self.info.display} has other objectives than "
                f"{'/'.join(wanted)}; use another --study"
            )
        attrs = study.user_attrs
        shape = (
            ("method", self.request.method),
            ("competition", self.competition_name),
            ("folds", self.request.folds),
            ("objectives", ",".join(o.key for o in self.objectives) or "score"),
        )
        for key, value in shape:
            if key in attrs and attrs[key] != value:
                raise TuneError(
                    f"study {self.study_name!r} tunes {key} {attrs[key]!r}, not {value!r}; use another --study"
                )
            if key not in attrs:
                study.set_user_attr(key, value)
        return study

    def run(self, hooks: TuneHooks | None = None) -> TuneResult:
        from optuna.trial import TrialState

        self.hooks = hooks or TuneHooks()
        competition = self._open_competition()
        device = self.torch_device
        if self.request.folds > 1:
            self._folds = make_folds(competition, self.request.folds, self.base_seed)
            for part in self._folds:
                check_val_split(part)
        else:
            check_val_split(competition)
        study = self.open_study()
        stale = fail_stale_trials(study, self.request.grace_period)
        if stale:
            self._say(f"marked stale trial(s) {', '.join(map(str, stale))} of a stopped worker as failed")
        if self.hooks.on_start:
            self.hooks.on_start(
                {
                    "study": self.study_name,
                    "storage": self.info.display,
                    "finished": self._count(study)[0],
                    "n_trials": self.request.n_trials,
                    "competition": self.competition_name,
                    "method": self.request.method,
                }
            )
        started, ran, failures = time.monotonic(), 0, 0
        while True:
            if self.request.timeout is not None and time.monotonic() - started >= self.request.timeout:
                self._say(f"timeout of {self.request.timeout:g} s reached")
                break
            stale += fail_stale_trials(study, self.request.grace_period)
            finished, live = self._count(study)
            if finished + live >= self.request.n_trials:
                break
            study.sampler = make_sampler(self.request.sampler, self.base_seed + len(study.get_trials(deepcopy=False)))
            trial = study.ask()
            if self._surplus(study, trial):  # another worker asked at the same moment
                trial.set_user_attr("surplus", True)
                study.tell(trial, state=TrialState.FAIL)
                break
            trial.set_user_attr("worker", self.worker)
            outcome = self._run_trial(study, trial, competition, device)
            ran += 1
            failures = failures + 1 if outcome.state == "FAIL" else 0
            if self.hooks.on_trial_end:
                self.hooks.on_trial_end(outcome)
            if failures >= MAX_FAILURES_IN_A_ROW:
                raise TrainingError(f"{failures} trials in a row failed; last: {outcome.message}")
        return self._finish(study, ran, stale)

    def conclude(self, hooks: TuneHooks | None = None) -> TuneResult:
        """After other processes searched (``--workers``): the study's summary, and its best trial submitted once."""

        self.hooks = hooks or TuneHooks()
        self._open_competition()
        study = self.open_study()
        return self._finish(study, 0, fail_stale_trials(study, self.request.grace_period))

    def _run_trial(self, study: Study, trial: Trial, competition: Competition, device: torch.device) -> TrialOutcome:
        import optuna
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        t0 = time.perf_counter()
        value, state, message = None, TrialState.COMPLETE, ""
        with Heartbeat(study._storage, trial._trial_id, self.request.heartbeat_interval):
            try:
                value = self.objective(trial, competition, device)
            except optuna.TrialPruned as exc:
                state, message = TrialState.PRUNED, str(exc)
            except (KeyboardInterrupt, ConfigError):
                _tell_quietly(study, trial, TrialState.FAIL)
                raise
            except Exception as exc:  # a diverging or crashing trial: recorded, and the search goes on
                state, message = TrialState.FAIL, f"{type(exc).__name__}: {exc}"
                quietly(trial.set_user_attr, "error", message[:1000])
        try:
            if state == TrialState.COMPLETE:
                study.tell(trial, value)
            else:
                study.tell(trial, state=state)
        except UpdateFinishedTrialError:
            state, message = TrialState.FAIL, "marked failed by another worker (heartbeat lost)"
        frozen = study._storage.get_trial(trial._trial_id)
        single = frozen.values is not None and len(frozen.values) == 1
        outcome = TrialOutcome(
            trial.number,
            state.name,
            frozen.values[0] if single else value if not isinstance(value, list) else None,
            dict(frozen.params),
            time.perf_counter() - t0,
            message,
            self._count(study)[0],
        )
        outcome.interval = trial_interval(frozen)
        if frozen.values is not None and len(frozen.values) > 1:
            outcome.values = list(frozen.values)
        return outcome

    def _count(self, study: Study) -> tuple[int, int]:
        """(complete + pruned, live running) trials of the whole study."""
        from optuna.trial import TrialState

        now, finished, live = time.time(), 0, 0
        for t in study.get_trials(deepcopy=False):
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                finished += 1
            elif t.state == TrialState.RUNNING and not is_stale(t, self.request.grace_period, now):
                live += 1
        return finished, live

    def _surplus(self, study: Study, trial: Trial) -> bool:
        from optuna.trial import TrialState

        earlier = [t for t in study.get_trials(deepcopy=False) if t.number < trial.number]
        taken = sum(
            t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.RUNNING and not is_stale(t, self.request.grace_period))
            for t in earlier
        )
        return taken >= self.request.n_trials

    def _say(self, text: str) -> None:
        self.messages.append(text)
        if self.hooks.on_message:
            self.hooks.on_message(text)

    # -- after the search -----------------------------------------------------------------
    def _finish(self, study: Study, ran: int, stale: list[int]) -> TuneResult:
        r = self.request
        runs = FinalRuns(r.method, self.competition_name, r.config_file, self.fixed, r.device, self.hooks)
        conclusion = Conclusion(self.workspace, r, runs, self.worker, self.info, self.objectives, self.messages)
        return conclusion.result(study, self.study_name, self._metric_label(), ran, stale)

    def _metric_label(self) -> str:
        spec = getattr(self._competition, "spec", None)
        label = val_label(spec.metric, spec.k) if spec is not None else "val score"
        return f"{label} (mean of {len(self._folds)} folds)" if self._folds else label


def tune(workspace: Workspace, request: TuneRequest, hooks: TuneHooks | None = None) -> TuneResult:
    """Check ``request``, run this worker's share of the study, submit the best; see ``Tuner``."""
    return Tuner(workspace, request).run(hooks)


def check_val_split(competition: Competition) -> None:
    """Trials are scored on val (leave-one-out): refuse before training when no val item can be scored."""
    import numpy as np

    labels = np.asarray(competition.val().labels, dtype=np.int64)
    if len(labels) < 2 or np.unique(labels, return_counts=True)[1].max() < 2:
        raise TuneError(
            f"competition {competition.name!r} has no usable val split (it needs two val items "
            f"of one class); tuning scores trials on val"
        )


def _tell_quietly(study: Study, trial: Trial, state: TrialState) -> None:
    quietly(lambda: study.tell(trial, state=state))
