"""bench's own environment variables, read here and nowhere else.

Each accessor names its variable and turns its text into a typed value; a bad value raises one clear
error naming the variable. Variables of other programs (CUDA, OMP, torch's launcher) are read where
they are used. Functions that take ``env`` read that mapping instead of this process's environment
(a rank's environment, a test's).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.errors import ConfigError, PluginError

ROOT = "BENCH_ROOT"  # the workspace folder (default: the current directory)
DATA_DIR = "BENCH_DATA_DIR"  # where datasets are downloaded and looked for (default: <workspace>/data)
ANSWERS_DIR = "BENCH_ANSWERS_DIR"  # where the answer store lives (default: the per-user data folder)
PLUGINS_DIR = "BENCH_PLUGINS_DIR"  # a folder of plugin files to load
STRICT = "BENCH_STRICT"  # 1/true/yes: a broken plugin is fatal
TRUSTED_SCORER = "BENCH_TRUSTED_SCORER"  # set by harness.scoring.trusted: no third-party plugin code at all
PLUGIN_TIMEOUT = "BENCH_PLUGIN_TIMEOUT"  # seconds a plugin may take to import (0: no probe)
COLLECTIVE_TIMEOUT = "BENCH_COLLECTIVE_TIMEOUT"  # seconds a collective waits for the other ranks
TOKEN = "BENCH_TOKEN"  # a participant's token for `bench submit --server`
LAUNCHED_RANKS = "BENCH_LAUNCHED_RANKS"  # set for ranks bench started: they leave error messages to it
LAUNCHER_PID = "BENCH_LAUNCHER_PID"  # the launcher's process id: its ranks stop when it is gone


def _text(name: str, env: Mapping[str, str] | None = None) -> str:
    return (os.environ if env is None else env).get(name, "")


def workspace_root() -> str:
    """``$BENCH_ROOT`` as set ("" when unset)."""
    return _text(ROOT)


def data_folders() -> list[Path]:
    """Where datasets live, in order: ``$BENCH_DATA_DIR`` when set, then ``<workspace>/data``."""
    chosen = _text(DATA_DIR)
    workspace_data = Path(workspace_root() or os.getcwd()).expanduser() / "data"
    return [Path(chosen).expanduser(), workspace_data] if chosen else [workspace_data]


def answers_dir() -> Path | None:
    """``$BENCH_ANSWERS_DIR`` when set."""
    chosen = _text(ANSWERS_DIR)
    return Path(chosen).expanduser() if chosen else None


def plugins_dir() -> Path | None:
    """``$BENCH_PLUGINS_DIR`` when set."""
    chosen = _text(PLUGINS_DIR)
    return Path(chosen) if chosen else None


def strict() -> bool:
    return _text(STRICT).strip().lower() in ("1", "true", "yes")


def trusted_scorer() -> bool:
    """Whether this is the trusted scorer's process (shipped plugins only)."""
    return _text(TRUSTED_SCORER) == "1"


def plugin_timeout(default: float) -> float:
    """Seconds a plugin may take to import: ``$BENCH_PLUGIN_TIMEOUT``, else ``default``; 0 means no probe."""
    text = _text(PLUGIN_TIMEOUT).strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise PluginError(f"{PLUGIN_TIMEOUT} must be a number of seconds >= 0 but is {text!r}")
    return value


def collective_timeout_seconds(default: float, env: Mapping[str, str] | None = None) -> float:
    """``$BENCH_COLLECTIVE_TIMEOUT`` seconds, else ``default``."""
    text = _text(COLLECTIVE_TIMEOUT, env).strip()
    try:
        seconds = float(text) if text else default
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 10**7:
        raise ConfigError(f"{COLLECTIVE_TIMEOUT} must be a positive number of seconds, got {text!r}")
    return seconds


def token() -> str:
    """``$BENCH_TOKEN`` ("" when unset)."""
    return _text(TOKEN)


def launched_rank() -> bool:
    """Whether this process is a rank bench launched."""
    return _text(LAUNCHED_RANKS) == "1"


def launcher_pid() -> int | None:
    """The process id of the launcher that started this rank, when recorded."""
    text = _text(LAUNCHER_PID)
    return int(text) if text.isdigit() else None
