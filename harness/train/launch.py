"""``bench run --nproc N``: start N ranks of a command through torch's elastic launcher (what torchrun runs).

Rank 0 shares this terminal (its progress bars, log lines and summary); the other ranks' output
goes to files in a temporary folder. A rank that fails writes its one-line reason to the error
file torchrun gives it (``TORCHELASTIC_ERROR_FILE``, see :func:`record_rank_error`); the launcher
stops every other rank and raises :class:`RankFailed` with the first real reason, not with the
follow-on errors of ranks whose peer went away. A rank nobody can time out on (stopped, or stuck after
rank 0 finished) is ended by the launcher's watch (:mod:`harness.train.rank_watch`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from harness import settings
from harness.errors import ConfigError, RankFailed, RankStopped
from harness.train.rank_watch import RankWatch

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

ERROR_FILE_VARIABLE = "TORCHELASTIC_ERROR_FILE"
USER_ERROR, CRASH, STOPPED = "user", "crash", "stopped"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# What a rank says when another rank went away (exited, was killed) or stopped answering: a follow-on error
FOLLOW_ON = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "remote process exited",
    "communicator was aborted",
    "timed out",
)


DEFAULT_TIMEOUT_SECONDS = 90.0  # above any step, and above rank 0's validation while the others wait


def collective_timeout(env: dict[str, str] | None = None) -> datetime.timedelta:
    """How long a collective waits for the other ranks before failing (``$BENCH_COLLECTIVE_TIMEOUT`` seconds,
    default 90): a rank that is stopped or stuck then ends the job instead of hanging it."""
    return datetime.timedelta(seconds=settings.collective_timeout_seconds(DEFAULT_TIMEOUT_SECONDS, env))


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`RankStopped`, so that a stopped rank cleans up after itself;
    a rank bench launched gets SIGTERM when its launcher dies (see :func:`follow_launcher`)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # once: a second signal while cleaning up just ends it
        raise RankStopped("stopped because another rank failed")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        follow_launcher()
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def launcher_gone() -> bool:
    """In a rank bench launched: whether its launcher has died (the rank was handed to another parent)."""
    expected = settings.launcher_pid()
    return settings.launched_rank() and expected is not None and os.getppid() != expected


def follow_launcher() -> None:
    """In a rank bench launched: get SIGTERM when the launcher dies (even by kill -9), so the rank stops
    and records nothing; raises :class:`RankStopped` if it is already gone.

    The ranks run in sessions of their own (torch's launcher starts them so), so nothing else reaches
    them. Linux only (``prctl``); elsewhere :func:`launcher_gone`, checked before the row is appended,
    still keeps an orphaned rank off the leaderboard.
    """
    if not settings.launched_rank():
        return
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if launcher_gone():  # it died before prctl took effect
        raise RankStopped("stopped because the launcher is gone")


def check_launcher() -> None:
    """Before a rank records anything: raise :class:`RankStopped` if its launcher died (killed: the run was
    abandoned, so nothing it did may reach the leaderboard)."""
    if launcher_gone():
        raise RankStopped("stopped because the launcher is gone; nothing was recorded")


def launch(argv: Sequence[str], nproc: int, threads_per_rank: int | None = None) -> None:
    """Run ``python -m harness.cli ARGV`` as ``nproc`` ranks on this machine and wait for all of them."""
    if nproc < 2:
        raise ConfigError(f"--nproc must be at least 2 to launch several processes but got {nproc}")
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, SignalException, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    timeout = collective_timeout()  # a bad value is one line here, before any rank starts
    logs = tempfile.mkdtemp(prefix="bench-ranks-")
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"bench-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, like torchrun --standalone
        max_restarts=0,
        monitor_interval=0.1,
        logs_specs=DefaultLogsSpecs(log_dir=logs, redirects={rank: Std.ALL for rank in range(1, nproc)}),
    )
    overrides = {
        settings.LAUNCHED_RANKS: "1",
        settings.LAUNCHER_PID: str(os.getpid()),
        "OMP_NUM_THREADS": str(threads_per_rank or rank_threads(nproc)),
    }
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)  # the agent passes its own environment on to the ranks
    watch = RankWatch(config.run_id, nproc, timeout.total_seconds())
    try:
        with quiet_launcher(), watch:
            elastic_launch(config, sys.executable)("-m", "harness.cli", *argv)
    except ChildFailedError as exc:
        raise RankFailed(first_reason(exc.failures, timeout.total_seconds(), watch.ended)) from None
    except SignalException as exc:  # the launcher passed the signal on to every rank and waited for them
        if exc.sigval == signal.SIGINT:
            raise KeyboardInterrupt from None
        raise RankFailed(f"stopped by {exc.sigval.name}") from None
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(logs, ignore_errors=True)


def rank_threads(nproc: int) -> int:
    """CPU threads per rank when the user set none: the machine's cores shared out, at least one."""
    if os.environ.get("OMP_NUM_THREADS"):
        return int(os.environ["OMP_NUM_THREADS"])
    return max(1, (os.cpu_count() or 1) // nproc)


class quiet_launcher:
    """Keep torch.distributed.elastic's own log lines (closing signals, failure tables) off the terminal, and
    give back the signal handlers the launcher installs for itself (Ctrl-C in a later command is ours again)."""

    PREFIX = "torch.distributed"
    SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")

    def __enter__(self) -> quiet_launcher:
        names = [n for n in logging.root.manager.loggerDict if n == self.PREFIX or n.startswith(self.PREFIX + ".")]
        self.levels = {name: logging.getLogger(name).level for name in names}
        for name in names:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        numbers = [getattr(signal, name) for name in self.SIGNALS if hasattr(signal, name)]
        self.handlers = {number: signal.getsignal(number) for number in numbers}
        return self

    def __exit__(self, *exc: object) -> None:
        for name, level in self.levels.items():
            logging.getLogger(name).setLevel(level)
        for number, handler in self.handlers.items():
            if handler is not None:
                signal.signal(number, handler)


def first_reason(
    failures: dict[int, ProcessFailure], timeout_seconds: float | None = None, ended: dict[int, str] | None = None
) -> str:
    """One line: the first user error (a BenchError) of any rank, else the first crash, else a rank that
    exited, was killed or was ended by the launcher's watch (``ended``: rank -> why) without a word, else
    a follow-on error.

    Ranks whose peer failed fail too (a closed connection, a collective that timed out, a signal): those
    are follow-on errors, so a rank that just exited is blamed before the rank that lost its connection.
    When a collective timed out, the rank the launcher then had to kill is the one that stopped answering.
    """
    ended = ended or {}
    reports, waiting = [], []
    for rank, failure in failures.items():
        text, kind, when = _failure_text(failure)
        follow_on = kind == STOPPED or (kind == CRASH and any(words in text.lower() for words in FOLLOW_ON))
        if follow_on and "timed out" in text.lower():
            waiting.append((rank, text))
        reports.append((3 if follow_on else {USER_ERROR: 0, CRASH: 1}.get(kind, 2), when, rank, text))
    if not reports:
        return "a rank failed"
    order, _, rank, text = min(reports)
    waited = f" for {timeout_seconds:g} s" if timeout_seconds else ""
    if waiting and order == 2 and (rank in ended or text.startswith("stopped by signal")):
        how = f"it {ended[rank]}" if rank in ended else text
        return (
            f"rank {rank} stopped answering: rank {waiting[0][0]} waited{waited} (BENCH_COLLECTIVE_TIMEOUT), "
            f"then the launcher ended rank {rank} ({how})"
        )
    if order == 2 and rank in ended:
        finished = "; rank 0 had finished, so its result above stands" if 0 not in failures else ""
        return f"rank {rank} {ended[rank]} (BENCH_COLLECTIVE_TIMEOUT): the launcher ended it{finished}"
    if waiting and order == 3:
        rank, text = waiting[0]
        return (
            f"rank {rank} had no answer from the other ranks{waited} (BENCH_COLLECTIVE_TIMEOUT): one of them is "
            f"stopped or stuck, or worked alone longer than that ({text[:200]})"
        )
    return f"rank {rank}: {text}"


def _failure_text(failure: ProcessFailure) -> tuple[str, str | None, float]:
    """(what the rank said or how it ended, the kind of error it recorded if any, when)."""
    data = failure.error_file_data.get("message") if isinstance(failure.error_file_data, dict) else None
    extra = data.get("extraInfo", {}) if isinstance(data, dict) else {}
    kind = extra.get("bench_kind")
    when = float(extra.get("bench_time", failure.timestamp))
    if kind:
        return str(data.get("message", "")).strip(), kind, when
    if failure.exitcode < 0:
        return f"stopped by signal {failure.signal_name()}", kind, when
    return f"exited with code {failure.exitcode}", kind, when


def record_rank_error(message: str, kind: str) -> bool:
    """In a rank bench launched: store ``message`` for the launcher instead of printing it; False elsewhere."""
    path = os.environ.get(ERROR_FILE_VARIABLE)
    if not path or not settings.launched_rank():
        return False
    now = time.time()
    data = {
        "message": {
            "message": message,
            "extraInfo": {
                "timestamp": str(int(now)),
                "bench_time": now,
                "bench_kind": kind,
                "py_callstack": "",
            },
        }
    }
    try:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
    except OSError:
        return False
    return True
