"""Which device trains, how it is seeded, and whether it runs in mixed precision."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from harness.errors import ConfigError


def pick_device(requested: str | None = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; anything else must be available as named."""
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, ValueError):
        raise ConfigError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {requested!r} asked for, but CUDA is not available here; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {requested!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    elif device.type == "mps" and not _mps_available():
        raise ConfigError(f"device {requested!r} asked for, but MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device {requested!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (every device) from one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic(device: torch.device):
    """Deterministic kernels for the duration of a run; the global flag is restored afterwards."""
    if device.type == "cpu":
        # CPU kernels are already deterministic for a fixed thread count, and the switch itself
        # costs about 2 s of imports (torch._dynamo) on every run.
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cuda":
        # cuBLAS needs this before its first deterministic call; it is ignored if already set.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


@contextlib.contextmanager
def cpu_threads(count: int):
    """Use ``count`` torch CPU threads for a while (0 = leave as is); tiny models run best on one."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def uses_amp(device: torch.device, enabled: bool) -> bool:
    """Mixed precision runs on cuda only: on cpu and mps it is slower or less reliable."""
    return bool(enabled) and device.type == "cuda"


def autocast(device: torch.device, enabled: bool):
    if uses_amp(device, enabled):
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()
