"""``bench tune --workers N`` and ``--gpus 0,1,...``: several local worker processes on one study.

Each worker is ``bench tune`` itself (the same options, searching only: ``--no-submit``) in a process
of its own, with its output in its own log file, ``studies/<study>.logs/worker-<i>.log``. Workers
share the study through its storage like workers started by hand, so together they finish
``--trials`` trials. With ``--gpus``, worker i sees only the i-th listed GPU (``CUDA_VISIBLE_DEVICES``)
and trains on ``cuda``. Stopping the pool (Ctrl-C) interrupts every worker, and each marks its
running trial failed. The calling process submits the best trial once all workers have stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.errors import ConfigError
from harness.tune.folds import trial_interval
from harness.tune.request import TrialOutcome

if TYPE_CHECKING:
    from optuna import Study
    from optuna.trial import FrozenTrial

STOP_GRACE_S = 15.0  # after Ctrl-C, how long a worker may take to mark its trial failed before it is killed


def parse_gpus(text: str) -> list[int]:
    """``"0,1,3"`` -> ``[0, 1, 3]``: distinct GPU indices as this process sees them."""
    items = [item.strip() for item in str(text).split(",")]
    if not items or any(not item.isdigit() for item in items):
        raise ConfigError(f"--gpus must list GPU indices like 0,1,2 but got {text!r}")
    gpus = [int(item) for item in items]
    if len(set(gpus)) != len(gpus):
        raise ConfigError(f"--gpus lists a GPU twice: {text!r}")
    return gpus


def visible_gpu(index: int, visible: str | None, count: int) -> str:
    """The ``CUDA_VISIBLE_DEVICES`` value that shows a worker only GPU ``index`` of this process's GPUs."""
    if index >= count:
        raise ConfigError(f"--gpus names GPU {index} but this machine shows {count} CUDA device(s)")
    names = [name.strip() for name in visible.split(",") if name.strip()] if visible else []
    return names[index] if index < len(names) else str(index)


def worker_devices(workers: int | None, gpus: Sequence[int] | None) -> list[int | None]:
    """One entry per worker: the GPU it is pinned to, or None (the run's own --device)."""
    if gpus:
        if workers is not None and workers != len(gpus):
            raise ConfigError(f"--workers {workers} and --gpus with {len(gpus)} GPU(s) disagree; give one of them")
        return list(gpus)
    if workers is None or workers < 1:
        raise ConfigError(f"--workers must be at least 1 but got {workers}")
    return [None] * workers


@dataclass
class Worker:
    index: int
    gpu: int | None
    log_path: Path
    process: subprocess.Popen | None = None
    log: IO[str] | None = None
    returncode: int | None = None

    def last_error(self) -> str:
        """The worker's last ``error:`` line (its one-line reason for stopping), or its exit code."""
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines = []
        errors = [line.strip() for line in lines if line.strip().startswith("error:")]
        return errors[-1].removeprefix("error:").strip() if errors else f"exit code {self.returncode}"


@dataclass
class WorkerPool:
    """Start ``python -m harness.cli ARGV`` once per device; wait for them; stop them all on request."""

    argv: list[str]
    devices: list[int | None]
    log_dir: Path
    gpu_count: int = 0
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "harness.cli"])
    workers: list[Worker] = field(default_factory=list)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        for index, gpu in enumerate(self.devices):
            worker = Worker(index, gpu, self.log_dir / f"worker-{index}.log")
            env = dict(os.environ)
            argv = list(self.argv)
            if gpu is not None:
                env["CUDA_VISIBLE_DEVICES"] = visible_gpu(gpu, visible, self.gpu_count)
                argv += ["--device", "cuda"]
            worker.log = open(worker.log_path, "a", encoding="utf-8")  # noqa: SIM115 (closed in wait/stop)
            worker.log.write(f"--- worker {index} started {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(argv)}\n")
            worker.log.flush()
            # A session of its own: the terminal's Ctrl-C reaches the pool, which interrupts each worker once.
            worker.process = subprocess.Popen(
                [*self.command, *argv],
                stdout=worker.log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
            self.workers.append(worker)

    def running(self) -> list[Worker]:
        return [w for w in self.workers if w.returncode is None]

    def poll(self) -> list[Worker]:
        """Workers that stopped since the last poll."""
        stopped = []
        for worker in self.running():
            code = worker.process.poll() if worker.process else 0
            if code is not None:
                worker.returncode = code
                self._close_log(worker)
                stopped.append(worker)
        return stopped

    def wait(self, on_tick: Callable[[], None] | None = None, interval: float = 1.0) -> list[Worker]:
        """Block until every worker has stopped, calling ``on_tick`` every ``interval`` seconds; Ctrl-C stops all."""
        try:
            while self.running():
                self.poll()
                if on_tick is not None:
                    on_tick()
                if self.running():
                    time.sleep(interval)
        except BaseException:
            self.stop()
            raise
        return self.workers

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """Interrupt every running worker (as Ctrl-C would); kill those still running after ``grace`` seconds."""
        for worker in self.running():
            _signal(worker, signal.SIGINT)
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline:
            self.poll()
            time.sleep(0.1)
        for worker in self.running():
            _signal(worker, signal.SIGKILL)
            worker.returncode = worker.process.wait() if worker.process else -9
            self._close_log(worker)

    @staticmethod
    def _close_log(worker: Worker) -> None:
        if worker.log is not None and not worker.log.closed:
            worker.log.close()


def _signal(worker: Worker, sig: int) -> None:
    if worker.process is None:
        return
    try:
        os.killpg(worker.process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def worker_argv(root: Path, options: dict[str, Any], sets: Sequence[str]) -> list[str]:
    """The ``bench tune`` command line of one worker: the caller's options, searching only."""
    argv = ["--root", str(root), "tune", "--no-submit"]
    for flag, value in options.items():
        if value is None or value is False:
            continue
        argv += [flag] if value is True else [flag, str(value)]
    for item in sets:
        argv += ["--set", item]
    return argv


def finished_trials(study: Study, seen: set[int]) -> list[FrozenTrial]:
    """Trials of ``study`` that finished (complete, pruned, failed) and are not in ``seen``; adds them to it."""
    from optuna.trial import TrialState

    done = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    new = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.state in done and t.number not in seen and not t.user_attrs.get("surplus")
    ]
    seen.update(t.number for t in new)
    return sorted(new, key=lambda t: t.number)


def outcome_of(trial: FrozenTrial, finished: int) -> TrialOutcome:
    """A finished trial of the study as the ``TrialOutcome`` a worker reports."""

    seconds = 0.0
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    message = str(trial.user_attrs.get("error") or trial.user_attrs.get("failed_because") or "")

    value = trial.value if trial.values and len(trial.values) == 1 else None
    outcome = TrialOutcome(trial.number, trial.state.name, value, dict(trial.params), seconds, message, finished)
    outcome.interval = trial_interval(trial)
    if trial.values and len(trial.values) > 1:
        outcome.values = list(trial.values)
    return outcome
