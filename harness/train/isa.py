"""Portable determinism on the CPU: pin the instruction set torch's kernels use, before torch starts.

A float sum depends on its order, and the order depends on the vector width of the kernel that runs
it. ATen, oneDNN, MKL, OpenBLAS and faiss each pick kernels for the CPU they find, so the same code, seed and
thread count give other numbers on an AVX-512 machine than on an AVX2 one (measured: hashnet's digits
row 0.9746 on AVX2, 0.9255 on AVX-512). With ``train.deterministic`` on (the default) every bench
process caps them at AVX2 before torch loads: ATen's dispatch (``ATEN_CPU_CAPABILITY``), oneDNN's JIT
(``ONEDNN_MAX_CPU_ISA``), MKL's conditional numerical reproducibility (``MKL_CBWR``; ATen's pin alone
left softmax at 0.9446 for 0.9807), and numpy's and faiss's OpenBLAS and faiss's SIMD level (with
only the first three, six of ten reference files still swapped a few near-tied neighbours).

Why AVX2: every x86-64 CPU sold since 2013 (Intel Haswell, AMD from Excavator and every Zen) runs it,
so a row made under the pin reruns bit for bit on any of them; a higher level would lock out
AVX2-only machines, and the shipped reference boards were made on an AVX2 machine. A CPU without
AVX2, or not x86 at all, is left alone: it cannot run those kernels, and says so in the fingerprint.

A variable the user set wins over bench's value. Nothing here imports numpy or torch: the CLI calls
:func:`pin_for_argv` before anything else is imported.
"""

from __future__ import annotations

import os
import platform
import sys
import tomllib
import warnings
from collections.abc import MutableMapping, Sequence
from functools import lru_cache
from pathlib import Path

LEVEL = "AVX2"
PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's JIT (convolutions, linear layers)
    "MKL_CBWR": "AVX2",  # MKL's BLAS under torch: conditional numerical reproducibility
    "FAISS_SIMD_LEVEL": "AVX2",  # faiss >= 1.12, one library dispatching at run time (the exact index's ties)
    "FAISS_OPT_LEVEL": "AVX2",  # older faiss: which of its builds to load
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and faiss's OpenBLAS: AVX2 kernels, not SkylakeX's AVX-512
}
X86 = ("x86_64", "amd64", "i686", "x86")
FALSE_WORDS = ("false", "0", "no", "off")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def can_pin() -> bool:
    """Whether this CPU runs AVX2 kernels: x86-64 with avx2 and fma (flags unknown: assume a post-2013 CPU)."""
    if platform.machine().lower() not in X86:
        return False
    flags = cpu_flags()
    return not flags or {"avx2", "fma"} <= flags


def pin(enabled: bool = True, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set each pin the environment does not already set; returns the pins in effect after."""
    environ = os.environ if environ is None else environ
    if enabled and can_pin():
        for name, value in PINS.items():
            environ.setdefault(name, value)
    return pins_in_effect(environ)


def pins_in_effect(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    environ = os.environ if environ is None else environ
    return {name: environ[name] for name in PINS if environ.get(name)}


def describe(pins: dict[str, str]) -> str:
    """``ATEN_CPU_CAPABILITY=avx2 ...`` (what the fingerprint stores), or "none"."""
    return " ".join(f"{name}={value}" for name, value in sorted(pins.items())) or "none"


def deterministic_from_argv(argv: Sequence[str]) -> bool:
    """``train.deterministic`` as ``--set``/``-s`` and ``--config`` give it on a command line (default on).

    A cheap look before the real parse: torch must not load first. The last ``--set`` wins over the
    config file, as in the real resolution; an unreadable file is left for the real parse to report.
    """
    value: object = None
    from_set: object = None
    args = list(argv)
    for i, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        if name not in ("--set", "-s", "--config"):
            continue
        item = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
        if name == "--config":
            value = _deterministic_in_file(item, value)
            continue
        key, sep, text = item.partition("=")
        if sep and key.strip() == "train.deterministic":
            from_set = text.strip().strip("\"'").lower() not in FALSE_WORDS
    chosen = from_set if from_set is not None else value
    return True if chosen is None else bool(chosen)


def _deterministic_in_file(path: str, current: object) -> object:
    try:
        train = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("train", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, ValueError):
        return current
    value = train.get("deterministic", current) if isinstance(train, dict) else current
    return value


def pin_for_argv(argv: Sequence[str] | None = None) -> dict[str, str]:
    """What a bench process does first: pin unless its command line turns ``train.deterministic`` off."""
    return pin(deterministic_from_argv(sys.argv[1:] if argv is None else argv))


_warned: set[str] = set()


def check_torch(enabled: bool = True) -> str | None:
    """Pin (if ``enabled``) and, where torch already loaded, the ISA it dispatches to.

    For library callers (``pipeline.run`` from Python): pinning works as long as torch has run no
    kernel yet. Once it has, its ISA is fixed; if that is above the pin this warns, once.
    """
    pins = pin(enabled)
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    capability = torch.backends.cpu.get_cpu_capability()
    wanted = pins.get("ATEN_CPU_CAPABILITY", "")
    if enabled and wanted and capability.lower() != wanted.lower() and capability not in _warned:
        _warned.add(capability)
        warnings.warn(
            f"torch already dispatches {capability} kernels, not {wanted}: results will not match rows made "
            f"elsewhere bit for bit; set {describe(pins)} before importing torch (bench's CLI does)",
            RuntimeWarning,
            stacklevel=3,
        )
    return capability
