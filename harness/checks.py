"""Value checks shared by components: a bad setting fails at construction, naming the value it got."""

from __future__ import annotations

import numbers
from typing import Any

from harness.errors import ConfigError


def require(condition: bool, message: str) -> None:
    """Raise a ConfigError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum`` (bools refused: ``True`` is no count)."""
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    require(ok and value >= minimum, f"{name} must be an integer >= {minimum} but got {value!r}")
    return int(value)
