"""Import plugins from outside the built-in package in a child process first, so that one that hangs,
calls ``sys.exit``/``os._exit`` or crashes the interpreter at import is quarantined instead of
taking bench down with it.

The child imports the plugins one after another and reports each start and end on its stdout; a
plugin whose import does not end within ``$BENCH_PLUGIN_TIMEOUT`` seconds (default 30; 0 turns the
probe off) or whose import ends the child is named, and the probe goes on with the plugins after it
in a fresh child. The probe runs in the background while the built-in plugins import, and costs
nothing when there is no plugin from outside the package (``python benchmarks/plugin_probe.py``).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import threading
from pathlib import Path

from harness import settings

DEFAULT_TIMEOUT_S = 30.0
STARTUP_S = 300.0  # a fresh interpreter reaching its first plugin: generous, only a stuck machine exceeds it

_CHILD = """
import importlib.metadata, importlib.util, json, os, sys
token, items, parent = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
if sys.platform.startswith("linux"):  # end with the bench process that started the probe, even on its kill -9
    import ctypes
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG (linux/prctl.h), SIGKILL
    if os.getppid() != parent:  # it died before prctl took effect
        sys.exit(0)
import harness  # what every plugin imports: loaded before any plugin's clock starts
def say(text):
    os.write(1, f"\\n{token} {text}\\n".encode())
for i, (source, location) in enumerate(items):
    say(f"start {i}")
    try:
        if source == "directory":
            spec = importlib.util.spec_from_file_location(f"bench_probe_{i}", location)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.metadata.EntryPoint(name=str(i), value=location, group="bench").load()
        for attr, hook in list(vars(module).items()):  # its register_* hooks too: one may hang or exit
            if attr.startswith("register_") and callable(hook) and hasattr(hook, "bench_impl"):
                try:
                    hook(register=lambda *args, **meta: None)
                except BaseException:
                    pass
    except BaseException:
        pass  # an ordinary import error is reported by the real import, with its traceback
    say(f"done {i}")
"""


def probe_timeout() -> float:
    """Seconds a plugin may take to import: ``$BENCH_PLUGIN_TIMEOUT``, default 30; 0 means no probe."""
    return settings.plugin_timeout(DEFAULT_TIMEOUT_S)


class Probe:
    """The background probe of ``items`` [(source, location)]; :meth:`result` maps location -> why it failed."""

    def __init__(self, items: list[tuple[str, str]], timeout: float):
        self.items, self.timeout = list(items), timeout
        self._failures: dict[str, str] = {}
        self._thread = threading.Thread(target=self._run, name="bench-plugin-probe", daemon=True)
        if self.items and timeout > 0:
            self._thread.start()

    def result(self) -> dict[str, str]:
        if self._thread.is_alive():
            self._thread.join()
        return self._failures

    def _run(self) -> None:
        start = 0
        while start < len(self.items):
            start = self._probe_from(start)

    def _probe_from(self, start: int) -> int:
        """Probe items[start:] in one child; returns where the next child must begin (len(items) when done)."""
        token = secrets.token_hex(8)
        pending = self.items[start:]
        source_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))}
        try:
            child = subprocess.Popen(
                [sys.executable, "-c", _CHILD, token, json.dumps(pending), str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        except OSError:
            return len(self.items)  # no probe possible: the plugins import as they always did
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_pump, args=(child, token, lines), daemon=True).start()
        current, importing = start, False
        try:
            while True:
                try:
                    line = lines.get(timeout=self.timeout if importing else STARTUP_S)
                except queue.Empty:
                    if not importing:
                        return len(self.items)  # the child is stuck outside any plugin: import them as usual
                    self._fail(
                        current, f"did not finish importing within {self.timeout:g} s ({settings.PLUGIN_TIMEOUT})"
                    )
                    return current + 1
                if line is None:  # the child ended
                    if not importing:
                        return len(self.items)
                    self._fail(current, f"ended the process while importing (exit code {child.wait()})")
                    return current + 1
                event, _, number = line.partition(" ")
                current, importing = start + int(number), event == "start"
                if event == "done" and current + 1 == len(self.items):
                    return len(self.items)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()

    def _fail(self, index: int, why: str) -> None:
        if index < len(self.items):
            self._failures[self.items[index][1]] = why


def _pump(child: subprocess.Popen, token: str, lines: queue.Queue) -> None:
    prefix = f"{token} ".encode()
    for raw in child.stdout:  # type: ignore[union-attr]
        if raw.startswith(prefix):
            lines.put(raw[len(prefix) :].decode().strip())
    lines.put(None)


def probe_imports(items: list[tuple[str, str]], timeout: float) -> Probe:
    """Start probing ``items`` in the background (nothing to do when there are none or timeout is 0)."""
    return Probe(items, timeout)
