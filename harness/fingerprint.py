"""The environment fingerprint stored on every leaderboard row and in every run folder.

Runs repeat bit for bit where the same kernels run, so a row says where it was made: library
versions, the device, threads, determinism, the code's commit, and (v3) what picks the kernels: the
ISA torch dispatches to and the pins that chose it (harness.train.isa), BLAS and oneDNN builds, CPU flags,
and on CUDA the CUDA, cuDNN and driver versions.
Nothing here imports torch: versions come from package metadata, and the device fields are
filled in by the caller that trained (``training_fields``).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from harness.train import isa

if TYPE_CHECKING:
    import torch

CODE_ROOT = Path(__file__).resolve().parent.parent
CODE_PATHS = ("harness", "plugins", "pyproject.toml")  # what decides a result; workspace data is not code
# (v3) What picks the kernels, so what decides the last bits: the ISA torch dispatches to and the pins
# that chose it, the BLAS and oneDNN builds, the CPU flags; on CUDA the GPU's software. Rows written
# before v3 lack them; they read as "not recorded".
KERNEL_FIELDS = ("isa", "isa_pins", "cpu_flags", "blas", "onednn", "cuda", "cudnn", "gpu_driver")
CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
LIBRARIES = {"torch": ("torch",), "numpy": ("numpy",), "timm": ("timm",), "faiss": ("faiss-cpu", "faiss-gpu", "faiss")}
FIELDS = ("python", "torch", "numpy", "timm", "faiss", "device", "cpu", "threads", "deterministic", "git_commit",
          "git_dirty", *KERNEL_FIELDS)  # fmt: skip


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
    env.update(dict.fromkeys(KERNEL_FIELDS, ""), isa_pins=isa.describe(isa.pins_in_effect()), cpu_flags=cpu_flags())
    env.update(training)
    env.update(git_commit=git_commit(), git_dirty=git_dirty())
    return env


def training_fields(device: torch.device | str | None) -> dict[str, Any]:
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
    fields = {"device": name, "threads": torch.get_num_threads(), "deterministic": bool(deterministic)}
    fields.update(kernel_fields(torch))
    if getattr(device, "type", "") == "cuda":
        fields.update(cuda_fields(torch))
    return fields


def cpu_flags() -> str:
    """The CPU flags that decide which kernels run (of ``CPU_FLAGS``), as the CPU reports them."""
    flags = isa.cpu_flags()
    return " ".join(flag for flag in CPU_FLAGS if flag in flags)


def kernel_fields(torch: ModuleType) -> dict[str, str]:
    """The ISA torch dispatches to, its BLAS and oneDNN builds, and every other BLAS loaded (numpy's, faiss's)."""
    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([\w.]+)", config)
    onednn = re.search(r"(?:MKL-DNN|oneDNN) v([\w.]+)", config)
    blas_info = re.search(r"BLAS_INFO=(\w+)", config)
    torch_blas = f"mkl {mkl.group(1)}" if mkl else (blas_info.group(1) if blas_info else "")
    return {
        "isa": torch.backends.cpu.get_cpu_capability(),
        "blas": "; ".join([f"torch: {torch_blas}", *loaded_blas()]),
        "onednn": onednn.group(1) if onednn else "",
    }


def loaded_blas() -> list[str]:
    """``numpy: openblas 0.3.31 (Haswell)`` for each BLAS loaded in this process, with the kernels it chose."""
    try:
        import faiss  # noqa: F401  (its own OpenBLAS searches the exact index on the CPU)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    found = []
    for library in threadpool_info():
        if library.get("user_api") != "blas":
            continue
        owner = "faiss" if "faiss" in library.get("filepath", "") else "numpy"
        kernels = f" ({library['architecture']})" if library.get("architecture") else ""
        found.append(f"{owner}: {library.get('internal_api', '')} {library.get('version') or ''}{kernels}")
    return sorted(found)


def cuda_fields(torch: ModuleType) -> dict[str, str]:
    """CUDA and cuDNN versions torch was built with, and the driver (nvidia-smi's, when it is there)."""
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    try:
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        driver = done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else ""
    except (OSError, subprocess.SubprocessError):
        driver = ""
    return {"cuda": torch.version.cuda or "", "cudnn": str(cudnn or ""), "gpu_driver": driver}


def differences(recorded: dict[str, Any], here: dict[str, Any]) -> list[str]:
    """``field: recorded -> here`` for each fingerprint field that differs; fields an older row lacks are
    named once, at the end, as not recorded."""
    lines = [
        f"{key}: {recorded.get(key, '')!s} -> {here.get(key, '')!s}"
        for key in FIELDS
        if key in recorded and str(recorded.get(key, "")) != str(here.get(key, ""))
    ]
    missing = [key for key in FIELDS if key not in recorded and str(here.get(key, ""))]
    if missing:
        lines.append(f"not recorded by the row (made before bench recorded them): {', '.join(missing)}")
    return lines
