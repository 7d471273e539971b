"""The trusted scorer process: ``python -m harness.scoring.submit`` takes one submit request (JSON on
stdin), does it with :func:`harness.scoring.submit.submit` and answers with one JSON line.

A process that has loaded plugins (``bench run``, ``bench tune``) cannot vouch for its own numpy, its
own scorer or its own leaderboard writer: any plugin could have replaced them at import. This
process loads no plugin code: no entry points and no ``$BENCH_PLUGINS_DIR`` files (the plugin host
honours ``BENCH_TRUSTED_SCORER``; only the repository's own ``plugins`` package may load, and only
when the competition must first be split). It copies, scores and records; the caller only learns
the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import harness
from harness import errors, settings
from harness.errors import BenchError, SubmissionError

UNTRUSTED_ENV = (settings.PLUGINS_DIR,)

# The child starts isolated (-I: no PYTHON* variables, no user site, no current folder; -S: no site, so no
# .pth file and no sitecustomize runs); its sys.path is this harness, the standard library, and the
# interpreter's (or virtual environment's) site-packages, named by sysconfig, not by any variable. A plugin
# that set PYTHONPATH or planted a sitecustomize.py in this process reaches nothing.
_BOOT = """
import importlib, io, json, sys
sys.path[:] = list(dict.fromkeys([sys.argv[1], *sys.path, *sys.argv[2:]]))
text = sys.stdin.read()
task = json.loads(text).get("task", "submit")
sys.stdin = io.StringIO(text)
module = {"submit": "harness.scoring.submit", "verify": "harness.scoring.verify"}[task]
sys.exit(importlib.import_module(module)._trusted_main())
"""


def run_trusted(request: dict) -> dict:
    """Run one request (a submit, see :func:`harness.scoring.submit.submit`, or ``{"task": "verify"}``, see
    :func:`verify_trusted`) in a fresh, isolated process that loads no plugin code but the
    shipped files; returns its answer, or raises the BenchError it reported."""
    env = {key: value for key, value in os.environ.items() if key not in UNTRUSTED_ENV and not key.startswith("PYTHON")}
    env[settings.TRUSTED_SCORER] = "1"
    source_root = str(Path(harness.__file__).resolve().parent.parent)  # this harness, not another install
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _BOOT, source_root, *_library_folders()],
            input=json.dumps(request, default=_plain), capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
    except OSError as exc:
        raise BenchError(f"cannot start the trusted scorer ({sys.executable}): {exc.strerror or exc}") from None
    reply = _last_json(done.stdout)
    if reply is None:
        detail = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise BenchError(f"the trusted scorer failed without an answer: {detail}")
    if not reply["ok"]:
        kind = getattr(errors, reply.get("error", ""), BenchError)
        kind = kind if isinstance(kind, type) and issubclass(kind, BenchError) else BenchError
        if issubclass(kind, SubmissionError):
            raise kind(reply["message"], reply.get("problems"), reply.get("problem_count"))
        raise kind(reply["message"])
    return reply["result"]


def _library_folders() -> list[str]:
    found = sysconfig.get_paths()
    return list(dict.fromkeys([found["purelib"], found["platlib"]]))


def answer(work: Callable[[], dict]) -> int:
    """The trusted process's side: print ``work()``'s result, or the user error it raised, as one JSON line."""
    try:
        reply: dict[str, Any] = {"ok": True, "result": work()}
    except BenchError as exc:
        reply = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, SubmissionError):
            reply.update(problems=exc.problems, problem_count=exc.problem_count)
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        reply = {"ok": False, "error": "BenchError", "message": f"{exc.strerror or exc}{where}"}
    print(json.dumps(reply))
    return 0 if reply["ok"] else 1


def _plain(value: object) -> object:
    """A value ``json`` cannot write as itself: a NumPy scalar as its Python value, anything else as text."""
    return value.item() if hasattr(value, "item") else str(value)


def _last_json(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        if isinstance(reply, dict) and "ok" in reply:
            return reply
    return None


def verify_trusted(root: Path, competition: str) -> tuple[int, list[str]]:
    """(rows, findings) of :func:`harness.scoring.verify.verify_board`, worked out by the trusted process:
    never in the process that asks, whose (plugin-touched) code recorded what it would check."""
    reply = run_trusted({"task": "verify", "root": str(root), "competition": competition})
    return int(reply["rows"]), [str(finding) for finding in reply["findings"]]
