"""The environment fingerprint stored on every leaderboard row and in every run folder.

Runs repeat bit for bit on one machine but not across CPUs or library versions, so a row says
where it was made: library versions, the device, threads, determinism, and the code's commit.
Nothing here imports torch: versions come from package metadata, and the device fields are
filled in by the caller that trained (``training_fields``).
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

CODE_ROOT = Path(__file__).resolve().parent.parent
CODE_PATHS = ("harness", "plugins", "pyproject.toml")  # what decides a result; workspace data is not code
LIBRARIES = {"torch": ("torch",), "numpy": ("numpy",), "timm": ("timm",), "faiss": ("faiss-cpu", "faiss-gpu", "faiss")}
FIELDS = ("python", "torch", "numpy", "timm", "faiss", "device", "cpu", "threads", "deterministic", "git_commit",
          "git_dirty")  # fmt: skip


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=CODE_ROOT, capture_output=True, text=True, timeout=5, check=False
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=1)
def git_commit() -> str:
    """Short commit of the checkout bench runs from, or "" outside git (never fails)."""
    return _git("rev-parse", "--short", "HEAD") or ""


def git_dirty() -> bool | None:
    """Whether the code (harness/, plugins/, pyproject.toml) differs from the commit; None outside git."""
    status = _git("status", "--porcelain", "--", *CODE_PATHS)
    return None if status is None else bool(status)


def version(package: str) -> str:
    for distribution in LIBRARIES.get(package, (package,)):
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return ""


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(**training: Any) -> dict[str, Any]:
    """The fingerprint; ``training`` gives the device, threads and deterministic flag of a run."""
    env: dict[str, Any] = {"python": platform.python_version()}
    env.update({name: version(name) for name in ("torch", "numpy", "timm", "faiss")})
    env.update(device="", cpu=cpu_model(), threads="", deterministic="")
    env.update(training)
    env.update(git_commit=git_commit(), git_dirty=git_dirty())
    return env


def training_fields(device: Any) -> dict[str, Any]:
    """Device name, torch threads and the deterministic flag, read from torch inside a run."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    name = cpu_model()
    if getattr(device, "type", "") == "cuda":
        name = torch.cuda.get_device_name(device)
    elif getattr(device, "type", "") == "mps":
        name = f"mps ({platform.machine()})"
    # CPU kernels are deterministic for a fixed thread count (train.devices.deterministic); GPUs need the flag.
    deterministic = torch.are_deterministic_algorithms_enabled() or getattr(device, "type", "") == "cpu"
    return {"device": name, "threads": torch.get_num_threads(), "deterministic": bool(deterministic)}


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """``field: a -> b`` for each fingerprint field that differs."""
    return [
        f"{key}: {a.get(key, '')!s} -> {b.get(key, '')!s}"
        for key in FIELDS
        if str(a.get(key, "")) != str(b.get(key, ""))
    ]
