"""The launcher's watchdog: end the ranks that torch's launcher would wait on forever.

torch's agent waits until every rank has exited, and only stops the others once one fails. A rank
that is stopped (``kill -STOP``, a debugger) or stuck after its last collective fails nothing: while
rank 0 embeds and indexes alone nobody waits on it, so no collective times out, and once rank 0 is done
the job hangs. The watch ends such a rank (SIGKILL to its process group) after the collective
timeout, so the agent sees a failed rank and the launcher reports it (see
:func:`harness.train.launch.first_reason`):

- a rank stopped for that long while no other rank is left running (a running rank would time out
  on it in a collective and fail first, with its own reason);
- a rank still running that long after rank 0 finished (the others only train, so they are done
  before rank 0 is).

It reads the ranks' states from ``/proc`` (Linux); elsewhere it watches nothing and the collective
timeout is the only bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
STOPPED_STATES = ("T", "t")  # stopped by a signal, stopped by a tracer


@dataclass
class _Rank:
    pid: int
    started: str  # the kernel's start time: a reused pid is another process
    stopped_since: float | None = None
    gone_at: float | None = None


class RankWatch:
    """While the block runs, a thread that ends the launcher's stuck ranks; ``ended`` maps rank -> why."""

    def __init__(self, run_id: str, nproc: int, limit_seconds: float, poll_seconds: float = 0.5):
        self.run_id, self.nproc, self.limit, self.poll = run_id, nproc, float(limit_seconds), poll_seconds
        self.ended: dict[int, str] = {}
        self.ranks: dict[int, _Rank] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-rank-watch", daemon=True)

    def __enter__(self) -> RankWatch:
        if PROC.joinpath("self", "stat").is_file():
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(self.poll):
            if len(self.ranks) < self.nproc:
                self.ranks.update(find_ranks(os.getpid(), self.run_id))
            self.check(time.monotonic())

    def check(self, now: float) -> None:
        """One look at every rank: note who stopped or exited, and end the ranks nobody will time out on."""
        for rank in self.ranks.values():
            state = process_state(rank.pid, rank.started)
            if state is None or state == "Z":
                rank.gone_at = rank.gone_at or now
            stopped = state in STOPPED_STATES
            rank.stopped_since = (rank.stopped_since or now) if stopped else None
        if len(self.ranks) < self.nproc:
            return
        running = [r for r in self.ranks.values() if r.gone_at is None and r.stopped_since is None]
        main_done = self.ranks[0].gone_at if 0 in self.ranks else None
        for number, rank in sorted(self.ranks.items()):
            if rank.gone_at is not None or number in self.ended:
                continue
            if rank.stopped_since is not None and not running and now - rank.stopped_since >= self.limit:
                self.end(number, f"was stopped (process state T) for {self.limit:g} s with no rank left to wait for it")
            elif rank.stopped_since is None and main_done is not None and now - main_done >= self.limit:
                self.end(number, f"had not finished {self.limit:g} s after rank 0 did")

    def end(self, number: int, why: str) -> None:
        """SIGKILL the rank's process group (it leads a session of its own; SIGKILL ends a stopped process too)."""
        self.ended[number] = why
        pid = self.ranks[number].pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (which may hold spaces): state, ppid, ..., or None if gone."""
    try:
        text = PROC.joinpath(str(pid), "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[-1].split()


def process_state(pid: int, started: str) -> str | None:
    """The process's one-letter state (R, S, D, T, t, Z...), or None once it is gone or the pid was reused."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20 or fields[19] != started:
        return None
    return fields[0]


def find_ranks(parent: int, run_id: str) -> dict[int, _Rank]:
    """The children of ``parent`` that torch's agent started for ``run_id``, by their RANK."""
    found: dict[int, _Rank] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if not fields or len(fields) < 20 or fields[1] != str(parent):
            continue
        try:
            environ = dict(
                item.split(b"=", 1) for item in (entry / "environ").read_bytes().split(b"\0") if b"=" in item
            )
        except OSError:
            continue
        if environ.get(b"TORCHELASTIC_RUN_ID") == run_id.encode() and environ.get(b"RANK", b"").isdigit():
            found[int(environ[b"RANK"])] = _Rank(int(entry.name), fields[19])
    return found
