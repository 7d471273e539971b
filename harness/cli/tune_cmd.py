"""``bench tune``: search a method's hyperparameters with Optuna on val, then submit the best."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli.app import app, progress_bars, workspace
from harness.cli.tune_views import TuneView, print_tune_summary
from harness.errors import ConfigError, TuneError
from harness.tune.request import GRACE_PERIOD_S, TuneHooks, TuneRequest
from harness.tune.study import Tuner
from harness.tune.workers import WorkerPool, finished_trials, outcome_of, parse_gpus, worker_argv, worker_devices
from harness.workspace import Workspace, display_path


@app.command("tune")
def tune_command(
    plugin: Annotated[
        str, typer.Option("--plugin", "-p", help="Method to tune, e.g. hashnet (see `bench list methods`).")
    ],
    trials: Annotated[
        int,
        typer.Option(
            "--trials",
            "-n",
            help="Finished (complete + pruned) trials the study should hold in total, over all workers.",
        ),
    ],
    competition: Annotated[
        str | None, typer.Option("--competition", "-c", help="Competition (default: digits).")
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Start no new trial after this many seconds.")
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help=(
                "Optuna storage URL (sqlite:///x.db, postgresql://user:pw@host/db) or a journal file; "
                "default studies/<study>.journal."
            ),
        ),
    ] = None,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default <competition>-<method>); the same name resumes it."),
    ] = None,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set", "-s", help="Fix a setting (section.key=value); it is left out of the search. Repeatable."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file of settings (below the search and --set).")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed: trial n uses seed+n (default 0).")] = None,
    pruner: Annotated[str, typer.Option("--pruner", help="median, percentile, hyperband or none.")] = "median",
    sampler: Annotated[
        str, typer.Option("--sampler", help="tpe (seeded; multi-objective too), random or nsga2.")
    ] = "tpe",
    no_submit: Annotated[
        bool, typer.Option("--no-submit", help="Search only; do not rerun and submit the best.")
    ] = False,
    device: Annotated[
        str | None, typer.Option("--device", help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    ] = None,
    grace_period: Annotated[
        float,
        typer.Option(
            "--grace-period",
            help=(
                "A RUNNING trial without a heartbeat for this many seconds belonged to a dead worker and "
                "is marked failed."
            ),
        ),
    ] = GRACE_PERIOD_S,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Start N worker processes on this machine, sharing the study; each logs to studies/<study>.logs/.",
        ),
    ] = None,
    gpus: Annotated[
        str | None,
        typer.Option("--gpus", help="One worker per listed GPU, e.g. 0,1,2,3; each sees only its own GPU."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only the summary: no per-trial lines, no progress bar.")
    ] = False,
    final_seeds: Annotated[
        int,
        typer.Option(
            "--final-seeds",
            help=(
                "Retrain the best configuration on seeds 0..N-1 (one seed group), then compare it with the "
                "method's default group on the same seeds (trained first if missing)."
            ),
        ),
    ] = 5,
    folds: Annotated[
        int,
        typer.Option(
            "--folds",
            help=(
                "Score each trial as the mean over K folds of train+val (class-disjoint folds for unseen-class "
                "competitions, stratified otherwise), with an interval; 1 = the competition's own val split."
            ),
        ),
    ] = 1,
    objectives: Annotated[
        str | None,
        typer.Option(
            "--objectives",
            help="Several objectives, e.g. map@100,bytes,ms: a multi-objective (NSGA-II) study and its Pareto front.",
        ),
    ] = None,
    submit_front: Annotated[
        bool,
        typer.Option("--submit-front", help="With --objectives: submit every Pareto trial as its own seed group."),
    ] = False,
) -> None:
    """Search METHOD's hyperparameters on the val split with Optuna, then rerun and submit the best.

    Several workers running the same command (on one machine with the default journal file, \
or on many with --storage postgresql://...) share one study and together finish --trials trials. \
Running it again resumes the study; trials of a killed worker are marked failed.
    """
    ws = workspace()
    request = TuneRequest(
        method=plugin,
        n_trials=trials,
        competition=competition,
        timeout=timeout,
        storage=storage,
        study=study,
        sets=sets or [],
        config_file=str(config) if config else None,
        seed=seed,
        pruner=pruner,
        sampler=sampler,
        submit=not no_submit,
        device=device,
        grace_period=grace_period,
        final_seeds=final_seeds,
        folds=folds,
        objectives=[o.strip() for o in objectives.split(",")] if objectives else [],
        submit_front=submit_front,
    )
    if workers is not None or gpus is not None:
        _tune_with_workers(ws, request, workers, gpus, config, quiet)
        return
    tuner = Tuner(ws, request)  # every check (method, --set, storage) happens here, before any training
    with progress_bars(quiet) as progress:
        view = TuneView(progress, quiet, trials)
        hooks = TuneHooks(
            on_start=view.start,
            on_trial_end=view.trial_end,
            on_message=view.message,
            on_final_start=view.final_start,
            progress=progress,
        )
        result = tuner.run(hooks)
    print_tune_summary(result, ws.root)


def _tune_with_workers(
    ws: Workspace, request: TuneRequest, workers: int | None, gpus: str | None, config: Path | None, quiet: bool
) -> None:
    """``--workers N`` / ``--gpus``: N ``bench tune`` processes search; this one shows them, then submits the best."""
    gpu_list = parse_gpus(gpus) if gpus is not None else None
    devices = worker_devices(workers, gpu_list)
    gpu_count = 0
    if gpu_list:
        import torch

        gpu_count = torch.cuda.device_count()
        if gpu_count == 0:
            raise ConfigError("--gpus asked for, but CUDA is not available here; use --workers N --device cpu")
        if request.device not in (None, "auto", "cuda"):
            raise ConfigError(f"--gpus pins each worker to its GPU; drop --device {request.device}")
        request.device = f"cuda:{gpu_list[0]}"  # this process's final rerun, on the first listed GPU
    tuner = Tuner(ws, request)  # every check (method, --set, storage) happens here, before any worker starts
    study = tuner.open_study()
    options = {
        "--plugin": request.method,
        "--trials": request.n_trials,
        "--competition": request.competition,
        "--timeout": request.timeout,
        "--storage": request.storage,
        "--study": tuner.study_name,
        "--config": config,
        "--seed": request.seed,
        "--pruner": request.pruner,
        "--sampler": request.sampler,
        "--device": None if gpu_list else request.device,
        "--grace-period": request.grace_period,
        "--folds": request.folds,
        "--objectives": ",".join(request.objectives) or None,
    }
    pool = WorkerPool(
        worker_argv(ws.root, options, list(request.sets)), devices, ws.studies / f"{tuner.study_name}.logs"
    )
    pool.gpu_count = gpu_count
    seen: set[int] = set()
    with progress_bars(quiet) as progress:
        view = TuneView(progress, quiet, request.n_trials)
        finished = [sum(t.state.name != "FAIL" for t in finished_trials(study, seen))]  # complete + pruned
        before = len(seen)
        view.start(
            {
                "study": tuner.study_name,
                "storage": tuner.info.display,
                "finished": finished[0],
                "n_trials": request.n_trials,
                "competition": tuner.competition_name,
                "method": request.method,
            }
        )
        view.message(
            f"{len(devices)} workers started; their logs: {display_path(pool.log_dir, ws.root)}/worker-<i>.log"
        )

        def show_new_trials() -> None:
            for trial in finished_trials(study, seen):
                finished[0] += trial.state.name != "FAIL"
                view.trial_end(outcome_of(trial, finished[0]))

        pool.start()
        pool.wait(show_new_trials)
        show_new_trials()
        failed = [w for w in pool.workers if w.returncode != 0]
        for worker in failed:
            view.message(
                f"worker {worker.index} stopped: {worker.last_error()} ({display_path(worker.log_path, ws.root)})"
            )
        hooks = TuneHooks(on_message=view.message, on_final_start=view.final_start, progress=progress)
        result = tuner.conclude(hooks)
    if failed and result.counts["COMPLETE"] + result.counts["PRUNED"] < request.n_trials:
        worker = failed[0]
        raise TuneError(
            f"worker {worker.index} failed: {worker.last_error()} (log {display_path(worker.log_path, ws.root)}); "
            f"the study holds {result.counts['COMPLETE'] + result.counts['PRUNED']} of {request.n_trials} trials"
        )
    print_tune_summary(result, ws.root, f"{len(devices)} workers ran {len(seen) - before}")
