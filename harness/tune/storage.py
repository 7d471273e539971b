"""Where Optuna studies live, and how a study survives a killed worker.

- ``open_storage(workspace, storage, study_name)``: no URL means a journal file
  ``studies/<study>.journal`` in the workspace (embedded; several processes on one machine share
  it safely through the journal's file lock). A URL with a scheme (``sqlite:///x.db``,
  ``postgresql://user:pw@host/db``, ``mysql://...``) is an Optuna RDB storage, so workers on many
  machines share one study; a plain path (``other.journal``) is another journal file.
- Heartbeats: while a trial runs, a thread stamps it every ``interval`` seconds
  (trial system attribute ``bench:heartbeat``). ``fail_stale_trials`` marks RUNNING trials whose
  last stamp (or start, if never stamped) is older than ``grace`` seconds as FAIL, so the trials
  of a killed worker do not stay RUNNING forever. This works the same on every storage kind.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import StudyStorageError

HEARTBEAT_KEY = "bench:heartbeat"
JOURNAL_SUFFIX = ".journal"
RDB_ATTEMPTS = 5

if TYPE_CHECKING:
    from optuna import Study
    from optuna.storages import BaseStorage
    from optuna.trial import FrozenTrial

    from harness.workspace import Workspace


@dataclass(frozen=True)
class StorageInfo:
    storage: BaseStorage
    url: str  # what the user gave, or the journal file path
    display: str  # the same with any password masked
    kind: str  # "journal" | "rdb"

    @property
    def dashboard_command(self) -> str:
        return f"optuna-dashboard {self.display}"


def journal_path(workspace: Workspace, study_name: str) -> Path:
    return workspace.studies / f"{study_name}{JOURNAL_SUFFIX}"


def open_storage(workspace: Workspace, storage: str | None, study_name: str) -> StorageInfo:
    """An Optuna storage for ``storage`` (URL, journal path, or None for the workspace default)."""
    if not storage:
        return _journal(journal_path(workspace, study_name))
    if "://" not in storage:
        return _journal(Path(storage).expanduser())
    return _rdb(storage)


def _journal(path: Path) -> StorageInfo:
    from optuna.storages import JournalStorage

    try:  # optuna >= 4
        from optuna.storages.journal import JournalFileBackend as Backend
    except ImportError:  # pragma: no cover - optuna 3.x
        from optuna.storages import JournalFileStorage as Backend
    if path.exists() and not path.is_file():
        raise StudyStorageError(f"study journal {path} is not a file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(Backend(str(path)))
    except OSError as exc:
        raise StudyStorageError(f"cannot open study journal {path}: {exc}") from None
    return StorageInfo(storage, str(path), str(path), "journal")


def mask_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def driver_url(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; with only psycopg2 installed
    (``pip install psycopg2-binary``) that fails, so name psycopg2 explicitly. ``postgres://`` is
    accepted as an alias.
    """
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if scheme.lower() in ("postgres", "postgresql"):
        has = {m: importlib.util.find_spec(m) is not None for m in ("psycopg", "psycopg2")}
        if has["psycopg2"] and not has["psycopg"]:
            return f"postgresql+psycopg2{sep}{rest}"
        return f"postgresql{sep}{rest}"
    return url


def _rdb(url: str) -> StorageInfo:
    from optuna.storages import RDBStorage

    display = mask_password(url)
    url = driver_url(url)
    scheme = url.split("://", 1)[0].lower()
    if scheme.startswith("redis"):
        raise StudyStorageError(f"storage {display}: redis journals are not supported; use a postgresql:// URL")
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if scheme.startswith("postgresql") or scheme.startswith("mysql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    from sqlalchemy.exc import IntegrityError, InternalError, OperationalError, ProgrammingError

    # Workers starting together on an empty database race to create Optuna's tables
    # ("duplicate key ... pg_type_typname_nsp_index", sqlite's "table ... already exists"): retry.
    racy = (IntegrityError, ProgrammingError, InternalError) + (
        (OperationalError,) if scheme.startswith("sqlite") else ()
    )
    for attempt in range(RDB_ATTEMPTS):
        try:
            storage = RDBStorage(url, engine_kwargs=engine_kwargs)
            break
        except ImportError as exc:
            raise StudyStorageError(f"storage {display}: the database driver is not installed ({exc})") from None
        except Exception as exc:  # sqlalchemy: ArgumentError, NoSuchModuleError, OperationalError ...
            if not isinstance(exc, racy) or attempt + 1 == RDB_ATTEMPTS:
                raise StudyStorageError(f"cannot use study storage {display}: {_first_line(exc)}") from None
            time.sleep(0.5 + random.random())
    return StorageInfo(storage, url, display, "rdb")


def _first_line(exc: BaseException) -> str:
    """``(psycopg2.OperationalError) connection ... failed: refused`` -> ``connection ... failed: refused``."""
    import re

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    return re.sub(r"^\([\w.]+\)\s*", "", lines[0]) or type(exc).__name__


# -- heartbeats and stale trials -------------------------------------------------------------


def beat(storage: BaseStorage, trial_id: int) -> None:
    storage.set_trial_system_attr(trial_id, HEARTBEAT_KEY, time.time())


class Heartbeat:
    """Stamps a running trial every ``interval`` seconds until the ``with`` block ends."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval: float):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bench-heartbeat-{trial_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._beat()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._beat()

    def _beat(self) -> None:
        try:
            beat(self.storage, self.trial_id)
        except Exception:  # finished meanwhile, or the database blinked: the next beat retries
            pass


def last_sign_of_life(trial: FrozenTrial) -> float:
    """Seconds since the epoch of the trial's last heartbeat, else its start."""
    stamp = trial.system_attrs.get(HEARTBEAT_KEY)
    if isinstance(stamp, (int, float)):
        return float(stamp)
    start = trial.datetime_start
    return start.timestamp() if start is not None else time.time()


def is_stale(trial: FrozenTrial, grace: float, now: float | None = None) -> bool:
    from optuna.trial import TrialState

    now = time.time() if now is None else now
    return trial.state == TrialState.RUNNING and now - last_sign_of_life(trial) > grace


def fail_stale_trials(study: Study, grace: float) -> list[int]:
    """Mark RUNNING trials silent for more than ``grace`` seconds as FAIL; their numbers."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    failed = []
    now = time.time()
    storage = study._storage
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_stale(trial, grace, now):
            continue
        silent = now - last_sign_of_life(trial)
        try:
            storage.set_trial_user_attr(
                trial._trial_id, "failed_because", f"worker stopped: no heartbeat for {silent:.0f} s"
            )
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except UpdateFinishedTrialError:  # its worker, or another one, finished it meanwhile
            continue
    return failed


def quietly(fn: Callable[..., object], *args: Any) -> None:
    """Call ``fn(*args)``; a storage hiccup here must not end the search."""
    try:
        fn(*args)
    except Exception:
        pass
