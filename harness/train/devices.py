"""Which device trains, how it is seeded, and the speed settings: mixed precision, channels-last, compile."""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from harness.errors import ConfigError

log = logging.getLogger("bench.train")
BF16_CAPABILITY = (8, 0)  # Ampere and newer run bfloat16 natively; older GPUs only emulate it


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
def deterministic(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Deterministic kernels (``train.deterministic``, the default) or the fastest ones, for the duration of a run.

    Off: cuDNN picks the fastest convolution algorithms (``cudnn.benchmark``) and float32 matmuls may use
    TF32, so two runs with one seed can differ in the last digits. Global flags are restored afterwards.
    """
    if device.type == "cpu":
        # CPU kernels are already deterministic for a fixed thread count, and the switch itself
        # costs about 2 s of imports (torch._dynamo) on every run.
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    benchmark, precision = torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()
    if enabled and device.type == "cuda":
        # cuBLAS needs this before its first deterministic call; it is ignored if already set.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.benchmark = not enabled
    if not enabled:
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.backends.cudnn.benchmark = benchmark
        torch.set_float32_matmul_precision(precision)


@contextlib.contextmanager
def cpu_threads(count: int) -> Iterator[None]:
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


def amp_dtype(device_type: str, enabled: bool, capability: tuple[int, int] | None) -> torch.dtype | None:
    """The autocast dtype: bfloat16 on GPUs of compute capability 8.0 or newer, float16 on older ones.

    ``None`` means full precision (``train.amp = false``, or not cuda). A pure function of the GPU's
    ``capability`` (``torch.cuda.get_device_capability``) so that the choice is testable without a GPU.
    """
    if not enabled or device_type != "cuda":
        return None
    if capability is not None and tuple(capability) >= BF16_CAPABILITY:
        return torch.bfloat16
    return torch.float16


def needs_grad_scaler(dtype: torch.dtype | None) -> bool:
    """float16 gradients underflow without loss scaling; bfloat16 has float32's range and needs none."""
    return dtype == torch.float16


def cuda_capability(device: torch.device) -> tuple[int, int] | None:
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(device)


def precision(device: torch.device, enabled: bool) -> torch.dtype | None:
    """This device's autocast dtype under ``train.amp = enabled``."""
    return amp_dtype(device.type, enabled, cuda_capability(device))


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[None]:
    dtype = precision(device, enabled)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, enabled: bool) -> torch.amp.GradScaler:
    """A gradient scaler that is active only under float16 autocast."""
    return torch.amp.GradScaler("cuda", enabled=needs_grad_scaler(precision(device, enabled)))


def memory_format(channels_last: bool) -> torch.memory_format:
    """``train.channels_last``: NHWC tensors, which convolutions on recent GPUs (tensor cores) run faster."""
    return torch.channels_last if channels_last else torch.contiguous_format


class CompiledOrEager(torch.nn.Module):
    """``train.compile``: the module through ``torch.compile``; if compiling fails, the module as it is, with a warning.

    ``mode="reduce-overhead"`` replays CUDA graphs (no per-kernel launch cost: small models on big GPUs).

    ``torch.compile`` compiles lazily, so failures (no C++ compiler, an unsupported operation) show up at
    the first call: that call falls back to eager mode and every later call stays there.
    """

    def __init__(self, module: torch.nn.Module, backend: str = "inductor", mode: str | None = None):
        super().__init__()
        self.module = module
        self._set_compiled(None)
        try:
            modes = {"mode": mode} if mode else {}
            self._set_compiled(torch.compile(module, backend=backend, **modes))
        except Exception as exc:  # torch.compile refuses up front on some platforms (old Python, Windows)
            self._fall_back(exc)

    def _set_compiled(self, compiled: Callable[..., Any] | None) -> None:
        # Not a registered submodule: the weights appear once, under ``module.``, in state_dict().
        object.__setattr__(self, "compiled", compiled)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except Exception as exc:
                self._fall_back(exc)
        return self.module(*args, **kwargs)

    def _fall_back(self, exc: Exception) -> None:
        self._set_compiled(None)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning(
            "train.compile: torch.compile failed (%s: %s); training continues without it",
            type(exc).__name__,
            first[:200],
        )
